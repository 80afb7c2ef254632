import Crypto
import Foundation
import HearthKafka
import HearthPipeline
import Logging
import Metrics
import Synchronization

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
    private var nextSegmentID = 0
    /// Chunks of open segments compressed ahead of their closing (for tests and the status page).
    private var chunksCompressed = 0
    var compressedChunks: Int { withLock { chunksCompressed } }
    /// Open segments are compressed in chunks of this many bytes as they fill, so the writer works
    /// alongside the stream and a stop has little left to compress.
    static let chunkBytes = 2 << 20

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
                if buffered <= 0 || buffered + bytes <= settings.memoryBudgetBytes { return (true, nil) }
                if let largest = openSegments.max(by: { $0.value.footprint < $1.value.footprint })?.key {
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
                let detail = withLock { "buffered \(buffered), open \(openSegments.count), queued \(pending.count)" }
                throw ArchiveError.io("the archive writer is behind: over \(settings.memoryBudgetBytes) bytes wait to be written (\(detail))")
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
        // Records go into the open segment in runs (copied at once) until a limit or a date closes it.
        var segment = openSegments.removeValue(forKey: tp)
        var runStart = 0          // first record of the run not yet copied
        var lineStart = 0
        let count = batch.records.count
        func flushRun(upTo i: Int) {
            guard i > runStart, segment != nil else { return }
            let from = runStart == 0 ? 0 : encoded.ends[runStart - 1]
            segment!.add(encoded, records: runStart..<i, bytes: from..<encoded.ends[i - 1],
                         lastOffset: batch.records[i - 1].record.offset, at: now)
            runStart = i
        }
        for i in 0..<count {
            let lineEnd = encoded.ends[i]
            let length = lineEnd - lineStart
            let day = ArchiveTime.day(encoded.times[i])
            if let o = segment {
                let pendingRecords = o.records + (i - runStart)
                let pendingBytes = o.rawTotal + (lineStart - (runStart == 0 ? 0 : encoded.ends[runStart - 1]))
                if pendingRecords >= settings.segmentRecords || (pendingRecords > 0 && pendingBytes + length > settings.segmentBytes) || day > o.day {
                    flushRun(upTo: i)
                    pending.append(segment!)
                    segment = nil
                }
            }
            if segment == nil {
                nextSegmentID += 1
                segment = OpenSegment(id: nextSegmentID, partition: tp, startOffset: cursor, firstOffset: batch.records[i].record.offset,
                                      day: day, openedAt: now, level: settings.compressionLevel, workers: settings.compressionWorkers)
                runStart = i
            }
            cursor = batch.records[i].record.offset + 1
            lineStart = lineEnd
        }
        flushRun(upTo: count)
        openSegments[tp] = segment
        buffered += encoded.lines.count
        bufferedGauge.record(buffered)
        accepted[tp] = batch.nextOffset
        if let o = openSegments[tp], o.records >= settings.segmentRecords || o.rawTotal >= settings.segmentBytes { sealLocked(tp) }
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
        pending.append(o)
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
                // Nothing closed: compress a chunk of the fullest open segment meanwhile.
                if let chunk = takeChunkLocked() {
                    cond.unlock()
                    let result = Result { try chunk.compression.compress(chunk.raw) }
                    cond.lock()
                    finishChunkLocked(chunk, result)
                    continue
                }
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
                buffered -= next.raw.count + next.compression.counted
                next.compression.release()
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

    struct Chunk {
        let id: Int
        let partition: TopicPartition
        let raw: [UInt8]
        let compression: SegmentCompression
    }

    /// The leading raw bytes of the open segment holding the most (at least a chunk), to compress outside the lock.
    private func takeChunkLocked() -> Chunk? {
        guard let (tp, o) = openSegments.max(by: { $0.value.raw.count < $1.value.raw.count }), o.raw.count >= Self.chunkBytes else { return nil }
        return Chunk(id: o.id, partition: tp, raw: o.raw, compression: o.compression)
    }

    /// Drops the compressed bytes from the segment's raw buffer (it may have been closed meanwhile) and
    /// counts the compressed output instead.
    private func finishChunkLocked(_ chunk: Chunk, _ result: Result<Void, any Error>) {
        if case .failure(let error) = result {
            // The frame is broken: drop the partition's unwritten segments and make the runtime read them
            // again from the stored position (its next batch meets a position conflict), as after a crash.
            let tp = chunk.partition
            if let o = openSegments.removeValue(forKey: tp) { buffered -= o.raw.count + o.compression.counted }
            for p in pending where p.partition == tp { buffered -= p.raw.count + p.compression.counted }
            pending.removeAll { $0.partition == tp }
            accepted[tp] = durable[tp]
            bufferedGauge.record(buffered)
            logger.error("Compressing an archive segment failed; its records are read again.", metadata: ["partition": "\(tp)", "reason": "\(error)"])
            cond.broadcast()
            return
        }
        let n = chunk.raw.count
        if openSegments[chunk.partition]?.id == chunk.id {
            openSegments[chunk.partition]!.raw.removeFirst(n)
        } else if let i = pending.firstIndex(where: { $0.id == chunk.id }) {
            pending[i].raw.removeFirst(n)
        }
        let footprint = chunk.compression.footprint
        chunksCompressed += 1
        buffered += footprint - chunk.compression.counted - n
        chunk.compression.counted = footprint
        bufferedGauge.record(buffered)
        cond.broadcast()
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
        // The rest of the segment into the frame (chunks of it may have been compressed already), then the file.
        let compression = s.compression
        try compression.complete(s.raw)
        let file = try AtomicFile(path: full)
        let hasher = HashBox()
        try compression.output.withUnsafeBytes { all in
            let step = 1 << 20
            var at = 0
            while at < all.count {
                let end = min(at + step, all.count)
                let piece = UnsafeRawBufferPointer(rebasing: all[at..<end])
                try file.write(piece)
                hasher.update(piece)
                at = end
                if at >= all.count / 2 { fault?.trigger(.midWrite, n) }
            }
        }
        try file.commit(beforeRename: { fault?.trigger(.beforeRename, n) })
        fault?.trigger(.afterRename, n)
        let entry = SegmentEntry(path: rel, topic: s.partition.topic, partition: s.partition.partition, startOffset: s.startOffset,
                                 firstOffset: s.firstOffset, lastOffset: s.lastOffset, records: s.records, deadLetters: s.deadLetters,
                                 minEventTime: ArchiveTime.string(s.minTime), maxEventTime: ArchiveTime.string(s.maxTime),
                                 bytes: file.bytesWritten, uncompressedBytes: s.rawTotal, sha256: hasher.hex,
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
        times.reserveCapacity(records.count)
        deadLetters.reserveCapacity(records.count)
        for i in records.indices {
            ArchiveLine.append(records[i], now: now, to: &lines)
            ends.append(lines.count)
            times.append(ArchiveLine.time(records[i], now: now))
            if case .failure = records[i].event { deadLetters.append(true) } else { deadLetters.append(false) }
        }
    }
}

struct OpenSegment {
    let id: Int
    let partition: TopicPartition
    let startOffset: Int64
    let firstOffset: Int64
    var lastOffset: Int64
    let day: Int64
    /// Lines not compressed yet.
    var raw: [UInt8] = []
    /// All the segment's JSON Lines bytes, compressed or not.
    var rawTotal = 0
    var records = 0
    var deadLetters = 0
    var minTime = Int64.max
    var maxTime = Int64.min
    let openedAt: ContinuousClock.Instant
    var lastAppend: ContinuousClock.Instant
    /// The segment's zstd frame so far (used by the writer thread only).
    let compression: SegmentCompression

    init(id: Int, partition: TopicPartition, startOffset: Int64, firstOffset: Int64, day: Int64, openedAt: ContinuousClock.Instant,
         level: Int32, workers: Int32) {
        self.id = id
        self.partition = partition
        self.startOffset = startOffset
        self.firstOffset = firstOffset
        lastOffset = firstOffset
        self.day = day
        self.openedAt = openedAt
        lastAppend = openedAt
        compression = SegmentCompression(level: level, workers: workers)
    }

    /// Bytes it holds: raw lines, compressed output and the compression context.
    var footprint: Int { raw.count + compression.footprint }

    /// Adds the records `records` of `batch`, whose lines are `bytes` of its buffer.
    mutating func add(_ batch: EncodedBatch, records range: Range<Int>, bytes: Range<Int>, lastOffset: Int64, at: ContinuousClock.Instant) {
        batch.lines.withUnsafeBufferPointer { raw.append(contentsOf: UnsafeBufferPointer(rebasing: $0[bytes])) }
        rawTotal += bytes.count
        records += range.count
        for i in range {
            if batch.deadLetters[i] { deadLetters += 1 }
            minTime = min(minTime, batch.times[i])
            maxTime = max(maxTime, batch.times[i])
        }
        self.lastOffset = lastOffset
        lastAppend = at
    }
}

/// A closed segment waiting for the writer: the same record of it, no longer appended to.
typealias SealedSegment = OpenSegment

/// One segment's zstd frame, built up chunk by chunk on the writer thread. Its size is read under the
/// store's lock (for the memory budget), so the writer keeps it in an atomic counter.
final class SegmentCompression: @unchecked Sendable {
    private let box = OutputBox()
    private var compressor: ZstdCompressor?
    private var finished = false
    private let size = Atomic<Int>(0)
    private let level: Int32
    private let workers: Int32

    init(level: Int32, workers: Int32) {
        self.level = level
        self.workers = workers
    }

    var output: [UInt8] { box.bytes }

    /// Compressed bytes plus the context's memory.
    var footprint: Int { size.load(ordering: .relaxed) }
    /// How much of `footprint` the store's buffered total holds (changed under the store's lock).
    var counted = 0

    func compress(_ raw: [UInt8]) throws {
        if compressor == nil {
            let box = box
            compressor = try ZstdCompressor(level: level, workers: workers) { box.bytes.append(contentsOf: $0) }
        }
        try compressor!.write(raw)
        sync()
    }

    /// Compresses the segment's last raw bytes and ends the frame (once, however often a failed write is retried).
    func complete(_ rest: [UInt8]) throws {
        guard !finished else { return }
        if !rest.isEmpty || compressor == nil { try compress(rest) }
        try compressor!.finish()
        compressor = nil
        finished = true
        sync()
    }

    func release() {
        compressor = nil
        box.bytes = []
        sync()
    }

    private func sync() {
        size.store(box.bytes.count + (compressor?.memoryBytes ?? 0), ordering: .relaxed)
    }

    final class OutputBox { var bytes: [UInt8] = [] }
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
