import Foundation
import HearthSupport

/// One pipeline, from `Pipelines/<name>.yaml`: what it reads, how it batches, where it writes.
public struct PipelineDefinition: Sendable, Equatable {
    public var name: String
    public var description: String
    public var topics: [String]
    public var group: String
    public var maxBatchRecords: Int
    public var lingerMillis: Int
    public var maxRecordBytes: Int
    /// Delivered-but-unapplied batches may hold this many bytes before partitions pause.
    public var maxBufferedBytes: Int
    /// Batches of different partitions applied at the same time.
    public var concurrency: Int
    /// `concurrency` when the file does not set it.
    public static let defaultConcurrency = 4
    /// Whether invalid records are produced to `<topic><deadLetterSuffix>`.
    public var deadLetter: Bool
    public var deadLetterSuffix: String
    /// Duplicate `event_id`s seen within this many hours have no effect.
    public var dedupHorizonHours: Int
    public var sinks: [String]
    /// librdkafka consumer properties passed through.
    public var kafka: [String: String]

    public static let knownSinks: Set<String> = ["analytics", "archive", "search"]

    public func deadLetterTopic(for topic: String) -> String { topic + deadLetterSuffix }

    /// Reads and validates one definition.
    public init(file: String, yaml: String) throws(ConfigError) {
        let map = try ConfigMap(file: file, yaml: yaml)
        name = try map.requiredString("name")
        guard name.range(of: "^[a-z][a-z0-9_-]{0,62}$", options: .regularExpression) != nil else {
            throw map.error("name", "must be lower-case letters, digits, - or _, starting with a letter")
        }
        description = try map.string("description", default: "")
        guard let topics = try map.strings("topics"), !topics.isEmpty else { throw map.error("topics", "is required") }
        for t in topics where t.range(of: "^[A-Za-z0-9._-]{1,249}$", options: .regularExpression) == nil {
            throw map.error("topics", "\"\(t)\" is not a valid Kafka topic name")
        }
        self.topics = topics
        group = try map.string("group", default: "hearth-\(name)")
        let batch = try map.map("batch")
        maxBatchRecords = try batch.int("max_records", default: 5000, range: 1...100_000)
        lingerMillis = try batch.int("linger_ms", default: 50, range: 0...60_000)
        try batch.finish()
        maxRecordBytes = try map.int("max_record_bytes", default: 1 << 20, range: 1024...(64 << 20))
        maxBufferedBytes = try map.int("max_buffered_bytes", default: 64 << 20, range: (1 << 20)...(4 << 30))
        concurrency = try map.int("concurrency", default: Self.defaultConcurrency, range: 1...64)
        let dlq = try map.map("dead_letter")
        deadLetter = try dlq.bool("enabled", default: true)
        deadLetterSuffix = try dlq.string("topic_suffix", default: ".dlq")
        try dlq.finish()
        dedupHorizonHours = try map.int("dedup_horizon_hours", default: 168, range: 1...(24 * 366))
        guard let sinks = try map.strings("sinks"), !sinks.isEmpty else { throw map.error("sinks", "is required") }
        for s in sinks where !PipelineDefinition.knownSinks.contains(s) {
            throw map.error("sinks", "unknown sink \"\(s)\" (known: \(PipelineDefinition.knownSinks.sorted().joined(separator: ", ")))")
        }
        self.sinks = sinks
        kafka = try map.stringMap("kafka")
        try map.finish()
    }

    /// Loads every `*.yaml` in `directory`, sorted by file name; pipeline names must be unique.
    public static func loadAll(from directory: URL) throws(ConfigError) -> [PipelineDefinition] {
        try DefinitionDirectory.load(directory, kind: "pipeline definitions", parse: { (file, yaml) throws(ConfigError) in
            try PipelineDefinition(file: file, yaml: yaml)
        }, name: \.name)
    }
}
