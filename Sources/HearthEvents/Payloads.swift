// The payloads of the event contract, version 1 (`shared/contracts/events.md`).
// Field names follow the wire format exactly; unknown fields are ignored.

public struct GeoPoint: Codable, Sendable, Hashable {
    public var lat: Double
    public var lng: Double
    public init(lat: Double, lng: Double) { self.lat = lat; self.lng = lng }
}

public struct OpeningHours: Codable, Sendable, Hashable {
    /// 0 = Sunday … 6 = Saturday, in the restaurant's local time.
    public var day: Int
    /// `HH:MM`; `close` may be earlier than `open` (open past midnight).
    public var open: String
    public var close: String
    public init(day: Int, open: String, close: String) { self.day = day; self.open = open; self.close = close }
}

public struct RestaurantUpserted: Codable, Sendable, Hashable {
    public var restaurant_id: String
    public var revision: Int64
    public var name: String
    public var cuisines: [String]
    public var city: String
    public var country: String
    public var timezone: String
    public var address: String
    public var location: GeoPoint
    public var rating: Double
    public var rating_count: Int
    public var price_level: Int
    public var status: String
    public var opening_hours: [OpeningHours]

    public init(restaurant_id: String, revision: Int64, name: String, cuisines: [String], city: String, country: String,
                timezone: String, address: String, location: GeoPoint, rating: Double, rating_count: Int,
                price_level: Int, status: String, opening_hours: [OpeningHours]) {
        self.restaurant_id = restaurant_id; self.revision = revision; self.name = name; self.cuisines = cuisines
        self.city = city; self.country = country; self.timezone = timezone; self.address = address
        self.location = location; self.rating = rating; self.rating_count = rating_count
        self.price_level = price_level; self.status = status; self.opening_hours = opening_hours
    }
}

public struct RestaurantRemoved: Codable, Sendable, Hashable {
    public var restaurant_id: String
    public var revision: Int64
    public init(restaurant_id: String, revision: Int64) { self.restaurant_id = restaurant_id; self.revision = revision }
}

public struct MenuItemUpserted: Codable, Sendable, Hashable {
    public var item_id: String
    public var restaurant_id: String
    public var revision: Int64
    public var name: String
    public var description: String
    public var category: String
    public var tags: [String]
    public var diet: String
    public var price_minor: Int64
    public var currency: String
    public var available: Bool

    public init(item_id: String, restaurant_id: String, revision: Int64, name: String, description: String,
                category: String, tags: [String], diet: String, price_minor: Int64, currency: String, available: Bool) {
        self.item_id = item_id; self.restaurant_id = restaurant_id; self.revision = revision; self.name = name
        self.description = description; self.category = category; self.tags = tags; self.diet = diet
        self.price_minor = price_minor; self.currency = currency; self.available = available
    }
}

public struct MenuItemRemoved: Codable, Sendable, Hashable {
    public var item_id: String
    public var restaurant_id: String
    public var revision: Int64
    public init(item_id: String, restaurant_id: String, revision: Int64) {
        self.item_id = item_id; self.restaurant_id = restaurant_id; self.revision = revision
    }
}

public struct OrderLine: Codable, Sendable, Hashable {
    public var item_id: String
    public var name: String
    public var quantity: Int
    public var unit_price_minor: Int64
    public init(item_id: String, name: String, quantity: Int, unit_price_minor: Int64) {
        self.item_id = item_id; self.name = name; self.quantity = quantity; self.unit_price_minor = unit_price_minor
    }
}

public struct OrderPlaced: Codable, Sendable, Hashable {
    public var order_id: String
    public var customer_id: String
    public var restaurant_id: String
    public var city: String
    public var currency: String
    public var channel: String
    public var payment_method: String
    public var items: [OrderLine]
    public var subtotal_minor: Int64
    public var delivery_fee_minor: Int64
    public var discount_minor: Int64
    public var total_minor: Int64

    public init(order_id: String, customer_id: String, restaurant_id: String, city: String, currency: String,
                channel: String, payment_method: String, items: [OrderLine], subtotal_minor: Int64,
                delivery_fee_minor: Int64, discount_minor: Int64, total_minor: Int64) {
        self.order_id = order_id; self.customer_id = customer_id; self.restaurant_id = restaurant_id
        self.city = city; self.currency = currency; self.channel = channel; self.payment_method = payment_method
        self.items = items; self.subtotal_minor = subtotal_minor; self.delivery_fee_minor = delivery_fee_minor
        self.discount_minor = discount_minor; self.total_minor = total_minor
    }
}

/// The dimensions every order event carries.
public struct OrderDimensions: Codable, Sendable, Hashable {
    public var order_id: String
    public var restaurant_id: String
    public var city: String
    public var currency: String
    public init(order_id: String, restaurant_id: String, city: String, currency: String) {
        self.order_id = order_id; self.restaurant_id = restaurant_id; self.city = city; self.currency = currency
    }
}

public struct OrderStatusChanged: Codable, Sendable, Hashable {
    public var order_id: String
    public var restaurant_id: String
    public var city: String
    public var currency: String
    public var status: String
    public init(_ d: OrderDimensions, status: String) {
        order_id = d.order_id; restaurant_id = d.restaurant_id; city = d.city; currency = d.currency; self.status = status
    }
}

public struct OrderDelivered: Codable, Sendable, Hashable {
    public var order_id: String
    public var restaurant_id: String
    public var city: String
    public var currency: String
    public var delivery_minutes: Double
    public init(_ d: OrderDimensions, deliveryMinutes: Double) {
        order_id = d.order_id; restaurant_id = d.restaurant_id; city = d.city; currency = d.currency
        delivery_minutes = deliveryMinutes
    }
}

public struct OrderCancelled: Codable, Sendable, Hashable {
    public var order_id: String
    public var restaurant_id: String
    public var city: String
    public var currency: String
    public var reason: String
    public var refund_minor: Int64
    public init(_ d: OrderDimensions, reason: String, refundMinor: Int64) {
        order_id = d.order_id; restaurant_id = d.restaurant_id; city = d.city; currency = d.currency
        self.reason = reason; refund_minor = refundMinor
    }
}

public struct PaymentEvent: Codable, Sendable, Hashable {
    public var order_id: String
    public var restaurant_id: String
    public var city: String
    public var currency: String
    public var payment_id: String
    public var method: String
    public var amount_minor: Int64
    public init(_ d: OrderDimensions, paymentID: String, method: String, amountMinor: Int64) {
        order_id = d.order_id; restaurant_id = d.restaurant_id; city = d.city; currency = d.currency
        payment_id = paymentID; self.method = method; amount_minor = amountMinor
    }
}

public struct ReviewPosted: Codable, Sendable, Hashable {
    public var order_id: String
    public var restaurant_id: String
    public var city: String
    public var currency: String
    public var rating: Int
    public init(_ d: OrderDimensions, rating: Int) {
        order_id = d.order_id; restaurant_id = d.restaurant_id; city = d.city; currency = d.currency; self.rating = rating
    }
}
