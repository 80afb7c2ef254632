import Foundation
import HearthCore
import HearthKafka
import HearthPostgres
import HearthSupport
import Testing

/// Exactly-once effects: the process is killed at random points during ingest and restarted;
/// the aggregates still equal the generator's expected totals.
@Suite(.serialized) struct CrashTests {
    @Test func killedDuringIngestManyTimesNothingLostNothingCountedTwice() async throws {
        let cluster = try DevelopmentCluster(brokers: 1, partitions: 8)
        let url = try await SharedPostgres.shared.freshDatabase()
        // Small batches and a short session so every run applies many batches and rejoins quickly.
        // The analytics sink alone: the archive has a crash test of its own (`ArchiveCrashTests`).
        let pipelines = try IngestHarness.pipelines(["orders"], maxRecords: 200, lingerMillis: 10,
                                                    kafka: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"],
                                                    sinks: ["analytics"])
        let data = makeTemporaryDirectory("hearth-crash")
        func args(_ pipelines: URL) -> [String] {
            ["serve", "--brokers", cluster.bootstrapServers, "--postgres", url, "--pipelines-dir", pipelines.path,
             "--data-dir", data.path, "--port", "0"]
        }
        let positions = PostgresConnection(url: url)

        // More records than ten short runs can apply, so every kill lands mid-ingest (the development
        // cluster keeps about 5 MiB per partition: eight partitions hold them all).
        var generator = EventGenerator(config: IngestHarness.config(seed: 7))
        var catalog = Set<String>()
        try await IngestHarness.produce(&generator, count: 240_000, brokers: cluster.bootstrapServers, catalog: &catalog)
        let expected = generator.expected
        let produced = Int64(expected.recordsPerTopic["orders"]!)

        var midIngestKills = 0
        var rng = SystemRandomNumberGenerator()
        var attempts = 0
        while midIngestKills < 10 {
            attempts += 1
            #expect(attempts < 25, "could not kill the process during ingest")
            if attempts >= 25 { break }
            let before = try await Self.applied(positions)
            let hearth = try HearthProcess(args(pipelines))
            // Wait for this run to apply something, then kill it at a random moment.
            try? await waitUntil("progress", timeout: .seconds(20), every: .milliseconds(50)) {
                try await Self.applied(positions) > before
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...700, using: &rng)))
            let atKill = try await Self.applied(positions)
            await hearth.kill()
            if atKill > before && atKill < produced { midIngestKills += 1 }
        }

        // A final run catches up, in the pipeline's usual batches; the totals must be exact.
        let final = try HearthProcess(args(try IngestHarness.pipelines(["orders"], sinks: ["analytics"])))
        // Serving (signal handlers installed) before it is asked to stop.
        #expect(try await final.nextLine().hasPrefix("Hearth is listening on"))
        try await waitUntil("the final run to apply every record", timeout: .seconds(120)) {
            try await Self.applied(positions) == produced
        }
        let stopped = await final.interrupt()
        #expect(stopped == .exited(0), "graceful stop: \(final.stderr.suffix(500))")
        try await IngestHarness.expectExactTotals(url, expected)
        #expect(midIngestKills >= 10)
        await positions.close()
    }

    /// The sum of the orders sink's stored positions (= records applied, offsets start at 0).
    static func applied(_ c: PostgresConnection) async throws -> Int64 {
        let rows = try? await c.query("SELECT coalesce(sum(next_offset), 0) FROM hearth_positions WHERE sink = 'analytics'")
        return (try? rows?.first?.int(0)) ?? 0
    }
}
