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

/// How long the aggregates are kept: whole months are dropped once they ended this many days ago.
public struct AggregateRetention: Sendable, Equatable {
    /// The 15-minute level: restaurant buckets, the channel and payment mix, city quarter hours.
    public var quarterHourDays: Int
    /// The rollups: city hours and days, item orders per day.
    public var rollupDays: Int
    public init(quarterHourDays: Int = 180, rollupDays: Int = 1825) {
        self.quarterHourDays = quarterHourDays
        self.rollupDays = rollupDays
    }
}

/// UTC days (their starts, ms since the epoch) whose month partitions a sink has made sure of
/// (`hearth_ensure_partitions`), so that a batch asks PostgreSQL only about days it has not met. Forgotten
/// when partitions are dropped and when a batch fails.
final class PartitionDays: Sendable {
    private let days = Mutex<Set<Int64>>([])

    func unknown(in wanted: Set<Int64>) -> [Int64] {
        days.withLock { known in wanted.subtracting(known).sorted() }
    }

    /// After the transaction that made sure of `ensured` committed.
    func committed(_ ensured: [Int64]) {
        guard !ensured.isEmpty else { return }
        days.withLock { $0.formUnion(ensured) }
    }

    func forget() {
        days.withLock { $0.removeAll() }
    }
}

/// Keeps the rows of an aggregate partition before it is dropped for retention (the archive does).
public protocol ExpiringPartitionArchiver: Sendable {
    /// Starts writing `partition` (a month of `table`); nothing is visible until `commit`.
    func begin(table: String, partition: String) throws -> any ExpiringPartitionWriter
}

public protocol ExpiringPartitionWriter {
    /// Rows as JSON objects (one per line).
    func write(_ rows: [String]) throws
    /// Makes the rows durable; the partition is dropped only after this returned.
    func commit() throws
}

/// The analytics sink: aggregates each batch in memory and writes the deltas,
/// the digests of the batch's new event ids (deduplication, `SeenEvents`) and its position in one
/// PostgreSQL transaction.
public final class AnalyticsSink: ReplayableSink {
    public let name = "analytics"
    /// Writers by partition: different partitions commit in parallel, one partition always on the same connection.
    private let writers: [PostgresConnection]
    private let reader: PostgresConnection
    /// Purges, retention and compaction, so that they never hold up a batch or a position read.
    private let maintenance: PostgresConnection
    private let dedupHorizonHours: Int
    /// The event ids counted, per partition (deduplication).
    private let seen: SeenEvents
    /// Menu items this sink registered, as it showed them (`register`).
    private let knownItems = Mutex<[ItemIdentity: ItemShown]>([:])
    /// UTC days whose month partitions this sink has made sure of.
    private let partitionDays = PartitionDays()
    private let retention: AggregateRetention
    private let lastPurge = Mutex<ContinuousClock.Instant?>(nil)
    private let logger: Logger
    /// Where expiring partitions go before they are dropped (nil: dropped without a copy).
    private let archiver: (any ExpiringPartitionArchiver)?

    public init(url: String, dedupHorizonHours: Int, retention: AggregateRetention = AggregateRetention(), writers: Int = 4,
                archiver: (any ExpiringPartitionArchiver)? = nil, logger: Logger) {
        self.retention = retention
        self.archiver = archiver
        self.writers = (0..<max(1, writers)).map { _ in PostgresConnection(url: url, logger: logger) }
        reader = PostgresConnection(url: url, logger: logger)
        maintenance = PostgresConnection(url: url, logger: logger)
        self.dedupHorizonHours = dedupHorizonHours
        seen = SeenEvents(horizonHours: dedupHorizonHours)
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
        let sink = name
        let shard = Int(batch.partition.partition.magnitude) % writers.count
        // No need to wait for the WAL flush: the position commits with the data, so a transaction
        // lost in a server crash loses both, and its records are consumed again.
        _ = try await applyRecords(batch.records, on: writers[shard], shard: shard, synchronousCommit: false) { s in
            try Self.advance(s, sink: sink, batch: batch)
        }
        startMaintenanceIfDue()
    }

