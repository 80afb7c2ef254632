import ArgumentParser
import Foundation
import HearthAnalytics
import HearthArchive
import HearthCore
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthPostgres
import HearthSearch
import HearthSupport
import Logging

/// Where the archive is: `--data-dir`, else the configuration's data directory.
struct ArchiveLocation: ParsableArguments {
    @Option(help: "Configuration file (YAML), for its data_dir.") var config: String?
    @Option(name: .customLong("data-dir"), help: "Runtime data directory (HEARTH_DATA_DIR, default hearth-data); the archive is its archive/ folder.")
    var dataDir: String?

    func settings() throws -> Settings {
        var s = try Settings.load(configFile: config)
        if let dataDir { s.dataDirectory = dataDir }
        return s
    }

    func layout() throws -> ArchiveLayout {
        let s = try settings()
        let layout = ArchiveLayout(dataDirectory: s.dataURL)
        guard FileManager.default.fileExists(atPath: layout.manifestPath) else {
            throw ArchiveError.invalid("no archive in \(s.dataURL.path) (no archive/manifest.jsonl)")
        }
        return layout
    }
}

/// A one-line progress bar on standard error, only on a terminal, redrawn at most every 100 ms.
final class ProgressLine {
    private let enabled = isatty(2) == 1
    private var last = ContinuousClock.now - .seconds(1)
    private let label: String
    init(_ label: String) { self.label = label }

    func update(_ p: ExportProgress, force: Bool = false) {
        guard enabled, force || ContinuousClock.now - last >= .milliseconds(100) else { return }
        last = ContinuousClock.now
        let share = p.bytesTotal > 0 ? Double(p.bytesRead) / Double(p.bytesTotal) : 1
        let width = 30
        let filled = min(width, Int(share * Double(width)))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ [%@] %3.0f%%  %d/%d segments  %@ records ",
                                                   label, bar, share * 100, p.segmentsDone, p.segmentsTotal, "\(p.records)").utf8))
    }

    func finish() { if enabled { FileHandle.standardError.write(Data("\n".utf8)) } }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export archived records of one topic and time range as JSON Lines, zstd JSON Lines or CSV.",
        discussion: """
            Times are event times (Kafka timestamps for records that failed validation). --from is inclusive, --to \
            exclusive; a bare date (YYYY-MM-DD, UTC) as --to includes that day. A file is written under a temporary \
            name and renamed when complete. Shows progress on a terminal; prints a summary line on standard error.
            """)
    @OptionGroup var location: ArchiveLocation
    @Option(help: "The topic (orders, restaurants, menus, …).") var topic: String
    @Option(help: "Start: a date (YYYY-MM-DD, UTC) or an RFC 3339 timestamp.") var from: String?
    @Option(help: "End: a date (that day included) or an RFC 3339 timestamp (excluded).") var to: String?
    @Option(name: .customLong("type"), help: "Only these event types (repeat or comma-separate); leaves out invalid records.")
    var types: [String] = []
    @Option(help: "jsonl, jsonl.zst or csv.") var format: String = "jsonl"
    @Option(help: "Output file, or - for standard output.") var out: String

    func run() async throws {
        Bootstrap.start(logLevel: "warning")
        guard let format = ExportFormat(rawValue: format) else { throw fail("--format must be jsonl, jsonl.zst or csv") }
        let started = ContinuousClock.now
        do {
            let layout = try location.layout()
            let query = try ArchiveQuery.parse(topic: topic, from: from, to: to, types: types)
            let export = try ArchiveExport(layout: layout, entries: try ArchiveVerifier.entries(layout), query: query, format: format)
            let toStdout = out == "-"
            let progress = ProgressLine("exporting")
            let sink = try OutputFile(path: toStdout ? nil : out)
            try export.run({ try sink.write($0) }, progress: { progress.update($0) })
            try sink.commit()
            progress.update(export.progress, force: true)
            progress.finish()
            let p = export.progress
            let seconds = (ContinuousClock.now - started).seconds
            FileHandle.standardError.write(Data("""
                exported \(p.records) records (\(p.bytesOut) bytes, from \(p.segmentsTotal) segments) \
                \(toStdout ? "to standard output" : "to \(out)") in \(String(format: "%.2f", seconds)) s; sha256 \(export.sha256)

                """.utf8))
        } catch {
            throw fail(describe(error))
        }
    }
}

