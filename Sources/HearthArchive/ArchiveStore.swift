import Crypto
import Foundation
import HearthKafka
import HearthPipeline
import Logging
import Metrics

/// How segments are cut and how much memory the archive may hold.
public struct ArchiveSettings: Sendable, Equatable {
    /// A segment is closed when its JSON Lines reach this many bytes …
    public var segmentBytes = 64 << 20
    /// … or this many records …
    public var segmentRecords = 500_000
    /// … or its first record was archived this long ago …
    public var segmentAgeSeconds = 300.0
    /// … or its partition has had no new record for this long (idle partitions are flushed too).
    public var idleFlushSeconds = 30.0
    /// All open and not-yet-written segments together; above it the largest is written early and
    /// writers wait.
    public var memoryBudgetBytes = 256 << 20
    public var compressionLevel: Int32 = 3
    /// zstd's own worker threads for each segment (0: compress on the writer thread).
    public var compressionWorkers: Int32 = 0
    public init() {}
}

/// The archive on disk and its writer: open segments per partition, a queue of closed ones, and one
/// writer thread that compresses each to a temporary file, fsyncs it, renames it into place, fsyncs the
/// directory and then appends its manifest entry (fsynced). The manifest is the archive's position.
public final class ArchiveStore: @unchecked Sendable {
    public let layout: ArchiveLayout
    public let settings: ArchiveSettings
    private let logger: Logger
    private let fault: Fault?
    // Everything below is guarded by `cond`.
    private let cond = NSCondition()
    private var openSegments: [TopicPartition: OpenSegment] = [:]
    private var pending: [SealedSegment] = []
    private var durable: [TopicPartition: Int64] = [:]
    private var accepted: [TopicPartition: Int64] = [:]
    private var entries: [SegmentEntry] = []
    private var buffered = 0
    private var lastError: String?
    private var stopping = false
    private var finished = false
    private var segmentsWritten = 0
    private var manifestFD: Int32 = -1
    private var manifestLength = 0

    private let segmentsCounter = Counter(label: "hearth_archive_segments_written_total")
    private let bytesCounter = Counter(label: "hearth_archive_bytes_written_total")
    private let recordsCounter = Counter(label: "hearth_archive_records_total")
    private let bufferedGauge = Gauge(label: "hearth_archive_buffered_bytes")

    /// Opens (creating) the archive: removes leftover temporary files, drops a manifest line cut short by a
    /// crash, records a segment that was renamed into place just before a crash (or removes it when the
    /// manifest already covers its offsets), and starts the writer thread.
    public init(layout: ArchiveLayout, settings: ArchiveSettings = ArchiveSettings(), logger: Logger) throws {
        self.layout = layout
        self.settings = settings
        self.logger = logger
        fault = Fault.fromEnvironment()
        try recover()
        let thread = Thread { [self] in writerLoop() }
        thread.name = "hearth.archive.writer"
        thread.start()
    }

    // MARK: Recovery

