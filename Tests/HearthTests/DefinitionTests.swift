import Foundation
import HearthCore
import HearthPipeline
import HearthSupport
import Testing

/// Pipeline definitions and settings are validated with errors naming file, line and key.
@Suite struct DefinitionTests {
    func error(_ yaml: String) -> String? {
        do {
            _ = try PipelineDefinition(file: "p.yaml", yaml: yaml)
            return nil
        } catch { return error.description }
    }

    @Test func theRepositoryDefinitionsAreValid() throws {
        let all = try PipelineDefinition.loadAll(from: TestPaths.pipelines)
        #expect(all.map(\.name) == ["catalog", "orders"])
        let orders = try #require(all.first { $0.name == "orders" })
        #expect(orders.topics == ["orders"] && orders.sinks == ["analytics"] && orders.deadLetterTopic(for: "orders") == "orders.dlq")
        #expect(orders.maxRecordBytes == 1 << 20)
        let catalog = try #require(all.first { $0.name == "catalog" })
        #expect(catalog.topics == ["restaurants", "menus"] && catalog.sinks == ["search"])
    }

    @Test func defaultsApplyToAMinimalDefinition() throws {
        let d = try PipelineDefinition(file: "p.yaml", yaml: "name: p\ntopics: orders\nsinks: analytics\n")
        #expect(d.group == "hearth-p" && d.maxBatchRecords == 5000 && d.deadLetter && d.dedupHorizonHours == 168)
    }

    @Test func errorsNameFileLineAndKey() {
        #expect(error("name: p\ntopics: [orders]\nsinks: [analytics]\nbatchsize: 3\n") == "p.yaml:4: batchsize: unknown key")
        #expect(error("name: p\ntopics: [orders]\nsinks: [analytics]\nbatch:\n  linger_ms: soon\n") == "p.yaml:5: batch.linger_ms: must be an integer")
        #expect(error("name: p\ntopics: [orders]\nsinks: [analytics]\nbatch:\n  max_records: 0\n") == "p.yaml:5: batch.max_records: must be between 1 and 100000")
        #expect(error("name: p\ntopics: [orders]\nsinks: [warehouse]\n")?.hasPrefix("p.yaml:3: sinks: unknown sink \"warehouse\"") == true)
        #expect(error("name: p\nsinks: [analytics]\n") == "p.yaml:1: topics: is required")
        #expect(error("name: Bad Name\ntopics: [orders]\nsinks: [analytics]\n")?.hasPrefix("p.yaml:1: name:") == true)
        #expect(error("name: p\ntopics: [\"bad topic\"]\nsinks: [analytics]\n")?.contains("not a valid Kafka topic name") == true)
        #expect(error("name: [p\n")?.hasPrefix("p.yaml:") == true)
        #expect(error("- just\n- a list\n") == "p.yaml:1: must be a mapping of keys to values")
    }

    @Test func duplicatePipelineNamesAreRejected() throws {
        let dir = makeTemporaryDirectory()
        for f in ["a.yaml", "b.yaml"] {
            try "name: same\ntopics: [orders]\nsinks: [analytics]\n".write(to: dir.appendingPathComponent(f), atomically: true, encoding: .utf8)
        }
        #expect(throws: ConfigError.self) { try PipelineDefinition.loadAll(from: dir) }
    }

    @Test func settingsLayerFlagsOverEnvironmentOverFileOverDefaults() throws {
        let file = makeTemporaryDirectory().appendingPathComponent("hearth.yaml")
        try "port: 9000\npostgres: postgresql://file/db\ndata_dir: /var/lib/hearth\n".write(to: file, atomically: true, encoding: .utf8)
        let s = try Settings.load(configFile: file.path, environment: ["HEARTH_PORT": "9100", "HEARTH_BROKERS": "k:9092"])
        #expect(s.port == 9100 && s.brokers == "k:9092" && s.postgres == "postgresql://file/db" && s.dataDirectory == "/var/lib/hearth")
        #expect(Settings().port == 8080 && Settings().brokers == nil && Settings().postgres == nil)
        #expect(throws: ConfigError.self) { try Settings.load(configFile: nil, environment: ["HEARTH_PORT": "eighty"]) }
        try "prot: 9000\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try Settings.load(configFile: file.path, environment: [:]) }
    }
}
