/// Typed access to one JSON object's fields, with the contract's error codes:
/// `missing_field` (absent or null) and `wrong_type`, naming the full path (`data.items[0].quantity`).
struct JSONFields {
    let fields: [(String, JSONValue)]
    let path: String

    init(_ fields: [(String, JSONValue)], path: String) {
        self.fields = fields
        self.path = path
    }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func value(_ key: String) throws(EventError) -> JSONValue {
        for (k, v) in fields where k == key {
            if case .null = v { break }
            return v
        }
        throw .decode("missing_field", "required field \(name(key)) is missing")
    }

    private func wrong(_ key: String, _ expected: String, _ got: JSONValue) -> EventError {
        .decode("wrong_type", "field \(name(key)) must be \(expected), not \(got.typeName)")
    }

    func string(_ key: String) throws(EventError) -> String {
        let v = try value(key)
        guard case .string(let s) = v else { throw wrong(key, "a string", v) }
        return s
    }

    func int(_ key: String) throws(EventError) -> Int64 {
        let v = try value(key)
        guard case .number(let i?, _) = v else {
            if case .number = v { throw EventError.decode("wrong_type", "field \(name(key)) must be an integer") }
            throw wrong(key, "an integer", v)
        }
        return i
    }

    func smallInt(_ key: String) throws(EventError) -> Int {
        let i = try int(key)
        guard let small = Int(exactly: i), abs(small) <= Int(Int32.max) else {
            throw EventError.invalid("invalid_value", "field \(name(key)) is out of range")
        }
        return small
    }

    func double(_ key: String) throws(EventError) -> Double {
        let v = try value(key)
        guard case .number(_, let d) = v else { throw wrong(key, "a number", v) }
        return d
    }

    func bool(_ key: String) throws(EventError) -> Bool {
        let v = try value(key)
        guard case .bool(let b) = v else { throw wrong(key, "a boolean", v) }
        return b
    }

    func object(_ key: String) throws(EventError) -> JSONFields {
        let v = try value(key)
        guard case .object(let o) = v else { throw wrong(key, "an object", v) }
        return JSONFields(o, path: name(key))
    }

    func strings(_ key: String) throws(EventError) -> [String] {
        let v = try value(key)
        guard case .array(let items) = v else { throw wrong(key, "an array of strings", v) }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else { throw wrong("\(key)[\(i)]", "a string", item) }
            out.append(s)
        }
        return out
    }

    func objects(_ key: String) throws(EventError) -> [JSONFields] {
        let v = try value(key)
        guard case .array(let items) = v else { throw wrong(key, "an array of objects", v) }
        var out: [JSONFields] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .object(let o) = item else { throw wrong("\(key)[\(i)]", "an object", item) }
            out.append(JSONFields(o, path: "\(name(key))[\(i)]"))
        }
        return out
    }
}

// One initialiser per payload, reading exactly the contract's fields (unknown ones are ignored).

extension RestaurantUpserted {
    init(json f: JSONFields) throws(EventError) {
        let location = try f.object("location")
        var hours: [OpeningHours] = []
        for h in try f.objects("opening_hours") {
            hours.append(OpeningHours(day: try h.smallInt("day"), open: try h.string("open"), close: try h.string("close")))
        }
        self.init(restaurant_id: try f.string("restaurant_id"), revision: try f.int("revision"), name: try f.string("name"),
                  cuisines: try f.strings("cuisines"), city: try f.string("city"), country: try f.string("country"),
                  timezone: try f.string("timezone"), address: try f.string("address"),
                  location: GeoPoint(lat: try location.double("lat"), lng: try location.double("lng")),
                  rating: try f.double("rating"), rating_count: try f.smallInt("rating_count"),
                  price_level: try f.smallInt("price_level"), status: try f.string("status"), opening_hours: hours)
    }
}

extension RestaurantRemoved {
    init(json f: JSONFields) throws(EventError) {
        self.init(restaurant_id: try f.string("restaurant_id"), revision: try f.int("revision"))
    }
}

extension MenuItemUpserted {
    init(json f: JSONFields) throws(EventError) {
        self.init(item_id: try f.string("item_id"), restaurant_id: try f.string("restaurant_id"), revision: try f.int("revision"),
                  name: try f.string("name"), description: try f.string("description"), category: try f.string("category"),
                  tags: try f.strings("tags"), diet: try f.string("diet"), price_minor: try f.int("price_minor"),
                  currency: try f.string("currency"), available: try f.bool("available"))
    }
}

extension MenuItemRemoved {
    init(json f: JSONFields) throws(EventError) {
        self.init(item_id: try f.string("item_id"), restaurant_id: try f.string("restaurant_id"), revision: try f.int("revision"))
    }
}

extension OrderDimensions {
    init(json f: JSONFields) throws(EventError) {
        self.init(order_id: try f.string("order_id"), restaurant_id: try f.string("restaurant_id"),
                  city: try f.string("city"), currency: try f.string("currency"))
    }
}

extension OrderPlaced {
    init(json f: JSONFields) throws(EventError) {
        var lines: [OrderLine] = []
        for l in try f.objects("items") {
            lines.append(OrderLine(item_id: try l.string("item_id"), name: try l.string("name"),
                                   quantity: try l.smallInt("quantity"), unit_price_minor: try l.int("unit_price_minor")))
        }
        self.init(order_id: try f.string("order_id"), customer_id: try f.string("customer_id"),
                  restaurant_id: try f.string("restaurant_id"), city: try f.string("city"), currency: try f.string("currency"),
                  channel: try f.string("channel"), payment_method: try f.string("payment_method"), items: lines,
                  subtotal_minor: try f.int("subtotal_minor"), delivery_fee_minor: try f.int("delivery_fee_minor"),
                  discount_minor: try f.int("discount_minor"), total_minor: try f.int("total_minor"))
    }
}

extension EventPayload {
    /// Reads `data` for an event of `type`.
    init(type: EventType, data f: JSONFields) throws(EventError) {
        switch type {
        case .restaurantUpserted: self = .restaurantUpserted(try RestaurantUpserted(json: f))
        case .restaurantRemoved: self = .restaurantRemoved(try RestaurantRemoved(json: f))
        case .menuItemUpserted: self = .menuItemUpserted(try MenuItemUpserted(json: f))
        case .menuItemRemoved: self = .menuItemRemoved(try MenuItemRemoved(json: f))
        case .orderPlaced: self = .orderPlaced(try OrderPlaced(json: f))
        case .orderStatusChanged:
            self = .orderStatusChanged(OrderStatusChanged(try OrderDimensions(json: f), status: try f.string("status")))
        case .orderDelivered:
            self = .orderDelivered(OrderDelivered(try OrderDimensions(json: f), deliveryMinutes: try f.double("delivery_minutes")))
        case .orderCancelled:
            self = .orderCancelled(OrderCancelled(try OrderDimensions(json: f), reason: try f.string("reason"),
                                                  refundMinor: try f.int("refund_minor")))
        case .paymentSucceeded, .paymentFailed:
            let p = PaymentEvent(try OrderDimensions(json: f), paymentID: try f.string("payment_id"),
                                 method: try f.string("method"), amountMinor: try f.int("amount_minor"))
            self = type == .paymentSucceeded ? .paymentSucceeded(p) : .paymentFailed(p)
        case .reviewPosted:
            self = .reviewPosted(ReviewPosted(try OrderDimensions(json: f), rating: try f.smallInt("rating")))
        }
    }
}