    private func recover() throws {
        let root = layout.root.path
        try POSIX.makeDirectories(root)
        try POSIX.makeDirectories(layout.exportsDirectory)
        var segmentFiles: [String] = []
        var removed = 0
        if let walker = FileManager.default.enumerator(atPath: root) {
            while let rel = walker.nextObject() as? String {
                let name = (rel as NSString).lastPathComponent
                if name.hasSuffix(ArchiveLayout.temporarySuffix) {
                    unlink(root + "/" + rel)
                    removed += 1
                } else if !rel.hasPrefix("exports/"), ArchiveLayout.parseSegmentName(name) != nil {
                    segmentFiles.append(rel)
                }
            }
        }
        if removed > 0 { logger.notice("Removed leftover temporary archive files.", metadata: ["count": "\(removed)"]) }

        let path = layout.manifestPath
        let (read, validLength) = try Manifest.read(path)
        if let size = POSIX.fileSize(path), size > validLength {
            guard truncate(path, off_t(validLength)) == 0 else {
                throw ArchiveError.io("cannot repair \(path): \(POSIX.errorText())")
            }
            logger.warning("Dropped an incomplete last manifest line (a crash while it was written).")
        }
        manifestFD = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard manifestFD >= 0 else { throw ArchiveError.io("cannot open \(path): \(POSIX.errorText())") }
        manifestLength = validLength
        try POSIX.fsyncDirectory(root)
        entries = read
        for e in read { durable[TopicPartition(e.topic, e.partition)] = max(durable[TopicPartition(e.topic, e.partition)] ?? 0, e.endOffset) }

        // A segment renamed into place whose manifest entry was not yet written.
        let known = Set(read.map(\.path))
        let orphans = segmentFiles.filter { !known.contains($0) }.compactMap { rel -> (String, TopicPartition, Int64, Int64)? in
            guard let p = ArchiveLayout.parseSegmentName((rel as NSString).lastPathComponent) else { return nil }
            return (rel, TopicPartition(p.topic, p.partition), p.first, p.last)
        }.sorted { ($0.1, $0.2) < ($1.1, $1.2) }
        for (rel, tp, first, last) in orphans {
            let full = root + "/" + rel
            if let end = durable[tp], first != end {
                unlink(full)
                logger.notice("Removed a segment not in the manifest that does not follow on from it.", metadata: ["path": "\(rel)"])
                continue
            }
            do {
                let scan = try SegmentScan(path: full)
                guard scan.firstOffset == first, scan.lastOffset == last else {
                    throw ArchiveError.corrupt("its offsets \(scan.firstOffset)-\(scan.lastOffset) do not match its name")
                }
                let entry = SegmentEntry(path: rel, topic: tp.topic, partition: tp.partition, startOffset: durable[tp] ?? first,
                                         firstOffset: first, lastOffset: last, records: scan.records, deadLetters: scan.deadLetters,
                                         minEventTime: ArchiveTime.string(scan.minTime), maxEventTime: ArchiveTime.string(scan.maxTime),
                                         bytes: scan.bytes, uncompressedBytes: scan.uncompressedBytes, sha256: scan.sha256,
                                         createdAt: ArchiveTime.string(Self.nowMillis()))
                try appendManifest(entry)
                entries.append(entry)
                durable[tp] = entry.endOffset
                logger.notice("Recorded a segment written just before a crash.", metadata: ["path": "\(rel)"])
            } catch {
                unlink(full)
                logger.warning("Removed an unreadable segment not in the manifest.", metadata: ["path": "\(rel)", "reason": "\(error)"])
            }
        }
        accepted = durable
    }

    // MARK: Writing (called by the sink)

    /// The stored position of each partition, after writing out everything accepted for them: the
    /// runtime calls this on assignment, so nothing accepted before a rebalance is dropped.
    func positions(_ partitions: [TopicPartition], timeout: Duration = .seconds(120)) throws -> [TopicPartition: Int64] {
        try flush(Set(partitions), timeout: timeout)
        cond.lock()
        defer { cond.unlock() }
        var out: [TopicPartition: Int64] = [:]
        for tp in partitions {
            accepted[tp] = durable[tp]
            if let d = durable[tp] { out[tp] = d }
        }
        return out
    }

    /// Closes the open segments of `partitions` and waits until every segment of theirs is written.
    func flush(_ partitions: Set<TopicPartition>, timeout: Duration) throws {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        cond.lock()
        defer { cond.unlock() }
        for tp in partitions where openSegments[tp] != nil { sealLocked(tp) }
        cond.broadcast()
        while pending.contains(where: { partitions.contains($0.partition) }) {
            if finished { throw ArchiveError.io("the archive writer has stopped") }
            if !cond.wait(until: deadline) {
                throw ArchiveError.io("archive segments could not be written within \(Int(timeout.seconds)) s\(lastError.map { ": \($0)" } ?? "")")
            }
        }
    }

    /// All partitions of `topics`.
    func partitions(of topics: Set<String>) -> Set<TopicPartition> {
        cond.lock()
        defer { cond.unlock() }
        return Set(openSegments.keys.filter { topics.contains($0.topic) } + pending.map(\.partition).filter { topics.contains($0.topic) })
    }

