import Foundation
@testable import HearthArchive
import HearthCore
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthPostgres
import Logging
import Testing

/// The archive's exactly-once protocol through the real process and a real Kafka protocol: `hearth serve`
/// is killed at random moments and at each step of writing a segment (half-written temporary file, after
/// its fsync, after the rename); after a final run `hearth archive verify` passes and the archive holds
/// exactly the produced records.
@Suite(.serialized) struct ArchiveCrashTests {
    @Test func killedWhileArchivingTheArchiveHoldsExactlyTheProducedRecords() async throws {
        let cluster = try DevelopmentCluster(brokers: 1, partitions: 4)
        let url = try await SharedPostgres.shared.freshDatabase()
        let pipelines = try IngestHarness.pipelines(["orders"], maxRecords: 100, lingerMillis: 10,
                                                    kafka: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"],
                                                    sinks: ["archive"])
        let data = makeTemporaryDirectory("hearth-archive-crash")
        let layout = ArchiveLayout(dataDirectory: data)
        // Each run joins a consumer group of its own, so it need not wait out the killed run's session: positions
        // come from the manifest, the group's commits are only advisory.
        var run = 0
        func args() throws -> [String] {
            run += 1
            let dir = makeTemporaryDirectory("hearth-pipelines")
            let text = try String(contentsOf: pipelines.appendingPathComponent("orders.yaml"), encoding: .utf8)
                .replacingOccurrences(of: "group: hearth-orders", with: "group: hearth-orders-\(run)")
            try text.write(to: dir.appendingPathComponent("orders.yaml"), atomically: true, encoding: .utf8)
            return ["serve", "--brokers", cluster.bootstrapServers, "--postgres", url, "--pipelines-dir", dir.path,
                    "--data-dir", data.path, "--port", "0"]
        }
        // Segments of 2,000 records: each run writes several, so kills land between and inside them.
        let env = ["HEARTH_ARCHIVE_SEGMENT_RECORDS": "2000", "HEARTH_ARCHIVE_IDLE_FLUSH_SECONDS": "1",
                   "HEARTH_ARCHIVE_SEGMENT_AGE_SECONDS": "3"]

        var generator = EventGenerator(config: IngestHarness.config(seed: 21))
        var produced: [String: Int] = [:]   // order values produced, with multiplicity (duplicates are records too)
        let producer = try GeneratorService.makeProducer(brokers: cluster.bootstrapServers)
        _ = try await GeneratorService.produce(&generator, producer: producer, rate: 0, count: 60_000, observe: { r in
            if r.topic == "orders" { produced[String(decoding: r.value, as: UTF8.self), default: 0] += 1 }
        })
        await producer.close()
        let total = produced.values.reduce(0, +)
        #expect(total == generator.expected.recordsPerTopic["orders"])

        func archived() -> Int {
            ((try? Manifest.read(layout.manifestPath).entries) ?? []).filter { $0.topic == "orders" }.reduce(0) { $0 + $1.records }
        }

        // Each step of a segment's write, then kills from outside at random moments.
        var rng = SystemRandomNumberGenerator()
        let faults = ["mid_write:2", "before_rename:2", "after_rename:2", "after_rename:1"]
        var faultKills = 0, outsideKills = 0
        for fault in faults {
            let before = archived()
            let hearth = try HearthProcess(try args(), environment: env.merging(["HEARTH_ARCHIVE_FAULT": fault]) { $1 })
            if let ended = await hearth.waitForExit(timeout: .seconds(60)), ended == .signalled(SIGKILL) {
                faultKills += 1
            } else {
                await hearth.kill()
            }
            #expect(archived() >= before, "the manifest never goes back")
        }
        var attempts = 0
        while outsideKills < 3 && attempts < 12 {
            attempts += 1
            let before = archived()
            let hearth = try HearthProcess(try args(), environment: env)
            try? await waitUntil("progress", timeout: .seconds(60), every: .milliseconds(50)) { archived() > before }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...400, using: &rng)))
            let atKill = archived()
            await hearth.kill()
            if atKill > before && atKill < total { outsideKills += 1 }
        }
        #expect(faultKills == faults.count, "every fault point was reached and killed the process")
        #expect(outsideKills >= 3, "killed mid-archive from outside (\(attempts) attempts, \(archived()) of \(total) archived)")

        // A final run catches up and stops gracefully (writing its open segments).
        let final = try HearthProcess(try args(), environment: env)
        #expect(try await final.nextLine().hasPrefix("Hearth is listening on"))
        try await waitUntil("the final run to archive every record", timeout: .seconds(120)) { archived() == total }
        let stopped = await final.interrupt()
        #expect(stopped == .exited(0), "graceful stop: \(final.stderr.suffix(500))")

        let (status, out) = try await runTool(TestPaths.hearthBinary.path, ["archive", "verify", "--data-dir", data.path])
        #expect(status == 0, "hearth archive verify: \(out.suffix(2000))")

        // Exactly the produced records: every offset of every partition once, and the same values.
        let entries = try Manifest.read(layout.manifestPath).entries
        let reader = ArchiveRecordReader(layout: layout, entries: entries, query: ArchiveQuery(topic: "orders"))
        var seen: [Int32: Set<Int64>] = [:]
        var values: [String: Int] = [:]
        var count = 0
        while let batch = try reader.next() {
            for r in batch {
                count += 1
                #expect(seen[r.partition, default: []].insert(r.offset).inserted, "offset \(r.offset) of partition \(r.partition) twice")
                values[String(decoding: r.value, as: UTF8.self), default: 0] += 1
            }
        }
        #expect(count == total)
        for (p, offsets) in seen { #expect(offsets == Set(0..<Int64(offsets.count)), "partition \(p) has a hole") }
        #expect(values == produced, "archived values differ from the produced ones")
        // The export of the whole topic through the command line agrees.
        let file = makeTemporaryDirectory("hearth-export").appendingPathComponent("orders.jsonl")
        let (exportStatus, exportOut) = try await runTool(TestPaths.hearthBinary.path,
                                                          ["export", "--data-dir", data.path, "--topic", "orders", "--out", file.path])
        #expect(exportStatus == 0, "\(exportOut)")
        let lines = try Data(contentsOf: file).split(separator: 0x0A).count
        #expect(lines == total)
    }
}
