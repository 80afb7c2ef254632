import HearthKafka
import Metrics

/// The pipeline runtime's telemetry names, in one place. Labels stay low-cardinality:
/// pipeline, sink, topic, partition and error code.
struct PipelineMetrics: Sendable {
    static let consumed = "hearth_records_consumed_total"
    static let applied = "hearth_records_applied_total"
    static let deadLettered = "hearth_records_dead_lettered_total"
    static let lag = "hearth_consumer_lag"
    static let batchDuration = "hearth_batch_duration_seconds"

    let pipeline: String

    func consumed(_ tp: TopicPartition, _ n: Int) {
        Counter(label: Self.consumed, dimensions: dims(tp)).increment(by: n)
    }

    func applied(_ tp: TopicPartition, sink: String, _ n: Int, duration: Duration) {
        Counter(label: Self.applied, dimensions: dims(tp) + [("sink", sink)]).increment(by: n)
        Metrics.Timer(label: Self.batchDuration, dimensions: [("pipeline", pipeline), ("sink", sink)],
                      preferredDisplayUnit: .seconds).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    func deadLettered(_ tp: TopicPartition, code: String, _ n: Int) {
        Counter(label: Self.deadLettered, dimensions: dims(tp) + [("code", code)]).increment(by: n)
    }

    func lag(_ tp: TopicPartition, _ lag: Int64) {
        Gauge(label: Self.lag, dimensions: dims(tp)).record(lag)
    }

    private func dims(_ tp: TopicPartition) -> [(String, String)] {
        [("pipeline", pipeline), ("topic", tp.topic), ("partition", String(tp.partition))]
    }
}
