import Foundation
import HearthAnalytics
import HearthCore
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthPostgres
import Logging
import ServiceLifecycle
import Testing

/// A generated stream, produced to a cluster, with what it must produce in the stores.
struct ProducedStream {
    var expected: ExpectedTotals
    /// Distinct restaurant and menu item ids among the valid catalog records.
    var catalogEntities: Set<String>
}

enum IngestHarness {
    static func config(seed: UInt64 = 42, restaurants: Int = 30, ordersPerMinute: Double = 60) -> GeneratorConfig {
        var c = GeneratorConfig()
        c.seed = seed
        c.restaurants = restaurants
        c.ordersPerMinute = ordersPerMinute
        c.duplicateShare = 0.03
        c.lateShare = 0.05
        c.invalidShare = 0.01
        return c
    }

    /// Produces `count` records of `generator` (continuing where it stopped), optionally paced to `rate` per second,
    /// noting the valid catalog entities in `catalog`.
    static func produce(_ generator: inout EventGenerator, count: Int, brokers: String, rate: Int = 0,
                        catalog: inout Set<String>) async throws {
        let producer = try GeneratorService.makeProducer(brokers: brokers)
        let codec = EventCodec()
        var seen = catalog
        _ = try await GeneratorService.produce(&generator, producer: producer, rate: rate, count: count,
                                               observe: { r in
            guard r.topic != "orders", r.kind != .invalid, let e = try? codec.decode(r.value) else { return }
            switch e.payload {
            case .restaurantUpserted(let x): seen.insert("r:" + x.restaurant_id)
            case .menuItemUpserted(let x): seen.insert("m:" + x.item_id)
            default: break
            }
        })
        catalog = seen
        await producer.close()
    }

