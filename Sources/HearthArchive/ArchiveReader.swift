import HearthEvents
import HearthKafka
import Foundation

/// Splits decompressed bytes into lines (without their newline), across chunk boundaries.
struct LineSplitter {
    private var carry: [UInt8] = []

    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        let n = chunk.count
        while start < n {
            guard let hit = memchr(base + start, 0x0A, n - start) else {
                carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<n]))
                return
            }
            let end = base.distance(to: UnsafeRawPointer(hit))
            if carry.isEmpty {
                try body(UnsafeRawBufferPointer(rebasing: chunk[start..<end]))
            } else {
                carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<end]))
                try carry.withUnsafeBytes { try body($0) }
                carry.removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
    }

    /// Bytes after the last newline (a well-formed segment has none).
    var remainder: Int { carry.count }
}

/// Everything a segment's bytes say about it, read in one pass: for verification and crash recovery.
struct SegmentScan {
    var records = 0
    var deadLetters = 0
    var firstOffset: Int64 = -1
    var lastOffset: Int64 = -1
    var minTime = Int64.max
    var maxTime = Int64.min
    var bytes = 0
    var uncompressedBytes = 0
    var sha256 = ""
    var topics = Set<String>()

    /// Throws when the file does not decompress or a line is not an archive line or offsets do not increase.
    init(path: String) throws {
        let reader = try ZstdFileReader(path: path, hashing: true)
        var splitter = LineSplitter()
        var problem: String?
        try reader.forEachChunk { chunk in
            uncompressedBytes += chunk.count
            splitter.feed(chunk) { line in
                guard problem == nil else { return }
                guard let f = LineFields.parse(line) else {
                    problem = "line \(records + 1) is not an archive record"
                    return
                }
                if records > 0 && f.offset <= lastOffset {
                    problem = "offset \(f.offset) at line \(records + 1) does not follow \(lastOffset)"
                    return
                }
                if records == 0 { firstOffset = f.offset }
                lastOffset = f.offset
                records += 1
                if line[f.deadLetter.lowerBound] == 0x7B { deadLetters += 1 }
                let t = f.time.isEmpty ? nil : ArchiveTime.parse(UnsafeRawBufferPointer(rebasing: line[f.time]))
                guard let t else { problem = "line \(records) has no readable time"; return }
                minTime = min(minTime, t)
                maxTime = max(maxTime, t)
            }
        }
        if let problem { throw ArchiveError.corrupt("\(path): \(problem)") }
        if splitter.remainder > 0 { throw ArchiveError.corrupt("\(path): the last line has no newline") }
        guard records > 0 else { throw ArchiveError.corrupt("\(path): holds no records") }
        bytes = reader.compressedBytesRead
        sha256 = reader.sha256 ?? ""
    }
}

/// Output formats of an export.
public enum ExportFormat: String, CaseIterable, Sendable, Codable {
    /// The archive's own lines.
    case jsonl
    /// The same, zstd-compressed.
    case jsonlZst = "jsonl.zst"
    /// `topic,partition,offset,timestamp,event_time,type,event_id,key,dead_letter,value_format,value`: the value as
    /// JSON text (`json`), as the text it was (`text`) or as base64 (`base64`).
    case csv

    public var contentType: String {
        switch self {
        case .jsonl: "application/x-ndjson"
        case .jsonlZst: "application/zstd"
        case .csv: "text/csv; charset=utf-8"
        }
    }
    public var fileExtension: String { rawValue }
}

/// Which archived records an export or a replay wants: one topic, event times in `from ..< to`
/// (Kafka timestamps for invalid records), optionally only some event types.
public struct ArchiveQuery: Sendable, Equatable, Codable {
    public var topic: String
    public var from: Int64?
    public var to: Int64?
    /// Event types to keep (empty: all, invalid records included).
    public var types: Set<String>

    public init(topic: String, from: Int64? = nil, to: Int64? = nil, types: Set<String> = []) {
        self.topic = topic
        self.from = from
        self.to = to
        self.types = types
    }

    enum CodingKeys: String, CodingKey { case topic, from, to, types }

