import HearthKafka

/// What `/api/v1/pipelines` shows for one partition.
public struct PartitionStatus: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable { case running, paused, stalled }

    public var topic: String
    public var partition: Int32
    /// The lowest next offset stored by the pipeline's sinks.
    public var position: Int64?
    public var highWatermark: Int64?
    public var lag: Int64?
    public var consumed: Int64
    public var applied: Int64
    public var deadLettered: Int64
    public var state: State
    /// The reason the partition is stalled, safe to show.
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case topic, partition, position, highWatermark, lag, consumed, applied, deadLettered, state, reason
    }

    /// Unknown values are written as `null`, so every partition has the same keys.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(topic, forKey: .topic)
        try c.encode(partition, forKey: .partition)
        try c.encode(position, forKey: .position)
        try c.encode(highWatermark, forKey: .highWatermark)
        try c.encode(lag, forKey: .lag)
        try c.encode(consumed, forKey: .consumed)
        try c.encode(applied, forKey: .applied)
        try c.encode(deadLettered, forKey: .deadLettered)
        try c.encode(state, forKey: .state)
        try c.encode(reason, forKey: .reason)
    }
}

public struct PipelineStatus: Sendable, Codable, Equatable {
    public var name: String
    public var topics: [String]
    public var group: String
    public var sinks: [String]
    public var assigned: Bool
    public var partitions: [PartitionStatus]
}

/// The runner's mutable bookkeeping (behind its lock).
struct RunnerState: Sendable {
    struct Partition: Sendable {
        var consumed: Int64 = 0
        var applied: Int64 = 0
        var deadLettered: Int64 = 0
        var stalledReason: String?
    }

    /// Per sink, the positions it has stored (as last read or written).
    var positions: [String: [TopicPartition: Int64]] = [:]
    var partitions: [TopicPartition: Partition] = [:]
    var inFlight: Set<TopicPartition> = []
    /// Per partition, the offset of a gap already re-fetched once (so it is a real gap: accept it).
    var acceptedGaps: [TopicPartition: Int64] = [:]

    func position(_ tp: TopicPartition, sinks: [String]) -> Int64? {
        var lowest: Int64?
        for sink in sinks {
            guard let p = positions[sink]?[tp] else { return nil }
            lowest = min(lowest ?? p, p)
        }
        return lowest
    }
}

/// Offsets must follow on from the stored position without a hole: librdkafka 2.0's batch consume
/// can skip offsets around pause and resume (fixed in librdkafka 2.1), and a skipped record would
/// pass the position fence unapplied. A gap is re-fetched once; seen again at the same offset, it
/// is real (transaction markers, compaction) and accepted.
public enum Contiguity {
    public struct Verdict: Equatable, Sendable {
        /// How many of the records (from the first) to apply now.
        public var keep: Int
        /// Where to re-fetch from, when records were held back.
        public var refetchFrom: Int64?
        public init(keep: Int, refetchFrom: Int64?) { self.keep = keep; self.refetchFrom = refetchFrom }
    }

    /// `offsets` are the batch's records at or after `expected` (the stored position, when known).
    public static func check(_ offsets: [Int64], expected: Int64?, accepted: Int64?) -> Verdict {
        guard let first = offsets.first else { return Verdict(keep: 0, refetchFrom: nil) }
        if let expected, first > expected, accepted != expected { return Verdict(keep: 0, refetchFrom: expected) }
        for i in 1..<max(1, offsets.count) where offsets[i] != offsets[i - 1] + 1 {
            let gap = offsets[i - 1] + 1
            if accepted == gap { continue }
            return Verdict(keep: i, refetchFrom: gap)
        }
        return Verdict(keep: offsets.count, refetchFrom: nil)
    }
}
