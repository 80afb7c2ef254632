import CXapian
import Foundation

/// A read-only view of an index directory. Not thread-safe: the owner serialises
/// calls (the search index keeps one per reader queue).
final class XapianDatabase {
    private let db: OpaquePointer

    init(path: String) throws(XapianError) {
        var err: UnsafeMutablePointer<CChar>?
        guard let db = hx_rdb_open(path, &err) else { throw XapianError.take(err) }
        self.db = db
    }

    deinit { hx_rdb_close(db) }

    /// Moves to the latest commit; false when there was none newer (what was read before still holds).
    @discardableResult
    func reopen() throws(XapianError) -> Bool {
        var err: UnsafeMutablePointer<CChar>?
        let moved = hx_rdb_reopen(db, &err)
        if moved < 0 { throw XapianError.take(err) }
        return moved > 0
    }

    /// How often facet counting read every document's facet values, and how often it brought them up
    /// to a newer commit from the writer's lists of written documents.
    var facetColumnStats: (fullLoads: Int, updates: Int) {
        var loads: UInt = 0, updates: UInt = 0
        hx_rdb_facet_column_stats(db, &loads, &updates)
        return (Int(loads), Int(updates))
    }

    /// Brings this reader's columns to its commit, reading them whole the first time: the facet column
    /// (`facetSlot`), number columns (range filters), coordinate columns (radius and distance) and the flags of
    /// `SearchSchema.flagTerms`.
    func loadColumns(facetSlot: UInt32?, numberSlots: [UInt32], pointSlots: [UInt32]) throws(XapianError) {
        var err: UnsafeMutablePointer<CChar>?
        let status = numberSlots.withUnsafeBufferPointer { n in
            pointSlots.withUnsafeBufferPointer { p in
                Self.flagTermPointers.withUnsafeBufferPointer { f in
                    hx_rdb_load_columns(db, facetSlot.map(Int32.init) ?? -1, n.baseAddress, n.count, p.baseAddress, p.count,
                                        f.baseAddress, f.count, &err)
                }
            }
        }
        if status != 0 { throw XapianError.take(err) }
    }

    /// `body` for every document holding `term`, in document order, with its data (with `dataFirst`, Xapian's document
    /// data when it has some, else the data slot: suggestions keep theirs there).
    func documents(withTerm term: String, dataFirst: Bool = false, _ body: (UInt32, UnsafeRawBufferPointer) -> Void) throws(XapianError) {
        try withoutActuallyEscaping(body) { body throws(XapianError) in
            var body = body
            try withUnsafeMutablePointer(to: &body) { ctx throws(XapianError) in
                try check {
                    hx_rdb_postings(db, term, dataFirst ? 1 : 0, { ctx, docid, data, len in
                        ctx!.assumingMemoryBound(to: ((UInt32, UnsafeRawBufferPointer) -> Void).self)
                            .pointee(docid, UnsafeRawBufferPointer(start: data, count: len))
                    }, ctx, $0)
                }
            }
        }
    }

    /// Documents whose number in `slot` lies in `lower...upper` (either end open when nil): Xapian's value range,
    /// tested against this reader's copy of the slot (an array read per candidate) as of its current commit.
    func range(slot: UInt32, lower: Double?, upper: Double?) throws(XapianError) -> XapianQuery {
        try XapianQuery { hx_rdb_range(db, slot, lower == nil ? 0 : 1, lower ?? 0, upper == nil ? 0 : 1, upper ?? 0, $0) }
    }

    /// Documents holding every term of `required` and none of `forbidden` (all among `SearchSchema.flagTerms`, and
    /// at least one required): those terms' AND and AND NOT, tested against this reader's copy of each document's
    /// flags as of its current commit (an array read per candidate).
    func flags(required: [String], forbidden: [String] = []) throws(XapianError) -> XapianQuery {
        let terms = SearchSchema.flagTerms
        func mask(_ names: [String]) throws(XapianError) -> UInt32 {
            var m: UInt32 = 0
            for name in names {
                guard let i = terms.firstIndex(of: name) else { throw XapianError(message: "\(name) is not a flag term") }
                m |= 1 << UInt32(i)
            }
            return m
        }
        let (req, forb) = (try mask(required), try mask(forbidden))
        return try Self.flagTermPointers.withUnsafeBufferPointer { buffer throws(XapianError) in
            try XapianQuery { hx_rdb_flags(db, buffer.baseAddress, buffer.count, req, forb, $0) }
        }
    }

    /// `SearchSchema.flagTerms` as C strings, made once and never freed (immutable).
    nonisolated(unsafe) private static let flagTermPointers: [UnsafePointer<CChar>?] = SearchSchema.flagTerms.map { UnsafePointer(strdup($0)) }

