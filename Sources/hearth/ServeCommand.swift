import ArgumentParser
import Foundation
import HearthAPI
import HearthCore
import HearthEvents
import HearthSupport
import Hummingbird
import Logging
import ServiceLifecycle

struct ServiceOptions: ParsableArguments {
    @Option(help: "Configuration file (YAML); flags and HEARTH_* variables override it.")
    var config: String?
    @Option(help: "Kafka bootstrap servers (HEARTH_BROKERS); unset starts the development cluster in process.")
    var brokers: String?
    @Option(help: "PostgreSQL URL (HEARTH_POSTGRES); unset starts a managed server in the data directory.")
    var postgres: String?
    @Option(help: "Address to listen on (HEARTH_HOST, default 127.0.0.1).")
    var host: String?
    @Option(help: "HTTP port (HEARTH_PORT, default 8080; 0 picks a free one).")
    var port: Int?
    @Option(name: .customLong("data-dir"), help: "Runtime data directory (HEARTH_DATA_DIR, default hearth-data).")
    var dataDir: String?
    @Option(name: .customLong("pipelines-dir"), help: "Pipeline definitions (HEARTH_PIPELINES_DIR, default Pipelines).")
    var pipelinesDir: String?
    @Option(name: .customLong("indexes-dir"), help: "Search index definitions (HEARTH_INDEXES_DIR, default Indexes).")
    var indexesDir: String?

    func settings() throws -> Settings {
        var s = try Settings.load(configFile: config)
        if let brokers { s.brokers = brokers }
        if let postgres { s.postgres = postgres }
        if let host { s.host = host }
        if let port { s.port = port }
        if let dataDir { s.dataDirectory = dataDir }
        if let pipelinesDir { s.pipelinesDirectory = pipelinesDir }
        if let indexesDir { s.indexesDirectory = indexesDir }
        return s
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the pipelines and the HTTP API.")
    @OptionGroup var options: ServiceOptions

    func run() async throws {
        let settings: Settings
        do { settings = try options.settings() } catch { throw fail(describe(error)) }
        try await runService(settings: settings, demoRate: nil)
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run everything on embedded defaults, with the generator producing a steady stream.")
    @Option(help: "HTTP port (default 8080; 0 picks a free one).")
    var port: Int?
    @Option(name: .customLong("data-dir"), help: "Runtime data directory (default hearth-data).")
    var dataDir: String?
    @Option(help: "Records per second the generator produces.")
    var rate: Int = 200
    @Option(help: "Generator seed.")
    var seed: UInt64 = 42

    func run() async throws {
        var settings: Settings
        do { settings = try Settings.load(configFile: nil) } catch { throw fail(describe(error)) }
        if let port { settings.port = port }
        if let dataDir { settings.dataDirectory = dataDir }
        guard rate >= 0 else { throw fail("--rate must not be negative") }
        try await runService(settings: settings, demoRate: rate, seed: seed)
    }
}

func runService(settings: Settings, demoRate: Int?, seed: UInt64 = 42) async throws {
    Bootstrap.start(logLevel: settings.logLevel, format: settings.logFormat)
    let logger = Logger(label: "hearth")
    let runtime: HearthRuntime
    do {
        runtime = try await HearthRuntime.start(settings: settings, logger: logger)
    } catch {
        throw fail(describe(error))
    }
    let authenticator: Authenticator
    var demoTokens: [String] = []
    do {
        authenticator = try await Authenticator(settings: settings.auth,
                                                secret: try Authenticator.secret(for: settings.auth, dataDirectory: settings.dataURL))
        if demoRate != nil {
            for role in [Role.analyst, .admin] {
                demoTokens.append("  \(role.rawValue) token (12 h): \(try await authenticator.issue(role: role, subject: "demo", ttl: .seconds(12 * 3600)))")
            }
        }
    } catch {
        await runtime.shutdown()
        throw fail(describe(error))
    }
    let app = HearthAPI.application(
        runtime: runtime, registry: Bootstrap.registry, authenticator: authenticator, host: settings.host, port: settings.port, logger: logger
    ) { [demoTokens] port in
        let base = "http://\(settings.host):\(port)"
        var lines = ["Hearth is listening on \(base)", "  brokers:   \(runtime.brokers)"]
        if demoRate != nil {
            lines += ["  readiness: \(base)/readyz", "  dashboard: \(base)/dashboard (paste the analyst token)",
                      "  pipelines: \(base)/api/v1/pipelines (admin)", "  metrics:   \(base)/metrics"]
            lines += demoTokens
            lines.append("  (send as: Authorization: Bearer <token>; `hearth token --role analyst|admin` makes more)")
        }
        say(lines.joined(separator: "\n"))
    }
    var services: [any Service] = [app]
    services += runtime.runners.map { $0 as any Service }
    if let popularity = runtime.popularity { services.append(popularity) }
    if let rate = demoRate {
        var config = GeneratorConfig()
        config.seed = seed
        config.start = Timestamp.now
        // About eight records per order: keep simulated time in step with the wall clock.
        config.ordersPerMinute = max(1, Double(rate) * 60 / 8)
        services.append(GeneratorService(brokers: runtime.brokers, config: config, rate: rate, count: nil))
    }
    let group = ServiceGroup(configuration: .init(
        services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    do {
        try await group.run()
    } catch {
        await runtime.shutdown()
        throw fail(describe(error))
    }
    await runtime.shutdown()
}
