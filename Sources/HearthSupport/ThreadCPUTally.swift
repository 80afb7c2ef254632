#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// CPU time spent by the threads that add to it (user + system, from the kernel's per-thread clock).
public final class ThreadCPUTally: Sendable {
    private let total = Mutex(0.0)
    public init() {}

    /// The calling thread's CPU time so far.
    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Runs `body`, adding the CPU time the calling thread spends in it.
    public func measure<T>(_ body: () throws -> T) rethrows -> T {
        let start = Self.now()
        defer { total.withLock { $0 += Self.now() - start } }
        return try body()
    }

    public var seconds: Double { total.withLock { $0 } }
}
