import Dispatch

/// Runs blocking native calls (librdkafka flush, libpq, Xapian commit) on
/// Dispatch threads, never on Swift's cooperative pool.
public enum Blocking {
    private static let queue = DispatchQueue(label: "hearth.blocking", attributes: .concurrent)

    /// Runs `body` on a Dispatch thread and resumes with its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body` on `queue` (a serial queue owning a native handle) and resumes with its result.
    public static func run<T: Sendable>(on queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Blocks the calling thread (which must not be a cooperative-pool thread) until `body` finishes.
    public static func wait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.set(await Result(catching: { try await body() }))
            done.signal()
        }
        done.wait()
        return try box.get()
    }
}

import Synchronization

private final class ResultBox<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)
    func set(_ r: Result<T, any Error>) { value.withLock { $0 = r } }
    func get() throws -> T { try value.withLock { $0! }.get() }
}

extension Result where Failure == any Error {
    public init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
