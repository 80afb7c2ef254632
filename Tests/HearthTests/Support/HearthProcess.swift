import Foundation
import HearthSupport
import Testing

/// The `hearth` binary run as a child process, for tests that kill it or talk to its CLI: stdout
/// captured (read line by line), stderr in a file. Every wait is bounded, so a hung child fails
/// its test instead of hanging the test run.
final class HearthProcess: Sendable {
    private let child: ChildProcess
    private let log: URL

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        env["HEARTH_LOG_LEVEL"] = env["HEARTH_LOG_LEVEL"] ?? "warning"
        log = makeTemporaryDirectory("hearth-proc").appendingPathComponent("stderr.log")
        child = try ChildProcess(TestPaths.hearthBinary.path, arguments, environment: env, stdout: .capture, stderr: .file(log))
    }

    /// Runs `hearth arguments` while `body` runs, then stops it with SIGINT (also when `body` throws).
    static func with<T: Sendable>(_ arguments: [String], environment: [String: String] = [:],
                                  _ body: (HearthProcess) async throws -> T) async throws -> T {
        let process = try HearthProcess(arguments, environment: environment)
        do {
            let result = try await body(process)
            await process.interrupt()
            return result
        } catch {
            await process.interrupt()
            throw error
        }
    }

    var stderr: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// The next line on stdout (e.g. the broker's bootstrap address).
    func nextLine(timeout: Duration = .seconds(30)) async throws -> String { try await child.nextLine(timeout: timeout) }

    /// Waits for the child to end by itself.
    func waitForExit(timeout: Duration) async -> ChildProcess.Termination? { await child.wait(timeout: timeout) }

    /// SIGKILL, and the child reaped.
    func kill() async {
        child.signal(SIGKILL)
        if await child.wait(timeout: .seconds(10)) == nil { Issue.record("\(child.command) survived SIGKILL for 10 s") }
    }

    /// SIGINT, then at most `grace` for a graceful stop; returns how it ended. A child still
    /// running after that is killed and the test records it.
    @discardableResult
    func interrupt(grace: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation) async -> ChildProcess.Termination? {
        child.signal(SIGINT)
        if let ended = await child.wait(timeout: grace) { return ended }
        Issue.record("\(child.command) did not stop within \(grace) of SIGINT; killed. stderr: \(stderr.suffix(500))",
                     sourceLocation: sourceLocation)
        await kill()
        return nil
    }
}

/// Runs a command to completion (stdout and stderr together) within `timeout`.
func runTool(_ tool: String, _ args: [String], stdin: String? = nil, in directory: URL? = nil,
             timeout: Duration = .seconds(120)) async throws -> (status: Int32, out: String) {
    let child = try ChildProcess(tool, args, directory: directory?.path, stdin: stdin.map { .bytes(Data($0.utf8)) } ?? .null,
                                 stdout: .capture)
    guard let ended = await child.wait(timeout: timeout) else {
        child.signal(SIGKILL)
        throw TimedOut(what: "\(child.command) to finish (killed after \(timeout)); it printed: \(child.output.suffix(500))")
    }
    _ = await child.outputClosed(timeout: .seconds(5))
    return (ended.status, child.output)
}
