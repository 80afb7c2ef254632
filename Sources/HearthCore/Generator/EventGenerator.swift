import Foundation
import HearthEvents

/// Settings of the synthetic stream.
public struct GeneratorConfig: Sendable {
    public var seed: UInt64 = 42
    public var restaurants = 200
    /// Event time of the first order.
    public var start = Timestamp(rfc3339: "2026-11-01T00:00:00Z")!
    /// Orders per simulated minute across the platform (before the meal-time curve).
    public var ordersPerMinute = 120.0
    /// Shares of records that arrive late (hours after their event time), are sent twice, or are invalid.
    public var lateShare = 0.02
    public var duplicateShare = 0.02
    public var invalidShare = 0.01
    /// Of the invalid records, the share that is larger than the 1 MiB record limit (1.1 MB each);
    /// the others are the seven small kinds, equally often.
    public var oversizedShare = 1.0 / 8
    /// Whether `expected` counts every event's effect (off for loads that need no check: a quarter of the time).
    public var countsExpected = true

    public init() {}
}

/// One record to produce.
public struct GeneratedRecord: Sendable {
    public enum Kind: String, Sendable { case valid, late, duplicate, invalid }
    public var topic: String
    public var key: [UInt8]
    public var value: [UInt8]
    public var kind: Kind
    /// When the record reaches Kafka in simulated time (its Kafka timestamp), ms since the epoch.
    public var timestampMillis: Int64 = -1
}

/// A realistic, deterministic stream of the contract's events: the catalog first, then
/// orders with full lifecycles, menu revisions, and a share of late, duplicate and invalid records.
public struct EventGenerator: Sendable {
    /// The time zone of each city the generator places restaurants in.
    public static let cityZones: [String: String] = Dictionary(uniqueKeysWithValues: Vocabulary.cities.map { ($0.name, $0.timezone) })

    public let config: GeneratorConfig
    public private(set) var expected = ExpectedTotals()
    private var rng: SplitMix
    private let codec = EventCodec()
    private var restaurants: [Restaurant] = []
    private let restaurantPopularity: Zipf
    private var catalogQueue: [Event] = []
    private var pending = PendingHeap()
    private var clockMillis: Int64
    private var sequence: UInt64 = 0
    private var orderCounter = 0

    struct Restaurant: Sendable {
        var state: RestaurantUpserted
        var city: Vocabulary.City
        var items: [MenuItemUpserted]
        var itemPopularity: Zipf
        var utcOffsetSeconds: Int
    }

    public init(config: GeneratorConfig = GeneratorConfig()) {
        self.config = config
        rng = SplitMix(seed: config.seed)
        restaurantPopularity = Zipf(count: config.restaurants)
        clockMillis = config.start.epochMillis
        buildCatalog()
    }

    // MARK: Catalog

    private mutating func buildCatalog() {
        for i in 0..<config.restaurants {
            let (state, city, cuisine) = Self.makeRestaurant(index: i, rng: &rng)
            var items: [MenuItemUpserted] = []
            var dishes = cuisine.dishes + Vocabulary.drinks.prefix(2)
            dishes.shuffle(using: &rng)
            for (j, dish) in dishes.prefix(rng.int(8...dishes.count)).enumerated() {
                let raw = Double(dish.cents) * (0.8 + rng.unit() * 0.5) * city.minorPerCent
                let price = max(city.priceStep, Int64((raw / Double(city.priceStep)).rounded()) * city.priceStep)
                items.append(MenuItemUpserted(
                    item_id: String(format: "m-%07d", i * 100 + j + 1), restaurant_id: state.restaurant_id, revision: 1, name: dish.name,
                    description: dish.description, category: dish.category, tags: dish.tags, diet: dish.diet,
                    price_minor: price, currency: city.currency, available: true))
            }
            let offset = TimeZone(identifier: city.timezone)?.secondsFromGMT(for: Date(timeIntervalSince1970: Double(clockMillis) / 1000)) ?? 0
            restaurants.append(Restaurant(state: state, city: city, items: items, itemPopularity: Zipf(count: items.count),
                                          utcOffsetSeconds: offset))
            let at = Timestamp(epochMillis: clockMillis - 86_400_000)
            catalogQueue.append(Event(eventID: rng.uuid(), occurredAt: at, payload: .restaurantUpserted(state)))
            for item in items {
                catalogQueue.append(Event(eventID: rng.uuid(), occurredAt: at, payload: .menuItemUpserted(item)))
            }
        }
        catalogQueue.reverse()
    }

