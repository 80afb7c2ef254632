import Crypto
import Foundation
import HearthKafka
import HearthPostgres
import Synchronization

/// An event id as the deduplication state keeps it: the first 128 bits of the SHA-256 of its UTF-8
/// bytes (PostgreSQL's `substring(sha256(convert_to(id, 'UTF8')) FROM 1 FOR 16)`). Two different ids
/// share a digest with a probability of about n² / 2¹²⁹ for n ids: 10¹⁰ ids, about 10⁻¹⁹.
struct EventIDDigest: Hashable, Sendable {
    let high: UInt64
    let low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(_ eventID: String) {
        var id = eventID
        let digest = id.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        (high, low) = digest.withUnsafeBytes { raw in
            (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
             UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }

    /// Digests as one hexadecimal string, 32 digits each (a `bytea` in `decode(…, 'hex')`).
    static func hex(_ digests: [EventIDDigest]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digests.count * 32)
        func append(_ word: UInt64) {
            for shift in stride(from: 60, through: 0, by: -4) { out.append(digits[Int((word >> UInt64(shift)) & 0xF)]) }
        }
        for d in digests {
            append(d.high)
            append(d.low)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The digests of `hex` (as `hex` writes them); nil when it is not that.
    static func parse(hex: String) -> [EventIDDigest]? {
        var text = hex
        return text.withUTF8 { bytes -> [EventIDDigest]? in
            guard bytes.count % 32 == 0 else { return nil }
            var out: [EventIDDigest] = []
            out.reserveCapacity(bytes.count / 32)
            var i = 0
            func word() -> UInt64? {
                var w: UInt64 = 0
                for _ in 0..<16 {
                    let c = bytes[i]
                    i += 1
                    let v: UInt8
                    switch c {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
                    default: return nil
                    }
                    w = w << 4 | UInt64(v)
                }
                return w
            }
            while i < bytes.count {
                guard let high = word(), let low = word() else { return nil }
                out.append(EventIDDigest(high: high, low: low))
            }
            return out
        }
    }
}

/// Which event ids the analytics store has counted, per topic partition: the deduplication state.
///
/// The contract keys each topic by an entity id, so every copy of an event arrives on the partition of
/// the first; the state is kept per partition. PostgreSQL holds it as one row per batch
/// (`analytics_seen_batches`: the digests of the batch's new ids), written in the batch's transaction;
/// this process holds it in memory, so that a batch's check costs no index probe per event.
///
/// A batch first bumps its partition's version (`analytics_seen_partitions`), which locks the partition's
/// state until the batch commits and says whether the memory is current: when another process or
/// connection wrote the partition since, the memory is read again from PostgreSQL in the same
/// transaction. Rows of the old single table (ids counted before this state existed, migration 18)
/// are kept with partition -1 and checked for every partition until the horizon forgets them.
final class SeenEvents: Sendable {
    struct Key: Hashable, Comparable {
        var topic: String
        var partition: Int32
        static func < (a: Key, b: Key) -> Bool { a.topic != b.topic ? a.topic < b.topic : a.partition < b.partition }
    }

    private struct State {
        /// The partition's version these ids reflect.
        var version: Int64
        /// Digest → hour it was first counted (hours since the epoch).
        var ids: [EventIDDigest: Int32]
        var lastUsed: ContinuousClock.Instant
    }

    /// What a batch's check found, to be remembered once its transaction has committed.
    struct Check: Sendable {
        let key: Key
        /// The partition's version after the batch.
        let version: Int64
        /// The digests the batch counts.
        let fresh: [EventIDDigest]
    }

    private let partitions = Mutex<[Key: State]>([:])
    /// Ids counted before per-partition state existed (nil: not read yet).
    private let legacy = Mutex<[EventIDDigest: Int32]?>(nil)
    let horizonHours: Int

    init(horizonHours: Int) {
        self.horizonHours = horizonHours
    }

    static func hour(_ date: Date = Date()) -> Int32 { Int32(date.timeIntervalSince1970 / 3600) }

    /// Locks `key`'s state for the transaction of `s` and returns which of `digests` (distinct) are new,
    /// after recording them in PostgreSQL. Call `committed` with the result once the transaction has committed.
    func check(_ s: PostgresSession, _ key: Key, _ digests: [EventIDDigest]) throws -> Check {
        let version = try s.query("""
            INSERT INTO analytics_seen_partitions (topic, partition, version) VALUES (\(key.topic), \(key.partition), 1)
            ON CONFLICT (topic, partition) DO UPDATE SET version = analytics_seen_partitions.version + 1
            RETURNING version
            """).first.flatMap { $0[0] }.flatMap(Int64.init)
        guard let version else { throw PostgresError(.query, detail: "the dedup version of \(key.topic)/\(key.partition) was not returned") }
        let current = partitions.withLock { p -> Bool in
            guard p[key]?.version == version - 1 else { return false }
            p[key]!.lastUsed = .now
            return true
        }
        if !current {
            let ids = try load(s, topic: key.topic, partition: key.partition)
            partitions.withLock { $0[key] = State(version: version - 1, ids: ids, lastUsed: .now) }
        }
        if legacy.withLock({ $0 == nil }) {
            let ids = try load(s, topic: "", partition: -1)
            legacy.withLock { $0 = $0 ?? ids }
        }
        let old = legacy.withLock { $0 ?? [:] }
        let fresh = partitions.withLock { p in
            let seen = p[key]?.ids ?? [:]
            return digests.filter { seen[$0] == nil && old[$0] == nil }
        }
        if !fresh.isEmpty {
            try s.query("""
                INSERT INTO analytics_seen_batches (topic, partition, version, ids)
                VALUES (\(key.topic), \(key.partition), \(version), decode(\(EventIDDigest.hex(fresh)), 'hex'))
                """)
        }
        return Check(key: key, version: version, fresh: fresh)
    }

    /// Remembers a committed batch's new ids. When the memory is not at the version before the batch
    /// (another transaction read it or wrote in between), it is left to be read again.
    func committed(_ checks: [Check]) {
        let hour = Self.hour()
        partitions.withLock { p in
            for c in checks {
                guard var state = p.removeValue(forKey: c.key) else { continue }
                if state.version == c.version - 1 {
                    state.version = c.version
                    for d in c.fresh { state.ids[d] = hour }
                }
                // Newer than this batch: another transaction read it since, and it holds the batch.
                if state.version >= c.version { p[c.key] = state }
            }
        }
    }

    /// Forgets ids counted before the horizon, in PostgreSQL and here, and partitions not used for an hour.
    func purge(_ connection: PostgresConnection) async throws {
        try await connection.query("""
            DELETE FROM analytics_seen_batches WHERE seen_at < now() - make_interval(hours => \(horizonHours))
            """)
        let cutoff = Self.hour() - Int32(horizonHours)
        let now = ContinuousClock.now
        partitions.withLock { p in
            p = p.filter { now - $0.value.lastUsed < .seconds(3600) }
            for key in p.keys { p[key]!.ids = p[key]!.ids.filter { $0.value >= cutoff } }
        }
        legacy.withLock { $0 = $0?.filter { $0.value >= cutoff } }
    }

    /// The ids recorded for a partition within the horizon.
    private func load(_ s: PostgresSession, topic: String, partition: Int32) throws -> [EventIDDigest: Int32] {
        var ids: [EventIDDigest: Int32] = [:]
        let rows = try s.query("""
            SELECT floor(extract(epoch FROM seen_at) / 3600)::int, encode(ids, 'hex') FROM analytics_seen_batches
            WHERE topic = \(topic) AND partition = \(partition) AND seen_at >= now() - make_interval(hours => \(horizonHours))
            """)
        for row in rows {
            guard let hour = row[0].flatMap(Int32.init), let hex = row[1], let digests = EventIDDigest.parse(hex: hex) else {
                throw PostgresError(.query, detail: "a row of analytics_seen_batches for \(topic)/\(partition) is not digests")
            }
            for d in digests { ids[d] = hour }
        }
        return ids
    }

    /// Migration 18: the state's tables, and the ids of the single table as legacy rows (partition -1), one
    /// row per minute they were seen in.
    static let migrationSQL = """
        CREATE TABLE analytics_seen_partitions (
            topic     text   NOT NULL,
            partition int    NOT NULL,
            version   bigint NOT NULL,
            PRIMARY KEY (topic, partition)
        );
        CREATE TABLE analytics_seen_batches (
            topic     text        NOT NULL,
            partition int         NOT NULL,
            version   bigint      NOT NULL,
            seen_at   timestamptz NOT NULL DEFAULT now(),
            ids       bytea       NOT NULL,
            PRIMARY KEY (topic, partition, version)
        );
        -- Digests do not compress: stored out of line without trying.
        ALTER TABLE analytics_seen_batches ALTER COLUMN ids SET STORAGE EXTERNAL;
        """ + legacySQL

    /// The ids of the single table `analytics_seen_events` as legacy rows, and the table dropped.
    static let legacySQL = """
        INSERT INTO analytics_seen_batches (topic, partition, version, seen_at, ids)
        SELECT '', -1, row_number() OVER (ORDER BY minute), seen_at, ids FROM (
            SELECT date_trunc('minute', seen_at) AS minute, max(seen_at) AS seen_at,
                   string_agg(substring(sha256(convert_to(event_id, 'UTF8')) FROM 1 FOR 16), ''::bytea) AS ids
              FROM analytics_seen_events GROUP BY 1) m;
        DROP TABLE analytics_seen_events;
        """
}