    /// Documents within `radiusMeters` of a point (coordinates in `slot`), weighted more the nearer: tested
    /// against this reader's copy of the slot's coordinates as of its current commit.
    func near(slot: UInt32, lat: Double, lng: Double, radiusMeters: Double) throws(XapianError) -> XapianQuery {
        try XapianQuery { hx_rdb_near(db, slot, lat, lng, radiusMeters, 1000, 1, $0) }
    }

    /// The metadata value, or nil when unset.
    func metadata(_ key: String) throws(XapianError) -> String? {
        var err: UnsafeMutablePointer<CChar>?
        guard let p = hx_rdb_get_metadata(db, key, &err) else { throw XapianError.take(err) }
        defer { hx_free(p) }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }

    func documentCount() throws(XapianError) -> Int {
        var err: UnsafeMutablePointer<CChar>?
        let n = hx_rdb_doccount(db, &err)
        if n < 0 { throw XapianError.take(err) }
        return n
    }

    /// The commit this reader sees (Xapian's revision number).
    func revision() throws(XapianError) -> Int64 {
        var err: UnsafeMutablePointer<CChar>?
        let r = hx_rdb_revision(db, &err)
        if r < 0 { throw XapianError.take(err) }
        return r
    }

    /// Every term starting with `prefix`, with the number of documents holding it; `wordsOnly` skips
    /// the prefixed terms (ids, filters, stems) without reading them.
    func terms(prefix: String, wordsOnly: Bool = false) throws(XapianError) -> [(term: String, frequency: Int)] {
        var out: [(term: String, frequency: Int)] = []
        try withUnsafeMutablePointer(to: &out) { ctx throws(XapianError) in
            try check {
                hx_rdb_terms(db, prefix, wordsOnly ? 1 : 0, { ctx, term, len, freq in
                    let term = String(decoding: UnsafeRawBufferPointer(start: term, count: len), as: UTF8.self)
                    ctx!.assumingMemoryBound(to: [(term: String, frequency: Int)].self).pointee.append((term, Int(freq)))
                }, ctx, $0)
            }
        }
        return out
    }

    struct Hit {
        var docID: UInt32
        var data: [UInt8]
        var weight: Double
    }

    struct Result {
        var hits: [Hit] = []
        /// Facet field → value → count.
        var facets: [String: [String: Int]] = [:]
        var estimated = 0
    }

    enum Sort {
        case relevance
        case value(slot: UInt32, descending: Bool)
        case distance(slot: UInt32, lat: Double, lng: Double)
    }

    /// Only documents open now: their zone (a value) → minute of the week there.
    struct OpenNow {
        var hoursSlot: UInt32
        var zoneSlot: UInt32
        var minuteByZone: [String: Int]
    }

    /// Runs `query`: hits `offset..<offset+limit` in `sort` order, with value counts of the facet
    /// fields packed in `SearchSchema.packedFacets` (all of `facetFields`, in their packing order).
    /// `weighedByWords`: words weigh the matches, so that (ranked by relevance, without `openNow`) the
    /// facets count every match walked and equal matches cost little (`hx_search_options.walk_matches`).
    func run(_ query: XapianQuery, offset: Int, limit: Int, checkAtLeast: Int = 0, sort: Sort = .relevance,
             facetFields: [String] = [], openNow: OpenNow? = nil, weighedByWords: Bool = false) throws(XapianError) -> Result {
        var context = RunContext(fields: facetFields)
        var err: UnsafeMutablePointer<CChar>?
        let zones = openNow.map { Array($0.minuteByZone.keys) } ?? []
        let minutes = zones.map { Int32(openNow!.minuteByZone[$0]!) }
        let zoneStrings = zones.map { strdup($0) }
        defer { zoneStrings.forEach { free($0) } }
        let zonePointers: [UnsafePointer<CChar>?] = zoneStrings.map { UnsafePointer($0) }
        var options = hx_search_options()
        options.offset = UInt32(offset)
        options.limit = UInt32(limit)
        options.check_at_least = UInt32(checkAtLeast)
        options.sort_slot = -1
        options.sort_geo_slot = -1
        options.open_hours_slot = -1
        options.open_zone_slot = -1
        options.facet_slot = facetFields.isEmpty ? -1 : Int32(SearchSchema.packedFacets)
        options.facet_count = facetFields.count
        options.walk_matches = weighedByWords ? 1 : 0
        switch sort {
        case .relevance: break
        case .value(let slot, let descending):
            options.sort_slot = Int32(slot)
            options.sort_descending = descending ? 1 : 0
        case .distance(let slot, let lat, let lng):
            options.sort_geo_slot = Int32(slot)
            options.sort_lat = lat
            options.sort_lng = lng
        }
        if let openNow {
            options.open_hours_slot = Int32(openNow.hoursSlot)
            options.open_zone_slot = Int32(openNow.zoneSlot)
            options.open_zone_count = zones.count
        }
        let estimate = zonePointers.withUnsafeBufferPointer { zp in
                minutes.withUnsafeBufferPointer { mp in
                    options.open_zones = zp.baseAddress
                    options.open_minutes = mp.baseAddress
                    return withUnsafeMutablePointer(to: &context) { ctx in
                        hx_rdb_run(db, query.pointer, &options, { ctx, docid, data, len, weight in
                            let c = ctx!.assumingMemoryBound(to: RunContext.self)
                            let bytes = Array(UnsafeRawBufferPointer(start: data, count: len))
                            c.pointee.result.hits.append(Hit(docID: docid, data: bytes, weight: weight))
                        }, { ctx, field, value, len, count in
                            let c = ctx!.assumingMemoryBound(to: RunContext.self)
                            let v = String(decoding: UnsafeRawBufferPointer(start: value, count: len), as: UTF8.self)
                            c.pointee.result.facets[c.pointee.fields[Int(field)], default: [:]][v] = Int(count)
                        }, ctx, &err)
                    }
                }
        }
        if estimate < 0 { throw XapianError.take(err) }
        context.result.estimated = estimate
        return context.result
    }

