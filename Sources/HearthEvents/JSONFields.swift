/// Typed access to one JSON object's fields, with the contract's error codes:
/// `missing_field` (absent or null) and `wrong_type`, naming the full path (`data.items[0].quantity`).
struct JSONFields {
    let tape: JSONTape
    /// The object's node in `tape`.
    let node: Int
    /// Where the object is (`data.items`), and its index there when it is an array's element
    /// (the full path is only made for an error message).
    let path: String
    let element: Int?

    init(_ tape: JSONTape, node: Int, path: String, element: Int? = nil) {
        self.tape = tape
        self.node = node
        self.path = path
        self.element = element
    }

    private var fullPath: String { element.map { "\(path)[\($0)]" } ?? path }

    private func name(_ key: String) -> String {
        let at = fullPath
        return at.isEmpty ? key : "\(at).\(key)"
    }

    /// Whether `key` is present and not null.
    func has(_ key: String) -> Bool {
        guard let v = tape.member(node, key) else { return false }
        return tape.nodes[v].kind != .null
    }

    /// The node of `key`'s value.
    private func value(_ key: String) throws(EventError) -> Int {
        guard let v = tape.member(node, key), tape.nodes[v].kind != .null else {
            throw .decode("missing_field", "required field \(name(key)) is missing")
        }
        return v
    }

    private func wrong(_ key: String, _ expected: String, _ got: Int) -> EventError {
        .decode("wrong_type", "field \(name(key)) must be \(expected), not \(tape.nodes[got].kind.typeName)")
    }

    func string(_ key: String) throws(EventError) -> String {
        let v = try value(key)
        guard tape.nodes[v].kind == .string else { throw wrong(key, "a string", v) }
        return tape.string(v)
    }

    func int(_ key: String) throws(EventError) -> Int64 {
        let v = try value(key)
        switch tape.nodes[v].kind {
        case .integer: return tape.nodes[v].number
        case .double: throw EventError.decode("wrong_type", "field \(name(key)) must be an integer")
        default: throw wrong(key, "an integer", v)
        }
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
        let n = tape.nodes[v]
        switch n.kind {
        case .integer: return Double(n.number)
        case .double: return Double(bitPattern: UInt64(bitPattern: n.number))
        default: throw wrong(key, "a number", v)
        }
    }

    func bool(_ key: String) throws(EventError) -> Bool {
        let v = try value(key)
        guard tape.nodes[v].kind == .bool else { throw wrong(key, "a boolean", v) }
        return tape.nodes[v].flag
    }

    func object(_ key: String) throws(EventError) -> JSONFields {
        let v = try value(key)
        guard tape.nodes[v].kind == .object else { throw wrong(key, "an object", v) }
        return JSONFields(tape, node: v, path: name(key))
    }

    func strings(_ key: String) throws(EventError) -> [String] {
        let v = try value(key)
        guard tape.nodes[v].kind == .array else { throw wrong(key, "an array of strings", v) }
        let items = tape.elements(v)
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard tape.nodes[item].kind == .string else { throw wrong("\(key)[\(i)]", "a string", item) }
            out.append(tape.string(item))
        }
        return out
    }

    func objects(_ key: String) throws(EventError) -> [JSONFields] {
        let v = try value(key)
        guard tape.nodes[v].kind == .array else { throw wrong(key, "an array of objects", v) }
        let items = tape.elements(v)
        let path = name(key)
        var out: [JSONFields] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard tape.nodes[item].kind == .object else { throw wrong("\(key)[\(i)]", "an object", item) }
            out.append(JSONFields(tape, node: item, path: path, element: i))
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
