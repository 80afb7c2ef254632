import CRdKafka
import Foundation

/// librdkafka's mock cluster: real Kafka protocol on loopback ports, in process.
///
/// It keeps only about 5 MiB of record batches per partition, so producers
/// writing to it should compress (`compression.type=zstd`).
public final class DevelopmentCluster: Sendable {
    /// The topics Hearth uses; created up front with `partitions` partitions.
    public static let standardTopics = ["restaurants", "menus", "orders"]

    private let cluster: RDKafkaMockCluster
    public let bootstrapServers: String

    /// Starts `brokers` brokers and creates the standard topics (and their `.dlq`) with `partitions` partitions.
    /// Other topics are created on first use.
    public init(brokers: Int = 3, partitions: Int = 12, topics: [String] = DevelopmentCluster.standardTopics) throws {
        let conf = try RDKafkaConfig.make(["log.connection.close": "false", "log_level": "3"])
        let handle = RDKafkaHandle(try RDKafkaConfig.client(RD_KAFKA_PRODUCER, conf))
        guard let mc = rd_kafka_mock_cluster_new(handle.pointer, Int32(brokers)) else {
            throw KafkaError(code: "mock_cluster_failed", message: "could not start the development cluster")
        }
        cluster = RDKafkaMockCluster(mc, handle: handle)
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
        for topic in topics + topics.map({ $0 + ".dlq" }) {
            let err = rd_kafka_mock_topic_create(mc, topic, Int32(partitions), Int32(min(brokers, 3)))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: RDKafkaConfig.errorName(err), message: RDKafkaConfig.errorString(err))
            }
        }
    }
}

/// Owns an `rd_kafka_mock_cluster_t` and the handle it was created from; librdkafka
/// requires the cluster to be destroyed first, which `deinit` guarantees.
final class RDKafkaMockCluster: @unchecked Sendable {
    let pointer: OpaquePointer
    private let handle: RDKafkaHandle

    init(_ pointer: OpaquePointer, handle: RDKafkaHandle) {
        self.pointer = pointer
        self.handle = handle
    }

    deinit {
        rd_kafka_mock_cluster_destroy(pointer)
        withExtendedLifetime(handle) {}
    }
}
