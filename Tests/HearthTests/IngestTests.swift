import Foundation
@testable import HearthAPI
import HearthCore
import HearthKafka
import HearthPipeline
import HearthPostgres
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import Prometheus
import Testing

/// The pipelines end to end, against the development cluster, PostgreSQL and Xapian.
@Suite(.serialized) struct IngestTests {
    static let registry: PrometheusCollectorRegistry = {
        let r = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: r))
        return r
    }()

    @Test func aggregatesEqualTheExpectedTotalsAndInvalidRecordsAreDeadLettered() async throws {
        let registry = Self.registry
        let cluster = try DevelopmentCluster(brokers: 1, partitions: 4)
        let url = try await SharedPostgres.shared.freshDatabase()
        var generator = EventGenerator(config: IngestHarness.config())
        var catalog = Set<String>()
        try await IngestHarness.produce(&generator, count: 15_000, brokers: cluster.bootstrapServers, catalog: &catalog)
        let expected = generator.expected
        #expect(expected.invalid > 50 && expected.duplicates > 100 && expected.late > 50)

        let settings = IngestHarness.settings(brokers: cluster.bootstrapServers, postgres: url, pipelines: TestPaths.pipelines)
        let runtime = try await HearthRuntime.start(settings: settings, logger: testLogger)
        try await IngestHarness.withPipelines(runtime) {
            try await IngestHarness.waitCaughtUp(runtime, pipeline: "orders", records: expected.recordsPerTopic["orders"]!)
            try await IngestHarness.waitCaughtUp(runtime, pipeline: "catalog",
                                                 records: expected.recordsPerTopic["restaurants", default: 0] + expected.recordsPerTopic["menus", default: 0])
            try await IngestHarness.expectExactTotals(url, expected)
            #expect(try await runtime.searchSink?.documentCount() == catalog.count)

            let orders = try #require(runtime.pipelineStatus().first { $0.name == "orders" })
            #expect(orders.partitions.reduce(0) { $0 + $1.deadLettered } == Int64(expected.invalid))
            #expect(orders.partitions.allSatisfy { $0.lag == 0 && $0.state == .running })

            // The API over the same engine.
            let secret = String(repeating: "s", count: 40)
            let authenticator = try await Authenticator(settings: AuthSettings(), secret: secret)
            let admin = try await authenticator.issue(role: .admin, ttl: .seconds(600))
            let analyst = try await authenticator.issue(role: .analyst, ttl: .seconds(600))
            let router = HearthAPI.router(runtime: runtime, registry: registry, authenticator: authenticator)
            // The OpenAPI document stays true: every route is documented, every documented route exists.
            let routes = Set(router.routes.map { "\($0.method) \($0.path)" })
            #expect(routes == OpenAPIDocument.routes, "undocumented: \(routes.subtracting(OpenAPIDocument.routes)); missing: \(OpenAPIDocument.routes.subtracting(routes))")
            let app = Application(router: router)
            try await app.test(.router) { client in
                try await client.execute(uri: "/openapi.json", method: .get) { response in
                    #expect(response.status == .ok)
                    let doc = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    #expect(doc?["openapi"] as? String == "3.1.0")
                    let paths = (doc?["paths"] as? [String: [String: Any]]) ?? [:]
                    #expect(Set(paths.flatMap { path, ops in ops.keys.map { "\($0.uppercased()) \(path)" } }) == routes)
                }
                try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
                try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
                // Pipeline state is for admins.
                try await client.execute(uri: "/api/v1/pipelines", method: .get) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: "/api/v1/pipelines", method: .get, headers: [.authorization: "Bearer \(analyst)"]) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(uri: "/api/v1/pipelines", method: .get, headers: [.authorization: "Bearer \(admin)"]) { response in
                    #expect(response.status == .ok)
                    let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    let pipelines = body?["pipelines"] as? [[String: Any]] ?? []
                    #expect(Set(pipelines.compactMap { $0["name"] as? String }) == ["orders", "catalog"])
                    let partitions = pipelines.flatMap { $0["partitions"] as? [[String: Any]] ?? [] }
                    #expect(partitions.count == 12)
                    #expect(partitions.allSatisfy { $0["position"] is Int && $0["high_watermark"] is Int && $0["lag"] as? Int == 0 })
                    #expect(partitions.allSatisfy { $0.keys.contains("reason") }, "unknown values are null, not absent")
                }
                try await client.execute(uri: "/metrics", method: .get) { response in
                    let text = String(buffer: response.body)
                    #expect(text.contains("hearth_records_consumed_total{"))
                    #expect(text.contains("hearth_records_dead_lettered_total{"))
                    #expect(text.contains("hearth_consumer_lag{"))
                    #expect(text.contains("hearth_batch_duration_seconds"))
                }
                try await client.execute(uri: "/api/v1/nope", method: .get) { response in
                    #expect(response.status == .notFound)
                    let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: [String: String]]
                    #expect(body?["error"]?["code"] == "not_found")
                }
            }
        }

        // Every invalid record is in orders.dlq with the contract's headers.
        let letters = try await Self.consumeAll(brokers: cluster.bootstrapServers, topic: "orders.dlq", count: expected.invalid)
        #expect(letters.count == expected.invalid)
        let required = ["__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
                        "__connect.errors.connector.name", "__connect.errors.stage",
                        "__connect.errors.exception.class.name", "__connect.errors.exception.message"]
        for letter in letters {
            let names = Set(letter.headers.map(\.name))
            #expect(required.allSatisfy(names.contains))
            #expect(letter.headers.first { $0.name == "__connect.errors.connector.name" }?.value == Array("orders".utf8))
        }
        let codes = Set(letters.compactMap { l in l.headers.first { $0.name == "__connect.errors.exception.class.name" }.map { String(decoding: $0.value, as: UTF8.self) } })
        #expect(codes.isSuperset(of: ["invalid_json", "invalid_utf8", "missing_field", "wrong_type", "unknown_type", "too_large", "not_object"]))
        await runtime.shutdown()
    }

    /// Reads `count` records of `topic` from the beginning.
    static func consumeAll(brokers: String, topic: String, count: Int) async throws -> [KafkaRecord] {
        let consumer = try KafkaConsumer(
            config: KafkaConsumerConfig(brokers: brokers, groupID: "test-\(UUID().uuidString)", topics: [topic], lingerMillis: 10),
            rebalance: KafkaRebalanceHandler(onAssign: { _ in [:] }, onRevoke: { _ in }), logger: testLogger)
        let reader = Task {
            var got: [KafkaRecord] = []
            for await batch in consumer.batches {
                got += batch.records
                consumer.release(batch)
                if got.count >= count { break }
            }
            return got
        }
        // Ends the stream (and so the reader) if the records never all arrive.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60))
            DispatchQueue.global().async { consumer.stop() }
        }
        let records = await reader.value
        watchdog.cancel()
        DispatchQueue.global().async { consumer.stop() }
        return records
    }
}