    /// Restaurant number `index` (0-based): a city by weight, a cuisine, a name, hours (one in five
    /// open past midnight), a location near the city centre, rating and price level.
    static func makeRestaurant(index i: Int, rng: inout SplitMix) -> (RestaurantUpserted, Vocabulary.City, Vocabulary.Cuisine) {
        let totalWeight = Vocabulary.cities.reduce(0) { $0 + $1.weight }
        var u = rng.unit() * totalWeight
        var city = Vocabulary.cities[0]
        for c in Vocabulary.cities { u -= c.weight; if u <= 0 { city = c; break } }
        let cuisine = rng.pick(Vocabulary.cuisines)
        let id = String(format: "r-%06d", i + 1)
        let name = "\(rng.pick(cuisine.nameParts.0)) \(rng.pick(cuisine.nameParts.1))"
        var hours: [OpeningHours] = []
        let lateNight = rng.chance(0.2)
        for day in 0...6 {
            hours.append(OpeningHours(day: day, open: rng.chance(0.5) ? "11:00" : "10:30",
                                      close: lateNight ? "02:00" : (rng.chance(0.5) ? "23:00" : "22:30")))
        }
        let state = RestaurantUpserted(
            restaurant_id: id, revision: 1, name: name, cuisines: [cuisine.name] + [rng.pick(cuisine.related)],
            city: city.name, country: city.country, timezone: city.timezone,
            address: "\(rng.int(1...220)) \(rng.pick(Vocabulary.streets))",
            location: GeoPoint(lat: (city.lat + (rng.unit() - 0.5) * 0.2 ) .rounded(places: 5),
                               lng: (city.lng + (rng.unit() - 0.5) * 0.2).rounded(places: 5)),
            rating: (3.2 + rng.unit() * 1.7).rounded(places: 1), rating_count: rng.int(5...5000),
            price_level: rng.int(1...4), status: "ACTIVE", opening_hours: hours)
        return (state, city, cuisine)
    }

    // MARK: Stream

    /// The next record of the stream (the stream never ends).
    public mutating func next() -> GeneratedRecord {
        if let event = catalogQueue.popLast() { return emit(event) }
        if rng.chance(config.invalidShare) { return invalidRecord() }
        if let due = pending.peek(), due.at <= clockMillis {
            _ = pending.pop()
            if let copy = due.record { return emitDuplicate(copy) }
            return emit(due.event!, late: due.late)
        }
        if rng.chance(0.01) { return emit(menuRevision()) }
        advanceToNextOrder()
        return emit(placeOrder())
    }

    private mutating func emit(_ event: Event, late: Bool = false) -> GeneratedRecord {
        let value = codec.encode(event)
        let record = GeneratedRecord(topic: event.type.topic, key: Array(event.payload.key.utf8), value: value,
                                     kind: late ? .late : .valid, timestampMillis: clockMillis)
        expected.records += 1
        expected.recordsPerTopic[record.topic, default: 0] += 1
        if late { expected.late += 1 }
        if config.countsExpected { expected.count(event, arrivedAt: clockMillis) }
        // A copy of this record arrives again a little later; it must have no effect.
        if catalogQueue.isEmpty, rng.chance(config.duplicateShare) {
            var copy = record
            copy.kind = .duplicate
            schedule(at: clockMillis + Int64(rng.int(1_000...600_000)), record: copy)
        }
        return record
    }

    private mutating func emitDuplicate(_ record: GeneratedRecord) -> GeneratedRecord {
        var record = record
        record.timestampMillis = clockMillis
        expected.records += 1
        expected.duplicates += 1
        expected.recordsPerTopic[record.topic, default: 0] += 1
        return record
    }

    private mutating func schedule(at: Int64, event: Event? = nil, record: GeneratedRecord? = nil, late: Bool = false) {
        sequence += 1
        pending.push(.init(at: at, seq: sequence, event: event, record: record, late: late))
    }

    /// Meal-time intensity at a local hour: lunch around 13:00, dinner around 20:00, quiet nights.
    static func intensity(localHour h: Double) -> Double {
        func bump(_ center: Double, _ width: Double, _ height: Double) -> Double {
            let d = min(abs(h - center), 24 - abs(h - center))
            return height * exp(-d * d / (2 * width * width))
        }
        return 0.08 + bump(13, 1.3, 1.0) + bump(20, 1.6, 1.3)
    }

