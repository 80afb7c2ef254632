import CSpawn
import Foundation
import Synchronization

/// A child process, started by `posix_spawn` and reaped by `waitpid` on its own pid.
///
/// Not Foundation's `Process`: on Linux it learns that a child ended when a socket the child
/// inherited reaches end of file, and that socket is created without close-on-exec. Any child
/// another thread spawns at the same moment inherits it, and until that other child exits the
/// first one is never seen to end (`waitUntilExit` and `isRunning` hang; seen here as a test run
/// that never finished). A `ChildProcess` inherits nothing but its three standard streams, and
/// its pipes are close-on-exec, so children started concurrently cannot hold each other open.
public final class ChildProcess: Sendable {
    public enum Input: Sendable {
        case null
        case bytes(Data)
    }

    public enum Output: Sendable {
        case discard
        /// Appended to this file (created when missing).
        case file(URL)
        /// Kept in memory, readable as `output` and line by line with `nextLine`.
        case capture
        /// Where our own standard output goes.
        case inherit
    }

    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)

        /// The exit code, or 128 + the signal (as a shell reports it).
        public var status: Int32 {
            switch self {
            case .exited(let code): code
            case .signalled(let signal): 128 + signal
            }
        }
    }

    public let pid: pid_t
    public let command: String
    private let termination = Mutex<Termination?>(nil)
    private let captured: Captured?

    /// Starts `executable` with `arguments`; stderr goes where stdout goes unless given.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                stdin: Input = .null, stdout: Output = .discard, stderr: Output? = nil) throws {
        command = ([executable] + arguments.prefix(3)).joined(separator: " ")
        var closeAfterSpawn: [Int32] = []
        defer { for fd in closeAfterSpawn { close(fd) } }

        func descriptor(_ output: Output, capture: inout Int32?) throws -> Int32 {
            switch output {
            case .discard: return -1
            case .inherit: return STDOUT_FILENO
            case .file(let url):
                let fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw SpawnError(command: executable, code: errno, what: "could not open \(url.path)") }
                closeAfterSpawn.append(fd)
                return fd
            case .capture:
                let (read, write) = try Self.pipe(executable)
                capture = read
                closeAfterSpawn.append(write)
                return write
            }
        }
        var captureFD: Int32?
        let out = try descriptor(stdout, capture: &captureFD)
        let err = try stderr.map { try descriptor($0, capture: &captureFD) } ?? out
        var inFD: Int32 = -1
        var stdinWriter: Int32?
        if case .bytes = stdin {
            let (read, write) = try Self.pipe(executable)
            inFD = read
            stdinWriter = write
            closeAfterSpawn.append(read)
        }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + env { free(p) } }
        var pid: pid_t = 0
        let rc = hearth_spawn(&pid, executable, argv, env, directory, inFD, out, err, 1)
        guard rc == 0 else {
            if let captureFD { close(captureFD) }
            if let stdinWriter { close(stdinWriter) }
            throw SpawnError(command: executable, code: rc, what: "could not start")
        }
        self.pid = pid
        captured = captureFD.map { Captured(reading: $0) }
        if case .bytes(let data) = stdin, let fd = stdinWriter {
            // A thread of its own: the child may read its input only after writing output.
            Thread.detachNewThread {
                data.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { break }
                        offset += n
                    }
                }
                close(fd)
            }
        }
    }

    private static func pipe(_ executable: String) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        let rc = hearth_pipe(&fds)
        guard rc == 0 else { throw SpawnError(command: executable, code: rc, what: "could not create a pipe") }
        return (fds[0], fds[1])
    }

    /// How the child ended, or nil while it runs (never blocks).
    public func poll() -> Termination? {
        termination.withLock { ended in
            if let ended { return ended }
            var status: Int32 = 0
            var r: pid_t
            repeat { r = waitpid(pid, &status, WNOHANG) } while r < 0 && errno == EINTR
            guard r == pid else { return nil }
            let low = status & 0x7f
            ended = low == 0 ? .exited((status >> 8) & 0xff) : .signalled(low)
            return ended
        }
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits for the child to end, blocking this thread (for dedicated threads, never Swift's
    /// cooperative pool).
    public func waitBlocking() -> Termination {
        while true {
            if let ended = poll() { return ended }
            usleep(5_000)
        }
    }

    /// Waits at most `timeout` for the child to end; nil when it still runs.
    public func wait(timeout: Duration) async -> Termination? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let ended = poll() { return ended }
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    public func signal(_ signal: Int32) {
        if poll() == nil { kill(pid, signal) }
    }

    /// What the child has written so far (`.capture` only).
    public var output: String { captured?.text ?? "" }

    /// The next line the child writes (`.capture` only), waiting at most `timeout`.
    public func nextLine(timeout: Duration) async throws -> String {
        guard let captured else { throw SpawnError(command: command, code: 0, what: "output is not captured") }
        let deadline = ContinuousClock.now + timeout
        while true {
            switch captured.takeLine() {
            case .line(let line): return line
            case .closed: throw SpawnError(command: command, code: 0, what: "closed its output before a full line")
            case .none:
                guard ContinuousClock.now < deadline else {
                    throw SpawnError(command: command, code: 0, what: "wrote no line within \(timeout)")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// Waits until the captured output has been read to its end (the child and anything that
    /// inherited the pipe closed it), at most `timeout`.
    public func outputClosed(timeout: Duration) async -> Bool {
        guard let captured else { return true }
        let deadline = ContinuousClock.now + timeout
        while !captured.closed, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        return captured.closed
    }

    deinit {
        if poll() == nil { kill(pid, SIGKILL) }
    }
}

/// Output read from a pipe by a thread of its own (so the child never blocks on a full pipe).
private final class Captured: Sendable {
    private let state = Mutex<(bytes: [UInt8], read: Int, closed: Bool)>(([], 0, false))

    enum Next { case line(String), closed, none }

    init(reading fd: Int32) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                self.state.withLock { $0.bytes += buffer[..<n] }
            }
            close(fd)
            self.state.withLock { $0.closed = true }
        }
    }

    var text: String { String(decoding: state.withLock { $0.bytes }, as: UTF8.self) }
    var closed: Bool { state.withLock { $0.closed } }

    func takeLine() -> Next {
        state.withLock { s in
            if let newline = s.bytes[s.read...].firstIndex(of: 10) {
                defer { s.read = newline + 1 }
                return .line(String(decoding: s.bytes[s.read..<newline], as: UTF8.self))
            }
            return s.closed ? .closed : .none
        }
    }
}

public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public let command: String
    public let code: Int32
    public let what: String
    public var description: String {
        code > 0 ? "\(command): \(what): \(String(cString: strerror(code)))" : "\(command): \(what)"
    }
}
