import ArgumentParser
import Foundation
import HearthAnalytics
import HearthCore
import HearthEvents
import HearthPostgres
import Logging

/// Report latency over a year of generated history, on typical dashboard ranges.
struct BenchReports: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reports",
        abstract: "Load a year of generated order history into the aggregates and time the reports on typical dashboard ranges.")
    @Option(help: "Restaurants in the generated platform.") var restaurants: Int = 5_000
    @Option(help: "Days of history, ending today.") var days: Int = 365
    @Option(name: .customLong("orders-per-day"), help: "Orders a day across the platform (before the meal-time curve).")
    var ordersPerDay: Int = 10_000
    @Option(help: "Timed runs of each report.") var rounds: Int = 30
    @Option(help: "PostgreSQL URL (default: a managed server in a temporary directory).") var postgres: String?
    @Option(name: .customLong("reports-dir"), help: "Where the report definitions are.") var reportsDir: String = "Reports"
    @Flag(help: "With --postgres: when the database already holds a history (an earlier run's), time the reports on it without loading again.")
    var reuse = false
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    /// One timed report: what a dashboard asks for.
    struct Case {
        let label: String
        let report: String
        let params: [String: String]
    }

    func run() async throws {
        Bootstrap.start(logLevel: "error")
        guard (1...100_000).contains(restaurants), (1...1830).contains(days), (1...10_000_000).contains(ordersPerDay) else {
            throw fail("--restaurants must be 1 to 100000, --days 1 to 1830 and --orders-per-day 1 to 10000000")
        }
        guard (1...10_000).contains(rounds) else { throw fail("--rounds must be 1 to 10000") }
        guard !reuse || postgres != nil else { throw fail("--reuse needs --postgres (the database holding the history)") }
        let reports: [ReportDefinition]
        do { reports = try ReportDefinition.loadAll(from: URL(fileURLWithPath: reportsDir)) } catch {
            throw fail("\(describe(error)) (run from the repository, or pass --reports-dir)")
        }
        let json = json
        func note(_ s: String) { if !json { FileHandle.standardError.write(Data((s + "\n").utf8)) } }
        let logger = Logger(label: "hearth.bench")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-bench-reports-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: work) }
        let (url, managed) = try await benchPostgres(postgres, in: work, logger: logger)
        do {
            let result = try await measure(url: url, reports: reports, note: note, logger: logger)
            await managed?.stop()
            print(result)
        } catch {
            await managed?.stop()
            throw error
        }
    }

    func measure(url: String, reports: [ReportDefinition], note: (String) -> Void, logger: Logger) async throws -> String {
        let admin = PostgresConnection(url: url, logger: logger)
        defer { Task { await admin.close() } }
        try await Migrations.apply(admin, logger: logger)
        // The default report zones, as `hearth serve` registers them (on a reused history: filled from its quarter hours).
        try await AnalyticsSink.registerReportZones(admin, zones: AnalyticsSink.defaultReportZones, logger: logger)

        // 1. History: the generator's orders over `days` days ending today, through the sink's bucket
        // upsert by four writers (as four partitions would), duplicates and invalid records left out.
        let dayMillis: Int64 = 86_400_000
        let today = Int64(Date().timeIntervalSince1970 * 1000).floorDiv(dayMillis) * dayMillis
        var config = GeneratorConfig()
        config.restaurants = restaurants
        config.start = Timestamp(epochMillis: today - Int64(days) * dayMillis)
        config.ordersPerMinute = Double(ordersPerDay) / 1440
        config.duplicateShare = 0
        config.invalidShare = 0
        config.countsExpected = false
        let end = today + dayMillis
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24, retention: AggregateRetention(quarterHourDays: 36_500, rollupDays: 36_500),
                                 logger: logger)
        let existing = try await admin.query("SELECT count(*) FROM orders_15m").first!.int(0)
        var loaded = 0, loadSeconds = 0.0, compactSeconds = 0.0
        if reuse && existing > 0 {
            note("reusing the history in the database (\(existing) restaurant buckets; not loaded again)")
        } else {
            (loaded, loadSeconds, compactSeconds) = try await load(config: config, until: end, into: sink, note: note)
        }
        note("analysing …")
        try await admin.query("VACUUM ANALYZE")
        let rows = try await admin.query("""
            SELECT (SELECT count(*) FROM orders_15m), (SELECT count(*) FROM orders_city_1h), (SELECT count(*) FROM item_orders_daily)
            """).first!
        let quarterRows = try rows.int(0), hourRows = try rows.int(1), itemRows = try rows.int(2)

        // 2. The reports a dashboard asks for, each timed `rounds` times through the report runner.
        // The busiest city (in its own zone) and the busiest restaurant.
        let city = try await admin.query("SELECT city FROM orders_city_1d GROUP BY city ORDER BY sum(orders) DESC, city LIMIT 1")
            .first.flatMap { $0[0] } ?? "Mumbai"
        let zone = EventGenerator.cityZones[city] ?? "UTC"
        let restaurant = try await admin.query("""
            SELECT restaurant_id FROM orders_15m GROUP BY restaurant_id ORDER BY sum(orders) DESC, restaurant_id LIMIT 1
            """).first.flatMap { $0[0] } ?? "r-000001"
        func day(_ offset: Int) -> String { String(Timestamp(epochMillis: today - Int64(offset) * dayMillis).description.prefix(10)) }
        let year = ["from": day(days - 1), "to": day(0)]
        let month = ["from": day(29), "to": day(0)]
        func with(_ base: [String: String], _ extra: [String: String]) -> [String: String] { base.merging(extra) { $1 } }
        let cases = [
            Case(label: "sales: \(city) over a year by day (\(zone))", report: "sales",
                 params: with(year, ["city": city, "tz": zone, "granularity": "day"])),
            Case(label: "sales: \(city) over a year by day (UTC)", report: "sales", params: with(year, ["city": city, "granularity": "day"])),
            Case(label: "sales: every city over a year by week (UTC)", report: "sales", params: with(year, ["granularity": "week"])),
            Case(label: "sales: \(city) over 30 days by hour (\(zone))", report: "sales",
                 params: with(month, ["city": city, "tz": zone, "granularity": "hour"])),
            Case(label: "sales: one restaurant over a year by day", report: "sales",
                 params: with(year, ["restaurant_id": restaurant, "tz": zone, "granularity": "day"])),
            Case(label: "top_items: every city over 30 days", report: "top_items", params: month),
            Case(label: "top_items: \(city) over 30 days", report: "top_items", params: with(month, ["city": city])),
            Case(label: "top_restaurants: \(city) over 30 days", report: "top_restaurants", params: with(month, ["city": city])),
            Case(label: "funnel: \(city) over 30 days", report: "funnel", params: with(month, ["city": city, "tz": zone])),
            Case(label: "cancellations: \(city) over 30 days", report: "cancellations", params: with(month, ["city": city, "tz": zone])),
            Case(label: "delivery_times: \(city) over a year by week", report: "delivery_times",
                 params: with(year, ["city": city, "tz": zone, "granularity": "week"])),
            Case(label: "unique_customers: \(city) over 30 days by day", report: "unique_customers",
                 params: with(month, ["city": city, "tz": zone])),
            Case(label: "payment_mix: \(city) over 30 days", report: "payment_mix", params: with(month, ["city": city])),
        ]
        let runner = ReportRunner(url: url, reports: reports, timeLimit: .seconds(60), logger: logger)
        var timings: [(Case, p50: Double, p99: Double, rows: Int)] = []
        for c in cases {
            guard let report = runner.report(named: c.report) else { throw fail("no report named \(c.report) in the reports folder") }
            let binds = try ReportRunner.binds(report, c.params)
            // Warm-up, once on each of the runner's connections (a connection's first run loads its catalog caches).
            var rowCount = 0
            for _ in 0..<runner.connectionCount { rowCount = try await runner.run(report, binds: binds).count }
            var ms: [Double] = []
            for _ in 0..<rounds {
                let started = ContinuousClock.now
                rowCount = try await runner.run(report, binds: binds).count
                ms.append((ContinuousClock.now - started).seconds * 1000)
            }
            timings.append((c, BenchSearch.percentile(ms, 0.5), BenchSearch.percentile(ms, 0.99), rowCount))
            note(String(format: "  %-60@ p50 %7.2f ms  p99 %7.2f ms  (%d rows)", c.label as NSString, timings.last!.p50, timings.last!.p99, rowCount))
        }
        let result = ReportsResult(
            history_events: loaded, history_days: days, restaurants: restaurants, load_seconds: loadSeconds,
            compact_seconds: compactSeconds,
            orders_15m_rows: Int(quarterRows), orders_city_1h_rows: Int(hourRows), item_orders_daily_rows: Int(itemRows),
            sales_city_year_by_day_p99_ms: timings[0].p99, top_items_30_days_p99_ms: timings[5].p99,
            reports: timings.map { .init(label: $0.0.label, report: $0.0.report, p50_ms: $0.p50, p99_ms: $0.p99, rows: $0.rows) })
        if json {
            return try jsonLine(result)
        }
        var lines = [
            "history                      \(loaded) events over \(days) days, \(restaurants) restaurants, loaded in \(String(format: "%.1f", loadSeconds)) s, shards merged in \(String(format: "%.1f", compactSeconds)) s",
            "rows                         orders_15m \(quarterRows), orders_city_1h \(hourRows), item_orders_daily \(itemRows)",
            "", String(format: "%-62@ %9@ %9@ %6@", "report" as NSString, "p50 ms" as NSString, "p99 ms" as NSString, "rows" as NSString),
        ]
        for t in timings {
            lines.append(String(format: "%-62@ %9.2f %9.2f %6d", t.0.label as NSString, t.p50, t.p99, t.rows))
        }
        lines.append("")
        lines.append(String(format: "targets: sales for one city over a year by day p99 %.2f ms (≤ 50), top_items over 30 days p99 %.2f ms (≤ 100)",
                            timings[0].p99, timings[5].p99))
        return lines.joined(separator: "\n")
    }

    /// Loads the generator's orders up to `end` through the sink's bucket upsert by four writers (as four
    /// partitions would), then merges the writers' shards of closed periods as the sink's maintenance does.
    func load(config: GeneratorConfig, until end: Int64, into sink: AnalyticsSink,
              note: (String) -> Void) async throws -> (events: Int, loadSeconds: Double, compactSeconds: Double) {
        var generator = EventGenerator(config: config)
        let codec = EventCodec()
        note("loading \(days) days of orders for \(restaurants) restaurants (about \(ordersPerDay) orders a day) …")
        let loadStart = ContinuousClock.now
        var batches: [[Event]] = Array(repeating: [], count: 4)
        var loaded = 0, next = 0
        var lastNote = ContinuousClock.now
        var inFlight: Task<Void, any Error>?
        while true {
            let record = generator.next()
            guard record.topic == "orders", record.kind == .valid || record.kind == .late,
                  let event = try? codec.decode(record.value, topic: record.topic) else { continue }
            if event.occurredAt.epochMillis >= end { break }
            batches[next].append(event)
            if batches[next].count == 20_000 {
                // Generation goes on while the previous round loads (one round in flight).
                try await inFlight?.value
                let full = batches
                inFlight = Task {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (shard, events) in full.enumerated() where !events.isEmpty {
                            group.addTask { try await sink.load(events, shard: shard) }
                        }
                        try await group.waitForAll()
                    }
                }
                loaded += full.reduce(0) { $0 + $1.count }
                batches = Array(repeating: [], count: 4)
                if ContinuousClock.now - lastNote > .seconds(5) {
                    note("  \(loaded) events, up to \(event.occurredAt.description.prefix(10))")
                    lastNote = .now
                }
            }
            next = (next + 1) % 4
        }
        try await inFlight?.value
        for (shard, events) in batches.enumerated() where !events.isEmpty {
            try await sink.load(events, shard: shard)
            loaded += events.count
        }
        let loadSeconds = (ContinuousClock.now - loadStart).seconds
        // The steady state of a running sink: its maintenance merges the writers' shards of periods
        // that closed more than two hours ago.
        note("merging writer shards of closed periods …")
        let compactStart = ContinuousClock.now
        try await sink.compact(before: Timestamp(epochMillis: Int64(Date().timeIntervalSince1970 * 1000) - AnalyticsSink.compactionDelay))
        let compactSeconds = (ContinuousClock.now - compactStart).seconds
        return (loaded, loadSeconds, compactSeconds)
    }

    struct ReportsResult: Encodable {
        struct Timing: Encodable {
            let label: String
            let report: String
            let p50_ms: Double
            let p99_ms: Double
            let rows: Int
        }
        let history_events: Int
        let history_days: Int
        let restaurants: Int
        let load_seconds: Double
        let compact_seconds: Double
        let orders_15m_rows: Int
        let orders_city_1h_rows: Int
        let item_orders_daily_rows: Int
        let sales_city_year_by_day_p99_ms: Double
        let top_items_30_days_p99_ms: Double
        let reports: [Timing]
    }
}
