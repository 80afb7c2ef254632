import Foundation

/// The `hearth` binary run as a child process, for tests that kill it or talk to its CLI.
final class HearthProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let log: URL

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = TestPaths.hearthBinary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        env["HEARTH_LOG_LEVEL"] = env["HEARTH_LOG_LEVEL"] ?? "warning"
        process.environment = env
        log = makeTemporaryDirectory("hearth-proc").appendingPathComponent("stderr.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
    }

    /// Reads stdout up to the first newline (e.g. the broker's bootstrap address).
    func firstLine(timeout: Duration = .seconds(30)) throws -> String {
        let handle = output.fileHandleForReading
        var bytes: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let chunk = handle.readData(ofLength: 1)
            if chunk.isEmpty { break }
            if chunk.first == 10 { return String(decoding: bytes, as: UTF8.self) }
            bytes += chunk
        }
        throw TimedOut(what: "a line on stdout of hearth \(process.arguments ?? [])")
    }

    var stderr: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func interrupt() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGINT) }
        process.waitUntilExit()
    }

    deinit { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) } }
}