    /// Times as fixed-width UTC strings, types sorted.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(topic, forKey: .topic)
        try c.encodeIfPresent(fromString, forKey: .from)
        try c.encodeIfPresent(toString, forKey: .to)
        try c.encode(types.sorted(), forKey: .types)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        topic = try c.decode(String.self, forKey: .topic)
        from = try c.decodeIfPresent(String.self, forKey: .from).flatMap { Timestamp(rfc3339: $0)?.epochMillis }
        to = try c.decodeIfPresent(String.self, forKey: .to).flatMap { Timestamp(rfc3339: $0)?.epochMillis }
        types = Set(try c.decodeIfPresent([String].self, forKey: .types) ?? [])
    }

    var fromString: String? { from.map(ArchiveTime.string) }
    var toString: String? { to.map(ArchiveTime.string) }

    /// The manifest entries that may hold matching records, by partition and offset.
    public func segments(in entries: [SegmentEntry]) -> [SegmentEntry] {
        let f = fromString, t = toString
        return entries.filter { $0.topic == topic && $0.overlaps(from: f, to: t) }
            .sorted { ($0.partition, $0.firstOffset) < ($1.partition, $1.firstOffset) }
    }
}

/// How far an export has got.
public struct ExportProgress: Sendable, Codable, Equatable {
    public var segmentsDone = 0
    public var segmentsTotal = 0
    /// JSON Lines bytes read so far, of the selected segments' total.
    public var bytesRead = 0
    public var bytesTotal = 0
    /// Records written so far.
    public var records = 0
    /// Output bytes so far.
    public var bytesOut = 0
    enum CodingKeys: String, CodingKey {
        case segmentsDone = "segments_done", segmentsTotal = "segments_total", bytesRead = "bytes_read"
        case bytesTotal = "bytes_total", records, bytesOut = "bytes_out"
    }
}

/// The matching lines of an archive query, segment by segment, one decompressed chunk per `step`.
/// Use from one thread (it does blocking file reads).
final class ArchiveScanner {
    let segments: [SegmentEntry]
    private(set) var progress = ExportProgress()
    private let root: String
    private var index = 0
    private var reader: ZstdFileReader?
    private var splitter = LineSplitter()
    private let from: [UInt8]?
    private let to: [UInt8]?
    private let types: [[UInt8]]

    init(layout: ArchiveLayout, entries: [SegmentEntry], query: ArchiveQuery) {
        root = layout.root.path
        segments = query.segments(in: entries)
        from = query.fromString.map { Array($0.utf8) }
        to = query.toString.map { Array($0.utf8) }
        types = query.types.sorted().map { Array($0.utf8) }
        progress.segmentsTotal = segments.count
        progress.bytesTotal = segments.reduce(0) { $0 + $1.uncompressedBytes }
    }

    var finished: Bool { reader == nil && index >= segments.count }

    /// Reads the next chunk and calls `body` with each complete matching line; false once everything is read.
    func step(_ body: (UnsafeRawBufferPointer, LineFields) throws -> Void) throws -> Bool {
        if reader == nil {
            guard index < segments.count else { return false }
            reader = try ZstdFileReader(path: root + "/" + segments[index].path)
            splitter = LineSplitter()
        }
        var problem: (any Error)?
        let more = try reader!.next { chunk in
            progress.bytesRead += chunk.count
            splitter.feed(chunk) { line in
                guard problem == nil else { return }
                guard let f = LineFields.parse(line) else {
                    problem = ArchiveError.corrupt("\(segments[index].path): a line is not an archive record")
                    return
                }
                guard matches(line, f) else { return }
                progress.records += 1
                do { try body(line, f) } catch { problem = error }
            }
        }
        if let problem { throw problem }
        if !more {
            reader = nil
            index += 1
            progress.segmentsDone = index
        }
        return !finished
    }

    private func matches(_ line: UnsafeRawBufferPointer, _ f: LineFields) -> Bool {
        if from != nil || to != nil {
            let time = UnsafeRawBufferPointer(rebasing: line[f.time])
            if let from, Self.compare(time, from) < 0 { return false }
            if let to, Self.compare(time, to) >= 0 { return false }
        }
        if !types.isEmpty {
            guard let t = f.type else { return false }
            let type = UnsafeRawBufferPointer(rebasing: line[t])
            return types.contains(where: { Self.compare(type, $0) == 0 })
        }
        return true
    }

