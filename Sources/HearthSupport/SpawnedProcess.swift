import Foundation
import Synchronization

/// A long-lived child process started from a dedicated thread, so that a parent-death signal
/// (which Linux ties to the spawning *thread*) fires only when Hearth itself dies.
public final class SpawnedProcess: Sendable {
    private let child: ChildProcess

    private init(child: ChildProcess) { self.child = child }

    /// Starts `path args` (as `owner` when given, through `setpriv`), with its output appended to `output`.
    public static func start(_ path: String, _ args: [String], as owner: (uid: uid_t, gid: gid_t)?,
                             parentDeathSignal: Bool, output: URL?) throws -> SpawnedProcess {
        let (exe, full) = command(path, args, as: owner, parentDeathSignal: parentDeathSignal)
        let started = DispatchSemaphore(value: 0)
        let result = Mutex<Result<ChildProcess, any Error>?>(nil)
        let thread = Thread {
            let spawned = Result { try ChildProcess(exe, full, directory: "/", stdout: output.map { .file($0) } ?? .discard) }
            result.withLock { $0 = spawned }
            started.signal()
            // This thread stays alive for as long as the child runs.
            if case .success(let child) = spawned { _ = child.waitBlocking() }
        }
        thread.name = "hearth.spawn"
        thread.start()
        started.wait()
        return SpawnedProcess(child: try result.withLock { $0! }.get())
    }

    public static func command(_ path: String, _ args: [String], as owner: (uid: uid_t, gid: gid_t)?,
                               parentDeathSignal: Bool) -> (String, [String]) {
        var pre: [String] = []
        if let owner { pre += ["--reuid=\(owner.uid)", "--regid=\(owner.gid)", "--clear-groups"] }
        if parentDeathSignal { pre += ["--pdeathsig=INT"] }
        guard !pre.isEmpty else { return (path, args) }
        return ("/usr/bin/setpriv", pre + ["--", path] + args)
    }

    public var pid: Int32 { child.pid }

    public var isRunning: Bool { child.isRunning }

    public func interrupt() { child.signal(SIGINT) }

    public func terminate() { child.signal(SIGKILL) }
}
