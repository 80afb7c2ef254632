import Foundation
import Logging
import Synchronization

/// One batch export into the archive's exports area (`<archive>/exports/<id>.<format>`).
public struct ExportJob: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable { case running, done, failed }
    public var id: String
    public var state: State
    public var query: ArchiveQuery
    public var format: ExportFormat
    public var progress: ExportProgress
    public var createdAt: String
    public var finishedAt: String?
    /// When done: the file on the server, its size, records and SHA-256.
    public var path: String?
    public var bytes: Int?
    public var records: Int?
    public var sha256: String?
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case id, state, query, format, progress, path, bytes, records, sha256, error
        case createdAt = "created_at", finishedAt = "finished_at"
    }
}

/// Runs batch exports on their own threads, a few at a time, and remembers them: a finished job's
/// description is written next to its file (`<id>.json`), so it is still found after a restart.
public final class ExportJobs: Sendable {
    public let layout: ArchiveLayout
    public let maxRunning: Int
    private let entries: @Sendable () -> [SegmentEntry]
    private let jobs = Mutex<[String: ExportJob]>([:])
    private let logger: Logger

    public init(layout: ArchiveLayout, maxRunning: Int = 2, logger: Logger, entries: @escaping @Sendable () -> [SegmentEntry]) {
        self.layout = layout
        self.maxRunning = maxRunning
        self.entries = entries
        self.logger = logger
    }

    public enum StartError: Error, Sendable { case busy(running: Int) }

    /// Starts an export; throws `busy` when `maxRunning` are running already.
    public func start(_ query: ArchiveQuery, format: ExportFormat) throws -> ExportJob {
        let id = UUID().uuidString.lowercased()
        let job = ExportJob(id: id, state: .running, query: query, format: format, progress: ExportProgress(),
                            createdAt: ArchiveTime.string(ArchiveStore.nowMillis()))
        try jobs.withLock { all in
            let running = all.values.count(where: { $0.state == .running })
            guard running < maxRunning else { throw StartError.busy(running: running) }
            all[id] = job
        }
        let selected = entries()
        let thread = Thread { [self] in run(job, selected) }
        thread.name = "hearth.export"
        thread.start()
        return job
    }

    /// The job, running or finished (from its description file after a restart).
    public func job(_ id: String) -> ExportJob? {
        if let j = jobs.withLock({ $0[id] }) { return j }
        guard id.range(of: "^[0-9a-f-]{36}$", options: .regularExpression) != nil,
              let data = FileManager.default.contents(atPath: descriptionPath(id)) else { return nil }
        return try? JSONDecoder().decode(ExportJob.self, from: data)
    }

    /// Jobs of this process, newest first.
    public func list() -> [ExportJob] { jobs.withLock { Array($0.values) }.sorted { $0.createdAt > $1.createdAt } }

    private func descriptionPath(_ id: String) -> String { layout.exportsDirectory + "/\(id).json" }

    private func run(_ job: ExportJob, _ selected: [SegmentEntry]) {
        var job = job
        let path = layout.exportsDirectory + "/\(job.id).\(job.format.fileExtension)"
        do {
            let export = try ArchiveExport(layout: layout, entries: selected, query: job.query, format: job.format)
            let file = try AtomicFile(path: path)
            var lastUpdate = ContinuousClock.now
            try export.run({ chunk in try chunk.withUnsafeBytes { try file.write($0) } }, progress: { p in
                guard ContinuousClock.now - lastUpdate > .milliseconds(200) else { return }
                lastUpdate = ContinuousClock.now
                let id = job.id
                self.jobs.withLock { $0[id]?.progress = p }
            })
            try file.commit()
            job.progress = export.progress
            job.state = .done
            job.path = path
            job.bytes = export.progress.bytesOut
            job.records = export.progress.records
            job.sha256 = export.sha256
        } catch {
            job.state = .failed
            job.error = "\(error)"
            logger.error("A batch export failed.", metadata: ["id": "\(job.id)", "reason": "\(error)"])
        }
        job.finishedAt = ArchiveTime.string(ArchiveStore.nowMillis())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let data = try? encoder.encode(job), let f = try? AtomicFile(path: descriptionPath(job.id)) {
            try? data.withUnsafeBytes { try f.write($0) }
            try? f.commit()
        }
        let done = job
        jobs.withLock { $0[done.id] = done }
    }
}