    static func compare(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Int {
        b.withUnsafeBytes { bb in
            let n = min(a.count, bb.count)
            let c = n == 0 ? 0 : Int(memcmp(a.baseAddress!, bb.baseAddress!, n))
            return c != 0 ? c : a.count - bb.count
        }
    }
}

/// An export as a pull cursor: each `next()` returns the next chunk of output (about 1 MiB), so memory
/// stays bounded however large the export is. Use from one thread (it does blocking file reads).
public final class ArchiveExport {
    public let query: ArchiveQuery
    public let format: ExportFormat
    private let scanner: ArchiveScanner
    private var out: [UInt8] = []
    private var compressed: [UInt8] = []
    private var compressor: ZstdCompressor?
    private var started = false
    private var done = false
    private let hasher = HashBox()
    private var bytesOut = 0
    private static let chunkBytes = 1 << 20

    public init(layout: ArchiveLayout, entries: [SegmentEntry], query: ArchiveQuery, format: ExportFormat) throws {
        self.query = query
        self.format = format
        scanner = ArchiveScanner(layout: layout, entries: entries, query: query)
        if format == .jsonlZst {
            compressor = try ZstdCompressor(.jsonLines) { [unowned self] chunk in compressed.append(contentsOf: chunk) }
        }
    }

    public var progress: ExportProgress {
        var p = scanner.progress
        p.bytesOut = bytesOut
        return p
    }

    /// Lower-case hex SHA-256 of the whole output (after the last `next()`).
    public var sha256: String { hasher.hex }

    /// The next chunk of output, or nil when the export is complete.
    public func next() throws -> [UInt8]? {
        while !done {
            if !started {
                started = true
                if format == .csv { out.append(contentsOf: "topic,partition,offset,timestamp,event_time,type,event_id,key,dead_letter,value_format,value\n".utf8) }
            }
            while out.count < Self.chunkBytes, try scanner.step({ line, f in take(line, f) }) {}
            let finished = scanner.finished
            var chunk: [UInt8]
            if let compressor {
                try out.withUnsafeBytes { try compressor.write($0) }
                out.removeAll(keepingCapacity: true)
                if finished { try compressor.finish() }
                chunk = compressed
                compressed.removeAll(keepingCapacity: true)
            } else {
                chunk = out
                out.removeAll(keepingCapacity: true)
            }
            if finished { done = true }
            guard !chunk.isEmpty else { continue }
            chunk.withUnsafeBytes { hasher.update($0) }
            bytesOut += chunk.count
            return chunk
        }
        return nil
    }

    private func take(_ line: UnsafeRawBufferPointer, _ f: LineFields) {
        switch format {
        case .jsonl, .jsonlZst:
            out.append(contentsOf: line)
            out.append(0x0A)
        case .csv:
            CSV.appendRow(line, f, to: &out)
        }
    }

    /// Runs the export to the end, handing each chunk to `write`.
    public func run(_ write: ([UInt8]) throws -> Void, progress report: ((ExportProgress) -> Void)? = nil) throws {
        while let chunk = try next() {
            try write(chunk)
            report?(progress)
        }
    }
}

/// Archived records as Kafka records again (for `hearth replay`), in order per partition.
public final class ArchiveRecordReader {
    private let scanner: ArchiveScanner
    private var buffered: [KafkaRecord] = []

    public init(layout: ArchiveLayout, entries: [SegmentEntry], query: ArchiveQuery) {
        scanner = ArchiveScanner(layout: layout, entries: entries, query: query)
    }

    public var progress: ExportProgress { scanner.progress }

    /// Up to `max` more records, or nil at the end.
    public func next(max: Int = 5000) throws -> [KafkaRecord]? {
        while buffered.count < max, try scanner.step({ line, f in buffered.append(try Self.record(line, f)) }) {}
        guard !buffered.isEmpty else { return nil }
        let n = min(max, buffered.count)
        let out = Array(buffered.prefix(n))
        buffered.removeFirst(n)
        return out
    }

