import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t`; `deinit` destroys it.
final class RDKafkaTopicPartitionList {
    private let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ partitions: [TopicPartition], offsets: [TopicPartition: Int64] = [:]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1)))
        for tp in partitions {
            let elem = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)!
            if let offset = offsets[tp] { elem.pointee.offset = offset }
        }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    /// The list for the duration of `body` only (it is destroyed with this object).
    func withPointer<T>(_ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> T) rethrows -> T {
        try withExtendedLifetime(self) { try body(pointer) }
    }

    /// Builds a list and passes it to `body`.
    static func with<T>(_ partitions: [TopicPartition], offsets: [TopicPartition: Int64] = [:],
                        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> T) rethrows -> T {
        try RDKafkaTopicPartitionList(partitions, offsets: offsets).withPointer(body)
    }

    /// Reads a list librdkafka owns (no copy of ownership).
    static func read(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartition] {
        (0..<Int(list.pointee.cnt)).map { i in
            let e = list.pointee.elems[i]
            return TopicPartition(String(cString: e.topic), e.partition)
        }
    }
}
