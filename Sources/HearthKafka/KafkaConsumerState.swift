/// The consumer's shared, lock-protected state: assignment generations,
/// pauses and buffered bytes. Pure value logic, testable without I/O; the
/// consumer performs the returned actions outside the lock.
struct KafkaConsumerState: Sendable {
    struct Partition: Sendable {
        var generation: UInt64
        var pausedBySink = false
    }

    enum BufferAction: Equatable { case none, pause([TopicPartition]), resume([TopicPartition]) }

    private(set) var assigned: [TopicPartition: Partition] = [:]
    private(set) var bufferedBytes = 0
    private(set) var bufferedRecords = 0
    private(set) var pausedForBuffer = false
    private var nextGeneration: UInt64 = 1
    let maxBufferedBytes: Int

    init(maxBufferedBytes: Int) { self.maxBufferedBytes = maxBufferedBytes }

    mutating func assign(_ partitions: [TopicPartition]) {
        for tp in partitions {
            assigned[tp] = Partition(generation: nextGeneration)
            nextGeneration += 1
        }
    }

    mutating func revoke(_ partitions: [TopicPartition]) {
        for tp in partitions {
            assigned[tp] = nil
            seeks[tp] = nil
        }
        if assigned.isEmpty { pausedForBuffer = false }
    }

    /// A new generation for a partition that is repositioned: its buffered batches become stale.
    mutating func reposition(_ tp: TopicPartition) -> Bool {
        guard assigned[tp] != nil else { return false }
        assigned[tp]!.generation = nextGeneration
        nextGeneration += 1
        return true
    }

    /// Seeks asked for and not yet made by the poll thread: where each partition is to be fetched from.
    private(set) var seeks: [TopicPartition: Int64] = [:]

    /// Repositions `tp` (its batches become stale at once) and leaves the seek to the poll thread.
    mutating func requestSeek(_ tp: TopicPartition, to offset: Int64) -> Bool {
        guard reposition(tp) else { return false }
        seeks[tp] = offset
        return true
    }

    /// The seeks asked for since the last call.
    mutating func takeSeeks() -> [TopicPartition: Int64] {
        defer { seeks = [:] }
        return seeks
    }

    func generation(of tp: TopicPartition) -> UInt64? { assigned[tp]?.generation }

    func isCurrent(_ tp: TopicPartition, _ generation: UInt64) -> Bool { assigned[tp]?.generation == generation }

    /// Marks a partition paused or resumed by its sink; returns whether the consumer must act on it.
    mutating func setPausedBySink(_ tp: TopicPartition, _ paused: Bool) -> Bool {
        guard var p = assigned[tp], p.pausedBySink != paused else { return false }
        p.pausedBySink = paused
        assigned[tp] = p
        // While the buffer holds everything paused, a resume waits for the buffer to drain.
        return paused || !pausedForBuffer
    }

    func isPausedBySink(_ tp: TopicPartition) -> Bool { assigned[tp]?.pausedBySink ?? false }

    mutating func delivered(bytes: Int, records: Int = 0) {
        bufferedBytes += bytes
        bufferedRecords += records
    }

    mutating func released(bytes: Int, records: Int = 0) {
        bufferedBytes = max(0, bufferedBytes - bytes)
        bufferedRecords = max(0, bufferedRecords - records)
    }

    /// Whether the sinks are about to run dry: fewer than two full batches' records delivered and not
    /// yet released (one in flight and one waiting, or less), with the buffer under half its limit.
    func isStarving(maxBatchRecords: Int) -> Bool {
        bufferedRecords < 2 * maxBatchRecords && bufferedBytes < maxBufferedBytes / 2
    }

    /// Pause everything above the limit; resume (except sink-paused partitions) below half of it.
    mutating func bufferAction() -> BufferAction {
        if !pausedForBuffer, bufferedBytes >= maxBufferedBytes, !assigned.isEmpty {
            pausedForBuffer = true
            return .pause(assigned.keys.sorted())
        }
        if pausedForBuffer, bufferedBytes <= maxBufferedBytes / 2 {
            pausedForBuffer = false
            return .resume(assigned.filter { !$0.value.pausedBySink }.keys.sorted())
        }
        return .none
    }
}
