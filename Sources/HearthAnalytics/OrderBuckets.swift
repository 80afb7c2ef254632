import HearthEvents

/// Order counts and revenue per 15-minute bucket of event time × restaurant × currency, and
/// per UTC day × menu item. Pure in-memory aggregation of one batch's deltas; the sink
/// combines them by upsert.
public struct OrderBuckets: Sendable, Equatable {
    public struct Key: Hashable, Sendable, Comparable {
        /// Bucket start, milliseconds since the epoch.
        public var bucketMillis: Int64
        public var restaurantID: String
        public var currency: String

        public static func < (a: Key, b: Key) -> Bool {
            (a.bucketMillis, a.restaurantID, a.currency) < (b.bucketMillis, b.restaurantID, b.currency)
        }
    }

    public struct Totals: Sendable, Equatable, Codable {
        public var orders: Int64 = 0
        public var grossRevenueMinor: Int64 = 0
        public init(orders: Int64 = 0, grossRevenueMinor: Int64 = 0) {
            self.orders = orders
            self.grossRevenueMinor = grossRevenueMinor
        }
    }

    public static let bucketMillis: Int64 = 15 * 60 * 1000

    /// A menu item on one UTC day of event time, in one currency.
    public struct ItemKey: Hashable, Sendable, Comparable {
        /// Day start, milliseconds since the epoch (UTC).
        public var dayMillis: Int64
        public var itemID: String
        public var currency: String

        public static func < (a: ItemKey, b: ItemKey) -> Bool {
            (a.dayMillis, a.itemID, a.currency) < (b.dayMillis, b.itemID, b.currency)
        }
    }

    public struct ItemTotals: Sendable, Equatable {
        public var restaurantID: String
        public var city: String
        /// The name on the latest order line seen.
        public var name: String
        /// Orders holding the item, and units sold.
        public var orders: Int64 = 0
        public var quantity: Int64 = 0
        public var revenueMinor: Int64 = 0
    }

    public static let dayMillis: Int64 = 24 * 60 * 60 * 1000

    public private(set) var totals: [Key: Totals] = [:]
    public private(set) var items: [ItemKey: ItemTotals] = [:]

    public init() {}

    public static func bucket(of t: Timestamp) -> Int64 {
        t.epochMillis.floorDiv(bucketMillis) * bucketMillis
    }

    /// Adds the effect of one (fresh, valid) event.
    public mutating func add(_ event: Event) {
        guard case .orderPlaced(let o) = event.payload else { return }
        let key = Key(bucketMillis: OrderBuckets.bucket(of: event.occurredAt), restaurantID: o.restaurant_id, currency: o.currency)
        totals[key, default: Totals()].orders += 1
        totals[key, default: Totals()].grossRevenueMinor += o.total_minor
        let day = event.occurredAt.epochMillis.floorDiv(Self.dayMillis) * Self.dayMillis
        var counted = Set<String>()
        for line in o.items {
            let k = ItemKey(dayMillis: day, itemID: line.item_id, currency: o.currency)
            var t = items[k] ?? ItemTotals(restaurantID: o.restaurant_id, city: o.city, name: line.name)
            t.name = line.name
            if counted.insert(line.item_id).inserted { t.orders += 1 }
            t.quantity += Int64(line.quantity)
            t.revenueMinor += Int64(line.quantity) * line.unit_price_minor
            items[k] = t
        }
    }

    public var isEmpty: Bool { totals.isEmpty }
}
