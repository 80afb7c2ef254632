import Dispatch
import Foundation
import HearthEvents
import HearthKafka
import HearthSupport
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs one pipeline: consumes its topics, dead-letters invalid records,
/// applies every partition batch to each sink with the sink's own position,
/// pauses partitions while a sink is down, and stops gracefully.
public final class PipelineRunner: Service, Sendable {
    public let definition: PipelineDefinition
    private let brokers: String
    private let sinks: [any Sink]
    private let producer: KafkaProducer
    private let logger: Logger
    private let state = Mutex(RunnerState())
    private let consumer = Mutex<KafkaConsumer?>(nil)
    private let metrics: PipelineMetrics

    public init(definition: PipelineDefinition, brokers: String, sinks: [any Sink], producer: KafkaProducer, logger: Logger) {
        self.definition = definition
        self.brokers = brokers
        self.sinks = sinks
        self.producer = producer
        self.logger = logger
        metrics = PipelineMetrics(pipeline: definition.name)
    }

    public func run() async throws {
        let config = KafkaConsumerConfig(
            brokers: brokers, groupID: definition.group, topics: definition.topics,
            maxBatchRecords: definition.maxBatchRecords, lingerMillis: definition.lingerMillis,
            maxBufferedBytes: definition.maxBufferedBytes, properties: definition.kafka)
        let handler = KafkaRebalanceHandler(
            onAssign: { [self] partitions in try Blocking.wait { try await self.assigned(partitions) } },
            onRevoke: { [self] partitions in revoked(partitions) })
        let consumer = try KafkaConsumer(config: config, rebalance: handler, logger: logger)
        self.consumer.withLock { $0 = consumer }
        logger.info("Pipeline started.", metadata: ["pipeline": "\(definition.name)", "topics": "\(definition.topics)"])
        let codec = EventCodec(maxRecordBytes: definition.maxRecordBytes)
        let limit = definition.concurrency
        await withGracefulShutdownHandler {
            // Batches of different partitions are applied concurrently (up to `concurrency`);
            // those of one partition strictly in order.
            await withTaskGroup(of: TopicPartition.self) { group in
                var busy = Set<TopicPartition>()
                for await batch in consumer.batches {
                    while busy.contains(batch.partition) || busy.count >= limit, let done = await group.next() {
                        busy.remove(done)
                    }
                    busy.insert(batch.partition)
                    group.addTask {
                        if consumer.isCurrent(batch) { await self.process(batch, consumer, codec) }
                        consumer.release(batch)
                        return batch.partition
                    }
                }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            // `stop` blocks until the poll thread has left the group; keep it off the cooperative pool.
            DispatchQueue.global().async { consumer.stop() }
        }
        self.consumer.withLock { $0 = nil }
        for sink in sinks {
            do { try await sink.close() } catch {
                logger.error("A sink could not write out what it held; it is consumed again on the next start.",
                             metadata: ["sink": "\(sink.name)", "reason": "\(error)"])
            }
        }
        logger.info("Pipeline stopped.", metadata: ["pipeline": "\(definition.name)"])
    }

    // MARK: Rebalance

    private func assigned(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        var bySink: [String: [TopicPartition: Int64]] = [:]
        for sink in sinks {
            bySink[sink.name] = try await sink.positions(pipeline: definition.name, partitions: partitions)
        }
        let names = sinks.map(\.name)
        return state.withLock { s in
            var starts: [TopicPartition: Int64] = [:]
            for tp in partitions {
                s.partitions[tp] = s.partitions[tp] ?? .init()
                s.partitions[tp]!.stalledReason = nil
                for name in names { s.positions[name, default: [:]][tp] = bySink[name]?[tp] }
                if let p = s.position(tp, sinks: names) { starts[tp] = p }
            }
            return starts
        }
    }

    private func revoked(_ partitions: [TopicPartition]) {
        // Batches of these partitions are now stale; wait for the one in flight, if any.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline,
              state.withLock({ !$0.inFlight.isDisjoint(with: partitions) }) {
            usleep(10_000)
        }
        state.withLock { s in
            for tp in partitions {
                s.partitions[tp] = nil
                for name in s.positions.keys { s.positions[name]?[tp] = nil }
            }
        }
    }

    // MARK: Batches

    private func process(_ batch: KafkaBatch, _ consumer: KafkaConsumer, _ codec: EventCodec) async {
        let tp = batch.partition
        state.withLock { _ = $0.inFlight.insert(tp) }
        defer { state.withLock { _ = $0.inFlight.remove(tp) } }
        let started = ContinuousClock.now
        let names = sinks.map(\.name)
        let (expected, accepted) = state.withLock { ($0.position(tp, sinks: names), $0.acceptedGaps[tp]) }
        let fresh = expected.map { e in batch.records.filter { $0.offset >= e } } ?? batch.records
        let verdict = Contiguity.check(fresh.map(\.offset), expected: expected, accepted: accepted)
        if let from = verdict.refetchFrom {
            logger.warning("Offsets skipped a record; fetching again.", metadata: ["partition": "\(tp)", "from": "\(from)"])
            state.withLock { $0.acceptedGaps[tp] = from }
            consumer.seek(tp, to: from)
        }
        let kept = verdict.keep == fresh.count ? fresh : Array(fresh.prefix(verdict.keep))
        guard let last = kept.last else { return }
        let nextOffset = last.offset + 1

        var records: [SinkRecord] = []
        records.reserveCapacity(kept.count)
        var deadLetters: [KafkaRecord] = []
        var codes: [String: Int] = [:]
        for record in kept {
            let result: Result<Event, EventError>
            do { result = .success(try codec.decode(record.value, topic: record.topic)) } catch { result = .failure(error) }
            if case .failure(let error) = result {
                codes[error.code, default: 0] += 1
                if definition.deadLetter {
                    deadLetters.append(DeadLetter.record(for: record, error: error, pipeline: definition.name,
                                                         topic: definition.deadLetterTopic(for: record.topic)))
                }
            }
            records.append(SinkRecord(record: record, event: result))
        }
        metrics.consumed(tp, kept.count)

        // Dead letters first: the invalid records' offsets count as processed only once they are safely elsewhere.
        if !deadLetters.isEmpty {
            let toSend = deadLetters
            let ok = await retrying(tp, consumer, what: "the dead-letter topic") {
                do {
                    try await self.producer.send(toSend)
                } catch let error as KafkaError where error.code == "MSG_SIZE_TOO_LARGE" {
                    try await self.producer.send(toSend.map(DeadLetter.truncated))
                }
            }
            guard ok else { return }
        }

        for sink in sinks {
            let expected = state.withLock { $0.positions[sink.name]?[tp] }
            if let expected, expected >= nextOffset { continue }
            let mine = expected.map { p in records.first!.record.offset >= p ? records : records.filter { $0.record.offset >= p } } ?? records
            let sinkBatch = SinkBatch(pipeline: definition.name, partition: tp, expectedPosition: expected,
                                      nextOffset: nextOffset, records: mine)
            let applied = await retrying(tp, consumer, what: "sink \(sink.name)") { try await sink.apply(sinkBatch) }
            guard applied else { return }
            state.withLock { $0.positions[sink.name, default: [:]][tp] = nextOffset }
            metrics.applied(tp, sink: sink.name, mine.count, duration: ContinuousClock.now - started)
        }

        let invalid = codes.values.reduce(0, +)
        state.withLock { s in
            s.partitions[tp, default: .init()].consumed += Int64(kept.count)
            s.partitions[tp, default: .init()].applied += Int64(kept.count - invalid)
            s.partitions[tp, default: .init()].deadLettered += Int64(invalid)
        }
        for (code, n) in codes { metrics.deadLettered(tp, code: code, n) }
        consumer.store(tp, nextOffset: nextOffset)
        if let high = consumer.highWatermark(tp) { metrics.lag(tp, max(0, high - nextOffset)) }
    }

    /// Runs `body` until it succeeds, pausing the partition while it fails. Returns false when the
    /// batch must be dropped instead (partition revoked or repositioned, or shutting down).
    private func retrying(_ tp: TopicPartition, _ consumer: KafkaConsumer, what: String,
                          _ body: @Sendable () async throws -> Void) async -> Bool {
        var delay = Duration.milliseconds(250)
        var paused = false
        defer {
            if paused {
                consumer.resume(tp)
                state.withLock { $0.partitions[tp]?.stalledReason = nil }
                logger.info("Partition resumed.", metadata: ["partition": "\(tp)"])
            }
        }
        while true {
            do {
                try await body()
                return true
            } catch let conflict as SinkPositionConflict {
                logger.warning("A sink's stored position moved; re-reading positions.", metadata: [
                    "partition": "\(tp)", "detail": "\(conflict)"])
                if let starts = try? await assigned([tp]) {
                    consumer.seek(tp, to: starts[tp] ?? 0)
                }
                return false
            } catch {
                if !paused {
                    paused = true
                    consumer.pause(tp)
                    logger.warning("Partition paused: \(what) failed.", metadata: ["partition": "\(tp)", "reason": "\(error)"])
                }
                state.withLock { $0.partitions[tp]?.stalledReason = "\(what) failed: \(error)" }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
                let current = state.withLock { $0.partitions[tp] != nil }
                if !current || Task.isShuttingDownGracefully || Task.isCancelled { return false }
            }
        }
    }

    // MARK: Status

    /// Per partition: position, high watermark, lag, counts and state.
    public func status() -> PipelineStatus {
        let consumer = consumer.withLock { $0 }
        let names = sinks.map(\.name)
        let assignment = consumer?.assignment ?? []
        let snapshot = state.withLock { $0 }
        let partitions = assignment.map { tp -> PartitionStatus in
            let p = snapshot.partitions[tp] ?? .init()
            let position = snapshot.position(tp, sinks: names)
            let high = consumer?.highWatermark(tp)
            let lag = high.map { h in max(0, h - (position ?? 0)) }
            let state: PartitionStatus.State = p.stalledReason != nil ? .stalled : (consumer?.isPaused(tp) ?? false) ? .paused : .running
            return PartitionStatus(topic: tp.topic, partition: tp.partition, position: position, highWatermark: high,
                                   lag: lag, consumed: p.consumed, applied: p.applied, deadLettered: p.deadLettered,
                                   state: state, reason: p.stalledReason)
        }
        return PipelineStatus(name: definition.name, topics: definition.topics, group: definition.group,
                              sinks: names, assigned: !assignment.isEmpty, partitions: partitions)
    }

    /// Refreshes the lag gauges (called periodically, since idle partitions get no batches).
    public func updateLagMetrics() {
        for p in status().partitions {
            if let lag = p.lag { metrics.lag(TopicPartition(p.topic, p.partition), lag) }
        }
    }

    /// Whether every sink's store answers.
    public func sinksReachable() async -> (Bool, String?) {
        for sink in sinks where !(await sink.isReachable()) {
            return (false, "the \(sink.name) store of pipeline \(definition.name) is unreachable")
        }
        return (true, nil)
    }
}