    static func record(_ line: UnsafeRawBufferPointer, _ f: LineFields) throws -> KafkaRecord {
        var s = LineFields.Scanner(b: line)
        _ = s.literal(#"{"topic":"#)
        let t = s.i
        _ = s.skipString()
        let topic = String(decoding: JSONString.unescape(UnsafeRawBufferPointer(rebasing: line[(t + 1)..<(s.i - 1)])), as: UTF8.self)
        _ = s.literal(#","partition":"#)
        let partition = Int32(truncatingIfNeeded: s.integer() ?? -1)
        let value: [UInt8]
        let raw = UnsafeRawBufferPointer(rebasing: line[f.value])
        switch f.valueFormat {
        case .json: value = Array(raw)
        case .text: value = JSONString.unescape(UnsafeRawBufferPointer(rebasing: raw[(raw.startIndex + 1)..<(raw.endIndex - 1)]))
        case .base64:
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: raw[(raw.startIndex + 1)..<(raw.endIndex - 1)]), as: UTF8.self)
            guard let d = Data(base64Encoded: text) else { throw ArchiveError.corrupt("offset \(f.offset): the value is not base64") }
            value = Array(d)
        }
        let key = UnsafeRawBufferPointer(rebasing: line[f.key])
        var keyBytes: [UInt8]?
        if key.first == 0x22 {
            keyBytes = JSONString.unescape(UnsafeRawBufferPointer(rebasing: key[(key.startIndex + 1)..<(key.endIndex - 1)]))
        } else if key.first == 0x7B {
            let text = String(decoding: key, as: UTF8.self)
            if let r = text.range(of: #"(?<="base64":")[^"]*"#, options: .regularExpression) { keyBytes = Data(base64Encoded: String(text[r])).map(Array.init) }
        }
        let ts = f.timestamp.flatMap { ArchiveTime.parse(UnsafeRawBufferPointer(rebasing: line[$0])) } ?? -1
        return KafkaRecord(topic: topic, partition: partition, offset: f.offset, key: keyBytes, value: value, timestampMillis: ts)
    }
}

/// CSV rows of archive lines (RFC 4180: fields quoted when needed, quotes doubled).
enum CSV {
    static func appendRow(_ line: UnsafeRawBufferPointer, _ f: LineFields, to out: inout [UInt8]) {
        func raw(_ r: Range<Int>?) -> UnsafeRawBufferPointer? { r.map { UnsafeRawBufferPointer(rebasing: line[$0]) } }
        var s = LineFields.Scanner(b: line)
        _ = s.literal(#"{"topic":"#)
        let topicStart = s.i
        _ = s.skipString()
        field(JSONString.unescape(UnsafeRawBufferPointer(rebasing: line[(topicStart + 1)..<(s.i - 1)])), &out)
        out.append(0x2C)
        // partition, then offset: plain integers.
        _ = s.literal(#","partition":"#)
        let pStart = s.i
        _ = s.integer()
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[pStart..<s.i]))
        out.append(0x2C)
        out.append(contentsOf: String(f.offset).utf8)
        out.append(0x2C)
        if let t = raw(f.timestamp) { out.append(contentsOf: t) }
        out.append(0x2C)
        if let t = raw(f.eventTime) { out.append(contentsOf: t) }
        out.append(0x2C)
        if let t = raw(f.type) { out.append(contentsOf: t) }
        out.append(0x2C)
        if let id = f.eventID { field(JSONString.unescape(UnsafeRawBufferPointer(rebasing: line[id])), &out) }
        out.append(0x2C)
        let key = UnsafeRawBufferPointer(rebasing: line[f.key])
        if key.first == 0x22 {
            field(JSONString.unescape(UnsafeRawBufferPointer(rebasing: key[(key.startIndex + 1)..<(key.endIndex - 1)])), &out)
        } else if key.first == 0x7B {
            field(Array(key), &out)
        }
        out.append(0x2C)
        let dl = UnsafeRawBufferPointer(rebasing: line[f.deadLetter])
        if dl.first == 0x7B {
            var d = LineFields.Scanner(b: dl)
            if d.literal(#"{"code":"#) {
                let start = d.i
                if d.skipString() { field(JSONString.unescape(UnsafeRawBufferPointer(rebasing: dl[(start + 1)..<(d.i - 1)])), &out) }
            }
        }
        out.append(0x2C)
        let value = UnsafeRawBufferPointer(rebasing: line[f.value])
        switch f.valueFormat {
        case .json:
            out.append(contentsOf: "json,".utf8)
            field(Array(value), &out)
        case .text:
            out.append(contentsOf: "text,".utf8)
            field(JSONString.unescape(UnsafeRawBufferPointer(rebasing: value[(value.startIndex + 1)..<(value.endIndex - 1)])), &out)
        case .base64:
            out.append(contentsOf: "base64,".utf8)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[(value.startIndex + 1)..<(value.endIndex - 1)]))
        }
        out.append(0x0A)
    }

