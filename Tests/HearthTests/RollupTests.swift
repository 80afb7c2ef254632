import Foundation
import HearthAnalytics
import HearthArchive
import HearthCore
import HearthEvents
import HearthPostgres
import HearthSupport
import Testing

/// The city rollups (15 minutes, hour, day), monthly partitions and retention: reports read the
/// rollups and must answer exactly what the restaurant quarter hours say, in every zone.
@Suite struct RollupTests {
    /// Orders, cancellations (every reason) and deliveries every 7 min 13 s over four days in three
    /// cities and currencies, applied in batches by two writers (so rollup rows of both shards meet).
    static func stream(from start: Int64, days: Int64 = 4) -> [Event] {
        let cities = [("Mumbai", "INR"), ("Kathmandu", "NPR"), ("London", "GBP")]
        var events: [Event] = []
        var t = start, n = 0
        while t < start + days * 86_400_000 {
            let (city, currency) = cities[n % 3]
            let restaurant = "r-\(n % 5)"
            let total = Int64(100 + (n * 37) % 900)
            events.append(Event(eventID: "p-\(n)", occurredAt: Timestamp(epochMillis: t), payload: .orderPlaced(OrderPlaced(
                order_id: "o-\(n)", customer_id: "c-\(n % 41)", restaurant_id: restaurant, city: city, currency: currency,
                channel: "app", payment_method: "upi", items: [OrderLine(item_id: "m-\(n % 9)", name: "Dish \(n % 9)", quantity: 1, unit_price_minor: total)],
                subtotal_minor: total, delivery_fee_minor: 0, discount_minor: 0, total_minor: total))))
            let dims = OrderDimensions(order_id: "o-\(n)", restaurant_id: restaurant, city: city, currency: currency)
            if n % 4 == 0 {
                let reason = OrderBuckets.cancellationReasons[(n / 4) % OrderBuckets.cancellationReasons.count]
                events.append(Event(eventID: "x-\(n)", occurredAt: Timestamp(epochMillis: t + 120_000),
                                    payload: .orderCancelled(OrderCancelled(dims, reason: reason, refundMinor: total))))
            } else {
                events.append(Event(eventID: "d-\(n)", occurredAt: Timestamp(epochMillis: t + 1_800_000),
                                    payload: .orderDelivered(OrderDelivered(dims, deliveryMinutes: Double(20 + n % 30)))))
            }
            t += 433_000
            n += 1
        }
        return events
    }

