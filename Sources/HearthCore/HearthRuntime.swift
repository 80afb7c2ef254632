import Foundation
import HearthAnalytics
import HearthArchive
import HearthKafka
import HearthPipeline
import HearthPostgres
import HearthSearch
import HearthSupport
import Logging

/// The engine without HTTP: embedded defaults (development cluster, managed
/// PostgreSQL), migrations, sinks and one runner per pipeline.
public final class HearthRuntime: Sendable {
    public let settings: Settings
    public let brokers: String
    public let postgresURL: String
    public let runners: [PipelineRunner]
    public let producer: KafkaProducer
    public let searchSink: SearchSink?
    /// The read side of the search index (nil when no pipeline writes one).
    public let searchIndex: SearchIndex?
    /// The reports of `Reports/`, run against the analytics store.
    public let reports: ReportRunner
    /// Recounts recent orders for search ranking (nil unless pipelines feed both analytics and search).
    public let popularity: PopularityRefresher?
    /// The cold archive (nil when no pipeline has an archive sink).
    public let archive: ArchiveStore?
    private let cluster: DevelopmentCluster?
    private let managedPostgres: ManagedPostgres?
    private let health: PostgresConnection
    private let logger: Logger

    private init(settings: Settings, brokers: String, postgresURL: String, runners: [PipelineRunner], producer: KafkaProducer,
                 searchSink: SearchSink?, searchIndex: SearchIndex?, reports: ReportRunner, popularity: PopularityRefresher?, archive: ArchiveStore?, cluster: DevelopmentCluster?,
                 managedPostgres: ManagedPostgres?, logger: Logger) {
        self.settings = settings
        self.brokers = brokers
        self.postgresURL = postgresURL
        self.runners = runners
        self.producer = producer
        self.searchSink = searchSink
        self.searchIndex = searchIndex
        self.popularity = popularity
        self.archive = archive
        self.reports = reports
        self.cluster = cluster
        self.managedPostgres = managedPostgres
        health = PostgresConnection(url: postgresURL, logger: logger)
        self.logger = logger
    }

