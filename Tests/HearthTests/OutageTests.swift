import Foundation
import HearthCore
import HearthKafka
import HearthPipeline
import HearthPostgres
import Testing

/// PostgreSQL stopped for 30 s during ingest: partitions pause, readiness turns 503,
/// then everything resumes with nothing lost or counted twice.
@Suite(.serialized) struct OutageTests {
    @Test func postgresDownForThirtySecondsPausesAndResumesWithoutLoss() async throws {
        let cluster = try DevelopmentCluster(brokers: 1, partitions: 4)
        let pgDir = makeTemporaryDirectory("hearth-outage-pg")
        var server = try await ManagedPostgres.start(dataDirectory: pgDir, logger: testLogger)
        let port = server.port
        let pipelines = try IngestHarness.pipelines(["orders"])
        let settings = IngestHarness.settings(brokers: cluster.bootstrapServers, postgres: server.url, pipelines: pipelines)
        let runtime = try await HearthRuntime.start(settings: settings, logger: testLogger)

        let producing = Task {
            var g = EventGenerator(config: IngestHarness.config(seed: 11))
            var catalog = Set<String>()
            try await IngestHarness.produce(&g, count: 25_000, brokers: cluster.bootstrapServers, rate: 600, catalog: &catalog)
            return g.expected
        }

        try await IngestHarness.withPipelines(runtime) {
            // Generous waits: the whole suite runs in parallel on two cores, and these are not timings.
            try await waitUntil("first records applied", timeout: .seconds(240)) {
                runtime.pipelineStatus().first?.partitions.contains { ($0.position ?? 0) > 0 } ?? false
            }
            #expect(await runtime.readiness().ready)
            await server.stop()
            let stoppedAt = ContinuousClock.now

            try await waitUntil("readiness to fail while PostgreSQL is down", timeout: .seconds(60)) {
                await !runtime.readiness().ready
            }
            let reason = await runtime.readiness().reason ?? ""
            #expect(reason.contains("PostgreSQL") || reason.contains("unreachable"), "reason: \(reason)")
            try await waitUntil("a partition to pause", timeout: .seconds(60)) {
                runtime.pipelineStatus().first?.partitions.contains { $0.state != .running } ?? false
            }
            let positionsWhileDown = runtime.pipelineStatus().first!.partitions.map(\.position)
            try await Task.sleep(until: stoppedAt + .seconds(30))
            #expect(runtime.pipelineStatus().first!.partitions.map(\.position) == positionsWhileDown, "nothing applied while down")

            server = try await ManagedPostgres.start(dataDirectory: pgDir, port: port, logger: testLogger)
            let expected = try await producing.value
            try await IngestHarness.waitCaughtUp(runtime, pipeline: "orders", records: expected.recordsPerTopic["orders"]!)
            try await waitUntil("readiness to return", timeout: .seconds(120)) { await runtime.readiness().ready }
            #expect(runtime.pipelineStatus().first!.partitions.allSatisfy { $0.state == .running })
            try await IngestHarness.expectExactTotals(server.url, expected)
        }
        await runtime.shutdown()
        await server.stop()
    }
}