    /// Registers the records' menu items, then runs `first` and `applyOnce` in one transaction on `writer`, and
    /// once it has committed remembers the ids counted and the days made sure of; returns how many records
    /// counted. When anything fails, the sink forgets what it believed was in the store, since that may be
    /// what made it fail (a key or a month removed).
    private func applyRecords(_ records: [SinkRecord], on writer: PostgresConnection, shard: Int, synchronousCommit: Bool,
                              first: @escaping @Sendable (PostgresSession) throws -> Void = { _ in }) async throws -> Int {
        let seen = seen, days = partitionDays
        do {
            try await register(writer, records)
            let (applied, checks, ensured) = try await writer.withTransaction(synchronousCommit: synchronousCommit) { s in
                try first(s)
                return try Self.applyOnce(s, records, shard: shard, seen: seen, days: days)
            }
            seen.committed(checks)
            days.committed(ensured)
            return applied
        } catch {
            forgetRegisteredItems()
            days.forget()
            throw error
        }
    }

    /// Adds the valid records whose event ids are new (the first of each id in `records`) to the aggregates,
    /// and records those ids in their partitions' deduplication state (`SeenEvents`); returns how many that
    /// was, and the checks to hand to `SeenEvents.committed` once the transaction has committed.
    static func applyOnce(_ s: PostgresSession, _ records: [SinkRecord], shard: Int, seen: SeenEvents,
                          days: PartitionDays) throws -> (applied: Int, checks: [SeenEvents.Check], days: [Int64]) {
        var digests = [EventIDDigest?](repeating: nil, count: records.count)
        var byPartition: [SeenEvents.Key: [EventIDDigest]] = [:]
        var inBatch = Set<EventIDDigest>()
        inBatch.reserveCapacity(records.count)
        // By index: iterating the records themselves copies each one (every field retained and released).
        for i in records.indices {
            guard case .success(let e) = records[i].event else { continue }
            let d = EventIDDigest(e.eventID)
            guard inBatch.insert(d).inserted else { continue }
            digests[i] = d
            byPartition[SeenEvents.Key(topic: records[i].record.topic, partition: records[i].record.partition), default: []].append(d)
        }
        guard !byPartition.isEmpty else { return (0, [], []) }
        // Partitions locked in key order, so that transactions holding several never wait on one another in a cycle.
        var checks: [SeenEvents.Check] = []
        var fresh = Set<EventIDDigest>()
        for key in byPartition.keys.sorted() {
            let check = try seen.check(s, key, byPartition[key]!)
            checks.append(check)
            fresh.formUnion(check.fresh)
        }
        var buckets = OrderBuckets.forStream()
        let all = fresh.count == inBatch.count
        for i in records.indices {
            guard let d = digests[i], all || fresh.contains(d), case .success(let event) = records[i].event else { continue }
            buckets.add(event, arrivedAt: records[i].record.timestampMillis)
        }
        let ensured = try upsert(s, buckets, shard: shard, days: days)
        return (fresh.count, checks, ensured)
    }

    /// Adds events to the aggregates through the same upsert as `apply`, but with no position and no
    /// event-id check: for loading a known-unique history (the reports benchmark), never for a stream.
    public func load(_ events: [Event], shard: Int) async throws {
        var aggregated = OrderBuckets.forStream()
        for event in events { aggregated.add(event) }
        let buckets = aggregated, shard = shard % writers.count
        try await register(writers[shard], events)
        let days = partitionDays
        let ensured = try await writers[shard].withTransaction(synchronousCommit: false) { s in
            try Self.upsert(s, buckets, shard: shard, days: days)
        }
        days.committed(ensured)
    }

