/// How a `KafkaConsumer` connects, batches and buffers.
public struct KafkaConsumerConfig: Sendable {
    public var brokers: String
    public var groupID: String
    public var topics: [String]
    /// A partition's batch is delivered when it holds this many records …
    public var maxBatchRecords: Int
    /// … and every pending batch when the oldest record has waited this long. While the sinks are about
    /// to run dry, batches of at least a quarter of `maxBatchRecords` go at once, largest first.
    public var lingerMillis: Int
    /// Delivered but not yet released batches may hold at most this many bytes;
    /// above it every partition is paused until half of it has been released.
    public var maxBufferedBytes: Int
    /// librdkafka properties passed through unchanged.
    public var properties: [String: String]

    public init(brokers: String, groupID: String, topics: [String], maxBatchRecords: Int = 5000,
                lingerMillis: Int = 100, maxBufferedBytes: Int = 64 << 20, properties: [String: String] = [:]) {
        self.brokers = brokers
        self.groupID = groupID
        self.topics = topics
        self.maxBatchRecords = maxBatchRecords
        self.lingerMillis = lingerMillis
        self.maxBufferedBytes = maxBufferedBytes
        self.properties = properties
    }
}

/// What the consumer asks of its owner when the group rebalances. Both calls
/// come from the consumer's poll thread and may block it.
public struct KafkaRebalanceHandler: Sendable {
    /// The offset each newly assigned partition starts at (absent: the beginning).
    /// Throwing makes the consumer retry after a pause.
    public var onAssign: @Sendable ([TopicPartition]) throws -> [TopicPartition: Int64]
    /// Called before partitions are given up; returns once in-flight work on them is finished or dropped.
    public var onRevoke: @Sendable ([TopicPartition]) -> Void

    public init(onAssign: @escaping @Sendable ([TopicPartition]) throws -> [TopicPartition: Int64],
                onRevoke: @escaping @Sendable ([TopicPartition]) -> Void) {
        self.onAssign = onAssign
        self.onRevoke = onRevoke
    }
}
