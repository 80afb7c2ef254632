import ArgumentParser
import Foundation
import HearthArchive
import HearthCore
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthSupport
import Logging

/// Archive write throughput and compression ratio beside the `zstd -3` CLI on the same JSON Lines, and
/// export (decompress and filter) throughput.
struct BenchArchive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Measure archive writing (MB/s of JSON Lines, ratio) beside zstd -3 on the same lines, and export MB/s.")
    @Option(help: "Records to archive.") var records: Int = 1_000_000
    @Option(help: "Partitions the records are spread over (per topic).") var partitions: Int = 12
    @Option(help: "Records per sink batch.") var batch: Int = 5000
    @Option(help: "Times the archive write and the CLI each run, alternating (the median is reported: this machine is noisy).")
    var rounds: Int = 3
    @Option(name: .customLong("compression-threads"), help: "Segments compressed at once (archive.compression_threads; default: the cores, at most 4).")
    var threads: Int?
    @Option(name: .customLong("work-dir"), help: "Where the archive is written (default: a temporary directory, removed after).")
    var workDir: String?
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    struct Result: Encodable {
        var records: Int
        var jsonBytes: Int
        var archiveWriteMBPerSecond: Double
        var archiveRatio: Double
        var zstdCliMBPerSecond: Double
        var zstdCliRatio: Double
        var writeShareOfCli: Double
        var archiveWriteRoundsMBPerSecond: [Double]
        var zstdCliRoundsMBPerSecond: [Double]
        /// The CLI with the archive's own parameters (level 3, minimum match 6): the writer's overhead alone.
        var zstdCliSameParameters: String
        var zstdCliSameParametersMBPerSecond: Double
        var zstdCliSameParametersRatio: Double
        var writeShareOfCliSameParameters: Double
        var exportMBPerSecond: Double
        var exportFilteredMBPerSecond: Double
        var segments: Int
    }

    func run() async throws {
        Bootstrap.start(logLevel: "error")
        guard records >= 1000 else { throw fail("--records must be at least 1000") }
        guard (1...256).contains(partitions) else { throw fail("--partitions must be 1 to 256") }
        guard (1...100_000).contains(batch) else { throw fail("--batch must be 1 to 100000") }
        guard (1...20).contains(rounds) else { throw fail("--rounds must be 1 to 20") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd") else { throw fail("the zstd CLI is not installed (apt-get install zstd)") }
        let json = json
        func note(_ s: String) { if !json { FileHandle.standardError.write(Data((s + "\n").utf8)) } }
        let work = URL(fileURLWithPath: workDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("hearth-bench-archive-\(UUID().uuidString.prefix(8))").path)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { if workDir == nil { try? FileManager.default.removeItem(at: work) } }

        // 1. The stream, as the sink receives it (decoded once, as the runner does).
        note("generating \(records) records …")
        var config = GeneratorConfig()
        config.ordersPerMinute = 2000
        config.oversizedShare = 0.002
        var generator = EventGenerator(config: config)
        let codec = EventCodec()
        var byPartition: [TopicPartition: [SinkRecord]] = [:]
        var offsets: [TopicPartition: Int64] = [:]
        for _ in 0..<records {
            let g = generator.next()
            let tp = TopicPartition(g.topic, Int32(g.key.reduce(UInt32(0)) { $0 &* 31 &+ UInt32($1) } % UInt32(partitions)))
            let offset = offsets[tp, default: 0]
            offsets[tp] = offset + 1
            let r = KafkaRecord(topic: g.topic, partition: tp.partition, offset: offset, key: g.key, value: g.value, timestampMillis: g.timestampMillis)
            let event: Swift.Result<Event, EventError>
            do { event = .success(try codec.decode(g.value, topic: g.topic)) } catch { event = .failure(error) }
            byPartition[tp, default: []].append(SinkRecord(record: r, event: event))
        }

        // 2. Archive write: batches of every partition, four partitions at a time (the runner's default), until
        //    every segment is compressed, fsynced, renamed and in the manifest.
        note("building the batches …")
        var settings = ArchiveSettings()
        if let threads {
            guard (1...64).contains(threads) else { throw fail("--compression-threads must be 1 to 64") }
            settings.compressionThreads = threads
        }
        let topics = Set(byPartition.keys.map(\.topic))
        // The batches as the runner hands them to every sink of the pipeline (built before the clock starts):
        // each lane takes its partitions' batches round-robin, as a consumer's fetches interleave.
        let batch = batch
        var lanes: [[SinkBatch]] = Array(repeating: [], count: 4)
        for (i, (tp, list)) in byPartition.sorted(by: { $0.key < $1.key }).enumerated() {
            var position: Int64?
            var mine: [SinkBatch] = []
            for start in stride(from: 0, to: list.count, by: batch) {
                let chunk = Array(list[start..<min(start + batch, list.count)])
                mine.append(SinkBatch(pipeline: "bench", partition: tp, expectedPosition: position,
                                      nextOffset: chunk.last!.record.offset + 1, records: chunk))
                position = chunk.last!.record.offset + 1
            }
            lanes[i % 4].append(contentsOf: mine)
        }
        for i in lanes.indices {   // interleave partitions within a lane, keeping each partition's order
            let byTP = Dictionary(grouping: lanes[i], by: \.partition).mapValues { $0 }
            let longest = byTP.values.map(\.count).max() ?? 0
            lanes[i] = (0..<longest).flatMap { k in byTP.keys.sorted().compactMap { tp in k < byTP[tp]!.count ? byTP[tp]![k] : nil } }
        }
        byPartition = [:]

        /// One timed write into a fresh archive: from the first batch until the last segment is in the manifest.
        func archiveRound(_ round: Int) async throws -> (layout: ArchiveLayout, entries: [SegmentEntry], seconds: Double) {
            let layout = ArchiveLayout(root: work.appendingPathComponent("archive-\(round)"))
            let store = try ArchiveStore(layout: layout, settings: settings, logger: Logger(label: "hearth.bench"))
            let sink = ArchiveSink(store: store, topics: Array(topics))
            let lanes = lanes
            let cpuStart = CPUUsage.now()
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in lanes {
                    group.addTask {
                        for b in lane { try await sink.apply(b) }
                    }
                }
                try await group.waitForAll()
            }
            let accepted = (ContinuousClock.now - start).seconds
            try await sink.close()
            let seconds = (ContinuousClock.now - start).seconds
            let cpu = CPUUsage.now() - cpuStart
            store.close()
            note(String(format: "  archive round %d: %.2f s, %.2f CPU s (every batch accepted after %.2f s, the last segments written %.2f s later)",
                        round, seconds, cpu, accepted, seconds - accepted))
            return (layout, store.allEntries(), seconds)
        }
        // The archive's own parameters on the CLI, for the writer's overhead apart from the parameters.
        let compression = settings.compression
        let sameArgs = ["-\(compression.level)"] + (compression.minMatch == 0 ? [] : ["--zstd=minMatch=\(compression.minMatch)"])
        let sameName = "zstd " + sameArgs.joined(separator: " ")
        func cliRound(_ round: Int, _ args: [String], _ plain: URL, _ out: URL) async throws -> Double {
            let start = ContinuousClock.now
            let status = try await runCLI(args + ["-q", "-f", "-o", out.path, plain.path])
            let fd = open(out.path, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            guard status == 0 else { throw fail("zstd \(args.joined(separator: " ")) failed with status \(status)") }
            let seconds = (ContinuousClock.now - start).seconds
            note(String(format: "  zstd %@ round %d: %.2f s", args.joined(separator: " "), round, seconds))
            return seconds
        }

        note("archiving, zstd -3 and \(sameName) on the same JSON Lines, \(rounds) rounds each in turn …")
        var (layout, entries, firstSeconds) = try await archiveRound(1)
        var writeRounds = [firstSeconds]
        let jsonBytes = entries.reduce(0) { $0 + $1.uncompressedBytes }
        // The lowest ratio of the rounds (where segments are cut depends a little on timing).
        var ratio = Double(jsonBytes) / Double(entries.reduce(0) { $0 + $1.bytes })

        // 3. The zstd CLI at level 3 on the same JSON Lines (read from the page cache, written to the same disk).
        let plain = work.appendingPathComponent("all.jsonl")
        _ = FileManager.default.createFile(atPath: plain.path, contents: nil)
        let handle = try FileHandle(forWritingTo: plain)
        for topic in ["orders"] + topics.sorted().filter({ $0 != "orders" }) {
            try ArchiveExport(layout: layout, entries: entries, query: ArchiveQuery(topic: topic), format: .jsonl).run { try handle.write(contentsOf: $0) }
        }
        try handle.close()
        let plainBytes = POSIXSize.of(plain.path)
        let cliOut = work.appendingPathComponent("all.jsonl.zst")
        let sameOut = work.appendingPathComponent("all.same.jsonl.zst")
        _ = try? await runCLI(["-3", "-q", "-f", "-o", cliOut.path, plain.path])   // warm the page cache
        var cliRounds = [try await cliRound(1, ["-3"], plain, cliOut)]
        var sameRounds = [try await cliRound(1, sameArgs, plain, sameOut)]
        for k in stride(from: 2, through: rounds, by: 1) {
            try? FileManager.default.removeItem(at: layout.root)
            let r = try await archiveRound(k)
            (layout, entries) = (r.layout, r.entries)
            writeRounds.append(r.seconds)
            ratio = min(ratio, Double(jsonBytes) / Double(entries.reduce(0) { $0 + $1.bytes }))
            cliRounds.append(try await cliRound(k, ["-3"], plain, cliOut))
            sameRounds.append(try await cliRound(k, sameArgs, plain, sameOut))
        }
        let cliBytes = POSIXSize.of(cliOut.path)
        let sameBytes = POSIXSize.of(sameOut.path)
        func median(_ xs: [Double]) -> Double {
            let s = xs.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        let writeSeconds = median(writeRounds)
        let cliSeconds = median(cliRounds)
        let sameSeconds = median(sameRounds)

        // 4. Export: decompress and filter every orders segment (all records, then one type in one day).
        note("exporting …")
        let orderEntries = entries.filter { $0.topic == "orders" }
        let orderJSON = orderEntries.reduce(0) { $0 + $1.uncompressedBytes }
        var exportSeconds = Double.infinity, filteredSeconds = Double.infinity
        for _ in 0..<3 {
            let t0 = ContinuousClock.now
            try ArchiveExport(layout: layout, entries: entries, query: ArchiveQuery(topic: "orders"), format: .jsonl).run { _ in }
            exportSeconds = min(exportSeconds, (ContinuousClock.now - t0).seconds)
            let t1 = ContinuousClock.now
            try ArchiveExport(layout: layout, entries: entries, query: ArchiveQuery(topic: "orders", types: ["order.delivered"]), format: .jsonl).run { _ in }
            filteredSeconds = min(filteredSeconds, (ContinuousClock.now - t1).seconds)
        }

        let mb = 1_000_000.0
        let result = Result(
            records: records, jsonBytes: jsonBytes,
            archiveWriteMBPerSecond: Double(jsonBytes) / mb / writeSeconds, archiveRatio: ratio,
            zstdCliMBPerSecond: Double(plainBytes) / mb / cliSeconds, zstdCliRatio: Double(plainBytes) / Double(cliBytes),
            writeShareOfCli: (Double(jsonBytes) / writeSeconds) / (Double(plainBytes) / cliSeconds),
            archiveWriteRoundsMBPerSecond: writeRounds.map { Double(jsonBytes) / mb / $0 },
            zstdCliRoundsMBPerSecond: cliRounds.map { Double(plainBytes) / mb / $0 },
            zstdCliSameParameters: sameName,
            zstdCliSameParametersMBPerSecond: Double(plainBytes) / mb / sameSeconds,
            zstdCliSameParametersRatio: Double(plainBytes) / Double(sameBytes),
            writeShareOfCliSameParameters: (Double(jsonBytes) / writeSeconds) / (Double(plainBytes) / sameSeconds),
            exportMBPerSecond: Double(orderJSON) / mb / exportSeconds, exportFilteredMBPerSecond: Double(orderJSON) / mb / filteredSeconds,
            segments: entries.count)
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(String(format: "records                %d (%d bytes of JSON Lines, %d segments)", records, jsonBytes, entries.count))
            func list(_ xs: [Double]) -> String { xs.map { String(format: "%.1f", $0) }.joined(separator: ", ") }
            print(String(format: "archive write          %.1f MB/s (median of %@), ratio %.3f (records to fsynced segments in the manifest)",
                         result.archiveWriteMBPerSecond, list(result.archiveWriteRoundsMBPerSecond), result.archiveRatio))
            print(String(format: "zstd -3 CLI            %.1f MB/s (median of %@), ratio %.3f (the same lines, one file)",
                         result.zstdCliMBPerSecond, list(result.zstdCliRoundsMBPerSecond), result.zstdCliRatio))
            print(String(format: "%@ %.1f MB/s (median of %@), ratio %.3f (the archive's parameters on the CLI)",
                         sameName.padding(toLength: max(22, sameName.count), withPad: " ", startingAt: 0), result.zstdCliSameParametersMBPerSecond,
                         list(sameRounds.map { Double(plainBytes) / mb / $0 }), result.zstdCliSameParametersRatio))
            print(String(format: "write / CLI            %.0f%% of zstd -3 (target ≥ 80%%, with at least its ratio); %.0f%% of %@",
                         result.writeShareOfCli * 100, result.writeShareOfCliSameParameters * 100, sameName))
            print(String(format: "export                 %.1f MB/s of JSON (all orders); %.1f MB/s filtered to one type (target ≥ 200)", result.exportMBPerSecond, result.exportFilteredMBPerSecond))
        }
    }

    private func runCLI(_ args: [String]) async throws -> Int32 {
        let child = try ChildProcess("/usr/bin/zstd", args, stdout: .discard)
        return await child.wait(timeout: .seconds(600))?.status ?? -1
    }
}

enum POSIXSize {
    static func of(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }
}