    private struct RunContext {
        let fields: [String]
        var result = Result()
    }
}

/// A query tree node; built bottom-up, each node owns its Xapian query.
final class XapianQuery: @unchecked Sendable {
    let pointer: OpaquePointer

    fileprivate init(_ make: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> OpaquePointer?) throws(XapianError) {
        var err: UnsafeMutablePointer<CChar>?
        guard let p = make(&err) else { throw XapianError.take(err) }
        pointer = p
    }

    deinit { hx_query_free(pointer) }

    enum Op: Int32 { case and = 0, or = 1, andNot = 2, filter = 3, andMaybe = 4, synonym = 5 }

    static func term(_ term: String) throws(XapianError) -> XapianQuery {
        try XapianQuery { hx_query_term(term, $0) }
    }

    static func all() throws(XapianError) -> XapianQuery { try XapianQuery { hx_query_match_all($0) } }

    /// `op` over `parts` (one part is returned as it is).
    static func combine(_ op: Op, _ parts: [XapianQuery]) throws(XapianError) -> XapianQuery {
        if parts.count == 1, op == .and || op == .or || op == .synonym { return parts[0] }
        let pointers: [OpaquePointer?] = parts.map { $0.pointer }
        return try pointers.withUnsafeBufferPointer { buffer throws(XapianError) in
            try XapianQuery { hx_query_combine(op.rawValue, buffer.baseAddress, buffer.count, $0) }
        }
    }

    func scaled(_ factor: Double) throws(XapianError) -> XapianQuery {
        if factor == 1 { return self }
        return try XapianQuery { hx_query_scale(pointer, factor, $0) }
    }

    /// Matches documents with a number in `slot`, weighted by it times `scale`.
    static func valueWeight(slot: UInt32, scale: Double) throws(XapianError) -> XapianQuery {
        try XapianQuery { hx_query_value_weight(slot, scale, $0) }
    }
}

/// Numbers as Xapian's sortable strings (value slots that range queries and sorting compare bytewise).
enum Sortable {
    static func encode(_ value: Double) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 18)
        let n = out.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { hx_sortable(value, $0.baseAddress, $0.count) }
        }
        return Array(out.prefix(n))
    }

    static func decode(_ bytes: [UInt8]) -> Double {
        bytes.withUnsafeBufferPointer { b in b.withMemoryRebound(to: CChar.self) { hx_unsortable($0.baseAddress, $0.count) } }
    }
}

/// A coordinate as a value slot for geo queries.
enum GeoValue {
    static func encode(lat: Double, lng: Double) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let n = out.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { hx_latlong(lat, lng, $0.baseAddress, $0.count) }
        }
        return Array(out.prefix(n))
    }
}

/// The English stem of a lower-case word, as the indexer's `Z` terms hold it.
enum Stemmer {
    static func stem(_ word: String) -> String {
        var err: UnsafeMutablePointer<CChar>?
        guard let p = hx_stem(word, &err) else { hx_free(err); return word }
        defer { hx_free(p) }
        return String(cString: p)
    }
}
