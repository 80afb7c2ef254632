import HearthAnalytics
import HearthEvents

/// What a generated stream must produce in the stores: written by `hearth generate --expect FILE`
/// and compared by the tests against the sinks.
public struct ExpectedTotals: Codable, Sendable, Equatable {
    public var records = 0
    public var validEvents = 0
    public var duplicates = 0
    public var invalid = 0
    public var late = 0
    public var recordsPerTopic: [String: Int] = [:]
    public var invalidPerTopic: [String: Int] = [:]
    /// Unique, valid `order.placed` events.
    public var orders = 0
    public var revenueMinorByCurrency: [String: Int64] = [:]
    /// `orders_15m`, keyed `<bucket ISO 8601>|<restaurant_id>|<currency>`: every measure of every order event.
    public var buckets: [String: OrderBuckets.Totals] = [:]
    /// `order_mix_15m`, keyed `<bucket ISO 8601>|<restaurant_id>|<currency>|<dimension>|<value>`.
    public var mix: [String: OrderBuckets.MixTotals] = [:]
    /// Every delivery time (minutes) per city, for exact percentiles.
    public var deliveryMinutesByCity: [String: [Double]] = [:]

    public init() {}

    static func bucketKey(_ key: OrderBuckets.Key) -> String {
        "\(Timestamp(epochMillis: key.bucketMillis))|\(key.restaurantID)|\(key.currency)"
    }

    mutating func count(_ event: Event, arrivedAt: Int64 = -1) {
        validEvents += 1
        if case .orderPlaced(let o) = event.payload {
            orders += 1
            revenueMinorByCurrency[o.currency, default: 0] += o.total_minor
        }
        var one = OrderBuckets()
        one.add(event, arrivedAt: arrivedAt)
        for (key, totals) in one.totals {
            buckets[Self.bucketKey(key), default: .init()] = buckets[Self.bucketKey(key), default: .init()] + totals
        }
        for (key, totals) in one.mix {
            let k = "\(Timestamp(epochMillis: key.bucketMillis))|\(key.restaurantID)|\(key.currency)|\(key.dimension)|\(key.value)"
            mix[k, default: .init()] = mix[k, default: .init()] + totals
        }
        if case .orderDelivered(let d) = event.payload { deliveryMinutesByCity[d.city, default: []].append(d.delivery_minutes) }
    }
}
