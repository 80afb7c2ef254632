/// The contract's value rules beyond types: enumerations, ranges, lengths and arithmetic.
public enum EventValidator {
    /// Longest accepted identifier, name and free text, in characters; longer values are `value_too_long`.
    public static let maxIDLength = 64
    public static let maxNameLength = 200
    public static let maxTextLength = 4000
    public static let maxListLength = 500

    public static let restaurantStatuses: Set<String> = ["ACTIVE", "INACTIVE", "CLOSED"]
    public static let diets: Set<String> = ["veg", "vegan", "non_veg"]
    public static let channels: Set<String> = ["app", "web", "kiosk", "pos", "partner"]
    public static let paymentMethods: Set<String> = ["card", "upi", "wallet", "cod", "netbanking"]
    public static let orderStatuses: Set<String> = ["ACCEPTED", "PREPARING", "READY", "ASSIGNED", "PICKED", "OUT_FOR_DELIVERY"]
    public static let cancelReasons: Set<String> = ["customer", "restaurant_rejected", "payment_failed", "no_rider", "other"]

    public static func validate(_ event: Event) throws(EventError) {
        switch event.payload {
        case .restaurantUpserted(let r):
            try id("data.restaurant_id", r.restaurant_id)
            try revision(r.revision)
            try text("data.name", r.name, max: maxNameLength, nonEmpty: true)
            try list("data.cuisines", r.cuisines.count)
            for c in r.cuisines { try text("data.cuisines", c, max: maxNameLength, nonEmpty: true) }
            try text("data.city", r.city, max: maxNameLength, nonEmpty: true)
            try text("data.country", r.country, max: 2, nonEmpty: true)
            try text("data.timezone", r.timezone, max: maxNameLength, nonEmpty: true)
            try text("data.address", r.address, max: maxTextLength)
            guard (-90...90).contains(r.location.lat), (-180...180).contains(r.location.lng) else {
                throw .invalid("invalid_value", "data.location is not a valid latitude and longitude")
            }
            guard (0...5).contains(r.rating), r.rating_count >= 0 else {
                throw .invalid("invalid_value", "data.rating must be 0 to 5 and data.rating_count not negative")
            }
            guard (1...4).contains(r.price_level) else { throw .invalid("invalid_value", "data.price_level must be 1 to 4") }
            try member("data.status", r.status, restaurantStatuses)
            try list("data.opening_hours", r.opening_hours.count)
            for h in r.opening_hours {
                guard (0...6).contains(h.day), clock(h.open), clock(h.close) else {
                    throw .invalid("invalid_value", "data.opening_hours needs day 0-6 and open/close as HH:MM")
                }
            }
        case .restaurantRemoved(let r):
            try id("data.restaurant_id", r.restaurant_id)
            try revision(r.revision)
        case .menuItemUpserted(let m):
            try id("data.item_id", m.item_id)
            try id("data.restaurant_id", m.restaurant_id)
            try revision(m.revision)
            try text("data.name", m.name, max: maxNameLength, nonEmpty: true)
            try text("data.description", m.description, max: maxTextLength)
            try text("data.category", m.category, max: maxNameLength)
            try list("data.tags", m.tags.count)
            for t in m.tags { try text("data.tags", t, max: maxNameLength) }
            try member("data.diet", m.diet, diets)
            try amount("data.price_minor", m.price_minor)
            try currency(m.currency)
        case .menuItemRemoved(let m):
            try id("data.item_id", m.item_id)
            try id("data.restaurant_id", m.restaurant_id)
            try revision(m.revision)
        case .orderPlaced(let o):
            try dims(o.order_id, o.restaurant_id, o.city, o.currency)
            try id("data.customer_id", o.customer_id)
            try member("data.channel", o.channel, channels)
            try member("data.payment_method", o.payment_method, paymentMethods)
            guard !o.items.isEmpty else { throw .invalid("invalid_value", "data.items must not be empty") }
            try list("data.items", o.items.count)
            for line in o.items {
                try id("data.items.item_id", line.item_id)
                try text("data.items.name", line.name, max: maxNameLength)
                guard line.quantity > 0, line.quantity <= 1000 else {
                    throw .invalid("invalid_value", "data.items.quantity must be 1 to 1000")
                }
                try amount("data.items.unit_price_minor", line.unit_price_minor)
            }
            try amount("data.subtotal_minor", o.subtotal_minor)
            try amount("data.delivery_fee_minor", o.delivery_fee_minor)
            try amount("data.discount_minor", o.discount_minor)
            try amount("data.total_minor", o.total_minor)
            let (sum, overflow) = o.subtotal_minor.addingReportingOverflow(o.delivery_fee_minor)
            guard !overflow, sum - o.discount_minor == o.total_minor else {
                throw .invalid("total_mismatch", "data.total_minor must equal subtotal_minor + delivery_fee_minor - discount_minor")
            }
        case .orderStatusChanged(let o):
            try dims(o.order_id, o.restaurant_id, o.city, o.currency)
            try member("data.status", o.status, orderStatuses)
        case .orderDelivered(let o):
            try dims(o.order_id, o.restaurant_id, o.city, o.currency)
            guard o.delivery_minutes.isFinite, o.delivery_minutes >= 0, o.delivery_minutes <= 7 * 24 * 60 else {
                throw .invalid("invalid_value", "data.delivery_minutes must be a number of minutes from 0 to 10080")
            }
        case .orderCancelled(let o):
            try dims(o.order_id, o.restaurant_id, o.city, o.currency)
            try member("data.reason", o.reason, cancelReasons)
            try amount("data.refund_minor", o.refund_minor)
        case .paymentSucceeded(let p), .paymentFailed(let p):
            try dims(p.order_id, p.restaurant_id, p.city, p.currency)
            try id("data.payment_id", p.payment_id)
            try member("data.method", p.method, paymentMethods)
            try amount("data.amount_minor", p.amount_minor)
        case .reviewPosted(let r):
            try dims(r.order_id, r.restaurant_id, r.city, r.currency)
            guard (1...5).contains(r.rating) else { throw .invalid("invalid_value", "data.rating must be an integer 1 to 5") }
        }
    }

