import Foundation
import HearthArchive
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
        #expect(orders.topics == ["orders"] && orders.sinks == ["analytics", "archive"] && orders.deadLetterTopic(for: "orders") == "orders.dlq")
        #expect(orders.maxRecordBytes == 1 << 20)
        let catalog = try #require(all.first { $0.name == "catalog" })
        #expect(catalog.topics == ["restaurants", "menus"] && catalog.sinks == ["search", "archive"])
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

    @Test func theArchiveSectionsCompressionIsReadAndChecked() throws {
        let dir = makeTemporaryDirectory()
        let file = dir.appendingPathComponent("hearth.yaml")
        func load(_ yaml: String) throws -> Settings {
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            return try Settings.load(configFile: file.path, environment: [:])
        }
        func error(_ yaml: String) -> String? {
            do { _ = try load(yaml); return nil } catch { return "\(error)".replacingOccurrences(of: dir.path + "/", with: "") }
        }
        #expect(Settings().archive.compression == ZstdParameters(level: 1, minMatch: 0))
        #expect(try load("archive:\n  compression_level: 9\n  compression_min_match: 0\n").archive.compression == ZstdParameters(level: 9, minMatch: 0))
        #expect(try load("archive:\n  compression_min_match: 7\n").archive.compression == ZstdParameters(level: 1, minMatch: 7))
        #expect(error("archive:\n  compression_min_match: 2\n")
            == "hearth.yaml:2: archive.compression_min_match: must be 3 to 7, or 0 for the level's own")
        #expect(error("archive:\n  compression_min_match: 8\n")?.hasPrefix("hearth.yaml:2: archive.compression_min_match:") == true)
    }

    @Test func theAuthSectionIsReadStrictly() throws {
        let dir = makeTemporaryDirectory()
        let file = dir.appendingPathComponent("hearth.yaml")
        func error(_ yaml: String) -> String? {
            try? yaml.write(to: file, atomically: true, encoding: .utf8)
            do { _ = try Settings.load(configFile: file.path, environment: [:]); return nil } catch {
                return "\(error)".replacingOccurrences(of: dir.path + "/", with: "")
            }
        }
        let hash = String(repeating: "ab", count: 32)
        try "auth:\n  jwt_secret: \(String(repeating: "x", count: 32))\n  audience: hearth-api\n  api_keys:\n    bi: {sha256: \(hash), role: analyst}\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let s = try Settings.load(configFile: file.path, environment: [:])
        #expect(s.auth.audience == "hearth-api" && s.auth.apiKeys == [AuthSettings.APIKey(name: "bi", sha256: hash, role: .analyst)])
        #expect(error("auth:\n  jwt_secret: short\n") == "hearth.yaml:2: auth.jwt_secret: must be at least 32 characters")
        #expect(error("auth:\n  api_keys:\n    bi: {sha256: \(hash), role: root}\n") == "hearth.yaml:3: auth.api_keys.bi.role: must be one of: public, analyst, admin")
        #expect(error("auth:\n  api_keys:\n    bi: {sha256: abc, role: admin}\n")?.hasPrefix("hearth.yaml:3: auth.api_keys.bi.sha256: must be the 64 hex digits") == true)
        #expect(error("auth:\n  public_keys:\n    k1: missing.pem\n") == "hearth.yaml:3: auth.public_keys.k1: must name a readable PEM public key file")
        #expect(error("auth:\n  colour: red\n") == "hearth.yaml:2: auth.colour: unknown key")
    }
}