    private mutating func advanceToNextOrder() {
        while true {
            clockMillis += Int64(rng.exponential(mean: 60_000 / config.ordersPerMinute))
            let r = restaurantPopularity.sample(&rng)
            let local = (clockMillis / 1000 + Int64(restaurants[r].utcOffsetSeconds)) % 86_400
            if rng.unit() * 1.45 < Self.intensity(localHour: Double(local) / 3600) {
                orderRestaurant = r
                return
            }
        }
    }

    private var orderRestaurant = 0

    private mutating func placeOrder() -> Event {
        let r = restaurants[orderRestaurant]
        orderCounter += 1
        let orderID = String(format: "o-%08x", orderCounter) + "-\(config.seed)"
        var lines: [OrderLine] = []
        var used = Set<Int>()
        for _ in 0..<rng.int(1...4) {
            let i = r.itemPopularity.sample(&rng)
            guard used.insert(i).inserted, r.items[i].available else { continue }
            let item = r.items[i]
            lines.append(OrderLine(item_id: item.item_id, name: item.name, quantity: rng.chance(0.8) ? 1 : rng.int(2...3),
                                   unit_price_minor: item.price_minor))
        }
        if lines.isEmpty, let item = r.items.first {
            lines.append(OrderLine(item_id: item.item_id, name: item.name, quantity: 1, unit_price_minor: item.price_minor))
        }
        let subtotal = lines.reduce(Int64(0)) { $0 + $1.unit_price_minor * Int64($1.quantity) }
        let fee = Int64(Double(subtotal) * 0.05 / Double(r.city.priceStep)) * r.city.priceStep
        let discount = rng.chance(0.2) ? Int64(Double(subtotal) * 0.1 / Double(r.city.priceStep)) * r.city.priceStep : 0
        let dims = OrderDimensions(order_id: orderID, restaurant_id: r.state.restaurant_id, city: r.city.name, currency: r.city.currency)
        let method = rng.pick(r.city.country == "IN" ? ["upi", "upi", "card", "wallet", "cod", "netbanking"] : ["card", "card", "wallet", "cod"])
        let placed = OrderPlaced(
            order_id: orderID, customer_id: String(format: "c-%06d", Zipf.customer(&rng)), restaurant_id: r.state.restaurant_id,
            city: r.city.name, currency: r.city.currency, channel: rng.pick(["app", "app", "app", "web", "kiosk", "pos", "partner"]),
            payment_method: method, items: lines, subtotal_minor: subtotal, delivery_fee_minor: fee,
            discount_minor: discount, total_minor: subtotal + fee - discount)
        let t = clockMillis
        let total = placed.total_minor
        var after: Int64 = 0
        func later(_ minutes: ClosedRange<Int>, _ payload: EventPayload) {
            after += Int64(rng.int(minutes.lowerBound * 60...minutes.upperBound * 60)) * 1000
            followUp(at: t + after, payload)
        }
        if rng.chance(0.03) {
            later(0...1, .paymentFailed(PaymentEvent(dims, paymentID: "p-" + rng.uuid().prefix(12), method: method, amountMinor: total)))
            later(0...1, .orderCancelled(OrderCancelled(dims, reason: "payment_failed", refundMinor: 0)))
        } else {
            later(0...1, .paymentSucceeded(PaymentEvent(dims, paymentID: "p-" + rng.uuid().prefix(12), method: method, amountMinor: total)))
            later(1...3, .orderStatusChanged(OrderStatusChanged(dims, status: "ACCEPTED")))
            if rng.chance(0.05) {
                later(1...10, .orderCancelled(OrderCancelled(dims, reason: rng.pick(["customer", "restaurant_rejected", "no_rider", "other"]), refundMinor: total)))
            } else {
                later(1...5, .orderStatusChanged(OrderStatusChanged(dims, status: "PREPARING")))
                later(8...20, .orderStatusChanged(OrderStatusChanged(dims, status: "READY")))
                later(0...3, .orderStatusChanged(OrderStatusChanged(dims, status: "ASSIGNED")))
                later(1...5, .orderStatusChanged(OrderStatusChanged(dims, status: "PICKED")))
                later(0...1, .orderStatusChanged(OrderStatusChanged(dims, status: "OUT_FOR_DELIVERY")))
                later(8...30, .orderDelivered(OrderDelivered(dims, deliveryMinutes: Double(after / 60_000) + 0.5)))
                if rng.chance(0.3) { later(30...180, .reviewPosted(ReviewPosted(dims, rating: rng.pick([5, 5, 5, 4, 4, 3, 2, 1])))) }
            }
        }
        return Event(eventID: rng.uuid(), occurredAt: Timestamp(epochMillis: t), payload: .orderPlaced(placed))
    }