    /// A pipelines folder holding only the named definitions from the repository, optionally with
    /// other batch limits and librdkafka properties.
    static func pipelines(_ names: [String], maxRecords: Int? = nil, lingerMillis: Int? = nil,
                          kafka: [String: String] = [:], sinks: [String]? = nil) throws -> URL {
        let dir = makeTemporaryDirectory("hearth-pipelines")
        for name in names {
            var text = try String(contentsOf: TestPaths.pipelines.appendingPathComponent("\(name).yaml"), encoding: .utf8)
            if let maxRecords {
                text = text.replacingOccurrences(of: #"max_records: \d+"#, with: "max_records: \(maxRecords)", options: .regularExpression)
            }
            if let lingerMillis {
                text = text.replacingOccurrences(of: #"linger_ms: \d+"#, with: "linger_ms: \(lingerMillis)", options: .regularExpression)
            }
            if let sinks {
                text = text.replacingOccurrences(of: #"(?m)^sinks: \[.*$"#, with: "sinks: [\(sinks.joined(separator: ", "))]", options: .regularExpression)
            }
            if !kafka.isEmpty {
                let props = kafka.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")
                text = text.replacingOccurrences(of: #"(?m)^kafka: \{\}.*$"#, with: "kafka: {\(props)}", options: .regularExpression)
            }
            try text.write(to: dir.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
            _ = try PipelineDefinition(file: name, yaml: text)
        }
        return dir
    }

    static func settings(brokers: String, postgres: String, pipelines: URL) -> Settings {
        var s = Settings()
        s.brokers = brokers
        s.postgres = postgres
        s.pipelinesDirectory = pipelines.path
        s.indexesDirectory = TestPaths.indexes.path
        s.dataDirectory = makeTemporaryDirectory("hearth-data").path
        return s
    }

    /// Runs the runtime's pipelines while `body` runs, then stops them gracefully.
    static func withPipelines<T: Sendable>(_ runtime: HearthRuntime, _ body: () async throws -> T) async throws -> T {
        let group = ServiceGroup(configuration: .init(services: runtime.runners.map { .init(service: $0) }, logger: testLogger))
        let task = Task { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await task.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
    }

    /// Waits until `pipeline` has applied every record of its topics (`records` in all).
    static func waitCaughtUp(_ runtime: HearthRuntime, pipeline: String, records: Int, timeout: Duration = .seconds(120)) async throws {
        try await waitUntil("pipeline \(pipeline) to apply \(records) records", timeout: timeout) {
            guard let status = runtime.pipelineStatus().first(where: { $0.name == pipeline }), status.assigned else { return false }
            let applied = status.partitions.reduce(Int64(0)) { $0 + ($1.position ?? 0) }
            return applied == Int64(records)
        }
    }

    /// `orders_15m` as `<bucket>|<restaurant>|<currency>` → totals (every measure), in the generator's key format.
    static func orderBuckets(_ url: String) async throws -> [String: OrderBuckets.Totals] {
        let c = PostgresConnection(url: url)
        defer { Task { await c.close() } }
        let sums = OrderBuckets.Totals.columns.map { "sum(\($0))" }.joined(separator: ", ")
        let rows = try await c.query(PostgresQuery(unsafeSQL: """
            SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), restaurant_id, currency,
                   hearth_hist_sum(delivery_hist)::text, \(sums)
            FROM orders_15m GROUP BY 1, 2, 3
            """))
        var out: [String: OrderBuckets.Totals] = [:]
        for row in rows {
            let values = try OrderBuckets.Totals.columns.indices.map { try row.int(4 + $0) }
            var totals = OrderBuckets.Totals(values: values)
            totals.deliveryHistogram = (row[3] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "{}"))
                .split(separator: ",").compactMap { Int64($0) }
            out["\(row[0]!)|\(row[1]!)|\(row[2]!)"] = totals
        }
        return out
    }

    /// `order_mix_15m` in the generator's key format.
    static func orderMix(_ url: String) async throws -> [String: OrderBuckets.MixTotals] {
        let c = PostgresConnection(url: url)
        defer { Task { await c.close() } }
        let rows = try await c.query("""
            SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), restaurant_id, currency, dimension, value,
                   sum(orders), sum(gross_revenue_minor), sum(payments_succeeded), sum(payments_failed)
            FROM order_mix_15m GROUP BY 1, 2, 3, 4, 5
            """)
        var out: [String: OrderBuckets.MixTotals] = [:]
        for row in rows {
            out["\(row[0]!)|\(row[1]!)|\(row[2]!)|\(row[3]!)|\(row[4]!)"] = OrderBuckets.MixTotals(values: try (5..<9).map { try row.int($0) })
        }
        return out
    }

    /// Asserts every city rollup (15 minutes, hour, day) equals the restaurant quarter hours summed
    /// to its buckets: every measure, the delivery-time histogram and the customers' sketch.
    static func expectRollupsMatch(_ url: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let c = PostgresConnection(url: url)
        defer { Task { await c.close() } }
        let sums = OrderBuckets.Totals.columns.map { "sum(\($0))::bigint AS \($0)" }.joined(separator: ", ")
        for (table, millis) in OrderBuckets.rollups {
            let cut = millis == OrderBuckets.dayMillis ? "date_trunc('day', bucket, 'UTC')"
                : millis == 3_600_000 ? "date_trunc('hour', bucket, 'UTC')" : "bucket"
            let rows = try await c.query(PostgresQuery(unsafeSQL: """
                WITH base AS (
                    SELECT \(cut) AS b, city, currency, \(sums), hearth_hist_sum(delivery_hist)::text AS hist,
                           coalesce(round(hll_cardinality(hll_union_agg(customers))), 0) AS customers
                    FROM orders_15m GROUP BY 1, city, currency
                ), rollup AS (
                    SELECT bucket AS b, city, currency, \(sums), hearth_hist_sum(delivery_hist)::text AS hist,
                           coalesce(round(hll_cardinality(hll_union_agg(customers))), 0) AS customers
                    FROM \(table) GROUP BY 1, city, currency
                )
                SELECT (SELECT count(*) FROM base),
                       (SELECT count(*) FROM base FULL JOIN rollup USING (b, city, currency) WHERE base IS DISTINCT FROM rollup)
                """))
            let compared = try rows.first!.int(0), differing = try rows.first!.int(1)
            #expect(compared > 0 && differing == 0, "\(table): \(differing) of \(compared) buckets differ from the quarter hours",
                    sourceLocation: sourceLocation)
        }
        // The local days of each registered report zone, from its first whole day on.
        let zones = try await c.query(PostgresQuery(unsafeSQL: """
            WITH base AS (
                SELECT z.zone, (o.bucket AT TIME ZONE z.zone)::date AS day, o.city, o.currency, \(sums)
                FROM orders_15m o, hearth_report_zones z WHERE (o.bucket AT TIME ZONE z.zone)::date >= z.since
                GROUP BY 1, 2, city, currency
            ), rollup AS (
                SELECT d.zone, d.day, d.city, d.currency, \(sums)
                FROM orders_zone_1d d, hearth_report_zones z WHERE z.zone = d.zone AND d.day >= z.since GROUP BY 1, 2, city, currency
            )
            SELECT (SELECT count(*) FROM hearth_report_zones), (SELECT count(*) FROM base),
                   (SELECT count(*) FROM base FULL JOIN rollup USING (zone, day, city, currency) WHERE base IS DISTINCT FROM rollup)
            """)).first!
        let registered = try zones.int(0), compared = try zones.int(1), differing = try zones.int(2)
        #expect(registered == 0 || (compared > 0 && differing == 0),
                "orders_zone_1d: \(differing) of \(compared) local days differ from the quarter hours", sourceLocation: sourceLocation)
    }

    /// Asserts the aggregates equal the generator's expected totals exactly.
    static func expectExactTotals(_ url: String, _ expected: ExpectedTotals, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let actual = try await orderBuckets(url)
        #expect(actual.count == expected.buckets.count, "bucket rows", sourceLocation: sourceLocation)
        let differing = expected.buckets.filter { actual[$0.key] != $0.value }
        #expect(differing.isEmpty, "\(differing.count) buckets differ from the expected totals, e.g. \(differing.first.map { "\($0.key): want \($0.value), have \(String(describing: actual[$0.key]))" } ?? "")",
                sourceLocation: sourceLocation)
        let orders = actual.values.reduce(Int64(0)) { $0 + $1.orders }
        #expect(orders == Int64(expected.orders), sourceLocation: sourceLocation)
        // Every measure is exercised by the stream (a measure that stayed zero would prove nothing).
        let sums = actual.values.reduce(OrderBuckets.Totals(), +)
        for (name, value) in zip(OrderBuckets.Totals.columns, sums.values) {
            #expect(value > 0, "\(name) is zero over the whole stream", sourceLocation: sourceLocation)
        }
        #expect(sums.deliveryHistogram.reduce(0, +) == sums.deliveries, sourceLocation: sourceLocation)
        let mix = try await orderMix(url)
        let mixDiffering = expected.mix.filter { mix[$0.key] != $0.value }
        #expect(mix.count == expected.mix.count && mixDiffering.isEmpty,
                "channel and payment mix: \(mixDiffering.count) rows differ, e.g. \(mixDiffering.first.map { "\($0.key): want \($0.value), have \(String(describing: mix[$0.key]))" } ?? "")",
                sourceLocation: sourceLocation)
        let mixSums = mix.values.reduce(OrderBuckets.MixTotals(), +)
        #expect(mixSums.values.allSatisfy { $0 > 0 }, "a mix measure is zero over the whole stream: \(mixSums)", sourceLocation: sourceLocation)
        try await expectRollupsMatch(url, sourceLocation: sourceLocation)
    }

    /// Applies `events` to `sink` as one batch of partition 0 of `topic`, from `offset` (where the
    /// previous batch ended), with their Kafka timestamps (`arrivals`) when given; returns the offset after it.
    @discardableResult
    static func applyBatch(_ events: [Event], arrivals: [Int64]? = nil, to sink: some Sink, pipeline: String = "orders",
                           topic: String = "orders", partition: Int32 = 0, at offset: Int64 = 0) async throws -> Int64 {
        let records = events.enumerated().map { i, e in
            SinkRecord(record: KafkaRecord(topic: topic, partition: partition, offset: offset + Int64(i), key: nil, value: [],
                                           timestampMillis: arrivals?[i] ?? -1), event: .success(e))
        }
        let next = offset + Int64(records.count)
        try await sink.apply(SinkBatch(pipeline: pipeline, partition: TopicPartition(topic, partition), expectedPosition: offset == 0 ? nil : offset,
                                       nextOffset: next, records: records))
        return next
    }
}
