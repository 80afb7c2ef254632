import Foundation
import HearthEvents
import HearthKafka
import HearthPipeline

/// Where archive files live under `<data-dir>/archive`.
public struct ArchiveLayout: Sendable {
    public let root: URL
    public init(dataDirectory: URL) { root = dataDirectory.appendingPathComponent("archive") }
    public init(root: URL) { self.root = root }

    static let temporarySuffix = ".tmp"
    static let segmentSuffix = ".jsonl.zst"

    public var manifestPath: String { root.appendingPathComponent("manifest.jsonl").path }
    public var exportsDirectory: String { root.appendingPathComponent("exports").path }

    /// `<topic>/date=YYYY-MM-DD/<topic>+<partition>+<first>-<last>.jsonl.zst`, relative to the root.
    static func segmentPath(topic: String, partition: Int32, first: Int64, last: Int64, day: Int64) -> String {
        "\(topic)/date=\(ArchiveTime.date(day: day))/\(topic)+\(partition)+\(first)-\(last)\(segmentSuffix)"
    }

    /// Topic, partition and offsets from a segment's file name.
    static func parseSegmentName(_ name: String) -> (topic: String, partition: Int32, first: Int64, last: Int64)? {
        guard name.hasSuffix(segmentSuffix), !name.hasPrefix(".") else { return nil }
        let parts = name.dropLast(segmentSuffix.count).split(separator: "+")
        guard parts.count == 3, let p = Int32(parts[1]) else { return nil }
        let range = parts[2].split(separator: "-")
        guard range.count == 2, let first = Int64(range[0]), let last = Int64(range[1]) else { return nil }
        return (String(parts[0]), p, first, last)
    }
}

/// Fixed-width UTC times (`2026-11-22T18:04:05.123Z`), which sort as strings the way they sort as times.
public enum ArchiveTime {
    /// The range the archive's times are kept within (years 1900–9999, as the event contract).
    static let range = EventCodec.occurredAtRange

    public static func clamp(_ ms: Int64) -> Int64 { min(max(ms, range.lowerBound), range.upperBound) }

    static func day(_ ms: Int64) -> Int64 { clamp(ms).floorDiv(86_400_000) }