    private mutating func followUp(at time: Int64, _ payload: EventPayload) {
        let event = Event(eventID: rng.uuid(), occurredAt: Timestamp(epochMillis: time), payload: payload)
        let late = rng.chance(config.lateShare)
        // A late record keeps its event time but reaches Kafka minutes to hours later (rarely up to six).
        let delay = min(120_000 + Int64(rng.exponential(mean: 1_200_000)), 21_600_000)
        schedule(at: late ? time + delay : time, event: event, late: late)
    }

    private mutating func menuRevision() -> Event {
        let r = Int.random(in: 0..<restaurants.count, using: &rng)
        guard !restaurants[r].items.isEmpty else { return placeOrder() }
        let i = Int.random(in: 0..<restaurants[r].items.count, using: &rng)
        var item = restaurants[r].items[i]
        item.revision += 1
        if rng.chance(0.3) { item.available.toggle() } else {
            item.price_minor = max(restaurants[r].city.priceStep, item.price_minor + restaurants[r].city.priceStep * Int64(rng.int(-2...3)))
        }
        if !item.available, restaurants[r].items.filter(\.available).count <= 1 { item.available = true }
        restaurants[r].items[i] = item
        return Event(eventID: rng.uuid(), occurredAt: Timestamp(epochMillis: clockMillis), payload: .menuItemUpserted(item))
    }

    private mutating func invalidRecord() -> GeneratedRecord {
        let key = Array("o-invalid".utf8)
        let line = OrderLine(item_id: "m-0000001", name: "Margherita Pizza", quantity: 1, unit_price_minor: 1000)
        let template = OrderPlaced(order_id: "o-invalid-\(expected.invalid)", customer_id: "c-000001", restaurant_id: "r-000001",
                                   city: "London", currency: "GBP", channel: "app", payment_method: "card", items: [line],
                                   subtotal_minor: 1000, delivery_fee_minor: 50, discount_minor: 0, total_minor: 1050)
        let good = String(decoding: codec.encode(Event(eventID: rng.uuid(), occurredAt: Timestamp(epochMillis: clockMillis),
                                                       payload: .orderPlaced(template))), as: UTF8.self)
        let value: [UInt8]
        switch rng.chance(config.oversizedShare) ? 7 : rng.int(0...6) {
        case 0: value = Array("not json at all {".utf8)
        case 1: value = [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]
        case 2: value = Array(good.replacingOccurrences(of: "\"currency\"", with: "\"currency_code\"").utf8)
        case 3: value = Array(good.replacingOccurrences(of: "\"schema_version\":1", with: "\"schema_version\":\"1\"").utf8)
        case 4: value = Array(good.replacingOccurrences(of: "order.placed", with: "order.teleported").utf8)
        case 5: value = Array(good.replacingOccurrences(of: "\"discount_minor\":", with: "\"discount_minor\":1").utf8)
        case 6: value = Array("[1,2,3]".utf8)
        default:
            // Larger than the 1 MiB default limit.
            value = Array(good.replacingOccurrences(of: "\"data\":{", with: "\"padding\":\"\(String(repeating: "x", count: 1_100_000))\",\"data\":{").utf8)
        }
        expected.records += 1
        expected.invalid += 1
        expected.recordsPerTopic["orders", default: 0] += 1
        expected.invalidPerTopic["orders", default: 0] += 1
        return GeneratedRecord(topic: "orders", key: key, value: value, kind: .invalid)
    }
}

private extension Double {
    func rounded(places: Int) -> Double {
        let m = pow(10, Double(places))
        return (self * m).rounded() / m
    }
}

extension Zipf {
    private static let customers = Zipf(count: 20_000, exponent: 0.8)
    static func customer(_ rng: inout SplitMix) -> Int { customers.sample(&rng) + 1 }
}

/// Events and records waiting for their time, ordered by (time, sequence).
struct PendingHeap: Sendable {
    struct Entry: Sendable {
        var at: Int64
        var seq: UInt64
        var event: Event?
        var record: GeneratedRecord?
        var late: Bool
        func before(_ o: Entry) -> Bool { (at, seq) < (o.at, o.seq) }
    }

    private var items: [Entry] = []

    func peek() -> Entry? { items.first }

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].before(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count, items[l].before(items[m]) { m = l }
            if r < items.count, items[r].before(items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
