import Foundation
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
            if a.bucketMillis != b.bucketMillis { return a.bucketMillis < b.bucketMillis }
            if a.restaurantID != b.restaurantID { return a.restaurantID < b.restaurantID }
            return a.currency < b.currency
        }
    }

    /// What one bucket counts. Money in minor units of the bucket's currency; delivery time in
    /// whole seconds (so that sums are exact in any order).
    public struct Totals: Sendable, Equatable, Codable {
        public var orders: Int64 = 0
        public var grossRevenueMinor: Int64 = 0
        public var discountsMinor: Int64 = 0
        public var deliveryFeesMinor: Int64 = 0
        public var itemsSold: Int64 = 0
        public var cancellations: Int64 = 0
        public var refundsMinor: Int64 = 0
        public var paymentsSucceeded: Int64 = 0
        public var paymentsFailed: Int64 = 0
        public var deliveries: Int64 = 0
        public var deliverySeconds: Int64 = 0
        public var ratings: Int64 = 0
        public var ratingsSum: Int64 = 0
        /// Ratings of 1, 2, 3, 4 and 5 stars.
        public var stars: [Int64] = [0, 0, 0, 0, 0]
        /// Status changes, in the order of `OrderBuckets.statuses`.
        public var statuses: [Int64] = Array(repeating: 0, count: OrderBuckets.statuses.count)
        /// Events that reached Kafka after their bucket had closed (`OrderBuckets.isLate`), counted all the same.
        public var lateEvents: Int64 = 0
        /// Cancellations by reason, in the order of `OrderBuckets.cancellationReasons`.
        public var reasons: [Int64] = Array(repeating: 0, count: OrderBuckets.cancellationReasons.count)
        /// Delivery times (`DeliveryHistogram`): counts per bin, trailing empty bins left out.
        public var deliveryHistogram: [Int64] = []
        public init(orders: Int64 = 0, grossRevenueMinor: Int64 = 0) {
            self.orders = orders
            self.grossRevenueMinor = grossRevenueMinor
        }

        /// The columns of `orders_15m` beside the key, in this order.
        public static let columns = ["orders", "gross_revenue_minor", "discounts_minor", "delivery_fees_minor", "items_sold",
                                     "cancellations", "refunds_minor", "payments_succeeded", "payments_failed", "deliveries",
                                     "delivery_seconds", "ratings", "ratings_sum", "ratings_1", "ratings_2", "ratings_3",
                                     "ratings_4", "ratings_5"] + OrderBuckets.statuses.map { "status_" + $0.lowercased() } + ["late_events"]
            + OrderBuckets.cancellationReasons.map { "cancelled_" + $0 }

        public var values: [Int64] {
            // Appended into one array sized once (a concatenation allocates at each `+`).
            var v: [Int64] = []
            v.reserveCapacity(Self.columns.count)
            v.append(contentsOf: [orders, grossRevenueMinor, discountsMinor, deliveryFeesMinor, itemsSold, cancellations, refundsMinor,
                                  paymentsSucceeded, paymentsFailed, deliveries, deliverySeconds, ratings, ratingsSum])
            v.append(contentsOf: stars)
            v.append(contentsOf: statuses)
            v.append(lateEvents)
            v.append(contentsOf: reasons)
            return v
        }

        public init(values v: [Int64]) {
            orders = v[0]; grossRevenueMinor = v[1]; discountsMinor = v[2]; deliveryFeesMinor = v[3]; itemsSold = v[4]
            cancellations = v[5]; refundsMinor = v[6]; paymentsSucceeded = v[7]; paymentsFailed = v[8]; deliveries = v[9]
            deliverySeconds = v[10]; ratings = v[11]; ratingsSum = v[12]; stars = Array(v[13..<18])
            statuses = Array(v[18..<(18 + OrderBuckets.statuses.count)])
            let late = 18 + OrderBuckets.statuses.count
            lateEvents = v[late]
            reasons = Array(v[(late + 1)..<(late + 1 + OrderBuckets.cancellationReasons.count)])
        }

        public static func + (a: Totals, b: Totals) -> Totals {
            var sum = a
            sum.add(b)
            return sum
        }

        /// Adds `other` in place: every measure, and the histograms bin by bin.
        public mutating func add(_ other: Totals) {
            orders += other.orders; grossRevenueMinor += other.grossRevenueMinor; discountsMinor += other.discountsMinor
            deliveryFeesMinor += other.deliveryFeesMinor; itemsSold += other.itemsSold; cancellations += other.cancellations
            refundsMinor += other.refundsMinor; paymentsSucceeded += other.paymentsSucceeded; paymentsFailed += other.paymentsFailed
            deliveries += other.deliveries; deliverySeconds += other.deliverySeconds; ratings += other.ratings
            ratingsSum += other.ratingsSum; lateEvents += other.lateEvents
            for i in stars.indices { stars[i] += other.stars[i] }
            for i in statuses.indices { statuses[i] += other.statuses[i] }
            for i in reasons.indices { reasons[i] += other.reasons[i] }
            DeliveryHistogram.add(other.deliveryHistogram, to: &deliveryHistogram)
        }
    }

    /// A menu item on one UTC day of event time, in one currency.
    public struct ItemKey: Hashable, Sendable, Comparable {
        /// Day start, milliseconds since the epoch (UTC).
        public var dayMillis: Int64
        public var itemID: String
        public var currency: String

        public static func < (a: ItemKey, b: ItemKey) -> Bool {
            if a.dayMillis != b.dayMillis { return a.dayMillis < b.dayMillis }
            if a.itemID != b.itemID { return a.itemID < b.itemID }
            return a.currency < b.currency
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

    /// The statuses of `order.status_changed`, in the order an order passes them.
    public static let statuses = ["ACCEPTED", "PREPARING", "READY", "ASSIGNED", "PICKED", "OUT_FOR_DELIVERY"]

    /// The reasons of `order.cancelled` (the contract's).
    public static let cancellationReasons = ["customer", "restaurant_rejected", "payment_failed", "no_rider", "other"]

    /// Orders and payments by channel or by payment method, per bucket × restaurant × currency.
    public struct MixKey: Hashable, Sendable, Comparable {
        public var bucketMillis: Int64
        public var restaurantID: String
        public var currency: String
        /// `channel` or `payment_method`.
        public var dimension: String
        public var value: String

        public static func < (a: MixKey, b: MixKey) -> Bool {
            if a.bucketMillis != b.bucketMillis { return a.bucketMillis < b.bucketMillis }
            if a.restaurantID != b.restaurantID { return a.restaurantID < b.restaurantID }
            if a.currency != b.currency { return a.currency < b.currency }
            if a.dimension != b.dimension { return a.dimension < b.dimension }
            return a.value < b.value
        }
    }

    public struct MixTotals: Sendable, Equatable, Codable {
        public var orders: Int64 = 0
        public var grossRevenueMinor: Int64 = 0
        public var paymentsSucceeded: Int64 = 0
        public var paymentsFailed: Int64 = 0
        public var values: [Int64] { [orders, grossRevenueMinor, paymentsSucceeded, paymentsFailed] }
        public static let columns = ["orders", "gross_revenue_minor", "payments_succeeded", "payments_failed"]
        public init() {}
        public init(values v: [Int64]) { orders = v[0]; grossRevenueMinor = v[1]; paymentsSucceeded = v[2]; paymentsFailed = v[3] }
        public static func + (a: MixTotals, b: MixTotals) -> MixTotals { MixTotals(values: zip(a.values, b.values).map { $0 + $1 }) }
    }

    /// Orders per minute × city × currency, for the live view (kept for a short time only).
    public struct LiveKey: Hashable, Sendable, Comparable {
        public var minuteMillis: Int64
        public var city: String
        public var currency: String
        public static func < (a: LiveKey, b: LiveKey) -> Bool {
            if a.minuteMillis != b.minuteMillis { return a.minuteMillis < b.minuteMillis }
            if a.city != b.city { return a.city < b.city }
            return a.currency < b.currency
        }
    }

    /// The measures of `orders_live_1m`, in this order.
    public static let liveColumns = ["orders", "gross_revenue_minor", "cancellations", "deliveries"]

    public static let bucketMillis: Int64 = 15 * 60 * 1000
    public static let dayMillis: Int64 = 24 * 60 * 60 * 1000

    public private(set) var totals: [Key: Totals] = [:]
    /// The city of each bucket's restaurant (from its events).
    public private(set) var cities: [Key: String] = [:]
    /// The customers who placed orders, per bucket, as the unique-customer sketch hashes them (`CustomerHash`).
    public private(set) var customers: [Key: Set<Int64>] = [:]
    public private(set) var items: [ItemKey: ItemTotals] = [:]
    public private(set) var mix: [MixKey: MixTotals] = [:]
    public private(set) var live: [LiveKey: [Int64]] = [:]
    /// Minutes before this (ms since the epoch) are left out of `live`: their rows would already be
    /// past the live view's retention (`liveRetentionMillis`), deleted by the next maintenance.
    public let liveSince: Int64

    /// How long `orders_live_1m` keeps a minute (the live view reads the last hour of it).
    public static let liveRetentionMillis: Int64 = 2 * dayMillis

    /// `liveSince`: the first minute worth adding to `live` (by default every minute is).
    public init(liveSince: Int64 = .min) {
        self.liveSince = liveSince
    }

    /// Buckets whose live minutes start at the live view's retention as of `now` (the wall clock).
    public static func forStream(now: Timestamp = .now) -> OrderBuckets {
        OrderBuckets(liveSince: now.epochMillis - liveRetentionMillis)
    }

    public static func bucket(of t: Timestamp) -> Int64 {
        t.epochMillis.floorDiv(bucketMillis) * bucketMillis
    }

    /// A record is late when it reached Kafka (its record timestamp) more than a minute after the
    /// 15-minute bucket of its event time had ended. It counts in that bucket all the same.
    public static let lateAfterMillis: Int64 = 60_000

    public static func isLate(bucket: Int64, arrivedAt: Int64) -> Bool {
        arrivedAt >= 0 && arrivedAt > bucket + bucketMillis + lateAfterMillis
    }

    /// Adds the effect of one (fresh, valid) event: each counts in the bucket of its own event time.
    /// `arrivedAt`: the record's Kafka timestamp (ms since the epoch; negative when unknown).
    public mutating func add(_ event: Event, arrivedAt: Int64 = -1) {
        let bucket = OrderBuckets.bucket(of: event.occurredAt)
        let late = Self.isLate(bucket: bucket, arrivedAt: arrivedAt)
        // Each helper looks its key up once (a look-up hashes the key's strings).
        func minute(_ city: String, _ currency: String, _ body: (inout [Int64]) -> Void) {
            let minuteMillis = event.occurredAt.epochMillis.floorDiv(60_000) * 60_000
            guard minuteMillis >= liveSince else { return }
            body(&live[LiveKey(minuteMillis: minuteMillis, city: city, currency: currency), default: [0, 0, 0, 0]])
        }
        func count(_ restaurant: String, _ currency: String, _ city: String, _ body: (inout Totals) -> Void) {
            let key = Key(bucketMillis: bucket, restaurantID: restaurant, currency: currency)
            func bump(_ t: inout Totals) {
                body(&t)
                if late { t.lateEvents += 1 }
            }
            bump(&totals[key, default: Totals()])
            cities[key] = city
        }
        func mixed(_ restaurant: String, _ currency: String, _ dimension: String, _ value: String, _ body: (inout MixTotals) -> Void) {
            body(&mix[MixKey(bucketMillis: bucket, restaurantID: restaurant, currency: currency, dimension: dimension, value: value),
                      default: MixTotals()])
        }
        switch event.payload {
        case .orderPlaced(let o):
            count(o.restaurant_id, o.currency, o.city) {
                $0.orders += 1
                $0.grossRevenueMinor += o.total_minor
                $0.discountsMinor += o.discount_minor
                $0.deliveryFeesMinor += o.delivery_fee_minor
                $0.itemsSold += o.items.reduce(0) { $0 + Int64($1.quantity) }
            }
            addItems(o, at: event.occurredAt)
            minute(o.city, o.currency) {
                $0[0] += 1
                $0[1] += o.total_minor
            }
            let order: (inout MixTotals) -> Void = {
                $0.orders += 1
                $0.grossRevenueMinor += o.total_minor
            }
            mixed(o.restaurant_id, o.currency, "channel", o.channel, order)
            mixed(o.restaurant_id, o.currency, "payment_method", o.payment_method, order)
            customers[Key(bucketMillis: bucket, restaurantID: o.restaurant_id, currency: o.currency), default: []].insert(CustomerHash.of(o.customer_id))
        case .orderCancelled(let c):
            let reason = Self.cancellationReasons.firstIndex(of: c.reason)
            count(c.restaurant_id, c.currency, c.city) {
                $0.cancellations += 1
                $0.refundsMinor += c.refund_minor
                if let reason { $0.reasons[reason] += 1 }
            }
            minute(c.city, c.currency) { $0[2] += 1 }
        case .paymentSucceeded(let p):
            count(p.restaurant_id, p.currency, p.city) { $0.paymentsSucceeded += 1 }
            mixed(p.restaurant_id, p.currency, "payment_method", p.method) { $0.paymentsSucceeded += 1 }
        case .paymentFailed(let p):
            count(p.restaurant_id, p.currency, p.city) { $0.paymentsFailed += 1 }
            mixed(p.restaurant_id, p.currency, "payment_method", p.method) { $0.paymentsFailed += 1 }
        case .orderStatusChanged(let c):
            guard let index = Self.statuses.firstIndex(of: c.status) else { return }
            count(c.restaurant_id, c.currency, c.city) { $0.statuses[index] += 1 }
        case .orderDelivered(let d):
            minute(d.city, d.currency) { $0[3] += 1 }
            count(d.restaurant_id, d.currency, d.city) {
                $0.deliveries += 1
                $0.deliverySeconds += Int64((d.delivery_minutes * 60).rounded())
                DeliveryHistogram.add(minutes: d.delivery_minutes, to: &$0.deliveryHistogram)
            }
        case .reviewPosted(let r):
            count(r.restaurant_id, r.currency, r.city) {
                $0.ratings += 1
                $0.ratingsSum += Int64(r.rating)
                if (1...5).contains(r.rating) { $0.stars[r.rating - 1] += 1 }
            }
        default:
            return
        }
    }

    private mutating func addItems(_ o: OrderPlaced, at time: Timestamp) {
        let day = time.epochMillis.floorDiv(Self.dayMillis) * Self.dayMillis
        // An order counts once per item, however many of its lines hold it: short orders look at their
        // earlier lines, long ones keep a set.
        var counted: Set<String>? = o.items.count > 8 ? [] : nil
        for n in o.items.indices {
            let line = o.items[n]
            let first = counted?.insert(line.item_id).inserted ?? !o.items[..<n].contains { $0.item_id == line.item_id }
            func update(_ t: inout ItemTotals) {
                t.name = line.name
                if first { t.orders += 1 }
                t.quantity += Int64(line.quantity)
                t.revenueMinor += Int64(line.quantity) * line.unit_price_minor
            }
            update(&items[ItemKey(dayMillis: day, itemID: line.item_id, currency: o.currency),
                          default: ItemTotals(restaurantID: o.restaurant_id, city: o.city, name: line.name)])
        }
    }

    public var isEmpty: Bool { totals.isEmpty }

    /// A rollup bucket: city × currency (no restaurant) per 15 minutes, UTC hour or UTC day.
    public struct CityKey: Hashable, Sendable, Comparable {
        public var bucketMillis: Int64
        public var city: String
        public var currency: String
        public static func < (a: CityKey, b: CityKey) -> Bool {
            if a.bucketMillis != b.bucketMillis { return a.bucketMillis < b.bucketMillis }
            if a.city != b.city { return a.city < b.city }
            return a.currency < b.currency
        }
    }

    /// The rollup levels: their tables and bucket lengths.
    public static let rollups: [(table: String, millis: Int64)] = [("orders_city_15m", bucketMillis),
                                                                   ("orders_city_1h", 3_600_000), ("orders_city_1d", dayMillis)]

    /// The batch's buckets summed per city × currency over buckets of `millis` (a multiple of 15 minutes),
    /// with the customers of each.
    public func cityRollup(per millis: Int64) -> (totals: [CityKey: Totals], customers: [CityKey: Set<Int64>]) {
        var out: [CityKey: Totals] = [:]
        var people: [CityKey: Set<Int64>] = [:]
        for (key, t) in totals {
            let k = CityKey(bucketMillis: key.bucketMillis.floorDiv(millis) * millis, city: cities[key] ?? "", currency: key.currency)
            out[k, default: Totals()].add(t)
            if let c = customers[key] { people[k, default: []].formUnion(c) }
        }
        return (out, people)
    }
}

/// A mergeable distribution of delivery times: counts per bin, bins growing by 5%, so that any
/// percentile of any range and grouping comes from summed bins without re-reading events.
///
/// Bin 0 holds [0, 1) minute; bin k ≥ 1 holds [1.05^(k−1), 1.05^k) minutes; the last bin (k = 127,
/// from about 467 minutes) holds everything longer. A percentile is reported as its bin's
/// geometric middle: within 2.5% of the exact (nearest-rank) value from 1 minute to 467
/// minutes, within 0.5 minute below 1 minute. PostgreSQL adds bins with `hearth_hist_add` (and the
/// aggregate `hearth_hist_sum`) and reads percentiles with `hearth_hist_quantile`.
public enum DeliveryHistogram {
    public static let bins = 128
    public static let growth = 1.05

    public static func bin(minutes: Double) -> Int {
        guard minutes >= 1 else { return 0 }
        return min(bins - 1, Int((log(minutes) / log(growth)).rounded(.down)) + 1)
    }

    /// The value reported for a percentile that falls in `bin`.
    public static func representative(_ bin: Int) -> Double {
        bin == 0 ? 0.5 : pow(growth, Double(bin - 1)) * growth.squareRoot()
    }

    public static func add(minutes: Double, to histogram: inout [Int64]) {
        let b = bin(minutes: minutes)
        if histogram.count <= b { histogram += Array(repeating: 0, count: b + 1 - histogram.count) }
        histogram[b] += 1
    }

    /// Adds `b` to `a` bin by bin, in place.
    public static func add(_ b: [Int64], to a: inout [Int64]) {
        if a.count < b.count { a += repeatElement(0, count: b.count - a.count) }
        for i in b.indices { a[i] += b[i] }
    }

    /// The nearest-rank `q` quantile of `minutes`, exactly (what the histogram approximates).
    public static func exactQuantile(_ minutes: [Double], _ q: Double) -> Double? {
        guard !minutes.isEmpty else { return nil }
        let sorted = minutes.sorted()
        return sorted[max(1, Int((q * Double(sorted.count)).rounded(.up))) - 1]
    }
}
