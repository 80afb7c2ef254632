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
        public init(orders: Int64 = 0, grossRevenueMinor: Int64 = 0) {
            self.orders = orders
            self.grossRevenueMinor = grossRevenueMinor
        }

        /// The columns of `orders_15m` beside the key, in this order.
        public static let columns = ["orders", "gross_revenue_minor", "discounts_minor", "delivery_fees_minor", "items_sold",
                                     "cancellations", "refunds_minor", "payments_succeeded", "payments_failed", "deliveries",
                                     "delivery_seconds", "ratings", "ratings_sum", "ratings_1", "ratings_2", "ratings_3",
                                     "ratings_4", "ratings_5"]

        public var values: [Int64] {
            [orders, grossRevenueMinor, discountsMinor, deliveryFeesMinor, itemsSold, cancellations, refundsMinor,
             paymentsSucceeded, paymentsFailed, deliveries, deliverySeconds, ratings, ratingsSum] + stars
        }

        public init(values v: [Int64]) {
            orders = v[0]; grossRevenueMinor = v[1]; discountsMinor = v[2]; deliveryFeesMinor = v[3]; itemsSold = v[4]
            cancellations = v[5]; refundsMinor = v[6]; paymentsSucceeded = v[7]; paymentsFailed = v[8]; deliveries = v[9]
            deliverySeconds = v[10]; ratings = v[11]; ratingsSum = v[12]; stars = Array(v[13..<18])
        }

        public static func + (a: Totals, b: Totals) -> Totals { Totals(values: zip(a.values, b.values).map { $0 + $1 }) }
    }

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

    public static let bucketMillis: Int64 = 15 * 60 * 1000
    public static let dayMillis: Int64 = 24 * 60 * 60 * 1000

    public private(set) var totals: [Key: Totals] = [:]
    /// The city of each bucket's restaurant (from its events).
    public private(set) var cities: [Key: String] = [:]
    /// The customers who placed orders, per bucket (for the unique-customer sketch).
    public private(set) var customers: [Key: Set<String>] = [:]
    public private(set) var items: [ItemKey: ItemTotals] = [:]

    public init() {}

    public static func bucket(of t: Timestamp) -> Int64 {
        t.epochMillis.floorDiv(bucketMillis) * bucketMillis
    }

    /// Adds the effect of one (fresh, valid) event: each counts in the bucket of its own event time.
    public mutating func add(_ event: Event) {
        let bucket = OrderBuckets.bucket(of: event.occurredAt)
        func count(_ restaurant: String, _ currency: String, _ city: String, _ body: (inout Totals) -> Void) {
            let key = Key(bucketMillis: bucket, restaurantID: restaurant, currency: currency)
            body(&totals[key, default: Totals()])
            cities[key] = city
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
            customers[Key(bucketMillis: bucket, restaurantID: o.restaurant_id, currency: o.currency), default: []].insert(o.customer_id)
        case .orderCancelled(let c):
            count(c.restaurant_id, c.currency, c.city) { $0.cancellations += 1; $0.refundsMinor += c.refund_minor }
        case .paymentSucceeded(let p):
            count(p.restaurant_id, p.currency, p.city) { $0.paymentsSucceeded += 1 }
        case .paymentFailed(let p):
            count(p.restaurant_id, p.currency, p.city) { $0.paymentsFailed += 1 }
        case .orderDelivered(let d):
            count(d.restaurant_id, d.currency, d.city) { $0.deliveries += 1; $0.deliverySeconds += Int64((d.delivery_minutes * 60).rounded()) }
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