    /// Archived records again: an event id already counted has no effect. Records that reached Kafka before the
    /// deduplication horizon (less an hour's margin) are left out, since their ids may have been purged.
    public func replay(_ records: [SinkRecord]) async throws -> ReplayOutcome {
        let cutoff = Int64((Date().timeIntervalSince1970 - Double(dedupHorizonHours - 1) * 3600) * 1000)
        let (recent, old) = (records.filter { $0.record.timestampMillis >= cutoff }, records.count(where: { $0.record.timestampMillis < cutoff }))
        let valid = recent.count(where: { if case .success = $0.event { true } else { false } })
        guard valid > 0 else { return ReplayOutcome(beyondHorizon: old) }
        let applied = try await applyRecords(recent, on: writers[0], shard: 0, synchronousCommit: true)
        return ReplayOutcome(applied: applied, alreadyApplied: valid - applied, beyondHorizon: old)
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

    /// Adds `buckets` to the aggregates. Returns the UTC days whose partitions it made sure of (for `PartitionDays`).
    @discardableResult
    static func upsert(_ s: PostgresSession, _ buckets: OrderBuckets, shard: Int, days known: PartitionDays) throws -> [Int64] {
        guard !buckets.isEmpty else { return [] }
        // Every month the batch writes to has its partitions before the first row goes in (checked in
        // PostgreSQL for days this sink has not met before).
        let days = known.unknown(in: Set(buckets.totals.keys.map { $0.bucketMillis.floorDiv(OrderBuckets.dayMillis) * OrderBuckets.dayMillis }))
        if !days.isEmpty {
            try s.query("SELECT hearth_ensure_partitions(\(days.map { Timestamp(epochMillis: $0).description })::timestamptz[])")
        }
        let keys = buckets.totals.keys.sorted()
        try upsertTotals(s, table: "orders_15m", conflict: ["restaurant_id", "currency"],
                         text: [("restaurant_id", keys.map(\.restaurantID)), ("currency", keys.map(\.currency)),
                                ("city", keys.map { buckets.cities[$0] ?? "" })],
                         starts: keys.map(\.bucketMillis), totals: keys.map { buckets.totals[$0]! },
                         customers: keys.map { buckets.customers[$0] ?? [] }, shard: shard)
        for level in OrderBuckets.rollups {
            let (totals, customers) = buckets.cityRollup(per: level.millis)
            let keys = totals.keys.sorted()
            try upsertTotals(s, table: level.table, conflict: ["city", "currency"],
                             text: [("city", keys.map(\.city)), ("currency", keys.map(\.currency))],
                             starts: keys.map(\.bucketMillis), totals: keys.map { totals[$0]! },
                             customers: keys.map { customers[$0] ?? [] }, shard: shard)
            // After the quarter hours (see `ZoneDayMigration`: a zone being registered waits for them).
            if level.millis == OrderBuckets.bucketMillis { try upsertZoneDays(s, keys: keys, totals: keys.map { totals[$0]! }, shard: shard) }
        }
        try upsertMix(s, buckets, shard: shard)
        try upsertLive(s, buckets, shard: shard)
        guard !buckets.items.isEmpty else { return days }
        let itemKeys = buckets.items.keys.sorted()
        let lines = itemKeys.map { buckets.items[$0]! }
        let itemDays = itemKeys.map { $0.dayMillis / OrderBuckets.dayMillis }
        // Every item has its key (`register` ran before the transaction); a row without one would be lost, so it fails the batch.
        let written = try s.query("""
            INSERT INTO item_orders_daily (day, item_key, shard, orders, quantity, revenue_minor)
            SELECT date '1970-01-01' + t.d::int, k.item_key, \(shard)::smallint, t.o, t.q, t.v
              FROM unnest(\(itemDays)::bigint[], \(itemKeys.map(\.itemID))::text[], \(itemKeys.map(\.currency))::text[],
                          \(lines.map(\.restaurantID))::text[],
                          \(lines.map(\.orders))::bigint[], \(lines.map(\.quantity))::bigint[], \(lines.map(\.revenueMinor))::bigint[])
                   AS t(d, i, c, r, o, q, v)
              JOIN menu_item_keys k ON k.item_id = t.i AND k.restaurant_id = t.r AND k.currency = t.c
            ON CONFLICT (day, item_key, shard) DO UPDATE
               SET orders = item_orders_daily.orders + EXCLUDED.orders,
                   quantity = item_orders_daily.quantity + EXCLUDED.quantity,
                   revenue_minor = item_orders_daily.revenue_minor + EXCLUDED.revenue_minor
            RETURNING 1
            """).count
        guard written == itemKeys.count else {
            throw PostgresError(.query, detail: "\(itemKeys.count - written) of \(itemKeys.count) menu items have no key in menu_item_keys")
        }
        return days
    }

    /// A menu item as reports group it.
    struct ItemIdentity: Hashable, Comparable {
        var itemID: String
        var restaurantID: String
        var currency: String
        static func < (a: ItemIdentity, b: ItemIdentity) -> Bool {
            if a.itemID != b.itemID { return a.itemID < b.itemID }
            if a.restaurantID != b.restaurantID { return a.restaurantID < b.restaurantID }
            return a.currency < b.currency
        }
    }

    /// What `menu_item_keys` shows of an item: the city and dish name of its latest order.
    struct ItemShown: Hashable, Sendable {
        var city: String
        var name: String
    }

    /// Gives every menu item ordered in `events` its key in `menu_item_keys`, with the city and dish name of
    /// its latest order (`registerItems`), unless this sink registered it so already: after the first
    /// batches, most batches register nothing. (Another instance may have shown an item differently since;
    /// the next order that changes what this one shows puts it right.)
    func register(_ connection: PostgresConnection, _ records: [SinkRecord]) async throws {
        // The latest line of each item that this sink has not registered as it shows.
        let unknown = knownItems.withLock { known in
            var unknown: [ItemIdentity: ItemShown] = [:]
            for i in records.indices {
                if case .success(let event) = records[i].event, case .orderPlaced(let o) = event.payload { Self.note(o, known, &unknown) }
            }
            return unknown
        }
        try await registerUnknown(connection, unknown)
    }

    func register(_ connection: PostgresConnection, _ events: [Event]) async throws {
        let unknown = knownItems.withLock { known in
            var unknown: [ItemIdentity: ItemShown] = [:]
            for event in events {
                if case .orderPlaced(let o) = event.payload { Self.note(o, known, &unknown) }
            }
            return unknown
        }
        try await registerUnknown(connection, unknown)
    }

    /// Adds the lines of `order` that show an item otherwise than `known` to `unknown` (the latest line wins).
    private static func note(_ order: OrderPlaced, _ known: [ItemIdentity: ItemShown], _ unknown: inout [ItemIdentity: ItemShown]) {
        for line in order.items {
            let item = ItemIdentity(itemID: line.item_id, restaurantID: order.restaurant_id, currency: order.currency)
            let shown = ItemShown(city: order.city, name: line.name)
            if known[item] != shown || unknown[item] != nil { unknown[item] = shown }
        }
    }

    private func registerUnknown(_ connection: PostgresConnection, _ unknown: [ItemIdentity: ItemShown]) async throws {
        guard !unknown.isEmpty else { return }
        try await Self.registerItems(connection, unknown)
        knownItems.withLock { known in
            if known.count + unknown.count > Self.knownItemsLimit { known.removeAll() }
            known.merge(unknown) { $1 }
        }
    }

    /// At most this many items are remembered as registered (about 150 bytes each); past it, the memory starts over.
    static let knownItemsLimit = 2_000_000

    /// Forgets which items were registered (when a batch failed: perhaps for a key that is gone).
    func forgetRegisteredItems() {
        knownItems.withLock { $0.removeAll() }
    }

    /// Gives each of `items` its key in `menu_item_keys` and shows it as given, in a short transaction of its
    /// own before the batch's: new items are inserted in key order (so that writers meeting the same new items
    /// wait for one another rather than deadlock) and changed ones locked in key order and updated; items
    /// already there as they are cost an index look-up each.
    static func registerItems(_ connection: PostgresConnection, _ items: [ItemIdentity: ItemShown]) async throws {
        let keys = items.keys.sorted()
        let ids = keys.map(\.itemID), restaurants = keys.map(\.restaurantID), currencies = keys.map(\.currency)
        let cities = keys.map { items[$0]!.city }, names = keys.map { items[$0]!.name }
        try await connection.withTransaction(synchronousCommit: false) { s in
            try s.query("""
                INSERT INTO menu_item_keys (item_id, restaurant_id, currency, city, name)
                SELECT * FROM unnest(\(ids)::text[], \(restaurants)::text[], \(currencies)::text[], \(cities)::text[], \(names)::text[])
                ON CONFLICT (item_id, restaurant_id, currency) DO NOTHING
                """)
            try s.query("""
                WITH t AS (
                    SELECT * FROM unnest(\(ids)::text[], \(restaurants)::text[], \(currencies)::text[], \(cities)::text[], \(names)::text[])
                        AS t(i, r, c, ci, n)
                ), changed AS (
                    SELECT k.item_key, t.ci, t.n FROM menu_item_keys k JOIN t ON k.item_id = t.i AND k.restaurant_id = t.r AND k.currency = t.c
                    WHERE k.city <> t.ci OR k.name <> t.n ORDER BY k.item_key FOR UPDATE OF k
                )
                UPDATE menu_item_keys k SET city = changed.ci, name = changed.n FROM changed WHERE k.item_key = changed.item_key
                """)
        }
    }

    /// Adds `totals` (every measure, the customers' sketch and the delivery-time histogram) to the rows of
    /// `table` keyed by bucket start, the `conflict` columns among `text` and the writer's shard: one
    /// statement, the key and measure arrays unnested side by side; conflicts add up and unite the sketches.
    static func upsertTotals(_ s: PostgresSession, table: String, conflict: [String], text: [(column: String, values: [String])],
                             starts: [Int64], totals: [OrderBuckets.Totals], customers: [Set<Int64>], shard: Int) throws {
        guard !starts.isEmpty else { return }
        let measures = OrderBuckets.Totals.columns
        var customerBucket: [Int32] = [], customerHashes: [Int64] = []
        for (n, people) in customers.enumerated() {
            for c in people { customerBucket.append(Int32(n + 1)); customerHashes.append(c) }
        }
        // Each row's delivery-time histogram as an array literal ('' when it has none).
        let histograms: [String] = totals.map {
            $0.deliveryHistogram.isEmpty ? "" : "{" + $0.deliveryHistogram.map(String.init).joined(separator: ",") + "}"
        }
        let names = text.map(\.column)
        let aliases = names.indices.map { "t\($0)" }
        var q = PostgresQuery.StringInterpolation(literalCapacity: 2048, interpolationCount: 6 + text.count + measures.count)
        q.appendLiteral("INSERT INTO \(table) (bucket, \(names.joined(separator: ", ")), \(UpsertSQL.columns), customers, delivery_hist, shard) ")
        q.appendLiteral("SELECT \(UpsertSQL.instant("k.b")), \(aliases.map { "k." + $0 }.joined(separator: ", ")), \(UpsertSQL.selected), c.h, NULLIF(k.dh, '')::bigint[], ")
        q.appendInterpolation(shard)
        q.appendLiteral("::smallint FROM unnest(")
        q.appendInterpolation(starts); q.appendLiteral("::bigint[]")
        for column in text {
            q.appendLiteral(", ")
            q.appendInterpolation(column.values); q.appendLiteral("::text[]")
        }
        UpsertSQL.appendMeasureArrays(totals, to: &q)
        q.appendLiteral(", ")
        q.appendInterpolation(histograms)
        q.appendLiteral("::text[]) WITH ORDINALITY AS k(b, \(aliases.joined(separator: ", ")), \(UpsertSQL.aliases), dh, n) ")
        q.appendLiteral("LEFT JOIN (SELECT n, hll_add_agg(id::hll_hashval, 14, 5) AS h FROM unnest(")
        q.appendInterpolation(customerBucket); q.appendLiteral("::int[], ")
        q.appendInterpolation(customerHashes); q.appendLiteral("::bigint[]) AS u(n, id) GROUP BY n) c ON c.n = k.n ")
        let others = names.filter { !conflict.contains($0) }.map { "\($0) = EXCLUDED.\($0), " }.joined()
        q.appendLiteral("ON CONFLICT (bucket, \(conflict.joined(separator: ", ")), shard) DO UPDATE SET \(others)" + UpsertSQL.updates(table)
                        + ", " + UpsertSQL.mergeSketches(table).joined(separator: ", "))
        try s.query(PostgresQuery(stringInterpolation: q))
    }

    /// Adds the batch's city quarter hours to the local days of every registered report zone
    /// (`hearth_report_zones`; none registered, no rows): PostgreSQL finds each quarter hour's local date.
    static func upsertZoneDays(_ s: PostgresSession, keys: [OrderBuckets.CityKey], totals: [OrderBuckets.Totals], shard: Int) throws {
        guard !keys.isEmpty else { return }
        let measures = OrderBuckets.Totals.columns
        var q = PostgresQuery.StringInterpolation(literalCapacity: 2048, interpolationCount: 4 + measures.count)
        q.appendLiteral("INSERT INTO orders_zone_1d (zone, day, city, currency, shard, \(UpsertSQL.columns)) ")
        q.appendLiteral("SELECT z.zone, (\(UpsertSQL.instant("k.b")) AT TIME ZONE z.zone)::date, k.city, k.currency, ")
        q.appendInterpolation(shard)
        q.appendLiteral("::smallint, " + measures.indices.map { "sum(k.m\($0))::bigint" }.joined(separator: ", ") + " FROM unnest(")
        q.appendInterpolation(keys.map(\.bucketMillis)); q.appendLiteral("::bigint[], ")
        q.appendInterpolation(keys.map(\.city)); q.appendLiteral("::text[], ")
        q.appendInterpolation(keys.map(\.currency)); q.appendLiteral("::text[]")
        UpsertSQL.appendMeasureArrays(totals, to: &q)
        q.appendLiteral(") AS k(b, city, currency, \(UpsertSQL.aliases)), hearth_report_zones z GROUP BY 1, 2, 3, 4 ")
        q.appendLiteral("ON CONFLICT (zone, city, day, currency, shard) DO UPDATE SET " + UpsertSQL.updates("orders_zone_1d"))
        try s.query(PostgresQuery(stringInterpolation: q))
    }

    /// The report zones by default: those of the platform's cities (the generator's).
    public static let defaultReportZones = ["Asia/Kolkata", "Asia/Kathmandu", "Europe/London", "America/New_York", "Europe/Berlin",
                                            "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo", "Asia/Dubai", "Asia/Singapore"]

    public struct ReportZoneError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Registers `zones` for per-local-day rows (`ZoneDayMigration`) and unregisters the others; a zone
    /// registered before keeps its rows.
    public static func registerReportZones(_ connection: PostgresConnection, zones: [String], logger: Logger) async throws {
        let registered = Set(try await connection.query("SELECT zone FROM hearth_report_zones").compactMap { $0[0] })
        for zone in zones where !registered.contains(zone) {
            let started = ContinuousClock.now
            do {
                try await connection.withTransaction(synchronousCommit: true) { s in
                    _ = try s.query("SELECT hearth_register_report_zone(\(zone))")
                }
            } catch {
                throw ReportZoneError(description: "report_zones: could not register \(zone): \(error)")
            }
            let took = ContinuousClock.now - started
            logger.info("Registered a report zone: its local days are kept whole.",
                        metadata: ["zone": "\(zone)", "duration": "\(took)"])
        }
        for zone in registered.subtracting(zones).sorted() {
            try await connection.withTransaction(synchronousCommit: true) { s in
                _ = try s.query("SELECT hearth_unregister_report_zone(\(zone))")
            }
            logger.info("Unregistered a report zone: its local days are cut from hours again.", metadata: ["zone": "\(zone)"])
        }
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
            SELECT \(unsafeRaw: UpsertSQL.instant("b")), r, c, d, v, \(shard)::smallint, ci, o, g, ps, pf
              FROM unnest(\(keys.map(\.bucketMillis))::bigint[],
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
            SELECT \(unsafeRaw: UpsertSQL.instant("m")), ci, cu, \(shard)::smallint, o, g, c, d
              FROM unnest(\(keys.map(\.minuteMillis))::bigint[], \(keys.map(\.city))::text[],
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
        /// The instant `column` holds as milliseconds since the epoch (bound as numbers: no timestamp text to
        /// write or parse; exact, since the interval's microseconds stay far below 2^53).
        static func instant(_ column: String) -> String { "('epoch'::timestamptz + \(column) * interval '1 millisecond')" }

        static let columns = OrderBuckets.Totals.columns.joined(separator: ", ")
        static let aliases = OrderBuckets.Totals.columns.indices.map { "m\($0)" }.joined(separator: ", ")
        static let selected = OrderBuckets.Totals.columns.indices.map { "k.m\($0)" }.joined(separator: ", ")
        /// On conflict: unite the customers' sketches and add the delivery-time histograms.
        static func mergeSketches(_ table: String) -> [String] {
            ["customers = CASE WHEN \(table).customers IS NULL THEN EXCLUDED.customers WHEN EXCLUDED.customers IS NULL"
                + " THEN \(table).customers ELSE hll_union(\(table).customers, EXCLUDED.customers) END",
             // Most rows of a batch bring no delivery: they keep their histogram without a PL/pgSQL call.
             "delivery_hist = CASE WHEN EXCLUDED.delivery_hist IS NULL THEN \(table).delivery_hist"
                + " ELSE hearth_hist_add(\(table).delivery_hist, EXCLUDED.delivery_hist) END"]
        }

        /// `, $n::bigint[]` for each measure: its values across `totals`, one array per column.
        static func appendMeasureArrays(_ totals: [OrderBuckets.Totals], to q: inout PostgresQuery.StringInterpolation) {
            let rows = totals.map(\.values)
            for i in OrderBuckets.Totals.columns.indices {
                q.appendLiteral(", ")
                q.appendInterpolation(rows.map { $0[i] })
                q.appendLiteral("::bigint[]")
            }
        }

        static func updates(_ table: String) -> String {
            OrderBuckets.Totals.columns.map { "\($0) = \(table).\($0) + EXCLUDED.\($0)" }.joined(separator: ", ")
        }
    }

    /// Orders of the last `days` days (by event time) per menu item, per restaurant, and per city
    /// and dish name: what search ranks by.
    public func popularity(days: Int) async throws -> OrderPopularity {
        var out = OrderPopularity()
        for row in try await reader.query("""
            SELECT k.item_id, sum(d.orders)::bigint FROM item_orders_daily d JOIN menu_item_keys k USING (item_key)
            WHERE d.day >= (now() AT TIME ZONE 'UTC')::date - \(days)::int GROUP BY k.item_id
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
            SELECT k.city, k.name, sum(d.orders)::bigint FROM item_orders_daily d JOIN menu_item_keys k USING (item_key)
            WHERE d.day >= (now() AT TIME ZONE 'UTC')::date - \(days)::int GROUP BY k.city, k.name
            """) {
            if let city = row[0], let name = row[1], let n = row[2].flatMap(Int64.init) {
                out.dishes.append(OrderPopularity.Dish(city: city, name: name, orders: n))
            }
        }
        return out
    }

    /// Drops the months of aggregates past their retention, each written to the archive first when there is
    /// one (all its rows as JSON, durable before the drop, in the same transaction); returns the partitions dropped.
    @discardableResult
    public func dropExpired() async throws -> [String] {
        defer { partitionDays.forget() }
        guard let archiver else {
            let dropped = try await maintenance.query("""
                SELECT hearth_drop_expired(\(retention.quarterHourDays), \(retention.rollupDays))
                """).compactMap { $0[0] }
            if !dropped.isEmpty {
                logger.info("Dropped months of aggregates past their retention.", metadata: ["partitions": "\(dropped.joined(separator: ", "))"])
            }
            return dropped
        }
        let expired = try await maintenance.query("""
            SELECT part, parent FROM hearth_expired_partitions(\(retention.quarterHourDays), \(retention.rollupDays))
            """).compactMap { row -> (String, String)? in
            guard let part = row[0], let parent = row[1], part.range(of: "^[a-z0-9_]+_p[0-9]{6}$", options: .regularExpression) != nil,
                  parent.range(of: "^[a-z0-9_]+$", options: .regularExpression) != nil else { return nil }
            return (part, parent)
        }
        var dropped: [String] = []
        for (part, parent) in expired {
            let rows = try await maintenance.withTransaction { s -> Int in
                let writer = try archiver.begin(table: parent, partition: part)
                // Item days as they were before items had keys: with the item, restaurant, currency, city and name.
                let select = parent == "item_orders_daily"
                    ? "SELECT d.day, k.item_id, k.currency, d.shard, k.restaurant_id, k.city, k.name, d.orders, d.quantity, d.revenue_minor"
                        + " FROM \"\(part)\" d JOIN menu_item_keys k USING (item_key)"
                    : "SELECT * FROM \"\(part)\""
                try s.execute("DECLARE hearth_expiring NO SCROLL CURSOR FOR SELECT row_to_json(t)::text FROM (\(select)) t")
                var total = 0
                while true {
                    let rows = try s.query("FETCH 20000 FROM hearth_expiring").compactMap { $0[0] }
                    if rows.isEmpty { break }
                    try writer.write(rows)
                    total += rows.count
                }
                try s.execute("CLOSE hearth_expiring")
                try writer.commit()
                try s.execute("DROP TABLE \"\(part)\"")
                return total
            }
            dropped.append(part)
            logger.info("Archived and dropped a month of aggregates past its retention.", metadata: ["partition": "\(part)", "rows": "\(rows)"])
        }
        return dropped
    }

    /// Merges the writers' shard rows of periods before `before` into shard 0 (`Compaction`): the
    /// totals stay exact, history reads a quarter of the rows. Returns the shard-0 rows written.
    @discardableResult
    public func compact(before: Timestamp) async throws -> Int {
        var merged = 0
        for table in Compaction.tables {
            let sql = Compaction.sql(table)
            merged += try await maintenance.withTransaction(synchronousCommit: false) { s in
                try s.query(PostgresQuery(unsafeSQL: sql, binds: [before.description])).affected
            }
        }
        return merged
    }

    /// How long after a period ends its shard rows are merged.
    public static let compactionDelay: Int64 = 2 * 3_600_000

    /// At most every ten minutes, in the background: forgets event ids older than the dedup horizon,
    /// drops aggregates past their retention and merges the shard rows of closed periods.
    private func startMaintenanceIfDue() {
        let now = ContinuousClock.now
        let due = lastPurge.withLock { last -> Bool in
            if let last, now - last < .seconds(600) { return false }
            last = now
            return true
        }
        guard due else { return }
        Task { await self.maintain() }
    }

    private func maintain() async {
        do {
            try await seen.purge(maintenance)
            try await maintenance.query("DELETE FROM orders_live_1m WHERE minute < now() - \(OrderBuckets.liveRetentionMillis) * interval '1 millisecond'")
            try await dropExpired()
            let cutoff = Timestamp(epochMillis: Timestamp.now.epochMillis - Self.compactionDelay)
            let merged = try await compact(before: cutoff)
            if merged > 0 { logger.debug("Merged writer shards of closed periods.", metadata: ["rows": "\(merged)"]) }
        } catch {
            logger.warning("Could not purge old event ids, drop expired aggregates or merge shards.", metadata: ["reason": "\(error)"])
        }
    }

    public func isReachable() async -> Bool { await reader.ping() }
}
