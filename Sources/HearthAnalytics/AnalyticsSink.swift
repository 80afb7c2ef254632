import Foundation
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthPostgres
import Logging
import Synchronization

/// Orders per menu item, restaurant and dish name over a window of days.
public struct OrderPopularity: Sendable, Equatable {
    public struct Dish: Sendable, Equatable {
        public var city: String
        public var name: String
        public var orders: Int64
    }
    public var items: [String: Int64] = [:]
    public var restaurants: [String: Int64] = [:]
    public var dishes: [Dish] = []
    public init() {}
}

/// The analytics sink: aggregates each batch in memory and writes the deltas,
/// the batch's event ids (for deduplication) and its position in one
/// PostgreSQL transaction.
public final class AnalyticsSink: Sink {
    public let name = "analytics"
    /// Writers by partition: different partitions commit in parallel, one partition always on the same connection.
    private let writers: [PostgresConnection]
    private let reader: PostgresConnection
    private let dedupHorizonHours: Int
    private let lastPurge = Mutex<ContinuousClock.Instant?>(nil)
    private let logger: Logger

    public init(url: String, dedupHorizonHours: Int, writers: Int = 4, logger: Logger) {
        self.writers = (0..<max(1, writers)).map { _ in PostgresConnection(url: url, logger: logger) }
        reader = PostgresConnection(url: url, logger: logger)
        self.dedupHorizonHours = dedupHorizonHours
        self.logger = logger
    }

    public func positions(pipeline: String, partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        try await Self.positions(reader, sink: name, pipeline: pipeline, partitions: partitions)
    }

    static func positions(_ c: PostgresConnection, sink: String, pipeline: String,
                          partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        let rows = try await c.query("""
            SELECT topic, partition, next_offset FROM hearth_positions
            WHERE sink = \(sink) AND pipeline = \(pipeline)
            """)
        let wanted = Set(partitions)
        var out: [TopicPartition: Int64] = [:]
        for row in rows {
            guard let topic = row[0], let p = row[1].flatMap(Int32.init), let next = row[2].flatMap(Int64.init) else { continue }
            let tp = TopicPartition(topic, p)
            if wanted.contains(tp) { out[tp] = next }
        }
        return out
    }

    public func apply(_ batch: SinkBatch) async throws {
        let events = batch.events
        let sink = name
        let shard = Int(batch.partition.partition.magnitude) % writers.count
        let writer = writers[shard]
        // No need to wait for the WAL flush: the position commits with the data, so a transaction
        // lost in a server crash loses both, and its records are consumed again.
        try await writer.withTransaction(synchronousCommit: false) { s in
            try Self.advance(s, sink: sink, batch: batch)
            // Each event id counts once: only ids new to the table (and first in the batch) have an effect.
            var seenInBatch = Set<String>()
            let ids = events.map(\.eventID).filter { seenInBatch.insert($0).inserted }
            guard !ids.isEmpty else { return }
            let fresh = Set(try s.query("""
                INSERT INTO analytics_seen_events (event_id) SELECT unnest(\(ids)::text[])
                ON CONFLICT DO NOTHING RETURNING event_id
                """).compactMap { $0[0] })
            var buckets = OrderBuckets()
            if fresh.count == events.count {
                // The common case: every id is new and none repeats within the batch.
                for event in events { buckets.add(event) }
            } else {
                var remaining = fresh
                for event in events where remaining.remove(event.eventID) != nil { buckets.add(event) }
            }
            try Self.upsert(s, buckets, shard: shard)
        }
        await purgeIfDue()
    }

