import Foundation
import Synchronization

/// A child process started from a dedicated, long-lived thread, so that a
/// parent-death signal (which Linux ties to the spawning *thread*) fires only
/// when Hearth itself dies.
public final class SpawnedProcess: Sendable {
    public let pid: Int32
    private let exited = Atomic<Bool>(false)

    private init(pid: Int32) { self.pid = pid }

    /// Starts `path args` (as `owner` when given, through `setpriv`), with its output appended to `output`.
    public static func start(_ path: String, _ args: [String], as owner: (uid: uid_t, gid: gid_t)?,
                             parentDeathSignal: Bool, output: URL?) throws -> SpawnedProcess {
        let (exe, full) = command(path, args, as: owner, parentDeathSignal: parentDeathSignal)
        let started = DispatchSemaphore(value: 0)
        let result = Mutex<Result<SpawnedProcess, any Error>?>(nil)
        let thread = Thread {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = full
            p.currentDirectoryURL = URL(fileURLWithPath: "/")
            if let output, let handle = try? FileHandle(forWritingTo: output) {
                handle.seekToEndOfFile()
                p.standardOutput = handle
                p.standardError = handle
            } else {
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
            }
            do {
                try p.run()
            } catch {
                result.withLock { $0 = .failure(error) }
                started.signal()
                return
            }
            let spawned = SpawnedProcess(pid: p.processIdentifier)
            result.withLock { $0 = .success(spawned) }
            started.signal()
            // This thread stays alive for as long as the child runs.
            p.waitUntilExit()
            spawned.exited.store(true, ordering: .releasing)
        }
        thread.name = "hearth.spawn"
        thread.start()
        started.wait()
        return try result.withLock { $0! }.get()
    }

    public static func command(_ path: String, _ args: [String], as owner: (uid: uid_t, gid: gid_t)?,
                               parentDeathSignal: Bool) -> (String, [String]) {
        var pre: [String] = []
        if let owner { pre += ["--reuid=\(owner.uid)", "--regid=\(owner.gid)", "--clear-groups"] }
        if parentDeathSignal { pre += ["--pdeathsig=INT"] }
        guard !pre.isEmpty else { return (path, args) }
        return ("/usr/bin/setpriv", pre + ["--", path] + args)
    }

    public var isRunning: Bool { !exited.load(ordering: .acquiring) }

    public func interrupt() { if isRunning { kill(pid, SIGINT) } }

    public func terminate() { if isRunning { kill(pid, SIGKILL) } }
}
