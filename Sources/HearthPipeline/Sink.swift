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
    public var events: [Event] { records.compactMap { try? $0.event.get() } }
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
