import HearthEvents

/// Order counts and revenue per 15-minute bucket of event time × restaurant × currency.
/// Pure in-memory aggregation of one batch's deltas; the sink combines them by upsert.
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

    public private(set) var totals: [Key: Totals] = [:]

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
    }

    public var isEmpty: Bool { totals.isEmpty }
}