    static func date(day: Int64) -> String {
        let (y, m, d) = Timestamp.civilFromDays(Int(day))
        var out = [UInt8]()
        out.reserveCapacity(10)
        digits(y, 4, &out); out.append(0x2D); digits(m, 2, &out); out.append(0x2D); digits(d, 2, &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the 24-byte form of `ms` (clamped to the range).
    static func append(_ ms: Int64, to out: inout [UInt8]) {
        let t = clamp(ms)
        let secs = t.floorDiv(1000)
        let millis = Int(t - secs * 1000)
        let days = secs.floorDiv(86_400)
        let sod = Int(secs - days * 86_400)
        let (y, m, d) = Timestamp.civilFromDays(Int(days))
        digits(y, 4, &out); out.append(0x2D); digits(m, 2, &out); out.append(0x2D); digits(d, 2, &out)
        out.append(0x54)
        digits(sod / 3600, 2, &out); out.append(0x3A); digits(sod / 60 % 60, 2, &out); out.append(0x3A); digits(sod % 60, 2, &out)
        out.append(0x2E); digits(millis, 3, &out); out.append(0x5A)
    }

    public static func string(_ ms: Int64) -> String {
        var out = [UInt8]()
        append(ms, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses the fixed form back (nil for anything else).
    static func parse(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard b.count == 24, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x2E, b[23] == 0x5A else { return nil }
        func num(_ from: Int, _ n: Int) -> Int? {
            var v = 0
            for i in from..<(from + n) {
                let c = b[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
              let s = num(17, 2), let ms = num(20, 3) else { return nil }
        let days = Int64(Timestamp.daysFromCivil(y, mo, d))
        return ((days * 86_400 + Int64(h * 3600 + mi * 60 + s)) * 1000) + Int64(ms)
    }

    private static func digits(_ v: Int, _ width: Int, _ out: inout [UInt8]) {
        var buf: (UInt8, UInt8, UInt8, UInt8) = (0x30, 0x30, 0x30, 0x30)
        var x = v
        withUnsafeMutableBytes(of: &buf) { p in
            var i = width - 1
            while i >= 0 { p[i] = UInt8(0x30 + x % 10); x /= 10; i -= 1 }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[0..<width]))
        }
    }
}

/// One archive line per record, JSON with a fixed key order:
/// `topic, partition, offset, timestamp, event_time, type, event_id, key, headers, dead_letter, value_format, value`.
/// `timestamp` is the Kafka timestamp (the time of archiving for a record without one).
/// `value` is the record's JSON value (`value_format` `json`; newlines outside strings turned into spaces), or a
/// string holding the value when it is not JSON (`text`) or its base64 when it is not even UTF-8 (`base64`). Keys and header values are strings, or
/// `{"base64": …}`. `event_time`, `type` and `event_id` are null for records that failed validation, which carry
/// `dead_letter: {"code", "message"}` instead.
enum ArchiveLine {
    /// The time a record is filed under: its event time, else (invalid records) its Kafka timestamp.
    static func time(_ r: borrowing SinkRecord, now: Int64) -> Int64 {
        switch r.event {
        case .success(let e): filedTime(eventMillis: e.occurredAt.epochMillis, timestampMillis: r.record.timestampMillis, now: now)
        case .failure: filedTime(eventMillis: nil, timestampMillis: r.record.timestampMillis, now: now)
        }
    }

    /// The event time when there is one, else the Kafka timestamp, else `now`; within the archive's range.
    private static func filedTime(eventMillis: Int64?, timestampMillis: Int64, now: Int64) -> Int64 {
        ArchiveTime.clamp(eventMillis ?? (timestampMillis >= 0 ? timestampMillis : now))
    }

    /// At most how many bytes `append` writes for the record (escapes can make a string six times longer;
    /// base64 a third longer), given the event id of a valid record.
    private static func bound(_ r: UnsafePointer<SinkRecord>, eventID: String?) -> Int {
        var n = 400 + 6 * r.pointee.record.topic.utf8.count
        if let key = r.pointee.record.key { n += 6 * key.count + 16 }
        for i in r.pointee.record.headers.indices {
            n += 6 * (r.pointee.record.headers[i].name.utf8.count + r.pointee.record.headers[i].value.count) + 32
        }
        switch r.pointee.event {
        case .success: n += r.pointee.record.value.count + 6 * (eventID?.utf8.count ?? 0) + 64
        case .failure(let error): n += 6 * (r.pointee.record.value.count + error.code.utf8.count + error.message.utf8.count) + 64
        }
        return n
    }

    /// Appends the record's line to `lines`, reserving room for it first and writing through `out` (which keeps
    /// state across a batch's records). `now` stands in for a missing Kafka timestamp (the time the record was
    /// archived). The record is read in place through a pointer (a copy would retain each of its buffers) and
    /// written through a pointer: this runs for every record.
    /// Returns the time the record is filed under (as `time`) and whether it is a dead letter.
    static func append(_ r: UnsafePointer<SinkRecord>, now: Int64, to lines: LineBuffer, through out: inout LineWriter)
        -> (time: Int64, deadLetter: Bool) {
        let fields = eventFields(r.pointee.event)
        out.p = lines.reserve(bound(r, eventID: fields?.2))
        defer { lines.commit(out.p) }
        let filed = (time: filedTime(eventMillis: fields?.0, timestampMillis: r.pointee.record.timestampMillis, now: now),
                     deadLetter: fields == nil)
        out.literal(#"{"topic":"#)
        out.string(r.pointee.record.topic)
        out.literal(#","partition":"#)
        out.integer(Int64(r.pointee.record.partition))
        out.literal(#","offset":"#)
        out.integer(r.pointee.record.offset)
        out.literal(#","timestamp":"#)
        out.quotedTime(r.pointee.record.timestampMillis >= 0 ? r.pointee.record.timestampMillis : now)
        switch fields {
        case let (millis, type, id)?:
            out.literal(#","event_time":"#)
            out.quotedTime(millis)
            out.literal(#","type":"#)
            out.string(type.rawValue)
            out.literal(#","event_id":"#)
            out.string(id)
        case nil:
            out.literal(#","event_time":null,"type":null,"event_id":null"#)
        }
        out.literal(#","key":"#)
        if let key = r.pointee.record.key { out.bytesOrBase64(key) } else { out.literal("null") }
        out.literal(#","headers":["#)
        for i in r.pointee.record.headers.indices {
            if i > 0 { out.byte(0x2C) }
            out.byte(0x5B)
            out.string(r.pointee.record.headers[i].name)
            out.byte(0x2C)
            out.bytesOrBase64(r.pointee.record.headers[i].value)
            out.byte(0x5D)
        }
        out.literal(#"],"dead_letter":"#)
        switch r.pointee.event {
        case .success:
            out.literal(#"null,"value_format":"json","value":"#)
            out.jsonValue(r.pointee.record.value)
        case .failure(let error):
            out.literal(#"{"code":"#)
            out.string(error.code)
            out.literal(#","message":"#)
            out.string(error.message)
            out.byte(0x7D)
            let utf8 = isUTF8(r.pointee.record.value)   // checked once for both questions
            if utf8 && isJSONSyntax(r.pointee.record.value) {
                out.literal(#","value_format":"json","value":"#)
                out.jsonValue(r.pointee.record.value)
            } else if utf8 {
                out.literal(#","value_format":"text","value":"#)
                r.pointee.record.value.withUnsafeBufferPointer { out.escaped($0) }
            } else {
                out.literal(#","value_format":"base64","value":""#)
                out.raw(Array(Data(r.pointee.record.value).base64EncodedString().utf8))
                out.byte(0x22)
            }
        }
        out.literal("}\n")
        return filed
    }

    /// The three fields a line takes from a valid event, read without copying the event (and its payload).
    @inline(__always)
    private static func eventFields(_ event: borrowing Result<Event, EventError>) -> (Int64, EventType, String)? {
        switch event {
        case .success(let e): (e.occurredAt.epochMillis, e.payload.type, e.eventID)
        case .failure: nil
        }
    }

    /// Whether `value` is one JSON document in UTF-8 (invalid records only: valid events were parsed already).
    static func isJSON(_ value: [UInt8]) -> Bool { isUTF8(value) && isJSONSyntax(value) }

    private static func isJSONSyntax(_ value: [UInt8]) -> Bool { value.withUnsafeBufferPointer { JSONSyntax.isDocument($0) } }

    /// Whether the bytes are UTF-8 (all-ASCII ones without building a string).
    static func isUTF8(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { b in b.allSatisfy { $0 < 0x80 } } || String(validating: bytes, as: UTF8.self) != nil
    }
}

/// A check of JSON syntax (RFC 8259) that builds nothing: dead letters are archived as JSON when their value is
/// JSON, and the largest of them (values above the size limit) are never parsed otherwise. Nesting is tracked
/// in an array, so deep input cannot exhaust the stack.
enum JSONSyntax {
    static func isDocument(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = b.count
        var open: [Bool] = []   // the containers entered: true for an object
        @inline(__always) func space() { while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        func string() -> Bool {   // at the opening quote
            i += 1
            while i < n {
                let c = b[i]
                if c == 0x22 { i += 1; return true }
                if c < 0x20 { return false }
                if c == 0x5C {
                    guard i + 1 < n else { return false }
                    switch b[i + 1] {
                    case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: i += 2
                    case 0x75:
                        guard i + 6 <= n else { return false }
                        for k in 2..<6 where !isHex(b[i + k]) { return false }
                        i += 6
                    default: return false
                    }
                } else {
                    i += 1
                }
            }
            return false
        }
        func digits() -> Bool {
            let start = i
            while i < n, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
            return i > start
        }
        func number() -> Bool {
            if b[i] == 0x2D { i += 1 }
            guard i < n else { return false }
            if b[i] == 0x30 { i += 1 } else if !digits() { return false }
            if i < n, b[i] == 0x2E { i += 1; guard digits() else { return false } }
            if i < n, b[i] == 0x65 || b[i] == 0x45 {
                i += 1
                if i < n, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
                guard digits() else { return false }
            }
            return true
        }
        func word(_ w: StaticString) -> Bool {
            let count = w.utf8CodeUnitCount
            guard i + count <= n else { return false }
            for k in 0..<count where b[i + k] != w.utf8Start[k] { return false }
            i += count
            return true
        }
        func key() -> Bool {   // an object's member name and its colon
            space()
            guard i < n, b[i] == 0x22, string() else { return false }
            space()
            guard i < n, b[i] == 0x3A else { return false }
            i += 1
            return true
        }
        space()
        while true {
            // A value.
            guard i < n else { return false }
            switch b[i] {
            case 0x7B:
                i += 1
                space()
                if i < n, b[i] == 0x7D { i += 1; break }
                open.append(true)
                guard key() else { return false }
                space()
                continue
            case 0x5B:
                i += 1
                space()
                if i < n, b[i] == 0x5D { i += 1; break }
                open.append(false)
                continue
            case 0x22: guard string() else { return false }
            case 0x74: guard word("true") else { return false }
            case 0x66: guard word("false") else { return false }
            case 0x6E: guard word("null") else { return false }
            case 0x2D, 0x30...0x39: guard number() else { return false }
            default: return false
            }
            // After a value: close containers until one goes on with a comma.
            while true {
                space()
                guard let inObject = open.last else { return i == n }
                guard i < n else { return false }
                if b[i] == 0x2C {
                    i += 1
                    if inObject { guard key() else { return false } }
                    space()
                    break
                }
                guard b[i] == (inObject ? 0x7D : 0x5D) else { return false }
                i += 1
                open.removeLast()
            }
        }
    }

    @inline(__always) private static func isHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }
}

/// Writes bytes through a pointer into room reserved beforehand (`ArchiveLine.bound`): no bounds checks,
/// no uniqueness checks, no growth. Only the line encoder uses it.
struct LineWriter {
    var p: UnsafeMutablePointer<UInt8>
    /// The last two seconds written by `quotedTime`, and their 20 bytes (`"YYYY-MM-DDTHH:MM:SS`): a line's
    /// Kafka timestamp and event time are usually different seconds, each close to the previous line's.
    private var cachedSecond = (Int64.min, Int64.min)
    private var cached: ((UInt64, UInt64, UInt64), (UInt64, UInt64, UInt64)) = ((0, 0, 0), (0, 0, 0))

    init(_ p: UnsafeMutablePointer<UInt8>) { self.p = p }

    @inline(__always) mutating func byte(_ b: UInt8) {
        p.pointee = b
        p += 1
    }

    @inline(__always) mutating func raw(_ b: UnsafeBufferPointer<UInt8>) {
        guard let base = b.baseAddress, b.count > 0 else { return }
        p.update(from: base, count: b.count)
        p += b.count
    }

    mutating func raw(_ a: [UInt8]) { a.withUnsafeBufferPointer { raw($0) } }

    @inline(__always) mutating func literal(_ s: StaticString) {
        p.update(from: s.utf8Start, count: s.utf8CodeUnitCount)
        p += s.utf8CodeUnitCount
    }

    mutating func integer(_ value: Int64) {
        if value < 0 { byte(0x2D) }
        var v = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buf in
            var i = buf.count
            repeat {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
                v /= 10
            } while v > 0
            raw(UnsafeBufferPointer(rebasing: buf.bindMemory(to: UInt8.self)[i...]))
        }
    }

    /// `"2026-11-22T18:04:05.123Z"`: the part up to the seconds is kept from the last call in the same second.
    mutating func quotedTime(_ ms: Int64) {
        let t = ArchiveTime.clamp(ms)
        let secs = t.floorDiv(1000)
        var prefix: (UInt64, UInt64, UInt64)
        if secs == cachedSecond.0 {
            prefix = cached.0
        } else if secs == cachedSecond.1 {
            prefix = cached.1
        } else {
            var line: [UInt8] = [0x22]
            line.reserveCapacity(25)
            ArchiveTime.append(secs * 1000, to: &line)
            prefix = (0, 0, 0)
            withUnsafeMutableBytes(of: &prefix) { $0.copyBytes(from: line[0..<20]) }
            (cachedSecond, cached) = ((secs, cachedSecond.0), (prefix, cached.0))
        }
        let at = p
        withUnsafeBytes(of: &prefix) { at.update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 20) }
        p += 20
        let millis = Int(t - secs * 1000)
        byte(0x2E)
        byte(UInt8(0x30 + millis / 100))
        byte(UInt8(0x30 + millis / 10 % 10))
        byte(UInt8(0x30 + millis % 10))
        byte(0x5A)
        byte(0x22)
    }

    /// A JSON document on one line: raw CR and LF can only be whitespace in valid JSON.
    mutating func jsonValue(_ value: [UInt8]) {
        let start = p
        value.withUnsafeBufferPointer { raw($0) }
        let n = p - start
        if n > 0 && (memchr(start, 0x0A, n) != nil || memchr(start, 0x0D, n) != nil) {
            for i in 0..<n where start[i] == 0x0A || start[i] == 0x0D { start[i] = 0x20 }
        }
    }

    /// A string when the bytes are UTF-8, else `{"base64": …}`.
    mutating func bytesOrBase64(_ bytes: [UInt8]) {
        if ArchiveLine.isUTF8(bytes) {
            bytes.withUnsafeBufferPointer { escaped($0) }
        } else {
            literal(#"{"base64":""#)
            raw(Array(Data(bytes).base64EncodedString().utf8))
            literal(#""}"#)
        }
    }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { escaped($0) }
    }

    /// A JSON string of UTF-8 bytes: runs that need no escape are copied whole.
    mutating func escaped(_ b: UnsafeBufferPointer<UInt8>) {
        byte(0x22)
        var run = 0
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c >= 0x20 && c != 0x22 && c != 0x5C { i += 1; continue }
            if i > run { raw(UnsafeBufferPointer(rebasing: b[run..<i])) }
            switch c {
            case 0x22: byte(0x5C); byte(0x22)
            case 0x5C: byte(0x5C); byte(0x5C)
            case 0x0A: byte(0x5C); byte(0x6E)
            case 0x0D: byte(0x5C); byte(0x72)
            case 0x09: byte(0x5C); byte(0x74)
            default:
                let hex: StaticString = "0123456789abcdef"
                byte(0x5C); byte(0x75); byte(0x30); byte(0x30)
                byte(hex.utf8Start[Int(c >> 4)]); byte(hex.utf8Start[Int(c & 15)])
            }
            i += 1
            run = i
        }
        if n > run { raw(UnsafeBufferPointer(rebasing: b[run..<n])) }
        byte(0x22)
    }
}

/// The fields of one archive line, read without decoding the value.
struct LineFields {
    var offset: Int64
    /// Event time, else Kafka timestamp, in the fixed form (empty when neither).
    var time: Range<Int>
    var timestamp: Range<Int>?
    var eventTime: Range<Int>?
    var type: Range<Int>?
    var eventID: Range<Int>?
    var key: Range<Int>
    var deadLetter: Range<Int>
    var valueFormat: ValueFormat
    var value: Range<Int>

    enum ValueFormat { case json, text, base64 }

    /// Reads a line written by `ArchiveLine.append` (without its newline); nil when it is not one.
    static func parse(_ b: UnsafeRawBufferPointer) -> LineFields? {
        var s = Scanner(b: b)
        guard s.literal(#"{"topic":"#), s.skipValue(),
              s.literal(#","partition":"#), s.integer() != nil,
              s.literal(#","offset":"#), let offset = s.integer(),
              s.literal(#","timestamp":"#), let ts = s.stringOrNull(),
              s.literal(#","event_time":"#), let et = s.stringOrNull(),
              s.literal(#","type":"#), let ty = s.stringOrNull(),
              s.literal(#","event_id":"#), let eid = s.stringOrNull(),
              s.literal(#","key":"#) else { return nil }
        let keyStart = s.i
        guard s.skipValue() else { return nil }
        let key = keyStart..<s.i
        guard s.literal(#","headers":"#), s.skipValue(), s.literal(#","dead_letter":"#) else { return nil }
        let dlStart = s.i
        guard s.skipValue() else { return nil }
        let dl = dlStart..<s.i
        guard s.literal(#","value_format":""#) else { return nil }
        let format: ValueFormat
        if s.literal(#"json""#) { format = .json } else if s.literal(#"text""#) { format = .text } else if s.literal(#"base64""#) { format = .base64 } else { return nil }
        guard s.literal(#","value":"#), b.count > s.i, b[b.count - 1] == 0x7D else { return nil }
        let value = s.i..<(b.count - 1)
        let time = et.inner ?? ts.inner ?? 0..<0
        return LineFields(offset: offset, time: time, timestamp: ts.inner, eventTime: et.inner, type: ty.inner,
                          eventID: eid.inner, key: key, deadLetter: dl, valueFormat: format, value: value)
    }

    /// A tiny scanner over bytes this module wrote.
    struct Scanner {
        let b: UnsafeRawBufferPointer
        var i = 0

        mutating func literal(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard i + n <= b.count else { return false }
            let p = s.utf8Start
            for k in 0..<n where b[i + k] != p[k] { return false }
            i += n
            return true
        }

        mutating func integer() -> Int64? {
            var neg = false
            if i < b.count && b[i] == 0x2D { neg = true; i += 1 }
            let start = i
            var v: Int64 = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                v = v &* 10 &+ Int64(b[i] - 0x30)
                i += 1
            }
            return i > start ? (neg ? -v : v) : nil
        }

        /// `.inner` is the string's content (without quotes), nil for null.
        mutating func stringOrNull() -> (inner: Range<Int>?, ok: Bool)? {
            if literal("null") { return (nil, true) }
            let start = i
            guard skipString() else { return nil }
            return ((start + 1)..<(i - 1), true)
        }

        mutating func skipString() -> Bool {
            guard i < b.count, b[i] == 0x22 else { return false }
            i += 1
            while i < b.count {
                switch b[i] {
                case 0x5C: i += 2
                case 0x22: i += 1; return true
                default: i += 1
                }
            }
            return false
        }

        /// Skips one JSON value (string, number, literal, object or array).
        mutating func skipValue() -> Bool {
            guard i < b.count else { return false }
            switch b[i] {
            case 0x22: return skipString()
            case 0x7B, 0x5B:
                var depth = 0
                while i < b.count {
                    switch b[i] {
                    case 0x22: guard skipString() else { return false }; continue
                    case 0x7B, 0x5B: depth += 1
                    case 0x7D, 0x5D:
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                let start = i
                while i < b.count, b[i] != 0x2C, b[i] != 0x7D, b[i] != 0x5D { i += 1 }
                return i > start
            }
        }
    }
}
