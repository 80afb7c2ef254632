import ArgumentParser
import Foundation
import HearthAPI
import HearthAnalytics
import HearthCore
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthSearch
import HearthPostgres
import HearthSupport
import Logging
import ServiceLifecycle
import UnixSignals

struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the development Kafka cluster (librdkafka's mock cluster) until stopped.",
        discussion: "Prints the bootstrap address on the first line of stdout. Topics are created on first use; restaurants, menus, orders and their .dlq topics exist from the start.")
    @Option(help: "Number of brokers.") var brokers: Int = 3
    @Option(help: "Partitions of each standard topic.") var partitions: Int = 12

    func run() async throws {
        guard (1...16).contains(brokers) else { throw fail("--brokers must be 1 to 16") }
        guard (1...256).contains(partitions) else { throw fail("--partitions must be 1 to 256") }
        let cluster: DevelopmentCluster
        do { cluster = try DevelopmentCluster(brokers: brokers, partitions: partitions) } catch { throw fail(describe(error)) }
        say(cluster.bootstrapServers)
        FileHandle.standardError.write(Data("Development cluster running with \(brokers) brokers; stop with Ctrl-C.\n".utf8))
        for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
        withExtendedLifetime(cluster) {}
    }
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Produce a realistic, deterministic event stream to Kafka.")
    @Option(help: "Kafka bootstrap servers.") var brokers: String
    @Option(help: "Records per second (0: as fast as possible).") var rate: Int = 0
    @Option(help: "Records to produce (default 10000; 0 for no end).") var count: Int = 10_000
    @Option(help: "Seed: the same seed gives the same stream.") var seed: UInt64 = 42
    @Option(help: "Number of restaurants.") var restaurants: Int = 200
    @Option(help: "Event time of the first order (RFC 3339).") var start: String = "2026-11-01T00:00:00Z"
    @Option(name: .customLong("late-share"), help: "Share of records arriving hours late.") var lateShare: Double = 0.02
    @Option(name: .customLong("duplicate-share"), help: "Share of records sent twice.") var duplicateShare: Double = 0.02
    @Option(name: .customLong("invalid-share"), help: "Share of invalid records.") var invalidShare: Double = 0.01
    @Option(help: "Write the expected totals of what was produced to this JSON file.") var expect: String?

    func run() async throws {
        Bootstrap.start(logLevel: "warning")
        guard rate >= 0, count >= 0 else { throw fail("--rate and --count must not be negative") }
        guard (1...1_000_000).contains(restaurants) else { throw fail("--restaurants must be 1 to 1000000") }
        for (name, share) in [("late", lateShare), ("duplicate", duplicateShare), ("invalid", invalidShare)] where !(0...0.5).contains(share) {
            throw fail("--\(name)-share must be between 0 and 0.5")
        }
        guard let startTime = Timestamp(rfc3339: start) else { throw fail("--start is not an RFC 3339 timestamp") }
        var config = GeneratorConfig()
        config.seed = seed
        config.restaurants = restaurants
        config.start = startTime
        config.lateShare = lateShare
        config.duplicateShare = duplicateShare
        config.invalidShare = invalidShare
        var generator = EventGenerator(config: config)
        let producer: KafkaProducer
        do { producer = try GeneratorService.makeProducer(brokers: brokers) } catch { throw fail(describe(error)) }
        let total = count == 0 ? nil : count
        let interactive = isatty(2) == 1
        let started = ContinuousClock.now
        let sent: Int
        do {
            sent = try await GeneratorService.produce(&generator, producer: producer, rate: rate, count: total) { n in
                if interactive { FileHandle.standardError.write(Data("\rproduced \(n)\(total.map { " of \($0)" } ?? "")".utf8)) }
            }
        } catch {
            throw fail("producing failed: \(describe(error))")
        }
        await producer.close()
        let seconds = (ContinuousClock.now - started).seconds
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
        let e = generator.expected
        print("produced \(sent) records in \(String(format: "%.1f", seconds)) s: \(e.orders) orders, \(e.duplicates) duplicates, \(e.late) late, \(e.invalid) invalid")
        if let expect {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            do { try encoder.encode(e).write(to: URL(fileURLWithPath: expect)) } catch { throw fail("cannot write \(expect): \(describe(error))") }
        }
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every pipeline and index definition (and the configuration file, if given).")
    @Option(name: .customLong("pipelines-dir"), help: "Pipeline definitions.") var pipelinesDir: String = "Pipelines"
    @Option(name: .customLong("indexes-dir"), help: "Search index definitions.") var indexesDir: String = "Indexes"
    @Option(name: .customLong("reports-dir"), help: "Report definitions.") var reportsDir: String = "Reports"
    @Option(help: "Configuration file to check too.") var config: String?

    func run() async throws {
        do {
            if let config { _ = try Settings.load(configFile: config, environment: [:]) }
            let pipelines = try PipelineDefinition.loadAll(from: URL(fileURLWithPath: pipelinesDir))
            let indexes = try IndexDefinition.loadAll(from: URL(fileURLWithPath: indexesDir))
            let reports = try ReportDefinition.loadAll(from: URL(fileURLWithPath: reportsDir))
            print("ok: \(pipelines.count) pipelines (\(pipelines.map(\.name).joined(separator: ", "))), "
                  + "\(indexes.count) indexes (\(indexes.map(\.name).joined(separator: ", "))), "
                  + "\(reports.count) reports (\(reports.map(\.name).joined(separator: ", ")))")
        } catch {
            throw fail(describe(error))
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the analytics schema migrations to PostgreSQL.")
    @Option(help: "PostgreSQL URL (HEARTH_POSTGRES).") var postgres: String?

    func run() async throws {
        Bootstrap.start(logLevel: "warning")
        guard let url = postgres ?? ProcessInfo.processInfo.environment["HEARTH_POSTGRES"] else {
            throw fail("give --postgres URL or set HEARTH_POSTGRES")
        }
        let connection = PostgresConnection(url: url)
        do {
            let applied = try await Migrations.apply(connection, logger: Logger(label: "hearth.migrate"))
            print(applied.isEmpty ? "schema is up to date (version \(Migrations.all.last!.version))"
                  : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
        } catch {
            throw fail(describe(error))
        }
        await connection.close()
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a bearer token for the API, signed with the configured HS256 secret (or the one kept in the data directory).",
        discussion: "The token is the last line of the output. Send it as `Authorization: Bearer <token>`.")
    @Option(help: "analyst (reports, dashboard) or admin (archive, pipelines, everything).") var role: String
    @Option(help: "How long the token is valid: a number with s, m, h or d (default 1h; at most 30d).") var ttl: String = "1h"
    @Option(help: "Configuration file (YAML), for its auth section.") var config: String?
    @Option(name: .customLong("data-dir"), help: "Runtime data directory (HEARTH_DATA_DIR, default hearth-data).") var dataDir: String?
    @Option(help: "The token's subject (who it is for).") var subject: String = "hearth-cli"

    func run() async throws {
        guard let role = Role(rawValue: role), role != .public else { throw fail("--role must be analyst or admin") }
        guard let seconds = Self.seconds(ttl), seconds > 0, seconds <= 30 * 86_400 else {
            throw fail("--ttl must be like 90s, 30m, 1h or 7d, at most 30d")
        }
        do {
            var settings = try Settings.load(configFile: config)
            if let dataDir { settings.dataDirectory = dataDir }
            let authenticator = try await Authenticator(
                settings: settings.auth, secret: try Authenticator.secret(for: settings.auth, dataDirectory: settings.dataURL))
            let token = try await authenticator.issue(role: role, subject: subject, ttl: .seconds(seconds))
            FileHandle.standardError.write(Data("\(role.rawValue) token, valid for \(ttl):\n".utf8))
            print(token)
        } catch {
            throw fail(describe(error))
        }
    }

    static func seconds(_ text: String) -> Int? {
        guard let unit = text.last, let n = Int(text.dropLast()) else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86_400
        default: return nil
        }
    }
}

struct HashKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-key",
        abstract: "Print the SHA-256 of an API key read from standard input, for the auth.api_keys section of the configuration.")

    func run() async throws {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw fail("give the API key on standard input") }
        guard line.utf8.count >= 24 else { throw fail("an API key must be at least 24 characters") }
        print(Authenticator.hash(apiKey: line))
    }
}