    static func field(_ bytes: [UInt8], _ out: inout [UInt8]) {
        guard bytes.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else {
            out.append(contentsOf: bytes)
            return
        }
        out.append(0x22)
        for c in bytes {
            if c == 0x22 { out.append(0x22) }
            out.append(c)
        }
        out.append(0x22)
    }

}

/// JSON string contents (between the quotes) as UTF-8 bytes.
enum JSONString {
    static func unescape(_ s: UnsafeRawBufferPointer) -> [UInt8] {
        guard s.contains(0x5C) else { return Array(s) }
        var out: [UInt8] = []
        var i = s.startIndex
        var pendingHigh: UInt32?
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= s.endIndex else { return nil }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                guard let d = Character(UnicodeScalar(s[k])).hexDigitValue else { return nil }
                v = v * 16 + UInt32(d)
            }
            return v
        }
        while i < s.endIndex {
            let c = s[i]
            guard c == 0x5C, i + 1 < s.endIndex else { out.append(c); i += 1; continue }
            let e = s[i + 1]
            i += 2
            switch e {
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x75:
                guard let v = hex4(i) else { continue }
                i += 4
                if (0xD800...0xDBFF).contains(v) { pendingHigh = v; continue }
                var scalar = v
                if (0xDC00...0xDFFF).contains(v), let high = pendingHigh {
                    scalar = 0x10000 + ((high - 0xD800) << 10) + (v - 0xDC00)
                }
                pendingHigh = nil
                if let u = UnicodeScalar(scalar) { out.append(contentsOf: Array(String(Character(u)).utf8)) }
            default: out.append(e)
            }
        }
        return out
    }
}

extension ArchiveQuery {
    /// A query from user input (CLI flags, URL parameters): `from` and `to` are RFC 3339 timestamps or
    /// `YYYY-MM-DD` dates (UTC); `from` is inclusive, `to` exclusive, and a bare date as `to` includes that day.
    /// Types are event types of the contract, comma-separated or repeated.
    public static func parse(topic: String?, from: String?, to: String?, types: [String]) throws(ArchiveError) -> ArchiveQuery {
        guard let topic, !topic.isEmpty else { throw .invalid("topic is required") }
        guard topic.range(of: "^[A-Za-z0-9._-]{1,249}$", options: .regularExpression) != nil else {
            throw .invalid("topic \"\(topic.prefix(80))\" is not a valid Kafka topic name")
        }
        let f = try from.map { text throws(ArchiveError) in try parseTime(text, name: "from", end: false) }
        let t = try to.map { text throws(ArchiveError) in try parseTime(text, name: "to", end: true) }
        if let f, let t, f >= t { throw .invalid("from must be before to") }
        var wanted = Set<String>()
        let known = Set(EventType.allCases.map(\.rawValue))
        for item in types.flatMap({ $0.split(separator: ",") }) {
            let type = item.trimmingCharacters(in: .whitespaces)
            guard known.contains(type) else {
                throw .invalid("unknown event type \"\(type.prefix(80))\" (known: \(known.sorted().joined(separator: ", ")))")
            }
            wanted.insert(type)
        }
        return ArchiveQuery(topic: topic, from: f, to: t, types: wanted)
    }

    static func parseTime(_ text: String, name: String, end: Bool) throws(ArchiveError) -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) != nil {
            let parts = trimmed.split(separator: "-").compactMap { Int($0) }
            let (y, m, d) = (parts[0], parts[1], parts[2])
            let days = Timestamp.daysFromCivil(y, m, d)
            guard (1...12).contains(m), (1...31).contains(d), Timestamp.civilFromDays(days) == (y, m, d) else {
                throw .invalid("\(name): \(trimmed) is not a calendar date")
            }
            let ms = Int64(days + (end ? 1 : 0)) * 86_400_000
            guard ArchiveTime.range.contains(ms) || (end && ms == ArchiveTime.range.upperBound + 1) else {
                throw .invalid("\(name): years 1900 to 9999 only")
            }
            return ms
        }
        guard let t = Timestamp(rfc3339: trimmed) else {
            throw .invalid("\(name): \"\(trimmed.prefix(80))\" is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp")
        }
        guard ArchiveTime.range.contains(t.epochMillis) else { throw .invalid("\(name): years 1900 to 9999 only") }
        return t.epochMillis
    }
}