    /// Validates the definitions, starts what is embedded, applies migrations and builds the runners.
    public static func start(settings: Settings, logger: Logger) async throws -> HearthRuntime {
        let definitions = try PipelineDefinition.loadAll(from: URL(fileURLWithPath: settings.pipelinesDirectory))
        let reportDefinitions = try ReportDefinition.loadAll(from: URL(fileURLWithPath: settings.reportsDirectory))
        try FileManager.default.createDirectory(at: settings.dataURL, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        var cluster: DevelopmentCluster?
        let brokers: String
        if let configured = settings.brokers {
            brokers = configured
        } else {
            let c = try DevelopmentCluster(brokers: 3, partitions: settings.devPartitions)
            cluster = c
            brokers = c.bootstrapServers
            logger.info("Started the development Kafka cluster.", metadata: ["brokers": "\(brokers)"])
        }
        var managed: ManagedPostgres?
        let url: String
        if let configured = settings.postgres {
            url = configured
        } else {
            let m = try await ManagedPostgres.start(dataDirectory: settings.dataURL, logger: logger)
            managed = m
            url = m.url
        }
        do {
            let migrator = PostgresConnection(url: url, logger: logger)
            try await Migrations.apply(migrator, logger: logger)
            if definitions.contains(where: { $0.sinks.contains("analytics") }) {
                try await AnalyticsSink.registerReportZones(migrator, zones: settings.reportZones, logger: logger)
            }
            await migrator.close()

            let producer = try KafkaProducer(brokers: brokers, properties: ["compression.type": "zstd", "message.max.bytes": "4000000"])
            var search: SearchSink?
            var searchIndex: SearchIndex?
            var analytics: AnalyticsSink?
            var archive: ArchiveStore?
            var runners: [PipelineRunner] = []
            for def in definitions {
                var sinks: [any Sink] = []
                for name in def.sinks {
                    switch name {
                    case "analytics":
                        // Once there is an archive, months of aggregates are written to it before retention drops them.
                        let archiver = definitions.contains { $0.sinks.contains("archive") }
                            ? AggregateArchiver(layout: ArchiveLayout(dataDirectory: settings.dataURL)) : nil
                        let sink = AnalyticsSink(url: url, dedupHorizonHours: def.dedupHorizonHours, retention: settings.retention,
                                                 archiver: archiver, logger: logger)
                        analytics = analytics ?? sink
                        sinks.append(sink)
                    case "search":
                        if search == nil {
                            let indexes = try IndexDefinition.loadAll(from: URL(fileURLWithPath: settings.indexesDirectory))
                            let path = settings.dataURL.appendingPathComponent("index").path
                            search = try SearchSink(path: path, definitions: indexes)
                            let index = try SearchIndex(path: path, definitions: indexes)
                            searchIndex = index
                            Task {
                                let started = ContinuousClock.now
                                do {
                                    try await index.warm()
                                    logger.info("Search readers warmed.", metadata: ["duration": "\(ContinuousClock.now - started)"])
                                } catch {
                                    logger.warning("Could not warm the search readers; first queries read what they need.",
                                                   metadata: ["reason": "\(error)"])
                                }
                            }
                        }
                        sinks.append(search!)
                    case "archive":
                        if archive == nil {
                            archive = try ArchiveStore(layout: ArchiveLayout(dataDirectory: settings.dataURL), settings: settings.archive, logger: logger)
                        }
                        sinks.append(ArchiveSink(store: archive!, topics: def.topics))
                    default:
                        break
                    }
                }
                var pipelineLogger = logger
                pipelineLogger[metadataKey: "pipeline"] = "\(def.name)"
                runners.append(PipelineRunner(definition: def, brokers: brokers, sinks: sinks, producer: producer, logger: pipelineLogger))
            }
            let popularity = analytics.flatMap { a in
                search.map { PopularityRefresher(analytics: a, search: $0, days: settings.popularityDays,
                                                 interval: .seconds(settings.popularityRefreshSeconds), logger: logger) }
            }
            return HearthRuntime(settings: settings, brokers: brokers, postgresURL: url, runners: runners, producer: producer,
                                 searchSink: search, searchIndex: searchIndex,
                                 reports: ReportRunner(url: url, reports: reportDefinitions, timeLimit: .seconds(settings.reportTimeLimitSeconds), logger: logger),
                                 popularity: popularity, archive: archive, cluster: cluster, managedPostgres: managed, logger: logger)
        } catch {
            await managed?.stop()
            throw error
        }
    }

    /// 200-worthy only when the stores answer and every pipeline has partitions assigned.
    public func readiness() async -> (ready: Bool, reason: String?) {
        guard await health.ping() else { return (false, "PostgreSQL is unreachable") }
        if let searchIndex, !searchIndex.isWarm { return (false, "search readers are still warming up") }
        for runner in runners {
            let (ok, reason) = await runner.sinksReachable()
            if !ok { return (false, reason) }
            let status = runner.status()
            if !status.assigned { return (false, "pipeline \(status.name) has no partitions assigned yet") }
            if let stalled = status.partitions.first(where: { $0.state == .stalled }) {
                return (false, "pipeline \(status.name) is stalled on \(stalled.topic)[\(stalled.partition)]: \(stalled.reason ?? "")")
            }
        }
        return (true, nil)
    }

    public func pipelineStatus() -> [PipelineStatus] { runners.map { $0.status() } }

    /// Closes the producer and stops the managed PostgreSQL server (after the runners have stopped).
    public func shutdown() async {
        if let archive { _ = try? await Blocking.run { archive.close() } }
        await producer.close()
        await health.close()
        await managedPostgres?.stop()
    }

    /// For tests of a database outage.
    public var managedServer: ManagedPostgres? { managedPostgres }
}