    /// Waits (without holding a thread) until `bytes` more fit the memory budget, writing the largest open
    /// segment early while they do not.
    func waitForRoom(_ bytes: Int, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (fits, error): (Bool, String?) = withLock {
                if buffered == 0 || buffered + bytes <= settings.memoryBudgetBytes { return (true, nil) }
                if let largest = openSegments.max(by: { $0.value.lines.count < $1.value.lines.count })?.key {
                    sealLocked(largest)
                    cond.broadcast()
                }
                return (false, lastError)
            }
            if fits { return }
            if let error, ContinuousClock.now > deadline - timeout / 2 {
                throw ArchiveError.io("archive writes are failing: \(error)")
            }
            if ContinuousClock.now > deadline {
                throw ArchiveError.io("the archive writer is behind: over \(settings.memoryBudgetBytes) bytes wait to be written")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Adds a batch's lines to its partition's open segment, closing segments by size, count and date.
    func append(_ batch: SinkBatch, _ encoded: EncodedBatch) throws {
        let tp = batch.partition
        cond.lock()
        defer { cond.unlock() }
        guard accepted[tp] == batch.expectedPosition else {
            throw SinkPositionConflict(partition: tp, stored: durable[tp])
        }
        let now = ContinuousClock.now
        var cursor = batch.expectedPosition ?? batch.records[0].record.offset
        var lineStart = 0
        for (i, r) in batch.records.enumerated() {
            let lineEnd = encoded.ends[i]
            let length = lineEnd - lineStart
            let time = encoded.times[i]
            let day = ArchiveTime.day(time)
            if let o = openSegments[tp], o.records >= settings.segmentRecords || o.lines.count + length > settings.segmentBytes || day > o.day {
                sealLocked(tp)
            }
            if openSegments[tp] == nil {
                openSegments[tp] = OpenSegment(partition: tp, startOffset: cursor, firstOffset: r.record.offset, day: day, openedAt: now)
            }
            openSegments[tp]!.add(encoded.lines, lineStart..<lineEnd, offset: r.record.offset, time: time,
                          deadLetter: encoded.deadLetters[i], at: now)
            cursor = r.record.offset + 1
            lineStart = lineEnd
        }
        buffered += encoded.lines.count
        bufferedGauge.record(buffered)
        accepted[tp] = batch.nextOffset
        if let o = openSegments[tp], o.records >= settings.segmentRecords || o.lines.count >= settings.segmentBytes { sealLocked(tp) }
        cond.broadcast()
    }

    /// Whether the writer is keeping up (no failed write since the last success).
    var healthy: Bool { withLock { lastError == nil && !finished } }

    /// Writes every open segment and stops the writer thread.
    public func close(timeout: Duration = .seconds(120)) {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        cond.lock()
        for tp in Array(openSegments.keys) { sealLocked(tp) }
        stopping = true
        cond.broadcast()
        while !finished {
            if !cond.wait(until: deadline) {
                logger.error("The archive writer did not finish in time; unwritten segments will be consumed again.",
                             metadata: ["segments": "\(pending.count)"])
                break
            }
        }
        cond.unlock()
    }

    private func sealLocked(_ tp: TopicPartition) {
        guard let o = openSegments.removeValue(forKey: tp) else { return }
        pending.append(SealedSegment(o))
    }

    private func withLock<T>(_ body: () throws -> T) rethrows -> T {
        cond.lock()
        defer { cond.unlock() }
        return try body()
    }

    // MARK: The writer thread

    private func writerLoop() {
        var backoff = 0.1
        var failuresWhileStopping = 0
        cond.lock()
        loop: while true {
            tickLocked()
            guard let next = pending.first else {
                if stopping { break loop }
                _ = cond.wait(until: Date().addingTimeInterval(0.25))
                continue
            }
            cond.unlock()
            let result = Result { try write(next) }
            cond.lock()
            switch result {
            case .success(let entry):
                pending.removeFirst()
                entries.append(entry)
                durable[next.partition] = entry.endOffset
                buffered -= next.lines.count
                bufferedGauge.record(buffered)
                lastError = nil
                backoff = 0.1
                cond.broadcast()
            case .failure(let error):
                if lastError == nil { logger.error("Writing an archive segment failed; retrying.", metadata: ["reason": "\(error)"]) }
                lastError = "\(error)"
                cond.broadcast()
                if stopping {
                    failuresWhileStopping += 1
                    if failuresWhileStopping >= 3 { break loop }
                }
                _ = cond.wait(until: Date().addingTimeInterval(backoff))
                backoff = min(backoff * 2, 5)
            }
        }
        finished = true
        cond.broadcast()
        cond.unlock()
    }

    /// Closes segments that are old enough or whose partition went idle.
    private func tickLocked() {
        let now = ContinuousClock.now
        let age = Duration.milliseconds(Int64(settings.segmentAgeSeconds * 1000))
        let idle = Duration.milliseconds(Int64(settings.idleFlushSeconds * 1000))
        for (tp, o) in openSegments where now - o.openedAt >= age || now - o.lastAppend >= idle { sealLocked(tp) }
    }

    /// Compresses one segment to a temporary file, makes it durable under its name, then records it.
    private func write(_ s: SealedSegment) throws -> SegmentEntry {
        segmentsWritten += 1
        let n = segmentsWritten
        let rel = ArchiveLayout.segmentPath(topic: s.partition.topic, partition: s.partition.partition,
                                            first: s.firstOffset, last: s.lastOffset, day: s.day)
        let full = layout.root.path + "/" + rel
        try POSIX.makeDirectories((full as NSString).deletingLastPathComponent)
        let file = try AtomicFile(path: full)
        let hasher = HashBox()
        let compressor = try ZstdCompressor(level: settings.compressionLevel, workers: settings.compressionWorkers) { chunk in
            try file.write(chunk)
            hasher.update(chunk)
        }
        try s.lines.withUnsafeBytes { all in
            let step = 1 << 20
            var at = 0
            while at < all.count {
                let end = min(at + step, all.count)
                try compressor.write(UnsafeRawBufferPointer(rebasing: all[at..<end]))
                at = end
                if at >= all.count / 2 { fault?.trigger(.midWrite, n) }
            }
        }
        try compressor.finish()
        try file.commit(beforeRename: { fault?.trigger(.beforeRename, n) })
        fault?.trigger(.afterRename, n)
        let entry = SegmentEntry(path: rel, topic: s.partition.topic, partition: s.partition.partition, startOffset: s.startOffset,
                                 firstOffset: s.firstOffset, lastOffset: s.lastOffset, records: s.records, deadLetters: s.deadLetters,
                                 minEventTime: ArchiveTime.string(s.minTime), maxEventTime: ArchiveTime.string(s.maxTime),
                                 bytes: file.bytesWritten, uncompressedBytes: s.lines.count, sha256: hasher.hex,
                                 createdAt: ArchiveTime.string(Self.nowMillis()))
        try appendManifest(entry)
        segmentsCounter.increment(by: 1)
        bytesCounter.increment(by: file.bytesWritten)
        recordsCounter.increment(by: s.records)
        return entry
    }

    /// Appends one entry and fsyncs the manifest; a failed append is cut off again so no torn line stays.
    private func appendManifest(_ entry: SegmentEntry) throws {
        let line = Manifest.encode(entry)
        do {
            try line.withUnsafeBytes { try POSIX.writeAll(manifestFD, $0, path: layout.manifestPath) }
            try POSIX.fsyncFile(manifestFD, path: layout.manifestPath)
            manifestLength += line.count
        } catch {
            _ = ftruncate(manifestFD, off_t(manifestLength))
            throw error
        }
    }

    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: Reading

    /// The manifest's entries (in the order they were written).
    public func allEntries() -> [SegmentEntry] { withLock { entries } }

    /// What the writer holds and has done, for status pages.
    public func status() -> ArchiveStatus {
        withLock {
            ArchiveStatus(segments: entries.count, openSegments: openSegments.count, queuedSegments: pending.count,
                          bufferedBytes: buffered, memoryBudgetBytes: settings.memoryBudgetBytes, lastError: lastError)
        }
    }
}

public struct ArchiveStatus: Sendable, Codable, Equatable {
    public var segments: Int
    public var openSegments: Int
    public var queuedSegments: Int
    public var bufferedBytes: Int
    public var memoryBudgetBytes: Int
    public var lastError: String?
    enum CodingKeys: String, CodingKey {
        case segments, openSegments = "open_segments", queuedSegments = "queued_segments", bufferedBytes = "buffered_bytes"
        case memoryBudgetBytes = "memory_budget_bytes", lastError = "last_error"
    }
}

/// A batch's records as archive lines, encoded before the store's lock is taken.
struct EncodedBatch {
    var lines: [UInt8] = []
    /// Per record: where its line ends in `lines`, the time it is filed under, whether it is invalid.
    var ends: [Int] = []
    var times: [Int64] = []
    var deadLetters: [Bool] = []

    init(_ records: [SinkRecord]) {
        let now = ArchiveStore.nowMillis()
        lines.reserveCapacity(records.reduce(0) { $0 + $1.record.value.count + 320 })
        ends.reserveCapacity(records.count)
        for r in records {
            ArchiveLine.append(r, now: now, to: &lines)
            ends.append(lines.count)
            times.append(ArchiveLine.time(r, now: now))
            if case .failure = r.event { deadLetters.append(true) } else { deadLetters.append(false) }
        }
    }
}

struct OpenSegment {
    let partition: TopicPartition
    let startOffset: Int64
    let firstOffset: Int64
    var lastOffset: Int64
    let day: Int64
    var lines: [UInt8] = []
    var records = 0
    var deadLetters = 0
    var minTime = Int64.max
    var maxTime = Int64.min
    let openedAt: ContinuousClock.Instant
    var lastAppend: ContinuousClock.Instant

    init(partition: TopicPartition, startOffset: Int64, firstOffset: Int64, day: Int64, openedAt: ContinuousClock.Instant) {
        self.partition = partition
        self.startOffset = startOffset
        self.firstOffset = firstOffset
        lastOffset = firstOffset
        self.day = day
        self.openedAt = openedAt
        lastAppend = openedAt
    }

    mutating func add(_ source: [UInt8], _ range: Range<Int>, offset: Int64, time: Int64, deadLetter: Bool, at: ContinuousClock.Instant) {
        lines.append(contentsOf: source[range])
        records += 1
        if deadLetter { deadLetters += 1 }
        lastOffset = offset
        minTime = min(minTime, time)
        maxTime = max(maxTime, time)
        lastAppend = at
    }
}

struct SealedSegment {
    let partition: TopicPartition
    let startOffset: Int64
    let firstOffset: Int64
    let lastOffset: Int64
    let day: Int64
    let lines: [UInt8]
    let records: Int
    let deadLetters: Int
    let minTime: Int64
    let maxTime: Int64

    init(_ o: OpenSegment) {
        partition = o.partition
        startOffset = o.startOffset
        firstOffset = o.firstOffset
        lastOffset = o.lastOffset
        day = o.day
        lines = o.lines
        records = o.records
        deadLetters = o.deadLetters
        minTime = o.minTime
        maxTime = o.maxTime
    }
}

/// An incremental SHA-256 that a compressor's output closure can feed.
final class HashBox {
    private var hasher = SHA256()
    func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }
    var hex: String { hasher.finalize().map { String(format: "%02x", $0) }.joined() }
}

/// Fault injection for the crash tests: `HEARTH_ARCHIVE_FAULT=<point>:<n>` kills the process (SIGKILL)
/// when the n-th segment this process writes reaches the point: `mid_write` (half the temporary file
/// written), `before_rename` (temporary file fsynced) or `after_rename` (renamed, manifest not yet written).
struct Fault {
    enum Point: String { case midWrite = "mid_write", beforeRename = "before_rename", afterRename = "after_rename" }
    let point: Point
    let segment: Int

    static func fromEnvironment() -> Fault? {
        guard let spec = ProcessInfo.processInfo.environment["HEARTH_ARCHIVE_FAULT"] else { return nil }
        let parts = spec.split(separator: ":")
        guard parts.count == 2, let p = Point(rawValue: String(parts[0])), let n = Int(parts[1]) else { return nil }
        return Fault(point: p, segment: n)
    }

    func trigger(_ at: Point, _ n: Int) {
        if at == point && n == segment { kill(getpid(), SIGKILL) }
    }
}
