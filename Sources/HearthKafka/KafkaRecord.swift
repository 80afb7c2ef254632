/// One Kafka record, copied out of librdkafka's buffers.
public struct KafkaRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    /// The record's Kafka timestamp in milliseconds since the epoch (-1 when absent).
    public var timestampMillis: Int64
    public var headers: [KafkaHeader]

    public init(topic: String, partition: Int32 = -1, offset: Int64 = -1, key: [UInt8]?, value: [UInt8],
                timestampMillis: Int64 = -1, headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestampMillis = timestampMillis
        self.headers = headers
    }
}

public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]
    public init(name: String, value: [UInt8]) { self.name = name; self.value = value }
    public init(_ name: String, _ value: String) { self.name = name; self.value = Array(value.utf8) }
}

/// A topic and partition.
public struct TopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public init(_ topic: String, _ partition: Int32) { self.topic = topic; self.partition = partition }
    public var description: String { "\(topic)[\(partition)]" }
    public static func < (a: TopicPartition, b: TopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }
}

/// Records of one partition, delivered together. `generation` identifies the
/// assignment they were fetched under; a batch whose generation is no longer
/// current belongs to a revoked or repositioned partition and must be dropped.
public struct KafkaBatch: Sendable {
    public var partition: TopicPartition
    public var generation: UInt64
    public var records: [KafkaRecord]
    public var bytes: Int
}
