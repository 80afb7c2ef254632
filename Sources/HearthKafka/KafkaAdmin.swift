import CRdKafka
import HearthSupport

/// Read-only cluster queries (metadata, watermarks) for tools, tests and benchmarks.
public enum KafkaAdmin {
    /// Each partition's high watermark, asked of the brokers.
    public static func highWatermarks(brokers: String, topic: String, timeout: Duration = .seconds(10)) async throws -> [Int32: Int64] {
        try await watermarks(brokers: brokers, topic: topic, timeout: timeout).mapValues(\.high)
    }

    /// Each partition's low and high watermarks (records retained: high - low), asked of the brokers.
    public static func watermarks(brokers: String, topic: String, timeout: Duration = .seconds(10)) async throws -> [Int32: (low: Int64, high: Int64)] {
        try await Blocking.run {
            let conf = try RDKafkaConfig.make(["bootstrap.servers": brokers, "log.connection.close": "false"])
            let handle = RDKafkaHandle(try RDKafkaConfig.client(RD_KAFKA_PRODUCER, conf))
            let ms = Int32(timeout.components.seconds * 1000)
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let rkt = rd_kafka_topic_new(handle.pointer, topic, nil)
            // The topic handle must be destroyed before the client it belongs to.
            defer { if let rkt { rd_kafka_topic_destroy(rkt) }; withExtendedLifetime(handle) {} }
            let err = rd_kafka_metadata(handle.pointer, 0, rkt, &metadata, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw KafkaError(code: RDKafkaConfig.errorName(err), message: RDKafkaConfig.errorString(err))
            }
            defer { rd_kafka_metadata_destroy(metadata) }
            var out: [Int32: (low: Int64, high: Int64)] = [:]
            for t in 0..<Int(metadata.pointee.topic_cnt) {
                let md = metadata.pointee.topics[t]
                for p in 0..<Int(md.partition_cnt) {
                    let id = md.partitions[p].id
                    var low: Int64 = 0, high: Int64 = 0
                    let e = rd_kafka_query_watermark_offsets(handle.pointer, topic, id, &low, &high, ms)
                    guard e == RD_KAFKA_RESP_ERR_NO_ERROR else {
                        throw KafkaError(code: RDKafkaConfig.errorName(e), message: RDKafkaConfig.errorString(e))
                    }
                    out[id] = (low, high)
                }
            }
            return out
        }
    }
}
