import Foundation
import HearthCore
import HearthKafka
import ServiceLifecycle
import Testing

/// Two instances in one consumer group: partitions move between them on rebalances, each sink
/// resumes from its own stored position, and nothing is lost or counted twice.
@Suite(.serialized) struct RebalanceTests {
    @Test func partitionsMoveBetweenInstancesWithoutLossOrDoubleCounting() async throws {
        let cluster = try DevelopmentCluster(brokers: 1, partitions: 6)
        let url = try await SharedPostgres.shared.freshDatabase()
        let pipelines = try IngestHarness.pipelines(["orders"], maxRecords: 300, lingerMillis: 20,
                                                    kafka: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"])
        let producing = Task {
            var g = EventGenerator(config: IngestHarness.config(seed: 23))
            var catalog = Set<String>()
            try await IngestHarness.produce(&g, count: 40_000, brokers: cluster.bootstrapServers, rate: 2500, catalog: &catalog)
            return g.expected
        }
        func start() async throws -> (HearthRuntime, ServiceGroup, Task<Void, any Error>) {
            let runtime = try await HearthRuntime.start(
                settings: IngestHarness.settings(brokers: cluster.bootstrapServers, postgres: url, pipelines: pipelines),
                logger: testLogger)
            let group = ServiceGroup(configuration: .init(services: runtime.runners.map { .init(service: $0) }, logger: testLogger))
            return (runtime, group, Task { try await group.run() })
        }
        func assigned(_ r: HearthRuntime) -> Int { r.pipelineStatus()[0].partitions.count }

        let (a, groupA, taskA) = try await start()
        try await waitUntil("instance A to own every partition", timeout: .seconds(180)) { assigned(a) == 6 }
        try await Task.sleep(for: .seconds(2))

        let (b, groupB, taskB) = try await start()
        try await waitUntil("the partitions to be shared", timeout: .seconds(60)) {
            assigned(a) > 0 && assigned(b) > 0 && assigned(a) + assigned(b) == 6
        }
        try await Task.sleep(for: .seconds(3))

        await groupA.triggerGracefulShutdown()
        try await taskA.value
        try await waitUntil("instance B to take over", timeout: .seconds(60)) { assigned(b) == 6 }

        let expected = try await producing.value
        try await IngestHarness.waitCaughtUp(b, pipeline: "orders", records: expected.recordsPerTopic["orders"]!)
        try await IngestHarness.expectExactTotals(url, expected)

        await groupB.triggerGracefulShutdown()
        try await taskB.value
        await a.shutdown()
        await b.shutdown()
    }
}
