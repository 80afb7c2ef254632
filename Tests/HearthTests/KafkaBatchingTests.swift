import Dispatch
import Foundation
import HearthKafka
import Testing

/// When a partition's batch is delivered, against librdkafka's in-process cluster: full, lingered, or
/// early while the sinks would otherwise idle.
@Suite struct KafkaBatchingTests {
    /// Produces `count` records to partition 0 of a one-partition topic `t`.
    static func cluster(records count: Int) async throws -> DevelopmentCluster {
        let cluster = try DevelopmentCluster(brokers: 1, partitions: 1, topics: ["t"])
        let producer = try KafkaProducer(brokers: cluster.bootstrapServers)
        try await producer.send((0..<count).map { i in
            KafkaRecord(topic: "t", partition: 0, key: nil, value: Array("record \(i)".utf8))
        })
        await producer.close()
        return cluster
    }

    static func consumer(brokers: String, maxBatchRecords: Int, lingerMillis: Int) throws -> KafkaConsumer {
        try KafkaConsumer(
            config: KafkaConsumerConfig(brokers: brokers, groupID: "test-\(UUID().uuidString)", topics: ["t"],
                                        maxBatchRecords: maxBatchRecords, lingerMillis: lingerMillis),
            rebalance: KafkaRebalanceHandler(onAssign: { _ in [:] }, onRevoke: { _ in }), logger: testLogger)
    }

    /// The first batch of `consumer` that is current (released, like any other), and how long after `started`
    /// it came (nil: none within `wait`); then stops the consumer.
    static func firstCurrentBatch(of consumer: KafkaConsumer, since started: ContinuousClock.Instant = .now,
                                  wait: Duration = .seconds(60)) async -> (batch: KafkaBatch, after: Duration)? {
        let reader = Task { () -> (KafkaBatch, Duration)? in
            for await batch in consumer.batches {
                consumer.release(batch)
                if consumer.isCurrent(batch) { return (batch, ContinuousClock.now - started) }
            }
            return nil
        }
        // Ends the stream (and so the reader) if no batch comes.
        let watchdog = Task {
            try await Task.sleep(for: wait)
            DispatchQueue.global().async { consumer.stop() }
        }
        let first = await reader.value
        watchdog.cancel()
        // Leave the group before the cluster goes away (stop blocks, so not on the cooperative pool).
        await withCheckedContinuation { done in DispatchQueue.global().async { consumer.stop(); done.resume() } }
        return first
    }

    /// The first batch a new consumer delivers, and how long after it started.
    static func firstBatch(brokers: String, maxBatchRecords: Int, lingerMillis: Int) async throws -> (batch: KafkaBatch, after: Duration)? {
        let started = ContinuousClock.now
        let consumer = try consumer(brokers: brokers, maxBatchRecords: maxBatchRecords, lingerMillis: lingerMillis)
        return await firstCurrentBatch(of: consumer, since: started)
    }

    @Test func aBacklogGoesBeforeItsLingerWhenTheSinksWouldIdle() async throws {
        let cluster = try await Self.cluster(records: 300)
        // A ten-minute linger and a batch of 1,000: only the early rule (a quarter, 250) can deliver.
        let first = try await Self.firstBatch(brokers: cluster.bootstrapServers, maxBatchRecords: 1000, lingerMillis: 600_000)
        let batch = try #require(first?.batch, "no batch within a minute")
        #expect((250...300).contains(batch.records.count))
        #expect(batch.records.map(\.offset) == Array(0..<Int64(batch.records.count)))
    }

    @Test func aSmallBatchStillWaitsForItsLinger() async throws {
        let cluster = try await Self.cluster(records: 100)
        // 100 records are below the early minimum of 250: they wait the whole 2 s.
        let first = try await Self.firstBatch(brokers: cluster.bootstrapServers, maxBatchRecords: 1000, lingerMillis: 2000)
        let (batch, after) = try #require(first, "no batch within a minute")
        #expect(batch.records.count == 100)
        #expect(after >= .milliseconds(2000))
    }

    @Test func recordsFetchedAfterASeekAreNotDroppedWithTheBatchBeforeIt() async throws {
        let cluster = try await Self.cluster(records: 300)
        // A batch of 2,000 (early only from 500) and a linger of 3 s: the 300 records wait in a pending batch.
        let consumer = try Self.consumer(brokers: cluster.bootstrapServers, maxBatchRecords: 2000, lingerMillis: 3000)
        let tp = TopicPartition("t", 0)
        try await waitUntil("the partition to be assigned", timeout: .seconds(60)) { consumer.assignment == [tp] }
        try await Task.sleep(for: .seconds(1))
        // Repositioned while its records are pending: they are stale, what is fetched from 100 on is not.
        consumer.seek(tp, to: 100)
        let offsets = await Self.firstCurrentBatch(of: consumer)?.batch.records.map(\.offset)
        #expect(offsets == Array(100..<300), "the first current batch holds the records from the new position")
    }
}
