import ArgumentParser
import CMimalloc
import Foundation
import HearthSupport
import Logging
import Metrics
import Prometheus

@main
struct Hearth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hearth",
        abstract: "Search, analytics and data pipelines for food delivery events.",
        subcommands: [Serve.self, Demo.self, Broker.self, Generate.self, Validate.self, Migrate.self, Export.self, Archive.self, Replay.self, Token.self, HashKey.self, Bench.self])
}

/// Process-wide set-up shared by the commands.
enum Bootstrap {
    nonisolated(unsafe) private static var done = false
    static let registry = PrometheusCollectorRegistry()

    /// Tunes the allocator and sets up logging and metrics, once.
    static func start(logLevel level: String, format: String = "text") {
        guard !done else { return }
        done = true
        // mimalloc returns freed pages to the kernel 25 ms after they empty by default; the ingest path
        // frees and fills about as much memory with every batch, a few times a second, so each batch paid
        // for faulting them in again. A second keeps them across batches (about 40% fewer page faults in
        // `hearth bench ingest`, with the same peak memory).
        mi_option_set(mi_option_decommit_delay, 1000)
        let lvl = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            if format == "json" { return JSONLogHandler(label: label, level: lvl) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = lvl
            return handler
        }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }
}

/// Prints one readable line and exits non-zero.
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("hearth: error: \(message)\n".utf8))
    return ExitCode.failure
}

/// An error as one readable line (its `description`, which our error types keep safe to show).
func describe(_ error: any Error) -> String { String(describing: error) }

/// One JSON object on one line, keys sorted (what `--json` prints).
func jsonLine(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Writes a line to stdout immediately (unbuffered), for addresses that scripts read.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
