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
    /// How long a writer waits for room in the budget before its batch fails ("the archive writer is behind").
    public var budgetWait: Duration = .seconds(60)
    /// zstd parameters of segments: level 1 (see `ZstdParameters.jsonLines`).
    public var compression = ZstdParameters.jsonLines
    /// Segments compressed at once (each segment is one zstd frame, extended by one thread at a time):
    /// the writer thread and this many less one helpers. Default: the cores, at most 4.
    public var compressionThreads = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4)
    public init() {}
}

/// The archive on disk and its writer: open segments per partition, a queue of closed ones, and one
/// writer thread that compresses each to a temporary file, fsyncs it, renames it into place, fsyncs the
/// directory and then appends its manifest entry (fsynced). The manifest is the archive's position.
/// Segments are compressed while they fill, a chunk at a time, by the writer and helper threads
/// (`compressionThreads`), so that several partitions compress at once and a close has little left.
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
    static let chunkBytes = 1 << 19

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
        for i in 1..<max(settings.compressionThreads, 1) {
            let helper = Thread { [self] in helperLoop() }
            helper.name = "hearth.archive.compress.\(i)"
            helper.start()
        }
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
                try appendManifest([entry])
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
    func waitForRoom(_ bytes: Int) async throws {
        let timeout = settings.budgetWait
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
        var cursor = batch.expectedPosition ?? encoded.offsets[0]
        // Records go into the open segment in runs (copied at once) until a limit or a date closes it.
        var segment = openSegments.removeValue(forKey: tp)
        var runStart = 0          // first record of the run not yet copied
        var lineStart = 0
        let count = encoded.offsets.count
        func flushRun(upTo i: Int) {
            guard i > runStart, segment != nil else { return }
            let from = runStart == 0 ? 0 : encoded.ends[runStart - 1]
            segment!.add(encoded, records: runStart..<i, bytes: from..<encoded.ends[i - 1],
                         lastOffset: encoded.offsets[i - 1], at: now)
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
                segment = OpenSegment(id: nextSegmentID, partition: tp, startOffset: cursor, firstOffset: encoded.offsets[i],
                                      day: day, openedAt: now, compression: settings.compression)
                runStart = i
            }
            cursor = encoded.offsets[i] + 1
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

    // MARK: The writer thread and its helpers

    private func writerLoop() {
        var backoff = 0.1
        var failuresWhileStopping = 0
        cond.lock()
        loop: while true {
            tickLocked()
            let group = takeWritableLocked(limit: Self.groupLimit)
            guard !group.isEmpty else {
                // Nothing closed that can be written now: compress a chunk of an open segment meanwhile.
                if let chunk = takeChunkLocked() {
                    compressOutsideLock(chunk)
                    continue
                }
                if stopping && pending.isEmpty { break loop }
                _ = cond.wait(until: Date().addingTimeInterval(0.25))
                continue
            }
            cond.unlock()
            let outcomes = write(group)
            cond.lock()
            var failedIO: (any Error)?
            for (job, outcome) in zip(group, outcomes) {
                let next = job.segment
                next.compression.busy = false
                let present = pending.contains { $0.id == next.id }
                switch outcome {
                case .written(let entry):
                    entries.append(entry)
                    durable[next.partition] = entry.endOffset
                    if present {
                        pending.removeAll { $0.id == next.id }
                        buffered -= job.rest.bytes + next.compression.counted
                    }
                    next.compression.release()
                case .frameFailed(let error):
                    // Compressing failed part-way: the frame is lost, so its records are read again.
                    if present { buffered -= job.rest.bytes }
                    dropUnwrittenLocked(next.partition, reason: error)
                case .abandoned:
                    // An earlier segment of its partition failed: dropped with it.
                    if present { buffered -= job.rest.bytes }
                    dropUnwrittenLocked(next.partition, reason: ArchiveError.io("an earlier segment of the partition failed"))
                case .failed(let error):
                    // The frame is whole; writing the file is retried (the lines were consumed into the frame).
                    if present {
                        let footprint = next.compression.footprint
                        buffered += footprint - next.compression.counted - job.rest.bytes
                        next.compression.counted = footprint
                    }
                    failedIO = failedIO ?? error
                }
            }
            bufferedGauge.record(buffered)
            cond.broadcast()
            if let error = failedIO {
                if lastError == nil { logger.error("Writing an archive segment failed; retrying.", metadata: ["reason": "\(error)"]) }
                lastError = "\(error)"
                if stopping {
                    failuresWhileStopping += 1
                    if failuresWhileStopping >= 3 { break loop }
                }
                _ = cond.wait(until: Date().addingTimeInterval(backoff))
                backoff = min(backoff * 2, 5)
            } else {
                lastError = nil
                backoff = 0.1
            }
        }
        finished = true
        cond.broadcast()
        cond.unlock()
    }

    /// A helper compresses chunks of open and closed segments until the writer has finished.
    private func helperLoop() {
        cond.lock()
        while !finished {
            if let chunk = takeChunkLocked() {
                compressOutsideLock(chunk)
            } else {
                _ = cond.wait(until: Date().addingTimeInterval(0.25))
            }
        }
        cond.unlock()
    }

    /// Closed segments written together: their files are fsynced one after another while the disk already
    /// writes the others, each directory is fsynced once, and the manifest once for all of them.
    static let groupLimit = 32

    /// A closed segment taken to be written, with its lines not yet compressed and its number (fault injection).
    struct Job {
        let segment: SealedSegment
        let rest: Pieces
        let number: Int
    }

    /// Takes the closed segments that can be written now, in order: no thread is compressing them, and every
    /// earlier segment of their partition is taken too (a partition's segments are recorded in order).
    private func takeWritableLocked(limit: Int) -> [Job] {
        var blocked = Set<TopicPartition>()
        var jobs: [Job] = []
        for i in pending.indices where jobs.count < limit {
            let p = pending[i]
            guard !p.compression.busy && !blocked.contains(p.partition) else {
                blocked.insert(p.partition)
                continue
            }
            p.compression.busy = true
            segmentsWritten += 1
            jobs.append(Job(segment: p, rest: pending[i].takePieces(), number: segmentsWritten))
        }
        return jobs
    }

    struct Chunk {
        let id: Int
        let partition: TopicPartition
        let pieces: Pieces
        let compression: SegmentCompression
        /// Taken from a closed segment: these are its last lines, so the frame is completed too (which frees
        /// the compression context at once; the writer then only writes the file).
        let sealed: Bool
    }

    /// Lines taken from a segment to compress: whole batch buffers or runs copied out of them, in order.
    struct Pieces {
        var list: [LineBuffer] = []
        var bytes = 0
    }

    /// Takes the uncompressed lines of the closed segment written soonest, else of the open segment holding the
    /// most (at least a chunk's worth), to compress outside the lock; no other thread extends that frame meanwhile.
    private func takeChunkLocked() -> Chunk? {
        if let i = pending.firstIndex(where: { !$0.compression.busy && $0.pieces.bytes > 0 }) {
            let p = pending[i]
            p.compression.busy = true
            return Chunk(id: p.id, partition: p.partition, pieces: pending[i].takePieces(), compression: p.compression, sealed: true)
        }
        var best: TopicPartition?
        var most = Self.chunkBytes - 1
        for (tp, o) in openSegments where !o.compression.busy && o.pieces.bytes > most {
            best = tp
            most = o.pieces.bytes
        }
        guard let tp = best, var o = openSegments.removeValue(forKey: tp) else { return nil }
        o.compression.busy = true
        let pieces = o.takePieces()
        openSegments[tp] = o
        return Chunk(id: o.id, partition: tp, pieces: pieces, compression: o.compression, sealed: false)
    }

    /// Called with the lock held; drops it while compressing.
    private func compressOutsideLock(_ chunk: Chunk) {
        cond.unlock()
        let result = Result {
            if chunk.sealed {
                try chunk.compression.complete(chunk.pieces.list)
            } else {
                for piece in chunk.pieces.list { try chunk.compression.compress(piece) }
            }
        }
        cond.lock()
        chunk.compression.busy = false
        let stillThere = openSegments[chunk.partition]?.id == chunk.id || pending.contains { $0.id == chunk.id }
        guard stillThere, case .success = result else {
            // Dropped meanwhile (another frame of its partition failed), or this one failed.
            buffered -= chunk.pieces.bytes + (stillThere ? 0 : chunk.compression.counted)
            if case .failure(let error) = result, stillThere { dropUnwrittenLocked(chunk.partition, reason: error) }
            bufferedGauge.record(buffered)
            cond.broadcast()
            return
        }
        // Count the compressed output instead of the lines.
        let footprint = chunk.compression.footprint
        chunksCompressed += 1
        buffered += footprint - chunk.compression.counted - chunk.pieces.bytes
        chunk.compression.counted = footprint
        bufferedGauge.record(buffered)
        cond.broadcast()
    }

    /// A frame is broken: drops the partition's unwritten segments and makes the runtime read them again from
    /// the stored position (its next batch meets a position conflict), as after a crash.
    private func dropUnwrittenLocked(_ tp: TopicPartition, reason: any Error) {
        if let o = openSegments.removeValue(forKey: tp) { buffered -= o.pieces.bytes + o.compression.counted }
        for p in pending where p.partition == tp { buffered -= p.pieces.bytes + p.compression.counted }
        pending.removeAll { $0.partition == tp }
        accepted[tp] = durable[tp]
        bufferedGauge.record(buffered)
        logger.error("Compressing an archive segment failed; its records are read again.", metadata: ["partition": "\(tp)", "reason": "\(reason)"])
        cond.broadcast()
    }

    /// Closes segments that are old enough or whose partition went idle.
    private func tickLocked() {
        let now = ContinuousClock.now
        let age = Duration.milliseconds(Int64(settings.segmentAgeSeconds * 1000))
        let idle = Duration.milliseconds(Int64(settings.idleFlushSeconds * 1000))
        for (tp, o) in openSegments where now - o.openedAt >= age || now - o.lastAppend >= idle { sealLocked(tp) }
    }

    enum Outcome {
        case written(SegmentEntry)
        /// The frame could not be completed: its lines are gone, the records must be read again.
        case frameFailed(any Error)
        /// Not written because an earlier segment of its partition in the group failed.
        case abandoned
        /// Writing or recording the file failed; the frame is whole and the write is retried.
        case failed(any Error)
    }

    /// Writes a group of closed segments (oldest first): each frame is completed with its last lines and
    /// written to a temporary file (its writeback started at once); then each file is fsynced and renamed into
    /// place; then each directory is fsynced, and all their manifest entries are appended and fsynced at once.
    /// A partition's segments are recorded in order: after one fails, the later ones of its partition are not.
    private func write(_ jobs: [Job]) -> [Outcome] {
        var outcomes = [Outcome?](repeating: nil, count: jobs.count)
        var broken = Set<TopicPartition>()   // a frame failed: later segments of the partition are dropped
        var stopped = Set<TopicPartition>()  // a write failed: later segments of the partition wait
        func fail(_ i: Int, _ outcome: Outcome) {
            outcomes[i] = outcome
            if case .frameFailed = outcome { broken.insert(jobs[i].segment.partition) } else { stopped.insert(jobs[i].segment.partition) }
        }
        struct Staged { let index: Int; let file: AtomicFile; let rel: String; let sha256: String }
        var staged: [Staged] = []

        // 1. Frames completed and written to temporary files.
        for (i, job) in jobs.enumerated() {
            let s = job.segment
            if broken.contains(s.partition) { outcomes[i] = .abandoned; continue }
            do { try s.compression.complete(job.rest.list) } catch { fail(i, .frameFailed(error)); continue }
            if stopped.contains(s.partition) { outcomes[i] = .failed(ArchiveError.io("an earlier segment of the partition is not written yet")); continue }
            let rel = ArchiveLayout.segmentPath(topic: s.partition.topic, partition: s.partition.partition,
                                                first: s.firstOffset, last: s.lastOffset, day: s.day)
            let full = layout.root.path + "/" + rel
            do {
                try POSIX.makeDirectories((full as NSString).deletingLastPathComponent)
                let file = try AtomicFile(path: full)
                let hasher = HashBox()
                try s.compression.output.withUnsafeBytes { all in
                    let step = 1 << 20
                    var at = 0
                    while at < all.count {
                        let end = min(at + step, all.count)
                        let piece = UnsafeRawBufferPointer(rebasing: all[at..<end])
                        try file.write(piece)
                        hasher.update(piece)
                        at = end
                        if at >= all.count / 2 { fault?.trigger(.midWrite, job.number) }
                    }
                }
                file.startWriteback()
                staged.append(Staged(index: i, file: file, rel: rel, sha256: hasher.hex))
            } catch {
                fail(i, .failed(error))
            }
        }

        // 2. Each file fsynced and renamed into place, in order.
        var renamed: [Staged] = []
        for st in staged {
            let job = jobs[st.index]
            guard !stopped.contains(job.segment.partition) else {
                outcomes[st.index] = .failed(ArchiveError.io("an earlier segment of the partition is not written yet"))
                continue
            }
            do {
                try st.file.commit(syncDirectory: false, beforeRename: { fault?.trigger(.beforeRename, job.number) })
                fault?.trigger(.afterRename, job.number)
                renamed.append(st)
            } catch {
                fail(st.index, .failed(error))
            }
        }

        // 3. The directories, then the manifest: the segments count from here.
        do {
            for dir in Set(renamed.map { ($0.file.path as NSString).deletingLastPathComponent }).sorted() {
                try POSIX.fsyncDirectory(dir)
            }
            var recorded: [(Int, SegmentEntry)] = []
            for st in renamed {
                let s = jobs[st.index].segment
                recorded.append((st.index, SegmentEntry(
                    path: st.rel, topic: s.partition.topic, partition: s.partition.partition, startOffset: s.startOffset,
                    firstOffset: s.firstOffset, lastOffset: s.lastOffset, records: s.records, deadLetters: s.deadLetters,
                    minEventTime: ArchiveTime.string(s.minTime), maxEventTime: ArchiveTime.string(s.maxTime),
                    bytes: st.file.bytesWritten, uncompressedBytes: s.rawTotal, sha256: st.sha256,
                    createdAt: ArchiveTime.string(Self.nowMillis()))))
            }
            try appendManifest(recorded.map(\.1))
            for (i, entry) in recorded {
                outcomes[i] = .written(entry)
                segmentsCounter.increment(by: 1)
                bytesCounter.increment(by: entry.bytes)
                recordsCounter.increment(by: entry.records)
            }
        } catch {
            for st in renamed { outcomes[st.index] = .failed(error) }
        }
        return outcomes.map { $0 ?? .failed(ArchiveError.io("not written")) }
    }

    /// Appends entries and fsyncs the manifest; a failed append is cut off again so no torn line stays.
    private func appendManifest(_ entries: [SegmentEntry]) throws {
        guard !entries.isEmpty else { return }
        let line = entries.reduce(into: [UInt8]()) { $0 += Manifest.encode($1) }
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

/// Bytes in memory of our own (malloc'd), written through a pointer by the line encoder and then only read:
/// a batch's lines, handed whole to its segment and then to the compressing thread without a copy.
final class LineBuffer: @unchecked Sendable {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int) {
        (base, self.capacity) = LineBufferPool.shared.take(capacity)
    }

    convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(capacity: bytes.count)
        if let src = bytes.baseAddress, bytes.count > 0 { memcpy(base, src, bytes.count) }
        count = bytes.count
    }

    deinit { LineBufferPool.shared.give(base, capacity: capacity) }

    /// Where the next `n` bytes go (growing the buffer when they do not fit); `commit` says how far was written.
    func reserve(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        if count + n > capacity {
            capacity = max(capacity * 2, count + n)
            base = realloc(base, capacity)!.assumingMemoryBound(to: UInt8.self)
        }
        return base + count
    }

    func commit(_ end: UnsafeMutablePointer<UInt8>) {
        count = end - base
        precondition(count <= capacity, "an archive line outgrew the room reserved for it")
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

/// Line buffers given back, kept for the next batches: writing a batch into fresh memory cost a page fault
/// (and the kernel zeroing the page) for every 4 KiB, a tenth of the writer's CPU. Buffers come in sizes a
/// quarter of a power of two apart (at most a quarter more than asked), and at most `limit` bytes are kept.
final class LineBufferPool: Sendable {
    /// The pool line buffers come from.
    static let shared = LineBufferPool(limit: 32 << 20)

    let limit: Int
    private struct Free {
        var bySize: [Int: [UInt]] = [:]   // addresses (a pointer is not Sendable)
        var bytes = 0
    }
    private let free = Mutex(Free())

    init(limit: Int) { self.limit = limit }

    /// The size of buffer handed out for `n` bytes: `n` rounded up to a quarter of the power of two below it.
    static func size(for n: Int) -> Int {
        let n = max(n, 4096)
        let quarter = 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount - 3)
        return (n + quarter - 1) / quarter * quarter
    }

    func take(_ n: Int) -> (UnsafeMutablePointer<UInt8>, capacity: Int) {
        let size = Self.size(for: n)
        let reused: UInt? = free.withLock { f in
            guard let p = f.bySize[size]?.popLast() else { return nil }
            f.bytes -= size
            return p
        }
        return (UnsafeMutablePointer(bitPattern: reused ?? 0) ?? malloc(size)!.assumingMemoryBound(to: UInt8.self), size)
    }

    func give(_ p: UnsafeMutablePointer<UInt8>, capacity: Int) {
        let address = UInt(bitPattern: p)
        let limit = limit
        let kept = capacity == Self.size(for: capacity) && free.withLock { f in
            guard f.bytes + capacity <= limit else { return false }
            f.bySize[capacity, default: []].append(address)
            f.bytes += capacity
            return true
        }
        if !kept { Foundation.free(p) }
    }

    /// Bytes kept for reuse.
    var keptBytes: Int { free.withLock { $0.bytes } }

    deinit {
        free.withLock { f in
            for p in f.bySize.values.joined() { Foundation.free(UnsafeMutableRawPointer(bitPattern: p)) }
        }
    }
}

/// A batch's records as archive lines, encoded before the store's lock is taken.
struct EncodedBatch {
    let lines: LineBuffer
    /// Per record: its offset, where its line ends in `lines`, the time it is filed under, whether it is invalid.
    let offsets: [Int64]
    let ends: [Int]
    let times: [Int64]
    let deadLetters: [Bool]

    init(_ records: [SinkRecord]) {
        let now = ArchiveStore.nowMillis()
        // Through a buffer pointer: the records are read in place, never copied (a copy retains every field).
        var offsets: [Int64] = [], ends: [Int] = [], times: [Int64] = [], deadLetters: [Bool] = []
        lines = records.withUnsafeBufferPointer { records in
            var estimate = 0
            for i in records.indices { estimate += records[i].record.value.count + 320 }
            let lines = LineBuffer(capacity: estimate)
            offsets.reserveCapacity(records.count)
            ends.reserveCapacity(records.count)
            times.reserveCapacity(records.count)
            deadLetters.reserveCapacity(records.count)
            var out = LineWriter(lines.base)
            for i in records.indices {
                let filed = ArchiveLine.append(records.baseAddress! + i, now: now, to: lines, through: &out)
                offsets.append(records[i].record.offset)
                ends.append(lines.count)
                times.append(filed.time)
                deadLetters.append(filed.deadLetter)
            }
            return lines
        }
        (self.offsets, self.ends, self.times, self.deadLetters) = (offsets, ends, times, deadLetters)
    }
}

struct OpenSegment {
    let id: Int
    let partition: TopicPartition
    let startOffset: Int64
    let firstOffset: Int64
    var lastOffset: Int64
    let day: Int64
    /// Lines not compressed yet (and not being compressed).
    var pieces = ArchiveStore.Pieces()
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
         compression parameters: ZstdParameters) {
        self.id = id
        self.partition = partition
        self.startOffset = startOffset
        self.firstOffset = firstOffset
        lastOffset = firstOffset
        self.day = day
        self.openedAt = openedAt
        lastAppend = openedAt
        compression = SegmentCompression(parameters)
    }

    /// Bytes it holds: lines, compressed output and the compression context.
    var footprint: Int { pieces.bytes + compression.footprint }

    /// The lines not compressed yet, handed to the thread that compresses them.
    mutating func takePieces() -> ArchiveStore.Pieces {
        defer { pieces = ArchiveStore.Pieces() }
        return pieces
    }

    /// Adds the records `records` of `batch`, whose lines are `bytes` of its buffer (the buffer itself when
    /// they are all of it: no copy).
    mutating func add(_ batch: EncodedBatch, records range: Range<Int>, bytes: Range<Int>, lastOffset: Int64, at: ContinuousClock.Instant) {
        if bytes == 0..<batch.lines.count {
            pieces.list.append(batch.lines)
        } else {
            pieces.list.append(LineBuffer(copying: UnsafeRawBufferPointer(rebasing: batch.lines.bytes[bytes])))
        }
        pieces.bytes += bytes.count
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
    private let parameters: ZstdParameters
    /// A thread is extending the frame (set and read under the store's lock).
    var busy = false

    init(_ parameters: ZstdParameters) {
        self.parameters = parameters
    }

    var output: [UInt8] { box.bytes }

    /// Compressed bytes plus the context's memory.
    var footprint: Int { size.load(ordering: .relaxed) }
    /// How much of `footprint` the store's buffered total holds (changed under the store's lock).
    var counted = 0

    func compress(_ raw: LineBuffer) throws { try compress(raw.bytes) }

    func compress(_ raw: UnsafeRawBufferPointer) throws {
        if compressor == nil {
            let box = box
            compressor = try ZstdCompressor(parameters) { box.bytes.append(contentsOf: $0) }
        }
        try compressor!.write(raw)
        sync()
    }

    /// Compresses the segment's last lines and ends the frame (once, however often a failed write is retried).
    func complete(_ rest: [LineBuffer]) throws {
        guard !finished else { return }
        for piece in rest { try compress(piece) }
        if compressor == nil { try compress(UnsafeRawBufferPointer(start: nil, count: 0)) }
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
