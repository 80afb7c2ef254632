import CRdKafka
import Foundation
import Logging
import Synchronization

/// A group consumer that delivers per-partition batches as an `AsyncSequence`.
///
/// No offset is stored automatically (`enable.auto.offset.store=false`): the
/// owner calls `store` after its sinks have applied a batch. On assignment the
/// rebalance handler supplies each partition's starting offset (the sinks' own
/// stored positions); on revocation buffered batches become stale and the
/// handler waits for in-flight work. librdkafka's blocking poll runs on a
/// dedicated thread.
public final class KafkaConsumer: Sendable {
    public let config: KafkaConsumerConfig
    /// Batches in fetch order. Each must be passed to `release` once handled or dropped.
    public let batches: AsyncStream<KafkaBatch>

    private let handle: RDKafkaHandle
    private let state: Mutex<KafkaConsumerState>
    /// Bumped by every `seek`: the poll thread makes the seeks (`KafkaConsumerState.takeSeeks`).
    let seekRequests = Atomic<UInt64>(0)
    private let loop: PollLoop
    private let logger: Logger

    public init(config: KafkaConsumerConfig, rebalance: KafkaRebalanceHandler, logger: Logger) throws {
        self.config = config
        self.logger = logger
        var props: [String: String] = [
            "bootstrap.servers": config.brokers,
            "group.id": config.groupID,
            "enable.auto.offset.store": "false",
            "enable.auto.commit": "true",
            "auto.commit.interval.ms": "1000",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": "false",
            "allow.auto.create.topics": "true",
            "log.connection.close": "false",
            "session.timeout.ms": "10000",
            "heartbeat.interval.ms": "1000",
            // librdkafka prefetches up to 64 MiB per partition by default; bound it so memory stays
            // predictable however many partitions are assigned (delivered batches are bounded separately).
            "queued.max.messages.kbytes": "65536",
        ]
        props.merge(config.properties) { _, new in new }
        let conf = try RDKafkaConfig.make(props)
        state = Mutex(KafkaConsumerState(maxBufferedBytes: config.maxBufferedBytes))
        let (stream, continuation) = AsyncStream.makeStream(of: KafkaBatch.self)
        batches = stream
        loop = PollLoop(config: config, rebalance: rebalance, continuation: continuation, logger: logger)
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let rk, let partitions, let opaque else { return }
            Unmanaged<PollLoop>.fromOpaque(opaque).takeUnretainedValue().rebalance(rk, err, partitions)
        }
        rd_kafka_conf_set_error_cb(conf) { _, err, reason, opaque in
            guard let opaque else { return }
            let loop = Unmanaged<PollLoop>.fromOpaque(opaque).takeUnretainedValue()
            loop.logger.warning("Kafka reported an error.", metadata: [
                "code": "\(RDKafkaConfig.errorName(rd_kafka_resp_err_t(rawValue: err)))",
                "reason": "\(reason.map { String(cString: $0) } ?? "")",
            ])
        }
        RDKafkaConfig.forwardLogs(conf)
        // Ownership: the loop is kept alive by `self` for as long as the handle exists.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(loop).toOpaque())
        handle = RDKafkaHandle(try RDKafkaConfig.client(RD_KAFKA_CONSUMER, conf))
        rd_kafka_poll_set_consumer(handle.pointer)
        let err = RDKafkaTopicPartitionList.with(config.topics.map { TopicPartition($0, -1) }) { rd_kafka_subscribe(handle.pointer, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: RDKafkaConfig.errorName(err), message: RDKafkaConfig.errorString(err))
        }
        loop.start(consumer: self)
    }

    /// Stops polling, leaves the group (revoking partitions through the handler) and ends `batches`.
    public func stop() {
        loop.stop()
    }

    // MARK: Used by the poll loop

    var pointer: OpaquePointer { handle.pointer }

    func withState<T>(_ body: (inout KafkaConsumerState) -> T) -> T { state.withLock { body(&$0) } }

    // MARK: Owner's controls

    /// True while `batch` belongs to the partition's current assignment.
    public func isCurrent(_ batch: KafkaBatch) -> Bool {
        state.withLock { $0.isCurrent(batch.partition, batch.generation) }
    }

    /// Marks a batch as handled (or dropped), freeing its share of the buffer budget.
    public func release(_ batch: KafkaBatch) {
        state.withLock { $0.released(bytes: batch.bytes, records: batch.records.count) }
    }

    /// Stores `nextOffset` as the group's advisory committed position.
    public func store(_ tp: TopicPartition, nextOffset: Int64) {
        guard state.withLock({ $0.generation(of: tp) != nil }) else { return }
        _ = RDKafkaTopicPartitionList.with([tp], offsets: [tp: nextOffset]) { rd_kafka_offsets_store(handle.pointer, $0) }
    }

    /// Pauses fetching of one partition (its sink is slow or down).
    public func pause(_ tp: TopicPartition) {
        guard state.withLock({ $0.setPausedBySink(tp, true) }) else { return }
        _ = RDKafkaTopicPartitionList.with([tp]) { rd_kafka_pause_partitions(handle.pointer, $0) }
    }

    /// Resumes a partition paused by `pause`.
    public func resume(_ tp: TopicPartition) {
        guard state.withLock({ $0.setPausedBySink(tp, false) }) else { return }
        _ = RDKafkaTopicPartitionList.with([tp]) { rd_kafka_resume_partitions(handle.pointer, $0) }
    }

    /// Restarts a partition at `offset`; batches already delivered for it become stale.
    public func seek(_ tp: TopicPartition, to offset: Int64) {
        guard state.withLock({ $0.requestSeek(tp, to: offset) }) else { return }
        seekRequests.add(1, ordering: .releasing)
    }

    public var assignment: [TopicPartition] { state.withLock { $0.assigned.keys.sorted() } }

    public func isPaused(_ tp: TopicPartition) -> Bool {
        state.withLock { $0.isPausedBySink(tp) || $0.pausedForBuffer }
    }

    public var bufferedBytes: Int { state.withLock { $0.bufferedBytes } }

    /// The partition's high watermark as last seen by the fetcher (no network call).
    public func highWatermark(_ tp: TopicPartition) -> Int64? {
        var low: Int64 = -1, high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle.pointer, tp.topic, tp.partition, &low, &high)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
    }
}

