import HearthEvents
import HearthKafka

/// Builds the dead-letter copy of an invalid record: same key and value, with
/// the contract's (Kafka Connect's) error headers.
public enum DeadLetter {
    public static func record(for source: KafkaRecord, error: EventError, pipeline: String, topic: String) -> KafkaRecord {
        KafkaRecord(topic: topic, key: source.key, value: source.value, headers: source.headers + [
            KafkaHeader("__connect.errors.topic", source.topic),
            KafkaHeader("__connect.errors.partition", String(source.partition)),
            KafkaHeader("__connect.errors.offset", String(source.offset)),
            KafkaHeader("__connect.errors.connector.name", pipeline),
            KafkaHeader("__connect.errors.stage", error.stage.rawValue),
            KafkaHeader("__connect.errors.exception.class.name", error.code),
            KafkaHeader("__connect.errors.exception.message", error.message),
        ])
    }

    /// Values above this are cut when the broker refuses the dead letter as too large,
    /// so that an oversized record can never stall its partition.
    public static let truncatedValueBytes = 256 * 1024

    /// The same dead letter with its value cut to `truncatedValueBytes`, and a header giving the original size.
    public static func truncated(_ record: KafkaRecord) -> KafkaRecord {
        guard record.value.count > truncatedValueBytes else { return record }
        var copy = record
        copy.value = Array(record.value.prefix(truncatedValueBytes))
        copy.headers.append(KafkaHeader("__hearth.truncated.original_bytes", String(record.value.count)))
        return copy
    }
}
