import Synchronization

/// Facet values as two-byte codes, so that a document's packed facets take 11 bytes instead of some 40.
///
/// Counting facets reads the packed-facets slot of every match Xapian examines (often every match), walking
/// the slot's value stream through the B-tree; a value a fifth as long is a fifth of the blocks read and
/// decoded. The writer assigns codes as new values appear and keeps the table in the index's metadata
/// (`metadataKey`: the values in code order, separated by 0x1E), written in the same commit as the first
/// document that uses a new code, so every reader finds each code it meets in its own revision. Codes are
/// never reused or changed. Documents written before, and any once all 65,535 codes are taken, keep the
/// text format (`SearchSchema.packFacets`); readers count both.
final class FacetDictionary: Sendable {
    static let metadataKey = "facets:dictionary"
    /// The first byte of a coded value (a text value never starts with it: values are cleaned of control bytes).
    static let codedMarker: UInt8 = 0x01
    private static let separator: UInt8 = 0x1E

    private struct Table {
        var values: [String] = []
        var codes: [String: UInt16] = [:]
        /// How many of `values` the index holds already.
        var saved = 0
    }
    private let table: Mutex<Table>

    /// The table as stored in the index (nil or empty: none yet).
    init(stored: [UInt8]?) {
        var t = Table()
        if let stored, !stored.isEmpty {
            for part in stored.split(separator: Self.separator, omittingEmptySubsequences: false) {
                let value = String(decoding: part, as: UTF8.self)
                t.values.append(value)
                t.codes[value] = UInt16(t.values.count)
            }
        }
        t.saved = t.values.count
        table = Mutex(t)
    }

    /// The packed facet value of a document whose facet fields hold `values` (empty: no value for that field).
    func pack(_ values: [String]) -> [UInt8] {
        let cleaned = values.map(Self.clean)
        let codes: [UInt16]? = table.withLock { t in
            var out: [UInt16] = []
            for value in cleaned {
                if value.isEmpty { out.append(0); continue }
                if let code = t.codes[value] { out.append(code); continue }
                guard t.values.count < Int(UInt16.max) else { return nil }
                t.values.append(value)
                let code = UInt16(t.values.count)
                t.codes[value] = code
                out.append(code)
            }
            return out
        }
        guard let codes else { return SearchSchema.packFacets(cleaned) }
        var out: [UInt8] = [Self.codedMarker]
        out.reserveCapacity(1 + 2 * codes.count)
        for code in codes { out.append(UInt8(code >> 8)); out.append(UInt8(code & 0xFF)) }
        return out
    }

    /// The table to store when codes were assigned since it was last saved, with how many values it holds.
    func unsaved() -> (stored: [UInt8], count: Int)? {
        table.withLock { t in
            guard t.values.count > t.saved else { return nil }
            var out: [UInt8] = []
            for (i, value) in t.values.enumerated() {
                if i > 0 { out.append(Self.separator) }
                out += value.utf8
            }
            return (out, t.values.count)
        }
    }

    /// Notes that the index holds the first `count` values (their commit succeeded).
    func saved(_ count: Int) {
        table.withLock { $0.saved = max($0.saved, count) }
    }

    /// Control bytes (the table's separators, NUL, the coded marker) become spaces; nothing else changes.
    private static func clean(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 < 0x20 }) else { return value }
        return String(decoding: value.utf8.map { $0 < 0x20 ? 0x20 : $0 }, as: UTF8.self)
    }
}