    private static func dims(_ order: String, _ restaurant: String, _ city: String, _ cur: String) throws(EventError) {
        try id("data.order_id", order)
        try id("data.restaurant_id", restaurant)
        try text("data.city", city, max: maxNameLength, nonEmpty: true)
        try currency(cur)
    }

    private static func id(_ field: String, _ value: String) throws(EventError) {
        try text(field, value, max: maxIDLength, nonEmpty: true)
    }

    private static func text(_ field: String, _ value: String, max: Int, nonEmpty: Bool = false) throws(EventError) {
        if nonEmpty && value.isEmpty { throw .invalid("invalid_value", "\(field) must not be empty") }
        if value.utf8.count > max * 4 || !fits(value, max: max) {
            throw .invalid("value_too_long", "\(field) is longer than \(max) characters")
        }
    }

    /// Whether `value` has at most `max` characters. A character takes at least one UTF-8 byte, so a byte
    /// count within `max` settles most strings without counting characters (which walks grapheme breaks).
    static func fits(_ value: String, max: Int) -> Bool {
        value.utf8.count <= max || value.count <= max
    }

    private static func list(_ field: String, _ count: Int) throws(EventError) {
        if count > maxListLength { throw .invalid("value_too_long", "\(field) has more than \(maxListLength) entries") }
    }

    private static func revision(_ value: Int64) throws(EventError) {
        if value < 0 { throw .invalid("invalid_value", "data.revision must not be negative") }
    }

    private static func amount(_ field: String, _ value: Int64) throws(EventError) {
        if value < 0 { throw .invalid("invalid_value", "\(field) must not be negative") }
    }

    private static func currency(_ value: String) throws(EventError) {
        guard value.utf8.count == 3, value.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }) else {
            throw .invalid("invalid_value", "data.currency must be an ISO 4217 code such as INR")
        }
    }

    private static func member(_ field: String, _ value: String, _ allowed: Set<String>) throws(EventError) {
        guard allowed.contains(value) else {
            throw .invalid("invalid_value", "\(field) must be one of \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// `HH:MM`, 00:00 to 24:00.
    static func clock(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 5, u[2] == 58 else { return false }
        let digits = [u[0], u[1], u[3], u[4]]
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        let h = Int(u[0] - 48) * 10 + Int(u[1] - 48), m = Int(u[3] - 48) * 10 + Int(u[4] - 48)
        return (h < 24 && m < 60) || (h == 24 && m == 0)
    }
}