    /// Moves the stored position from `expectedPosition` to `nextOffset`, or throws `SinkPositionConflict`.
    static func advance(_ s: PostgresSession, sink: String, batch: SinkBatch) throws {
        let tp = batch.partition
        let moved = try s.query("""
            INSERT INTO hearth_positions (sink, pipeline, topic, partition, next_offset)
            VALUES (\(sink), \(batch.pipeline), \(tp.topic), \(tp.partition), \(batch.nextOffset))
            ON CONFLICT (sink, pipeline, topic, partition) DO UPDATE
               SET next_offset = EXCLUDED.next_offset, updated_at = now()
             WHERE hearth_positions.next_offset IS NOT DISTINCT FROM \(batch.expectedPosition)::bigint
            RETURNING 1
            """)
        if moved.count == 0 {
            let stored = try s.query("""
                SELECT next_offset FROM hearth_positions
                WHERE sink = \(sink) AND pipeline = \(batch.pipeline) AND topic = \(tp.topic) AND partition = \(tp.partition)
                """).first.flatMap { $0[0] }.flatMap(Int64.init)
            throw SinkPositionConflict(partition: tp, stored: stored)
        }
    }

    static func upsert(_ s: PostgresSession, _ buckets: OrderBuckets, shard: Int) throws {
        guard !buckets.isEmpty else { return }
        let keys = buckets.totals.keys.sorted()
        let starts = keys.map { Timestamp(epochMillis: $0.bucketMillis).description }
        let restaurants = keys.map(\.restaurantID)
        let currencies = keys.map(\.currency)
        let cities = keys.map { buckets.cities[$0] ?? "" }
        let rows = keys.map { buckets.totals[$0]!.values }
        let measures = OrderBuckets.Totals.columns
        // The key arrays and one array per measure, unnested side by side, with each bucket's customers
        // folded into a HyperLogLog; conflicts add up (and unite the sketches).
        var customerBucket: [Int32] = [], customerIDs: [String] = []
        for (n, key) in keys.enumerated() {
            for c in buckets.customers[key] ?? [] { customerBucket.append(Int32(n + 1)); customerIDs.append(c) }
        }
        var q = PostgresQuery.StringInterpolation(literalCapacity: 1024, interpolationCount: 8 + measures.count)
        // Each bucket's delivery-time histogram as an array literal ('' when it has none).
        let histograms: [String] = keys.map {
            let h = buckets.totals[$0]!.deliveryHistogram
            return h.isEmpty ? "" : "{" + h.map(String.init).joined(separator: ",") + "}"
        }
        q.appendLiteral("INSERT INTO orders_15m (bucket, restaurant_id, currency, city, \(UpsertSQL.columns), customers, delivery_hist, shard) ")
        q.appendLiteral("SELECT k.b, k.r, k.cu, k.ci, \(UpsertSQL.selected), c.h, NULLIF(k.dh, '')::bigint[], ")
        q.appendInterpolation(shard)
        q.appendLiteral("::smallint FROM unnest(")
        q.appendInterpolation(starts); q.appendLiteral("::timestamptz[], ")
        q.appendInterpolation(restaurants); q.appendLiteral("::text[], ")
        q.appendInterpolation(currencies); q.appendLiteral("::text[], ")
        q.appendInterpolation(cities); q.appendLiteral("::text[]")
        for i in measures.indices {
            q.appendLiteral(", ")
            q.appendInterpolation(rows.map { $0[i] })
            q.appendLiteral("::bigint[]")
        }
        q.appendLiteral(", ")
        q.appendInterpolation(histograms)
        q.appendLiteral("::text[]) WITH ORDINALITY AS k(b, r, cu, ci, \(UpsertSQL.aliases), dh, n) ")
        q.appendLiteral("LEFT JOIN (SELECT n, hll_add_agg(hll_hash_text(id), 14, 5) AS h FROM unnest(")
        q.appendInterpolation(customerBucket); q.appendLiteral("::int[], ")
        q.appendInterpolation(customerIDs); q.appendLiteral("::text[]) AS u(n, id) GROUP BY n) c ON c.n = k.n ")
        q.appendLiteral("ON CONFLICT (bucket, restaurant_id, currency, shard) DO UPDATE SET city = EXCLUDED.city, " + UpsertSQL.updates
                        + ", customers = CASE WHEN orders_15m.customers IS NULL THEN EXCLUDED.customers WHEN EXCLUDED.customers IS NULL"
                        + " THEN orders_15m.customers ELSE hll_union(orders_15m.customers, EXCLUDED.customers) END"
                        + ", delivery_hist = hearth_hist_add(orders_15m.delivery_hist, EXCLUDED.delivery_hist)")
        try s.query(PostgresQuery(stringInterpolation: q))
        try upsertMix(s, buckets, shard: shard)
        try upsertLive(s, buckets, shard: shard)
        guard !buckets.items.isEmpty else { return }
        let itemKeys = buckets.items.keys.sorted()
        let lines = itemKeys.map { buckets.items[$0]! }
        let days = itemKeys.map { Timestamp(epochMillis: $0.dayMillis).description }
        try s.query("""
            INSERT INTO item_orders_daily (day, item_id, currency, restaurant_id, city, name, orders, quantity, revenue_minor, shard)
            SELECT (d AT TIME ZONE 'UTC')::date, i, c, r, ci, n, o, q, v, \(shard)::smallint
              FROM unnest(\(days)::timestamptz[], \(itemKeys.map(\.itemID))::text[], \(itemKeys.map(\.currency))::text[],
                          \(lines.map(\.restaurantID))::text[], \(lines.map(\.city))::text[], \(lines.map(\.name))::text[],
                          \(lines.map(\.orders))::bigint[], \(lines.map(\.quantity))::bigint[], \(lines.map(\.revenueMinor))::bigint[])
                   AS t(d, i, c, r, ci, n, o, q, v)
            ON CONFLICT (day, item_id, currency, shard) DO UPDATE
               SET orders = item_orders_daily.orders + EXCLUDED.orders,
                   quantity = item_orders_daily.quantity + EXCLUDED.quantity,
                   revenue_minor = item_orders_daily.revenue_minor + EXCLUDED.revenue_minor,
                   name = EXCLUDED.name
            """)
    }

