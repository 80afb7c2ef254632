@testable import HearthAnalytics
import HearthEvents
import Testing

/// The in-memory aggregation of a batch, without a store.
@Suite struct OrderBucketsTests {
    static let noon = Timestamp(rfc3339: "2026-11-20T12:00:00Z")!.epochMillis

    static func placed(_ n: Int, at t: Int64, lines: [OrderLine], city: String = "Pune", restaurant: String = "r-1") -> Event {
        let total = lines.reduce(Int64(0)) { $0 + Int64($1.quantity) * $1.unit_price_minor }
        return Event(eventID: "p-\(n)", occurredAt: Timestamp(epochMillis: t), payload: .orderPlaced(OrderPlaced(
            order_id: "o-\(n)", customer_id: "c-\(n)", restaurant_id: restaurant, city: city, currency: "INR", channel: "app",
            payment_method: "upi", items: lines, subtotal_minor: total, delivery_fee_minor: 0, discount_minor: 0, total_minor: total)))
    }

    static func delivered(_ n: Int, at t: Int64, minutes: Double, restaurant: String = "r-1") -> Event {
        let dims = OrderDimensions(order_id: "o-\(n)", restaurant_id: restaurant, city: "Pune", currency: "INR")
        return Event(eventID: "d-\(n)", occurredAt: Timestamp(epochMillis: t), payload: .orderDelivered(OrderDelivered(dims, deliveryMinutes: minutes)))
    }

    /// An order counts once per item however many of its lines hold it, in short orders and long ones.
    @Test func anOrderCountsOncePerItem() throws {
        var buckets = OrderBuckets()
        let short = [OrderLine(item_id: "a", name: "Dosa", quantity: 2, unit_price_minor: 100),
                     OrderLine(item_id: "b", name: "Idli", quantity: 1, unit_price_minor: 50),
                     OrderLine(item_id: "a", name: "Masala Dosa", quantity: 3, unit_price_minor: 120)]
        buckets.add(Self.placed(1, at: Self.noon, lines: short))
        // Twelve lines: a set decides instead of the earlier lines.
        let long = (0..<12).map { OrderLine(item_id: $0 % 3 == 0 ? "a" : "c\($0)", name: "Line \($0)", quantity: 1, unit_price_minor: 10) }
        buckets.add(Self.placed(2, at: Self.noon + 60_000, lines: long))
        let day = Self.noon / OrderBuckets.dayMillis * OrderBuckets.dayMillis
        let a = try #require(buckets.items[OrderBuckets.ItemKey(dayMillis: day, itemID: "a", currency: "INR")])
        #expect(a.orders == 2 && a.quantity == 2 + 3 + 4)
        #expect(a.revenueMinor == 200 + 360 + 40)
        #expect(a.name == "Line 9", "the name of the latest line")
        #expect(buckets.items[OrderBuckets.ItemKey(dayMillis: day, itemID: "b", currency: "INR")]?.orders == 1)
        #expect(buckets.items.count == 2 + 8)
    }

    /// The rollups sum the quarter hours, histograms of different lengths included; live minutes stop at `liveSince`.
    @Test func rollupsSumTheQuarterHoursAndLiveMinutesStartAtTheirCutoff() throws {
        var buckets = OrderBuckets(liveSince: Self.noon)
        let line = [OrderLine(item_id: "a", name: "Dosa", quantity: 1, unit_price_minor: 100)]
        // Four quarter hours of one hour, two restaurants; the first order is an hour before the live cutoff.
        for n in 0..<8 {
            let t = Self.noon - 3_600_000 + Int64(n) * 450_000
            buckets.add(Self.placed(n, at: t, lines: line, restaurant: "r-\(n % 2)"))
            buckets.add(Self.delivered(n, at: t + 60_000, minutes: n % 2 == 0 ? 0.5 : Double(20 + 40 * n), restaurant: "r-\(n % 2)"))
        }
        #expect(buckets.totals.count == 8)
        let (hours, _) = buckets.cityRollup(per: 3_600_000)
        let hour = try #require(hours[OrderBuckets.CityKey(bucketMillis: Self.noon - 3_600_000, city: "Pune", currency: "INR")])
        var expected = OrderBuckets.Totals()
        for t in buckets.totals.values { expected.add(t) }
        #expect(hour == expected)
        #expect(hour.orders == 8 && hour.deliveries == 8 && hour.grossRevenueMinor == 800)
        #expect(hour.deliveryHistogram.reduce(0, +) == 8)
        #expect(hour.deliveryHistogram[0] == 4, "the four half-minute deliveries in the first bin")
        #expect(hour.deliveryHistogram.count == DeliveryHistogram.bin(minutes: 300) + 1)
        // Every event of that hour is before the cutoff: no live minute.
        #expect(buckets.live.isEmpty)
        buckets.add(Self.placed(9, at: Self.noon + 5_000, lines: line))
        #expect(buckets.live.count == 1 && buckets.live.values.first == [1, 100, 0, 0])
    }
}
