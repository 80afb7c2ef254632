import Foundation

/// One archived segment, as recorded in the manifest (`<archive>/manifest.jsonl`, one JSON object per line).
/// A segment covers the positions `start_offset ..< last_offset + 1` of one partition; its records are the
/// partition's records in that range (offsets Kafka never used, if any, are simply absent).
public struct SegmentEntry: Codable, Sendable, Equatable {
    /// Relative to the archive root: `<topic>/date=YYYY-MM-DD/<topic>+<partition>+<first>-<last>.jsonl.zst`.
    public var path: String
    public var topic: String
    public var partition: Int32
    /// The position the segment continues from (the previous segment's `last_offset + 1`).
    public var startOffset: Int64
    public var firstOffset: Int64
    public var lastOffset: Int64
    public var records: Int
    /// Records that failed validation (kept, marked with `dead_letter`).
    public var deadLetters: Int
    /// Earliest and latest event time of the records (Kafka timestamp for invalid ones), fixed-width UTC.
    public var minEventTime: String
    public var maxEventTime: String
    /// Compressed size on disk, and the size of the JSON Lines inside.
    public var bytes: Int
    public var uncompressedBytes: Int
    /// Lower-case hex SHA-256 of the file.
    public var sha256: String
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case path, topic, partition, records, bytes, sha256
        case startOffset = "start_offset", firstOffset = "first_offset", lastOffset = "last_offset"
        case deadLetters = "dead_letters", minEventTime = "min_event_time", maxEventTime = "max_event_time"
        case uncompressedBytes = "uncompressed_bytes", createdAt = "created_at"
    }

    /// The position after the segment.
    public var endOffset: Int64 { lastOffset + 1 }

    /// Whether the segment may hold records with times in `from ..< to` (fixed-width strings; nil: open).
    func overlaps(from: String?, to: String?) -> Bool {
        if let from, maxEventTime < from { return false }
        if let to, minEventTime >= to { return false }
        return true
    }
}

/// Reading and appending the manifest file.
enum Manifest {
    /// The entries of the manifest at `path` (none when absent), plus the byte length of its complete lines.
    /// A last line cut short by a crash is ignored; a damaged line before the last is an error.
    static func read(_ path: String) throws -> (entries: [SegmentEntry], validLength: Int) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], 0) }
        var entries: [SegmentEntry] = []
        let decoder = JSONDecoder()
        var start = data.startIndex
        var lineNumber = 0
        while start < data.endIndex {
            lineNumber += 1
            guard let nl = data[start...].firstIndex(of: 0x0A) else {
                // An unterminated last line: the crash came before its fsync.
                return (entries, start - data.startIndex)
            }
            let line = data[start..<nl]
            if !line.isEmpty {
                do {
                    entries.append(try decoder.decode(SegmentEntry.self, from: line))
                } catch {
                    if data[(nl + 1)...].isEmpty { return (entries, start - data.startIndex) }
                    throw ArchiveError.corrupt("\(path): line \(lineNumber) is not a manifest entry: \(error)")
                }
            }
            start = nl + 1
        }
        return (entries, data.count)
    }

    static func encode(_ entry: SegmentEntry) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(entry)) ?? Data()) + [0x0A]
    }
}
