import Foundation
import HearthPostgres
import Logging
import Testing

/// Where the repository and the built `hearth` binary are.
enum TestPaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let pipelines = root.appendingPathComponent("Pipelines")
    static let indexes = root.appendingPathComponent("Indexes")

    /// The `hearth` executable built alongside the tests.
    static var hearthBinary: URL {
        if let path = ProcessInfo.processInfo.environment["HEARTH_BINARY"] { return URL(fileURLWithPath: path) }
        let bundle = Bundle.main.bundleURL
        for candidate in [bundle.appendingPathComponent("hearth"), bundle.deletingLastPathComponent().appendingPathComponent("hearth"),
                          root.appendingPathComponent(".build/debug/hearth")]
        where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        return root.appendingPathComponent(".build/debug/hearth")
    }
}

/// A fresh directory readable by the unprivileged PostgreSQL user.
func makeTemporaryDirectory(_ name: String = "hearth-test") -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    return url
}

/// One managed PostgreSQL server for the whole test process (the same code `hearth demo` uses);
/// every test gets a database of its own.
actor SharedPostgres {
    static let shared = SharedPostgres()
    /// One start, awaited by every caller (the actor is reentrant: a second caller arriving while
    /// the first start is under way must wait for it, not start a server of its own).
    private var server: Task<ManagedPostgres, any Error>?

    func serverURL() async throws -> ManagedPostgres {
        if server == nil {
            server = Task { try await ManagedPostgres.start(dataDirectory: makeTemporaryDirectory("hearth-pg"), logger: testLogger) }
        }
        return try await server!.value
    }

    /// A new, empty database; returns its URL.
    func freshDatabase() async throws -> String {
        let server = try await serverURL()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let admin = PostgresConnection(url: server.url)
        try await admin.query("CREATE DATABASE \(unsafeRaw: name)")
        await admin.close()
        return "postgresql://\(ManagedPostgres.user)@127.0.0.1:\(server.port)/\(name)"
    }
}

let testLogger: Logger = {
    var l = Logger(label: "hearth.test")
    l.logLevel = ProcessInfo.processInfo.environment["HEARTH_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .error
    return l
}()

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` until it holds or `timeout` passes.
func waitUntil(_ what: String, timeout: Duration = .seconds(60), every: Duration = .milliseconds(200),
               _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: every)
    }
    throw TimedOut(what: what)
}