    static func upsertMix(_ s: PostgresSession, _ buckets: OrderBuckets, shard: Int) throws {
        guard !buckets.mix.isEmpty else { return }
        let keys = buckets.mix.keys.sorted()
        let rows = keys.map { buckets.mix[$0]! }
        // The city of a mix row is its bucket's (every mix entry comes with a bucket entry).
        let cities = keys.map { buckets.cities[OrderBuckets.Key(bucketMillis: $0.bucketMillis, restaurantID: $0.restaurantID, currency: $0.currency)] ?? "" }
        try s.query("""
            INSERT INTO order_mix_15m (bucket, restaurant_id, currency, dimension, value, shard, city,
                                       orders, gross_revenue_minor, payments_succeeded, payments_failed)
            SELECT b, r, c, d, v, \(shard)::smallint, ci, o, g, ps, pf
              FROM unnest(\(keys.map { Timestamp(epochMillis: $0.bucketMillis).description })::timestamptz[],
                          \(keys.map(\.restaurantID))::text[], \(keys.map(\.currency))::text[], \(keys.map(\.dimension))::text[],
                          \(keys.map(\.value))::text[], \(cities)::text[], \(rows.map(\.orders))::bigint[],
                          \(rows.map(\.grossRevenueMinor))::bigint[], \(rows.map(\.paymentsSucceeded))::bigint[],
                          \(rows.map(\.paymentsFailed))::bigint[]) AS t(b, r, c, d, v, ci, o, g, ps, pf)
            ON CONFLICT (bucket, restaurant_id, currency, dimension, value, shard) DO UPDATE
               SET city = EXCLUDED.city,
                   orders = order_mix_15m.orders + EXCLUDED.orders,
                   gross_revenue_minor = order_mix_15m.gross_revenue_minor + EXCLUDED.gross_revenue_minor,
                   payments_succeeded = order_mix_15m.payments_succeeded + EXCLUDED.payments_succeeded,
                   payments_failed = order_mix_15m.payments_failed + EXCLUDED.payments_failed
            """)
    }

