import ArgumentParser
import Foundation
import HearthCore
import HearthKafka
import HearthPipeline
import HearthPostgres
import HearthSupport
import Logging
import ServiceLifecycle

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print measured figures.", subcommands: [BenchIngest.self, BenchDecode.self, BenchSearch.self, BenchReports.self, BenchArchive.self])
}

/// End-to-end ingest through the runtime into the PostgreSQL sink, beside the raw consume rate of the same topic.
struct BenchIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Produce order events to the development cluster and measure events/s into the PostgreSQL sink.")
    @Option(help: "Records to produce.") var count: Int = 1_000_000
    @Option(help: "PostgreSQL URL (default: a managed server in a temporary directory).") var postgres: String?
    @Option(help: "Partitions of the orders topic (the development cluster keeps about 5 MiB per partition).") var partitions: Int = 32
    @Option(name: .customLong("pipelines-dir"), help: "Where orders.yaml is.") var pipelinesDir: String = "Pipelines"
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    /// The benchmark's stream: the generator's mix of late, duplicate and 1% invalid records, but few
    /// oversized ones (at 1.1 MB each, one in eight would carry several times the bytes of the whole
    /// valid stream).
    static var stream: GeneratorConfig {
        var config = GeneratorConfig()
        config.ordersPerMinute = 2000
        config.oversizedShare = 0.002
        return config
    }

    func run() async throws {
        Bootstrap.start(logLevel: "error")
        guard count >= 1000 else { throw fail("--count must be at least 1000") }
        guard (1...256).contains(partitions) else { throw fail("--partitions must be 1 to 256") }
        let definition = URL(fileURLWithPath: pipelinesDir).appendingPathComponent("orders.yaml")
        guard FileManager.default.fileExists(atPath: definition.path) else {
            throw fail("no orders.yaml in \(pipelinesDir) (run from the repository, or pass --pipelines-dir)")
        }
        let logger = Logger(label: "hearth.bench")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: work) }
        let json = json
        func note(_ s: String) { if !json { FileHandle.standardError.write(Data((s + "\n").utf8)) } }

        let cluster = try DevelopmentCluster(brokers: 1, partitions: partitions)
        let (url, managed) = try await benchPostgres(postgres, in: work, logger: logger)

        // 1. Produce.
        note("producing \(count) records …")
        var generator = EventGenerator(config: Self.stream)
        let producer = try GeneratorService.makeProducer(brokers: cluster.bootstrapServers)
        let produceStart = ContinuousClock.now
        _ = try await GeneratorService.produce(&generator, producer: producer, rate: 0, count: count)
        await producer.close()
        let produceSeconds = (ContinuousClock.now - produceStart).seconds
        let orders = generator.expected.recordsPerTopic["orders", default: 0]
        let stored = try await KafkaAdmin.watermarks(brokers: cluster.bootstrapServers, topic: "orders").values
            .reduce(Int64(0)) { $0 + $1.high - $1.low }
        guard stored == Int64(orders) else {
            await managed?.stop()
            throw fail("the development cluster kept \(stored) of \(orders) records (it keeps about 5 MiB per partition); use more --partitions or fewer records")
        }

        // 2. Raw consume of the same topic: librdkafka through the consumer layer, no processing.
        note("raw consume of \(orders) order records …")
        let rawSeconds = try await Self.rawConsume(brokers: cluster.bootstrapServers, records: orders, logger: logger)

        // 3. End to end through the runtime into PostgreSQL.
        note("end to end into PostgreSQL …")
        let pipelines = work.appendingPathComponent("pipelines")
        try FileManager.default.createDirectory(at: pipelines, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: definition, to: pipelines.appendingPathComponent("orders.yaml"))
        var settings = Settings()
        settings.brokers = cluster.bootstrapServers
        settings.postgres = url
        settings.pipelinesDirectory = pipelines.path
        settings.dataDirectory = work.appendingPathComponent("data").path
        let runtime = try await HearthRuntime.start(settings: settings, logger: logger)
        let group = ServiceGroup(configuration: .init(services: runtime.runners.map { .init(service: $0) }, logger: logger))
        let running = Task { try await group.run() }
        var assignedAt: ContinuousClock.Instant?
        var cpuAtAssign = CPUUsage.now()
        var pgAtAssign = managed.map { CPUUsage.ofProcessTree($0.pid) } ?? 0
        var lastReport = ContinuousClock.now
        while true {
            let status = runtime.pipelineStatus()[0]
            if assignedAt == nil, status.assigned {
                assignedAt = .now
                cpuAtAssign = CPUUsage.now()
                pgAtAssign = managed.map { CPUUsage.ofProcessTree($0.pid) } ?? 0
            }
            let applied = status.partitions.reduce(Int64(0)) { $0 + ($1.position ?? 0) }
            if applied >= Int64(orders) { break }
            if ContinuousClock.now - lastReport > .seconds(2) {
                note("  applied \(applied) of \(orders)")
                lastReport = .now
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let e2eSeconds = (ContinuousClock.now - assignedAt!).seconds
        let cpu = CPUUsage.now() - cpuAtAssign
        let pgCPU = (managed.map { CPUUsage.ofProcessTree($0.pid) } ?? 0) - pgAtAssign
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        await runtime.shutdown()
        await managed?.stop()

        let result = IngestResult(
            records: count, order_records: orders,
            events_per_second: Double(orders) / e2eSeconds,
            raw_consume_events_per_second: Double(orders) / rawSeconds,
            produce_events_per_second: Double(count) / produceSeconds,
            cpu_seconds_per_million: cpu / Double(orders) * 1_000_000,
            postgres_cpu_seconds_per_million: managed == nil ? nil : pgCPU / Double(orders) * 1_000_000,
            peak_rss_bytes: CPUUsage.peakRSSBytes())
        if json {
            say(try jsonLine(result))
        } else {
            say("""
                records produced            \(result.records) (\(result.order_records) on orders)
                produce rate                \(Int(result.produce_events_per_second)) events/s
                raw consume (librdkafka)    \(Int(result.raw_consume_events_per_second)) events/s
                end to end into PostgreSQL  \(Int(result.events_per_second)) events/s
                Hearth CPU per million      \(String(format: "%.2f", result.cpu_seconds_per_million)) s
                PostgreSQL CPU per million  \(result.postgres_cpu_seconds_per_million.map { String(format: "%.2f", $0) + " s" } ?? "n/a (external server)")
                peak RSS                    \(result.peak_rss_bytes / 1_048_576) MiB
                """)
        }
    }

    struct IngestResult: Encodable {
        let records: Int
        let order_records: Int
        let events_per_second: Double
        let raw_consume_events_per_second: Double
        let produce_events_per_second: Double
        let cpu_seconds_per_million: Double
        let postgres_cpu_seconds_per_million: Double?
        let peak_rss_bytes: Int
    }

    static func rawConsume(brokers: String, records: Int, logger: Logger) async throws -> Double {
        let consumer = try KafkaConsumer(
            config: KafkaConsumerConfig(brokers: brokers, groupID: "hearth-bench-raw-\(UUID().uuidString)", topics: ["orders"]),
            rebalance: KafkaRebalanceHandler(onAssign: { _ in [:] }, onRevoke: { _ in }), logger: logger)
        var seen = 0
        var started: ContinuousClock.Instant?
        for await batch in consumer.batches {
            if started == nil { started = .now }
            seen += batch.records.count
            consumer.release(batch)
            if seen >= records { break }
        }
        let seconds = (ContinuousClock.now - (started ?? .now)).seconds
        // Leave the group before the next phase starts (stop blocks, so not on the cooperative pool).
        _ = try? await Blocking.run { consumer.stop() }
        return seconds
    }
}

/// CPU time of this process (user + system) and of a process tree, from the kernel.
enum CPUUsage {
    static func now() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    static func peakRSSBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    /// CPU seconds of `pid` and its direct children (the PostgreSQL postmaster and its backends).
    static func ofProcessTree(_ pid: Int32) -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var total = 0.0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let p = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let ppid = Int32(fields[1]), p == pid || ppid == pid,
                  let u = Double(fields[11]), let s = Double(fields[12]) else { continue }
            total += (u + s) / ticks
        }
        return total
    }
}

/// The PostgreSQL a benchmark uses: the given URL, else a managed server in `directory` (which the caller stops).
func benchPostgres(_ given: String?, in directory: URL, logger: Logger) async throws -> (url: String, managed: ManagedPostgres?) {
    if let given { return (given, nil) }
    let m = try await ManagedPostgres.start(dataDirectory: directory, logger: logger)
    return (m.url, m)
}
