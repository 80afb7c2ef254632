import CRdKafka

/// Owns one `rd_kafka_t`. librdkafka handles are thread-safe, so this tiny
/// wrapper is `@unchecked Sendable`; `deinit` destroys the handle.
final class RDKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { rd_kafka_destroy(pointer) }
}