/// An export's destination: standard output, or a file written under a temporary name and renamed
/// (fsynced) when complete (`AtomicFile`, as the archive's own segments).
final class OutputFile {
    private let file: AtomicFile?

    init(path: String?) throws { file = try path.map { try AtomicFile(path: $0) } }

    func write(_ bytes: [UInt8]) throws {
        if let file {
            try bytes.withUnsafeBytes { try file.write($0) }
        } else {
            do { try FileHandle.standardOutput.write(contentsOf: bytes) } catch {
                throw ArchiveError.io("cannot write standard output: \(error.localizedDescription)")
            }
        }
    }

    func commit() throws { try file?.commit() }
}

struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the cold archive.",
        subcommands: [Verify.self, Segments.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every segment's checksum, that each decompresses and holds what the manifest says, and that offsets are contiguous and non-overlapping per partition.",
            discussion: "Exit code 0 only when everything holds; each problem is printed as one line. Run it while no segment is being written (a stopped hearth) for a result free of in-flight files.")
        @OptionGroup var location: ArchiveLocation
        @Flag(help: "Print the report as JSON.") var json = false

        func run() async throws {
            let layout: ArchiveLayout
            do { layout = try location.layout() } catch { throw fail(describe(error)) }
            let bar = isatty(2) == 1
            let report = ArchiveVerifier.verify(layout) { i, n in
                if bar, i % 10 == 0 { FileHandle.standardError.write(Data("\rverifying segment \(i + 1) of \(n)".utf8)) }
            }
            if bar { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            if json {
                struct Out: Encodable { var ok: Bool; var report: VerifyReport }
                print(try jsonLine(Out(ok: report.ok, report: report)))
            } else {
                for p in report.problems { print("problem: \(p)") }
                print("\(report.ok ? "ok" : "FAILED"): \(report.segments) segments, \(report.records) records, \(report.bytes) bytes, \(report.partitions) partitions, \(report.problems.count) problems")
            }
            if !report.ok { throw ExitCode.failure }
        }
    }

    struct Segments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List manifest entries (one JSON object per line) of a topic and time range.")
        @OptionGroup var location: ArchiveLocation
        @Option(help: "The topic.") var topic: String
        @Option(help: "Start: a date (YYYY-MM-DD, UTC) or an RFC 3339 timestamp.") var from: String?
        @Option(help: "End: a date (that day included) or an RFC 3339 timestamp (excluded).") var to: String?

        func run() async throws {
            do {
                let layout = try location.layout()
                let query = try ArchiveQuery.parse(topic: topic, from: from, to: to, types: [])
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for e in query.segments(in: try ArchiveVerifier.entries(layout)) {
                    print(String(decoding: try encoder.encode(e), as: UTF8.self))
                }
            } catch {
                throw fail(describe(error))
            }
        }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-feed archived records through a pipeline's sinks (to rebuild the index or the aggregates after a fix).",
        discussion: """
            Records are decoded again with the current event contract, so records dead-lettered by a since-fixed \
            check are applied now. Nothing counts twice: analytics skips event ids it has counted (records that \
            reached Kafka before the pipeline's dedup horizon are left out and reported), search ignores stale \
            revisions. Stream positions are not touched. Run it with hearth stopped (it opens the index writer and, \
            on embedded defaults, the managed PostgreSQL server).
            """)
    @OptionGroup var options: ServiceOptions
    @Option(help: "The archived topic.") var topic: String
    @Option(help: "Start: a date (YYYY-MM-DD, UTC) or an RFC 3339 timestamp.") var from: String?
    @Option(help: "End: a date (that day included) or an RFC 3339 timestamp (excluded).") var to: String?
    @Option(help: "The pipeline whose sinks take the records (it must read the topic).") var into: String
    @Option(name: .customLong("reports-dir"), help: "Report definitions.") var reportsDir: String?

    func run() async throws {
        Bootstrap.start(logLevel: "warning")
        let logger = Logger(label: "hearth.replay")
        do {
            let settings = try options.settings()
            let definitions = try PipelineDefinition.loadAll(from: URL(fileURLWithPath: settings.pipelinesDirectory))
            guard let pipeline = definitions.first(where: { $0.name == into }) else {
                throw ArchiveError.invalid("no pipeline \"\(into)\" (known: \(definitions.map(\.name).joined(separator: ", ")))")
            }
            guard pipeline.topics.contains(topic) else {
                throw ArchiveError.invalid("pipeline \(into) does not read topic \(topic) (it reads \(pipeline.topics.joined(separator: ", ")))")
            }
            let query = try ArchiveQuery.parse(topic: topic, from: from, to: to, types: [])
            let layout = ArchiveLayout(dataDirectory: settings.dataURL)
            guard FileManager.default.fileExists(atPath: layout.manifestPath) else {
                throw ArchiveError.invalid("no archive in \(settings.dataURL.path)")
            }
            let entries = try ArchiveVerifier.entries(layout)
            var managed: ManagedPostgres?
            var sinks: [any ReplayableSink] = []
            var connections: [PostgresConnection] = []
            for name in pipeline.sinks {
                switch name {
                case "analytics":
                    var url = settings.postgres
                    if url == nil {
                        managed = try await ManagedPostgres.start(dataDirectory: settings.dataURL, logger: logger)
                        url = managed!.url
                    }
                    let migrator = PostgresConnection(url: url!, logger: logger)
                    try await Migrations.apply(migrator, logger: logger)
                    connections.append(migrator)
                    sinks.append(AnalyticsSink(url: url!, dedupHorizonHours: pipeline.dedupHorizonHours, retention: settings.retention, logger: logger))
                case "search":
                    let indexes = try IndexDefinition.loadAll(from: URL(fileURLWithPath: settings.indexesDirectory))
                    sinks.append(try SearchSink(path: settings.dataURL.appendingPathComponent("index").path, definitions: indexes))
                default:
                    break   // the archive already holds these records
                }
            }
            func closeAll() async {
                for s in sinks { try? await s.close() }
                for c in connections { await c.close() }
                await managed?.stop()
            }
            do {
                try await replay(query, pipeline, layout, entries, sinks)
            } catch {
                await closeAll()
                throw error
            }
            await closeAll()
        } catch {
            throw fail(describe(error))
        }
    }

    private func replay(_ query: ArchiveQuery, _ pipeline: PipelineDefinition, _ layout: ArchiveLayout, _ entries: [SegmentEntry],
                        _ sinks: [any ReplayableSink]) async throws {
            guard !sinks.isEmpty else { throw ArchiveError.invalid("pipeline \(into) has no sink that takes a replay") }
            let reader = ArchiveRecordReader(layout: layout, entries: entries, query: query)
            let codec = EventCodec(maxRecordBytes: pipeline.maxRecordBytes)
            let progress = ProgressLine("replaying")
            var totals: [String: ReplayOutcome] = [:]
            var read = 0, invalid = 0
            while let batch = try reader.next(max: 5000) {
                read += batch.count
                let records = batch.map { r -> SinkRecord in
                    do throws(EventError) { return SinkRecord(record: r, event: .success(try codec.decode(r.value, topic: r.topic))) } catch {
                        return SinkRecord(record: r, event: .failure(error))
                    }
                }
                invalid += records.count(where: { if case .failure = $0.event { true } else { false } })
                for sink in sinks { totals[sink.name, default: ReplayOutcome()] = totals[sink.name, default: ReplayOutcome()] + (try await sink.replay(records)) }
                progress.update(reader.progress)
            }
            progress.update(reader.progress, force: true)
            progress.finish()
            print("read \(read) archived records of \(topic) (\(invalid) still invalid, left out)")
            for (name, o) in totals.sorted(by: { $0.key < $1.key }) {
                print("\(name): \(o.applied) applied, \(o.alreadyApplied) already counted, \(o.beyondHorizon) older than the dedup horizon (left out)")
            }
    }
}