    /// A database holding `events`, loaded by a sink that keeps everything (a sink drops expired months
    /// at its first batch).
    static func database(_ events: [Event], reportZones: [String] = []) async throws -> (url: String, sink: AnalyticsSink) {
        let url = try await SharedPostgres.shared.freshDatabase()
        let connection = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(connection, logger: testLogger)
        try await AnalyticsSink.registerReportZones(connection, zones: reportZones, logger: testLogger)
        await connection.close()
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24 * 365 * 10,
                                 retention: AggregateRetention(quarterHourDays: 36_500, rollupDays: 36_500), logger: testLogger)
        var offsets: [Int32: Int64] = [:]
        for (i, chunk) in stride(from: 0, to: events.count, by: 500).enumerated() {
            let partition = Int32(i % 2)
            offsets[partition] = try await IngestHarness.applyBatch(Array(events[chunk..<min(chunk + 500, events.count)]), to: sink,
                                                                    partition: partition, at: offsets[partition] ?? 0)
        }
        return (url, sink)
    }

    static func runner(_ url: String) throws -> ReportRunner {
        ReportRunner(url: url, reports: try ReportDefinition.loadAll(from: TestPaths.root.appendingPathComponent("Reports")), logger: testLogger)
    }

    static func run(_ runner: ReportRunner, _ name: String, _ params: [String: String]) async throws -> [[String?]] {
        let report = try #require(runner.report(named: name))
        return try await runner.run(report, binds: try ReportRunner.binds(report, params)).values
    }

    /// In every zone, whether its local days are kept (registered before the events, or after them: filled
    /// from the quarter hours from its first whole day, the day before cut from hours) or not.
    @Test func salesFromTheRollupsEqualTheQuarterHoursInEveryZone() async throws {
        let start = Int64(1_790_000_000_000) / 86_400_000 * 86_400_000   // 2026-09-21T00:00Z
        let (url, _) = try await Self.database(Self.stream(from: start), reportZones: ["Asia/Kolkata", "Asia/Kathmandu", "America/New_York"])
        let direct = PostgresConnection(url: url, logger: testLogger)
        try await AnalyticsSink.registerReportZones(direct, zones: ["Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide"], logger: testLogger)
        let since = try await direct.query("SELECT zone, since::text FROM hearth_report_zones ORDER BY zone").values
        #expect(since == [["Asia/Kathmandu", "-infinity"], ["Asia/Kolkata", "-infinity"], ["Australia/Adelaide", "2026-09-22"]],
                "America/New_York unregistered; Adelaide (+09:30) filled from the quarter hours: 2026-09-21 begins before them")
        #expect(try await direct.query("SELECT count(*) FROM orders_zone_1d WHERE zone = 'America/New_York'").first!.int(0) == 0)
        try await IngestHarness.expectRollupsMatch(url)
        let runner = try Self.runner(url)
        var compared = 0
        for zone in ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Australia/Adelaide"] {
            for granularity in ["15m", "hour", "day", "week", "month"] {
                for (from, to) in [("2026-09-21", "2026-09-24"), ("2026-09-21T05:07:00Z", "2026-09-23T19:52:00+05:45")] {
                    for city in [nil, "Kathmandu"] {
                        var params = ["from": from, "to": to, "tz": zone, "granularity": granularity]
                        params["city"] = city
                        let report = try await Self.run(runner, "sales", params)
                        // The same figures straight from the restaurant quarter hours.
                        let expected = try await direct.query(PostgresQuery(unsafeSQL: """
                            SELECT hearth_local_iso(s, $1), currency, sum(orders)::bigint, sum(gross_revenue_minor)::bigint,
                                   sum(cancellations)::bigint,
                                   CASE WHEN sum(orders) > 0 THEN round(sum(gross_revenue_minor)::numeric / sum(orders))::bigint END,
                                   sum(late_events)::bigint
                            FROM (SELECT CASE $2::text WHEN '15m' THEN o.bucket ELSE date_trunc($2, o.bucket, $1) END AS s, o.*
                                  FROM orders_15m o
                                  WHERE o.bucket >= hearth_range_start($3, $1) AND o.bucket < hearth_range_end($4, $1)
                                    AND ($5::text IS NULL OR o.city = $5)) x
                            GROUP BY s, currency ORDER BY s, currency
                            """, binds: [zone, granularity, from, to, city]))
                        #expect(report == expected.values, "\(zone) \(granularity) \(from)…\(to) \(city ?? "all")")
                        #expect(!report.isEmpty)
                        compared += report.count
                    }
                }
            }
        }
        #expect(compared > 1000)
        // One restaurant's figures come from its own quarter hours, the same way.
        let one = try await Self.run(runner, "sales", ["from": "2026-09-21", "to": "2026-09-24", "tz": "Asia/Kolkata", "restaurant_id": "r-3"])
        let oneExpected = try await direct.query("""
            SELECT sum(orders)::bigint FROM orders_15m
            WHERE restaurant_id = 'r-3' AND bucket >= hearth_range_start('2026-09-21', 'Asia/Kolkata')
              AND bucket < hearth_range_end('2026-09-24', 'Asia/Kolkata')
            """)
        #expect(one.reduce(0) { $0 + Int($1[2]!)! } == Int(oneExpected.first![0]!)! && one.count >= 4)
        await direct.close()
    }

    /// Merging the writers' shards keeps every total (the quarter hours, the rollups and the reports)
    /// and leaves one row per key; a later event lands in its writer's shard and is merged again.
    @Test func compactionMergesShardsAndKeepsEveryTotal() async throws {
        let start = Int64(1_790_000_000_000) / 86_400_000 * 86_400_000
        let events = Self.stream(from: start, days: 2)
        let (url, sink) = try await Self.database(events, reportZones: ["Asia/Kolkata"])
        let runner = try Self.runner(url)
        let params = ["from": "2026-09-21", "to": "2026-09-22", "tz": "Asia/Kolkata", "granularity": "hour"]
        let before = try await Self.run(runner, "sales", params)
        var byDay = params
        byDay["granularity"] = "day"   // (from the zone's local days)
        let daysBefore = try await Self.run(runner, "sales", byDay)
        let totalsBefore = try await IngestHarness.orderBuckets(url)
        let c = PostgresConnection(url: url, logger: testLogger)
        func shardRows() async throws -> Int64 {
            try await c.query("""
                SELECT (SELECT count(*) FROM orders_15m WHERE shard <> 0) + (SELECT count(*) FROM orders_city_1h WHERE shard <> 0)
                     + (SELECT count(*) FROM item_orders_daily WHERE shard <> 0) + (SELECT count(*) FROM order_mix_15m WHERE shard <> 0)
                     + (SELECT count(*) FROM orders_zone_1d WHERE shard <> 0)
                """).first!.int(0)
        }
        // (The sink's own maintenance may already have merged some in the background.)
        try await sink.compact(before: Timestamp(epochMillis: start + 86_400_000))
        try await sink.compact(before: Timestamp(epochMillis: start + 10 * 86_400_000))
        #expect(try await shardRows() == 0)
        #expect(try await Self.run(runner, "sales", params) == before)
        #expect(try await Self.run(runner, "sales", byDay) == daysBefore && daysBefore.count == 6, "two days, three currencies")
        #expect(try await IngestHarness.orderBuckets(url) == totalsBefore)
        try await IngestHarness.expectRollupsMatch(url)
        let keys = try await c.query("SELECT count(*), count(DISTINCT (bucket, city, currency)) FROM orders_city_1h").first!
        #expect(try keys.int(0) == keys.int(1), "one row per hour, city and currency")
        // A late event lands in its writer's shard and counts at once.
        let late = [Event(eventID: "late-x", occurredAt: Timestamp(epochMillis: start + 60_000), payload: events[0].payload)]
        try await IngestHarness.applyBatch(late, to: sink, partition: 9)
        let after = try await Self.run(runner, "sales", ["from": "2026-09-21", "to": "2026-09-21"])
        #expect(after.reduce(0) { $0 + Int($1[2]!)! } == events.filter {
            if case .orderPlaced = $0.payload { return $0.occurredAt.epochMillis < start + 86_400_000 } else { return false }
        }.count + 1)
        await c.close()
    }

    @Test func cancellationsByReasonAndOtherReportsOverTheRollups() async throws {
        let start = Int64(1_790_000_000_000) / 86_400_000 * 86_400_000
        let events = Self.stream(from: start, days: 2)
        let (url, _) = try await Self.database(events, reportZones: ["Asia/Kolkata"])
        let runner = try Self.runner(url)
        var want: [String: [String: Int]] = [:]
        var ordersByCurrency: [String: Int] = [:]
        for e in events {
            if case .orderCancelled(let c) = e.payload { want[c.currency, default: [:]][c.reason, default: 0] += 1 }
            if case .orderPlaced(let o) = e.payload { ordersByCurrency[o.currency, default: 0] += 1 }
        }
        let rows = try await Self.run(runner, "cancellations", ["from": "2026-09-21", "to": "2026-09-22", "tz": "Asia/Kolkata"])
        // Kolkata's two days start 5:30 h earlier: count the events in that window.
        let lo = start - 19_800_000, hi = lo + 2 * 86_400_000
        var inWindow: [String: [String: Int]] = [:]
        for e in events where e.occurredAt.epochMillis >= lo && e.occurredAt.epochMillis < hi {
            if case .orderCancelled(let c) = e.payload { inWindow[c.currency, default: [:]][c.reason, default: 0] += 1 }
        }
        #expect(rows.count == 3 * OrderBuckets.cancellationReasons.count)
        for row in rows {
            #expect(Int(row[2]!)! == inWindow[row[0]!]?[row[1]!] ?? 0, "\(row)")
        }
        #expect(Set(rows.map { $0[1]! }) == Set(OrderBuckets.cancellationReasons))
        #expect(want.values.allSatisfy { $0.count == OrderBuckets.cancellationReasons.count }, "the stream has every reason")
        // The funnel, delivery times and unique customers read the same cut.
        let funnel = try await Self.run(runner, "funnel", ["from": "2026-09-21", "to": "2026-09-22"])
        #expect(funnel.first?[1] == "\(ordersByCurrency.values.reduce(0, +))")
        let delivery = try await Self.run(runner, "delivery_times", ["from": "2026-09-21", "to": "2026-09-22", "granularity": "day", "tz": "Asia/Kathmandu"])
        #expect(delivery.count == 2 && delivery.allSatisfy { Double($0[3]!)! >= 19 && Double($0[5]!)! <= 51 })
        let customers = try await Self.run(runner, "unique_customers", ["from": "2026-09-21", "to": "2026-09-22", "granularity": "all"])
        #expect(customers.count == 1 && abs(Int(customers[0][1]!)! - 41) <= 1)
    }

    @Test func monthsGetPartitionsWhenFirstWrittenAndExpireWithTheirRetention() async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let old = Int64(1_552_000_000_000)            // March 2019: past both retentions
        let lastYear = now - 300 * 86_400_000           // past the 15-minute level's 180 days only
        let events = Self.stream(from: old, days: 1) + Self.stream(from: lastYear, days: 1).map {
            var e = $0; e.eventID = "ly-" + e.eventID; return e
        } + Self.stream(from: now - 3_600_000, days: 1).map { var e = $0; e.eventID = "now-" + e.eventID; return e }
        let (url, _) = try await Self.database(events)
        // The default retention: 180 days of quarter hours, five years of rollups; expiring months go to the archive.
        let archiver = AggregateArchiver(layout: ArchiveLayout(root: makeTemporaryDirectory("hearth-archive")))
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24 * 365 * 10, archiver: archiver, logger: testLogger)
        let c = PostgresConnection(url: url, logger: testLogger)
        func partitions(_ table: String) async throws -> [String] {
            try await c.query("""
                SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                WHERE p.relname = \(table) ORDER BY 1
                """).compactMap { $0[0] }
        }
        #expect(try await partitions("orders_15m").contains("orders_15m_p201903"))
        #expect(try await partitions("orders_city_1d").contains("orders_city_1d_p201903"))
        try await IngestHarness.expectRollupsMatch(url)
        let runner = try Self.runner(url)
        func day(_ millis: Int64) -> String { String(Timestamp(epochMillis: millis).description.prefix(10)) }
        let lastYearRange = ["from": day(lastYear), "to": day(lastYear + 86_400_000)]
        let before = try await Self.run(runner, "sales", lastYearRange).reduce(0) { $0 + Int($1[2]!)! }
        #expect(before > 0)

        func count(_ table: String) async throws -> Int {
            try await c.query("SELECT count(*) FROM \(unsafeRaw: table)").first.flatMap { $0[0] }.flatMap(Int.init) ?? -1
        }
        let rows201903 = try await count("orders_15m_p201903"), cityDays201903 = try await count("orders_city_1d_p201903")
        let itemDays201903 = try await count("item_orders_daily_p201903")
        #expect(rows201903 > 0 && cityDays201903 > 0 && itemDays201903 > 0)

        let dropped = try await sink.dropExpired()
        // Each dropped month was written to the archive first: every row, as JSON, readable by the zstd CLI.
        for (table, part, rows) in [("orders_15m", "orders_15m_p201903", rows201903), ("orders_city_1d", "orders_city_1d_p201903", cityDays201903)] {
            let (status, text) = try await runTool("/usr/bin/zstd", ["-dc", archiver.path(table: table, partition: part)])
            #expect(status == 0)
            let lines = text.split(separator: "\n")
            #expect(lines.count == rows, "\(part)")
            let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
            let bucket = first["bucket"] as? String ?? ""
            #expect(bucket.hasPrefix("2019-03"), "\(lines[0].prefix(200))")
            #expect(first["orders"] is NSNumber)
        }
        #expect(dropped.contains("orders_15m_p201903") && dropped.contains("orders_city_1d_p201903") && dropped.contains("item_orders_daily_p201903"))
        // Item days are written with what their key stands for: item, restaurant, currency, city and dish name.
        let (itemStatus, itemText) = try await runTool("/usr/bin/zstd", ["-dc", archiver.path(table: "item_orders_daily", partition: "item_orders_daily_p201903")])
        let itemLines = itemText.split(separator: "\n")
        #expect(itemStatus == 0 && itemLines.count == itemDays201903)
        let item = try #require(try JSONSerialization.jsonObject(with: Data(itemLines[0].utf8)) as? [String: Any])
        #expect((item["day"] as? String)?.hasPrefix("2019-03") == true && (item["item_id"] as? String)?.hasPrefix("m-") == true
                && (item["name"] as? String)?.hasPrefix("Dish ") == true && item["restaurant_id"] is String && item["city"] is String
                && item["currency"] is String && item["orders"] is NSNumber && item["item_key"] == nil, "\(itemLines[0].prefix(300))")
        let lastYearMonth = String(day(lastYear).prefix(7)).replacingOccurrences(of: "-", with: "")
        #expect(dropped.contains("orders_15m_p\(lastYearMonth)") && dropped.contains("order_mix_15m_p\(lastYearMonth)"))
        #expect(!dropped.contains("orders_city_1h_p\(lastYearMonth)") && !dropped.contains("orders_city_1d_p\(lastYearMonth)"))
        #expect(!dropped.contains { $0.hasSuffix(String(day(now).prefix(7)).replacingOccurrences(of: "-", with: "")) })
        // Last year's sales still come from the rollups; one restaurant's quarter hours are gone.
        #expect(try await Self.run(runner, "sales", lastYearRange).reduce(0) { $0 + Int($1[2]!)! } == before)
        var restaurant = lastYearRange
        restaurant["restaurant_id"] = "r-1"
        #expect(try await Self.run(runner, "sales", restaurant).isEmpty)
        #expect(try await sink.dropExpired().isEmpty, "nothing left to drop")

        // A late event for the dropped month lands in its own bucket all the same: the month's partitions
        // are made again for it, the rollups count it (its quarter hour expires again with the next purge).
        let late = Self.stream(from: lastYear, days: 1).prefix(1).map { var e = $0; e.eventID = "late-1"; return e }
        try await IngestHarness.applyBatch(late, to: sink, partition: 7)
        #expect(try await Self.run(runner, "sales", lastYearRange).reduce(0) { $0 + Int($1[2]!)! } == before + 1)
        await c.close()
    }

    /// `report_zones` from the environment or `hearth.yaml`, checked; a zone PostgreSQL does not know is
    /// refused with its name, and nothing is registered for it.
    @Test func reportZonesAreSettingsCheckedBeforeUse() async throws {
        #expect(try Settings.load(configFile: nil, environment: [:]).reportZones == AnalyticsSink.defaultReportZones)
        #expect(try Settings.load(configFile: nil, environment: ["HEARTH_REPORT_ZONES": "Asia/Kolkata, America/New_York"]).reportZones
                == ["Asia/Kolkata", "America/New_York"])
        for bad in ["Asia/Kolkata,Asia/Kolkata", "UTC", "Asia/Kolkata;DROP TABLE x", (0..<33).map { "Etc/GMT+\($0 % 12)x\($0)" }.joined(separator: ",")] {
            #expect(throws: ConfigError.self, "\(bad)") { try Settings.load(configFile: nil, environment: ["HEARTH_REPORT_ZONES": bad]) }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-zones-\(UUID().uuidString).yaml")
        try "report_zones: [Asia/Kathmandu]\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try Settings.load(configFile: file.path, environment: [:]).reportZones == ["Asia/Kathmandu"])

        let url = try await SharedPostgres.shared.freshDatabase()
        let c = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(c, logger: testLogger)
        let error = await #expect(throws: AnalyticsSink.ReportZoneError.self) {
            try await AnalyticsSink.registerReportZones(c, zones: ["Asia/Kolkata", "Mars/Olympus_Mons"], logger: testLogger)
        }
        #expect(error?.description.contains("report_zones: could not register Mars/Olympus_Mons") == true, "\(String(describing: error))")
        #expect(try await c.query("SELECT zone FROM hearth_report_zones").values == [["Asia/Kolkata"]])
        await c.close()
    }
}
