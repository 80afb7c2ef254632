import Foundation
@testable import HearthAnalytics
import HearthEvents
import HearthPostgres
import Testing

/// The analytics store's deduplication state (`SeenEvents`): event ids checked in memory per partition,
/// kept in PostgreSQL as digests per batch, and right whichever process or connection wrote last.
@Suite struct DedupTests {
    /// Two days ago (well within the aggregates' retention), to the minute.
    static let start = (Int64(Date().timeIntervalSince1970 * 1000) - 2 * 86_400_000) / 60_000 * 60_000

    static func order(_ n: Int, total: Int64 = 1000) -> Event {
        Event(eventID: "evt-\(n)", occurredAt: Timestamp(epochMillis: start + Int64(n) * 60_000), payload: .orderPlaced(OrderPlaced(
            order_id: "o-\(n)", customer_id: "c-\(n % 7)", restaurant_id: "r-\(n % 3)", city: "Mumbai", currency: "INR",
            channel: "app", payment_method: "upi", items: [OrderLine(item_id: "m-\(n % 4)", name: "Dish \(n % 4)", quantity: 1, unit_price_minor: total)],
            subtotal_minor: total, delivery_fee_minor: 0, discount_minor: 0, total_minor: total)))
    }

    static func database() async throws -> String {
        let url = try await SharedPostgres.shared.freshDatabase()
        let c = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(c, logger: testLogger)
        await c.close()
        return url
    }

    /// Orders and revenue over every bucket and shard.
    static func totals(_ url: String) async throws -> (orders: Int64, revenue: Int64) {
        let c = PostgresConnection(url: url, logger: testLogger)
        defer { Task { await c.close() } }
        let row = try #require(try await c.query("SELECT coalesce(sum(orders), 0), coalesce(sum(gross_revenue_minor), 0) FROM orders_15m").first)
        return (Int64(row[0]!)!, Int64(row[1]!)!)
    }

    @Test func digestsAndCustomerHashesAreWhatPostgreSQLComputes() async throws {
        let url = try await Self.database()
        let c = PostgresConnection(url: url, logger: testLogger)
        let ids = ["evt-1", "", "a", "0123456789abcdef", "0123456789abcdefg", "Zoë Ünïcode ✓ 注文",
                   String(repeating: "x", count: 64), "c-12345678", "123456789"]
        for id in ids {
            let sql = try await c.query("""
                SELECT encode(substring(sha256(convert_to(\(id), 'UTF8')) FROM 1 FOR 16), 'hex'), hll_hash_text(\(id))
                """).first
            #expect(sql?[0] == EventIDDigest.hex([EventIDDigest(id)]), "digest of \(id)")
            #expect(sql?[1] == String(CustomerHash.of(id)), "customer hash of \(id)")
        }
        let digests = ids.map(EventIDDigest.init)
        #expect(EventIDDigest.parse(hex: EventIDDigest.hex(digests)) == digests)
        #expect(EventIDDigest.parse(hex: "0g" + String(repeating: "0", count: 30)) == nil)
        #expect(EventIDDigest.parse(hex: "00") == nil)
        await c.close()
    }

    /// Two sinks on one database, as two processes taking turns with one partition: each finds the other's
    /// ids, so a copy counts once whichever sink meets it.
    @Test func twoSinksTakingTurnsOnAPartitionCountEachEventOnce() async throws {
        let url = try await Self.database()
        let a = AnalyticsSink(url: url, dedupHorizonHours: 168, logger: testLogger)
        let b = AnalyticsSink(url: url, dedupHorizonHours: 168, logger: testLogger)
        var next = try await IngestHarness.applyBatch((0..<100).map { Self.order($0) }, to: a)
        // B has never seen the partition: it reads A's ids. Half of its batch are copies.
        next = try await IngestHarness.applyBatch((50..<150).map { Self.order($0) }, to: b, at: next)
        // A's memory is a version behind: it reads again, and finds B's ids as well as its own.
        next = try await IngestHarness.applyBatch((0..<200).map { Self.order($0) }, to: a, at: next)
        // B's memory is behind too; copies within one batch count once as well.
        _ = try await IngestHarness.applyBatch((190..<210).map { Self.order($0) } + (190..<210).map { Self.order($0) }, to: b, at: next)
        let (orders, revenue) = try await Self.totals(url)
        #expect(orders == 210)
        #expect(revenue == 210 * 1000)
        let c = PostgresConnection(url: url, logger: testLogger)
        let kept = try await c.query("SELECT sum(length(ids)) / 16, max(version) FROM analytics_seen_batches WHERE partition = 0").first
        #expect(kept?[0] == "210" && kept?[1] == "4")
        await c.close()
    }

    /// A batch that fails after its ids were checked is rolled back and forgotten: applied again, it counts.
    /// (It fails because the items it orders lost their keys, which the sink believed registered.)
    @Test func aBatchThatFailsAfterItsCheckCountsWhenAppliedAgain() async throws {
        let url = try await Self.database()
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 168, logger: testLogger)
        let next = try await IngestHarness.applyBatch((0..<40).map { Self.order($0) }, to: sink)
        let c = PostgresConnection(url: url, logger: testLogger)
        try await c.query("TRUNCATE item_orders_daily, menu_item_keys")
        let retried = (40..<80).map { Self.order($0) }
        await #expect(throws: PostgresError.self) { try await IngestHarness.applyBatch(retried, to: sink, at: next) }
        #expect(try await Self.totals(url).orders == 40)
        _ = try await IngestHarness.applyBatch(retried, to: sink, at: next)
        #expect(try await Self.totals(url).orders == 80)
        let keys = try await c.query("SELECT count(*) FROM menu_item_keys").first?[0]
        #expect(keys == "12")   // four dishes in each of three restaurants
        await c.close()
    }

    /// Ids counted by a version that kept them in one table (before migration 18) still count: a copy of
    /// one of them, on any partition, has no effect.
    @Test func idsOfTheSingleTableStillCount() async throws {
        let url = try await Self.database()
        let c = PostgresConnection(url: url, logger: testLogger)
        try await c.withSession { s in
            try s.execute("CREATE TABLE analytics_seen_events (event_id text PRIMARY KEY, seen_at timestamptz NOT NULL DEFAULT now())")
            try s.query("INSERT INTO analytics_seen_events (event_id) SELECT unnest(\((0..<30).map { "evt-\($0)" })::text[])")
            try s.execute(SeenEvents.legacySQL)
        }
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 168, logger: testLogger)
        let next = try await IngestHarness.applyBatch((20..<50).map { Self.order($0) }, to: sink, partition: 3)
        _ = try await IngestHarness.applyBatch((0..<60).map { Self.order($0) }, to: sink, partition: 3, at: next)
        #expect(try await Self.totals(url).orders == 30)
        #expect(try await c.query("SELECT count(*) FROM analytics_seen_batches WHERE partition = -1").first?[0] == "1")
        await c.close()
    }
}