/// The poll thread's own state. Only the poll thread touches `pending`, and the
/// rebalance callback runs on that thread inside `rd_kafka_consumer_poll`.
final class PollLoop: @unchecked Sendable {
    let config: KafkaConsumerConfig
    let rebalanceHandler: KafkaRebalanceHandler
    let continuation: AsyncStream<KafkaBatch>.Continuation
    let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private weak var consumer: KafkaConsumer?
    private var pending: [TopicPartition: KafkaBatch] = [:]
    private var pendingCount = 0

    init(config: KafkaConsumerConfig, rebalance: KafkaRebalanceHandler,
         continuation: AsyncStream<KafkaBatch>.Continuation, logger: Logger) {
        self.config = config
        self.rebalanceHandler = rebalance
        self.continuation = continuation
        self.logger = logger
    }

    func start(consumer: KafkaConsumer) {
        self.consumer = consumer
        let thread = Thread { [self] in run(consumer) }
        thread.name = "hearth.kafka.consumer"
        thread.start()
    }

    func stop() {
        if stopping.exchange(true, ordering: .acquiringAndReleasing) == false { finished.wait() }
    }

    private func run(_ consumer: KafkaConsumer) {
        let rk = consumer.pointer
        // Messages and callbacks (rebalances) of the consumer arrive on its queue; reading it
        // in batches costs far less per message than one poll per message.
        let queue = rd_kafka_queue_get_consumer(rk)!
        let capacity = 1024
        var messages = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: capacity)
        var batchStart = ContinuousClock.now
        while !stopping.load(ordering: .acquiring) {
            applySeeks(consumer)
            applyBufferAction(consumer)
            let timeout: Int32
            if pendingCount == 0 {
                timeout = 100
            } else {
                let waited = ContinuousClock.now - batchStart
                let left = config.lingerMillis - Int(waited.components.seconds * 1000 + waited.components.attoseconds / 1_000_000_000_000_000)
                // With a batch that could go early, look at the buffer often.
                timeout = Int32(max(0, min(left, pendingCount >= earlyMinimum ? 10 : 100)))
            }
            let n = messages.withUnsafeMutableBufferPointer { rd_kafka_consume_batch_queue(queue, timeout, $0.baseAddress, capacity) }
            for i in 0..<max(0, n) {
                guard let message = messages[i] else { continue }
                if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    if pendingCount == 0 { batchStart = .now }
                    append(message, consumer)
                } else if message.pointee.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    let err = message.pointee.err
                    logger.warning("Consumer error.", metadata: ["code": "\(RDKafkaConfig.errorName(err))",
                                                                 "reason": "\(RDKafkaConfig.errorString(err))"])
                }
                rd_kafka_message_destroy(message)
            }
            if pendingCount > 0, ContinuousClock.now - batchStart >= .milliseconds(config.lingerMillis) {
                flush(consumer)
            } else if pendingCount >= earlyMinimum {
                deliverWhileStarving(consumer)
            }
        }
        flush(consumer)
        rd_kafka_queue_destroy(queue)
        // Leaves the group; the revoke callback runs here and waits for in-flight work.
        rd_kafka_consumer_close(rk)
        continuation.finish()
        finished.signal()
    }

    /// A partition as librdkafka names it: cheap to hash, unlike topic strings.
    private struct PartitionKey: Hashable {
        let topic: OpaquePointer
        let partition: Int32
    }

    private var partitionKeys: [PartitionKey: TopicPartition] = [:]

    private var seekRequestsSeen: UInt64 = 0

    /// Makes the seeks asked for, here between two reads of the queue, dropping the partitions' pending
    /// records: they are from before the seek. Made from another thread, a seek could land while records
    /// read before it were still being added, and those would go out in a current batch after a gap;
    /// or the records read after it would join the stale batch and be dropped with it. Either gap, met a
    /// second time at the same offset, would be taken for a real one (`Contiguity`) and skipped.
    private func applySeeks(_ consumer: KafkaConsumer) {
        let requested = consumer.seekRequests.load(ordering: .acquiring)
        guard requested != seekRequestsSeen else { return }
        seekRequestsSeen = requested
        for (tp, offset) in consumer.withState({ $0.takeSeeks() }) {
            if let stale = pending.removeValue(forKey: tp) { pendingCount -= stale.records.count }
            let error = RDKafkaTopicPartitionList.with([tp], offsets: [tp: offset]) { rd_kafka_seek_partitions(consumer.pointer, $0, 0) }
            if let error {
                logger.warning("Seeking failed.", metadata: ["partition": "\(tp)", "reason": "\(String(cString: rd_kafka_error_string(error)))"])
                rd_kafka_error_destroy(error)
            }
        }
    }

    private func append(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ consumer: KafkaConsumer) {
        let key = PartitionKey(topic: message.pointee.rkt!, partition: message.pointee.partition)
        let tp: TopicPartition
        if let known = partitionKeys[key] { tp = known } else {
            tp = TopicPartition(String(cString: rd_kafka_topic_name(key.topic)), key.partition)
            partitionKeys[key] = tp
        }
        // A seek asked for since this read began: the record is from before it.
        if consumer.seekRequests.load(ordering: .acquiring) != seekRequestsSeen, consumer.withState({ $0.seeks[tp] != nil }) {
            return
        }
        let record = copyRecord(message, topic: tp.topic)
        let size = record.value.count + (record.key?.count ?? 0) + 64
        if pending[tp] == nil {
            guard let generation = consumer.withState({ $0.generation(of: tp) }) else { return }
            pending[tp] = KafkaBatch(partition: tp, generation: generation, records: [], bytes: 0)
            pending[tp]!.records.reserveCapacity(min(config.maxBatchRecords, 1024))
        }
        // One look-up for the append (the batch is changed in place).
        func add(_ batch: inout KafkaBatch) -> Int {
            batch.records.append(record)
            batch.bytes += size
            return batch.records.count
        }
        pendingCount += 1
        if add(&pending[tp]!) >= config.maxBatchRecords {
            let full = pending.removeValue(forKey: tp)!
            pendingCount -= full.records.count
            deliver(full, consumer)
        }
    }

    private func deliver(_ batch: KafkaBatch, _ consumer: KafkaConsumer) {
        consumer.withState { $0.delivered(bytes: batch.bytes, records: batch.records.count) }
        continuation.yield(batch)
    }

    /// The fewest records a partition's batch goes with before it is full or has lingered.
    private var earlyMinimum: Int { max(1, config.maxBatchRecords / 4) }

    /// While the sinks are about to run dry (`KafkaConsumerState.isStarving`), the largest pending
    /// batches with at least `earlyMinimum` records go now instead of at linger: the sinks would
    /// otherwise idle while a backlog waits here. Smaller ones still wait, so a live stream's batches
    /// are not cut small.
    private func deliverWhileStarving(_ consumer: KafkaConsumer) {
        while consumer.withState({ $0.isStarving(maxBatchRecords: config.maxBatchRecords) }),
              let (tp, batch) = pending.max(by: { $0.value.records.count < $1.value.records.count }),
              batch.records.count >= earlyMinimum {
            pending[tp] = nil
            pendingCount -= batch.records.count
            deliver(batch, consumer)
        }
    }

    private func flush(_ consumer: KafkaConsumer) {
        guard pendingCount > 0 else { return }
        for (_, batch) in pending.sorted(by: { $0.key < $1.key }) { deliver(batch, consumer) }
        pending.removeAll(keepingCapacity: true)
        pendingCount = 0
    }

    private func applyBufferAction(_ consumer: KafkaConsumer) {
        switch consumer.withState({ $0.bufferAction() }) {
        case .none: break
        case .pause(let tps):
            logger.info("Pausing partitions: the delivered-batch buffer is full.", metadata: ["partitions": "\(tps.count)"])
            _ = RDKafkaTopicPartitionList.with(tps) { rd_kafka_pause_partitions(consumer.pointer, $0) }
        case .resume(let tps):
            logger.info("Resuming partitions: the delivered-batch buffer has drained.", metadata: ["partitions": "\(tps.count)"])
            _ = RDKafkaTopicPartitionList.with(tps) { rd_kafka_resume_partitions(consumer.pointer, $0) }
        }
    }

    func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                   _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        guard let consumer else { return }
        let partitions = RDKafkaTopicPartitionList.read(list)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            var offsets: [TopicPartition: Int64] = [:]
            while true {
                do {
                    offsets = try rebalanceHandler.onAssign(partitions)
                    break
                } catch {
                    logger.warning("Could not read sink positions for assigned partitions; retrying.",
                                   metadata: ["reason": "\(error)"])
                    if stopping.load(ordering: .acquiring) { return }
                    Thread.sleep(forTimeInterval: 1)
                }
            }
            for i in 0..<Int(list.pointee.cnt) {
                let tp = TopicPartition(String(cString: list.pointee.elems[i].topic), list.pointee.elems[i].partition)
                list.pointee.elems[i].offset = offsets[tp] ?? Int64(RD_KAFKA_OFFSET_BEGINNING)
            }
            consumer.withState { $0.assign(partitions) }
            rd_kafka_assign(rk, list)
            logger.info("Partitions assigned.", metadata: ["partitions": "\(partitions.map(\.description).joined(separator: ","))"])
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            for tp in partitions { pending[tp] = nil }
            pendingCount = pending.values.reduce(0) { $0 + $1.records.count }
            consumer.withState { $0.revoke(partitions) }
            rebalanceHandler.onRevoke(partitions)
            rd_kafka_assign(rk, nil)
            logger.info("Partitions revoked.", metadata: ["partitions": "\(partitions.count)"])
        default:
            logger.warning("Rebalance error.", metadata: ["code": "\(RDKafkaConfig.errorName(err))"])
            consumer.withState { $0.revoke(partitions) }
            rd_kafka_assign(rk, nil)
        }
    }
}
