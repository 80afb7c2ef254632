import HearthEvents
import HearthKafka

/// A store that applies a partition's batch atomically together with its own
/// stored position — the exactly-once protocol. The runtime seeks each
/// assigned partition to the sinks' positions and hands each sink only the
/// records at or after its own.
public protocol Sink: Sendable {
    /// A short name, unique within a pipeline (e.g. `analytics`).
    var name: String { get }

    /// The next offset to apply for each partition, as stored with the sink's data; absent when never applied.
    func positions(pipeline: String, partitions: [TopicPartition]) async throws -> [TopicPartition: Int64]

    /// Applies `batch` and stores `batch.nextOffset` in one atomic step, but only if the
    /// stored position still equals `batch.expectedPosition`; otherwise throws `SinkPositionConflict`.
    func apply(_ batch: SinkBatch) async throws

    /// Whether the sink's store is reachable.
    func isReachable() async -> Bool

    /// Called once when the pipeline stops gracefully: a sink that buffers writes out what it holds.
    func close() async throws
}

extension Sink {
    public func close() async throws {}
}

/// A sink that can take archived records again (`hearth replay`), outside the stream's positions and
/// without counting anything twice.
public protocol ReplayableSink: Sink {
    /// Applies `records` again where that has an effect (unseen event ids, newer revisions).
    func replay(_ records: [SinkRecord]) async throws -> ReplayOutcome
}

/// What a replay did with its records.
public struct ReplayOutcome: Sendable, Equatable {
    /// Records applied (for revisioned stores: offered; stale revisions are ignored).
    public var applied = 0
    /// Records whose event id had been counted already.
    public var alreadyApplied = 0
    /// Records that arrived before the deduplication horizon: they cannot be told apart from counted ones
    /// any more, so they are left out.
    public var beyondHorizon = 0
    public init(applied: Int = 0, alreadyApplied: Int = 0, beyondHorizon: Int = 0) {
        self.applied = applied
        self.alreadyApplied = alreadyApplied
        self.beyondHorizon = beyondHorizon
    }
    public static func + (a: ReplayOutcome, b: ReplayOutcome) -> ReplayOutcome {
        ReplayOutcome(applied: a.applied + b.applied, alreadyApplied: a.alreadyApplied + b.alreadyApplied,
                      beyondHorizon: a.beyondHorizon + b.beyondHorizon)
    }
}

/// The records of one partition for one sink.
public struct SinkBatch: Sendable {
    public var pipeline: String
    public var partition: TopicPartition
    /// The position the runtime believes the sink has stored (nil: none yet).
    public var expectedPosition: Int64?
    /// The position to store: one past the last offset of the batch.
    public var nextOffset: Int64
    /// Records at or after the sink's position, in offset order.
    public var records: [SinkRecord]

    public init(pipeline: String, partition: TopicPartition, expectedPosition: Int64?, nextOffset: Int64, records: [SinkRecord]) {
        self.pipeline = pipeline
        self.partition = partition
        self.expectedPosition = expectedPosition
        self.nextOffset = nextOffset
        self.records = records
    }

    /// The valid events of the batch, in offset order.
    public var events: [Event] {
        // Sized once, rather than grown as `compactMap` does.
        var out: [Event] = []
        out.reserveCapacity(records.count)
        for record in records { if case .success(let event) = record.event { out.append(event) } }
        return out
    }
}

/// One record with its decoding outcome. Invalid records are included so that
/// sinks which keep everything (the archive) can mark them.
public struct SinkRecord: Sendable {
    public var record: KafkaRecord
    public var event: Result<Event, EventError>

    public init(record: KafkaRecord, event: Result<Event, EventError>) {
        self.record = record
        self.event = event
    }
}

/// The sink's stored position is not the one the runtime expected: another
/// consumer applied the partition meanwhile. The runtime re-reads positions and seeks.
public struct SinkPositionConflict: Error, Sendable, CustomStringConvertible {
    public let partition: TopicPartition
    public let stored: Int64?
    public init(partition: TopicPartition, stored: Int64?) {
        self.partition = partition
        self.stored = stored
    }
    public var description: String { "stored position of \(partition) is \(stored.map(String.init) ?? "none")" }
}