    static func upsertLive(_ s: PostgresSession, _ buckets: OrderBuckets, shard: Int) throws {
        guard !buckets.live.isEmpty else { return }
        let keys = buckets.live.keys.sorted()
        let rows = keys.map { buckets.live[$0]! }
        try s.query("""
            INSERT INTO orders_live_1m (minute, city, currency, shard, orders, gross_revenue_minor, cancellations, deliveries)
            SELECT m, ci, cu, \(shard)::smallint, o, g, c, d
              FROM unnest(\(keys.map { Timestamp(epochMillis: $0.minuteMillis).description })::timestamptz[], \(keys.map(\.city))::text[],
                          \(keys.map(\.currency))::text[], \(rows.map { $0[0] })::bigint[], \(rows.map { $0[1] })::bigint[],
                          \(rows.map { $0[2] })::bigint[], \(rows.map { $0[3] })::bigint[]) AS t(m, ci, cu, o, g, c, d)
            ON CONFLICT (minute, city, currency, shard) DO UPDATE
               SET orders = orders_live_1m.orders + EXCLUDED.orders,
                   gross_revenue_minor = orders_live_1m.gross_revenue_minor + EXCLUDED.gross_revenue_minor,
                   cancellations = orders_live_1m.cancellations + EXCLUDED.cancellations,
                   deliveries = orders_live_1m.deliveries + EXCLUDED.deliveries
            """)
    }

    /// The parts of the bucket upsert that follow from the measure columns (built once).
    enum UpsertSQL {
        static let columns = OrderBuckets.Totals.columns.joined(separator: ", ")
        static let aliases = OrderBuckets.Totals.columns.indices.map { "m\($0)" }.joined(separator: ", ")
        static let selected = OrderBuckets.Totals.columns.indices.map { "k.m\($0)" }.joined(separator: ", ")
        static let updates = OrderBuckets.Totals.columns.map { "\($0) = orders_15m.\($0) + EXCLUDED.\($0)" }.joined(separator: ", ")
    }

    /// Orders of the last `days` days (by event time) per menu item, per restaurant, and per city
    /// and dish name: what search ranks by.
    public func popularity(days: Int) async throws -> OrderPopularity {
        var out = OrderPopularity()
        for row in try await reader.query("""
            SELECT item_id, sum(orders)::bigint FROM item_orders_daily
            WHERE day >= (now() AT TIME ZONE 'UTC')::date - \(days)::int GROUP BY item_id
            """) {
            if let id = row[0], let n = row[1].flatMap(Int64.init) { out.items[id] = n }
        }
        for row in try await reader.query("""
            SELECT restaurant_id, sum(orders)::bigint FROM orders_15m
            WHERE bucket >= now() - make_interval(days => \(days)::int) GROUP BY restaurant_id
            """) {
            if let id = row[0], let n = row[1].flatMap(Int64.init) { out.restaurants[id] = n }
        }
        for row in try await reader.query("""
            SELECT city, name, sum(orders)::bigint FROM item_orders_daily
            WHERE day >= (now() AT TIME ZONE 'UTC')::date - \(days)::int GROUP BY city, name
            """) {
            if let city = row[0], let name = row[1], let n = row[2].flatMap(Int64.init) {
                out.dishes.append(OrderPopularity.Dish(city: city, name: name, orders: n))
            }
        }
        return out
    }

    /// Forgets event ids older than the dedup horizon, at most every ten minutes.
    private func purgeIfDue() async {
        let now = ContinuousClock.now
        let due = lastPurge.withLock { last -> Bool in
            if let last, now - last < .seconds(600) { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            try await reader.query("""
                DELETE FROM analytics_seen_events WHERE seen_at < now() - make_interval(hours => \(dedupHorizonHours))
                """)
            try await reader.query("DELETE FROM orders_live_1m WHERE minute < now() - interval '2 days'")
        } catch {
            logger.warning("Could not purge old event ids.", metadata: ["reason": "\(error)"])
        }
    }

    public func isReachable() async -> Bool { await reader.ping() }
}
