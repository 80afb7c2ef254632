import Dispatch
import Foundation
import HearthEvents
import HearthSupport
import Synchronization

/// The read side of the search index: menu item search with typos, prefixes, synonyms,
/// split and joined words, filters and facets. Readers see a commit within `refresh`.
/// Searching never fails because of indexing: readers open their own snapshot and move
/// to the newest commit between queries.
public final class SearchIndex: Sendable {
    public let items: IndexDefinition
    public let restaurants: IndexDefinition
    private let path: String
    private let refresh: Duration
    private let readers: [Reader]
    private let next = Atomic<Int>(0)
    private let itemPlanner: QueryPlanner
    private let state = Mutex(Shared())

    private struct Shared {
        var vocabulary = Vocabulary()
        var vocabularyDocuments = -1
        var vocabularyBuilt: ContinuousClock.Instant?
    }

    public init(path: String, definitions: [IndexDefinition], readers: Int = 2, refresh: Duration = .seconds(1)) throws {
        guard let items = definitions.first(where: { $0.entity == .item }),
              let restaurants = definitions.first(where: { $0.entity == .restaurant }) else {
            throw XapianError(message: "search needs an index definition for items and one for restaurants")
        }
        self.items = items
        self.restaurants = restaurants
        self.path = path
        self.refresh = refresh
        self.readers = (0..<max(1, readers)).map { Reader(index: $0) }
        itemPlanner = QueryPlanner(definition: items)
    }

    // MARK: Menu search

    public struct MenuQuery: Sendable {
        public var text = ""
        public var restaurantID: String?
        public var city: String?
        public var category: String?
        public var diet: String?
        public var tags: [String] = []
        public var maxPriceMinor: Int64?
        public var includeUnavailable = false
        public var limit = 20
        public var offset = 0
        public init() {}
    }

    public struct MenuHit: Sendable, Encodable {
        public var id: String
        public var score: Double
        /// Typos of the match (0: every word matched exactly, as a prefix or as a synonym).
        public var typos: Int
        public var item: MenuItemUpserted
        public var restaurant: RestaurantSummary?
        /// Fields with the matched words wrapped in `<mark>`.
        public var highlights: [String: String]
    }

    public struct MenuResult: Sendable, Encodable {
        public var hits: [MenuHit]
        public var estimatedTotal: Int
        public var facets: [String: [String: Int]]
        public var correctedQuery: String?
        public var warnings: [String]
        public var tookMs: Double
    }

    public func searchMenu(_ query: MenuQuery) async throws -> MenuResult {
        let started = ContinuousClock.now
        let reader = readers[next.add(1, ordering: .relaxed).newValue % readers.count]
        return try await Blocking.run(on: reader.queue) { [self] in
            let db = try self.open(reader)
            let vocabulary = self.state.withLock { $0.vocabulary }
            let normalised = itemPlanner.normalise(query.text)
            let plans = itemPlanner.plan(normalised.words, lastWordOpen: normalised.lastWordOpen, vocabulary: vocabulary)
            let joins = QueryPlanner.joins(normalised.words, vocabulary)
            let filter = try self.menuFilter(query)
            let facetSlots = [SearchSchema.itemCategory, SearchSchema.itemDiet, SearchSchema.itemCity, SearchSchema.itemPriceBand]
            let facetNames: [UInt32: String] = [SearchSchema.itemCategory: "category", SearchSchema.itemDiet: "diet",
                                                SearchSchema.itemCity: "city", SearchSchema.itemPriceBand: "price_band"]
            let want = query.offset + query.limit

            // Exact matches always rank above typo matches: the typo tier only fills what the exact tier leaves.
            let exact = try Self.textQuery(plans, joins: joins, maxCost: 0)
            let q0 = try Self.filtered(exact, filter)
            let r0 = try db.run(q0, offset: query.offset, limit: query.limit, checkAtLeast: max(want, 10_000), facetSlots: facetSlots)
            var hits = r0.hits.map { (hit: $0, typos: 0) }
            var estimated = r0.estimated
            var facets = r0.facets
            var corrected: String?
            let hasTypos = plans.contains { $0.alternatives.contains { $0.cost > 0 } }
            if hasTypos, let exact {
                let all = try Self.textQuery(plans, joins: joins, maxCost: Int.max)!
                let typoOnly = try XapianQuery.combine(.andNot, [all, exact])
                let q1 = try Self.filtered(typoOnly, filter)
                let offset1 = max(0, query.offset - r0.estimated)
                let limit1 = query.limit - hits.count
                let r1 = try db.run(q1, offset: offset1, limit: max(limit1, 0), checkAtLeast: max(want, 10_000), facetSlots: facetSlots)
                hits += r1.hits.prefix(max(limit1, 0)).map { (hit: $0, typos: 1) }
                estimated += r1.estimated
                for (slot, counts) in r1.facets { facets[slot, default: [:]].merge(counts, uniquingKeysWith: +) }
                if r0.estimated == 0, r1.estimated > 0 {
                    corrected = plans.map { p in
                        p.alternatives.filter { $0.cost > 0 }.min { $0.cost < $1.cost }?.display ?? p.word
                    }.joined(separator: " ")
                }
            }
            let matched = Self.matchedWords(plans)
            let out = try hits.map { entry -> MenuHit in
                let stored = try JSONDecoder().decode(StoredMenuItem.self, from: Data(entry.hit.data))
                let typos = entry.typos == 0 ? 0 : Self.typos(of: stored.item, plans: plans)
                return MenuHit(id: stored.item.item_id, score: (entry.hit.weight * 1000).rounded() / 1000, typos: typos,
                               item: stored.item, restaurant: stored.restaurant,
                               highlights: ["name": Self.highlight(stored.item.name, matched),
                                            "description": Self.highlight(stored.item.description, matched)])
            }
            var namedFacets: [String: [String: Int]] = [:]
            for (slot, counts) in facets { if let name = facetNames[slot] { namedFacets[name] = counts } }
            return MenuResult(hits: out, estimatedTotal: estimated, facets: namedFacets, correctedQuery: corrected,
                              warnings: normalised.warnings, tookMs: ((ContinuousClock.now - started).seconds * 1e5).rounded() / 100)
        }
    }

    private func menuFilter(_ q: MenuQuery) throws -> XapianQuery {
        var parts = [try XapianQuery.term(SearchSchema.itemType), try XapianQuery.term(SearchSchema.live)]
        if !q.includeUnavailable { parts.append(try .term(SearchSchema.available)) }
        if let r = q.restaurantID { parts.append(try .term(SearchSchema.restaurantTerm(r))) }
        if let c = q.city { parts.append(try .term(SearchSchema.city(c))) }
        if let c = q.category { parts.append(try .term(SearchSchema.category(c))) }
        if let d = q.diet { parts.append(try .term(SearchSchema.diet(d))) }
        for t in q.tags { parts.append(try .term(SearchSchema.tag(t))) }
        if let p = q.maxPriceMinor { parts.append(try .range(slot: SearchSchema.itemPrice, lower: nil, upper: Double(p))) }
        return try .combine(.and, parts)
    }

    /// Text matches restricted by `filter` (which adds no weight); everything filtered when there is no text.
    private static func filtered(_ text: XapianQuery?, _ filter: XapianQuery) throws -> XapianQuery {
        guard let text else { return filter }
        return try .combine(.filter, [text, filter])
    }

    /// Every word must match one of its alternatives costing at most `maxCost` typos.
    static func textQuery(_ plans: [WordPlan], joins: [(Int, String)], maxCost: Int) throws -> XapianQuery? {
        guard !plans.isEmpty else { return nil }
        var parts: [XapianQuery] = []
        for plan in plans {
            var alternatives: [XapianQuery] = []
            for alt in plan.alternatives where alt.cost <= maxCost {
                let terms = try alt.terms.map { try XapianQuery.term($0) }
                alternatives.append(try XapianQuery.combine(.and, terms).scaled(weight(alt)))
            }
            parts.append(try .combine(.or, alternatives))
        }
        // "garlic bread" also finds "garlicbread": the pair may match the joined word instead.
        for (i, joined) in joins.reversed() where i + 1 < parts.count {
            let pair = try XapianQuery.combine(.or, [try .combine(.and, [parts[i], parts[i + 1]]), try .term(joined)])
            parts.replaceSubrange(i...(i + 1), with: [pair])
        }
        return try .combine(.and, parts)
    }

    private static func weight(_ alt: WordPlan.Alternative) -> Double {
        switch alt.kind {
        case .exact, .join: 1
        case .stem, .split: 0.9
        case .synonym: 0.8
        case .prefix: alt.cost == 0 ? 0.7 : 0.35
        case .typo: 0.5 / Double(alt.cost)
        }
    }

    /// Words to highlight: every alternative's words (stems excluded; they are matched by stem below).
    static func matchedWords(_ plans: [WordPlan]) -> (words: Set<String>, stems: Set<String>) {
        var words = Set<String>(), stems = Set<String>()
        for p in plans {
            for alt in p.alternatives {
                if alt.kind == .stem { stems.formUnion(alt.terms.map { String($0.dropFirst()) }) } else { words.formUnion(alt.terms) }
            }
        }
        return (words, stems)
    }

    /// `text` with each matched word wrapped in `<mark>`; everything else escaped as HTML text.
    static func highlight(_ text: String, _ matched: (words: Set<String>, stems: Set<String>)) -> String {
        var out = ""
        var word = ""
        func flush() {
            guard !word.isEmpty else { return }
            let key = QueryPlanner.words(word).first ?? ""
            let hit = matched.words.contains(key) || matched.stems.contains(Stemmer.stem(key))
            out += hit ? "<mark>\(escape(word))</mark>" : escape(word)
            word = ""
        }
        for ch in text {
            if ch.isLetter || ch.isNumber { word.append(ch) } else { flush(); out += escape(String(ch)) }
        }
        flush()
        return out
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The typos a typo-tier hit needed: per query word, the cheapest alternative found in the item's words.
    private static func typos(of item: MenuItemUpserted, plans: [WordPlan]) -> Int {
        let words = Set(QueryPlanner.words([item.name, item.category, item.tags.joined(separator: " "), item.description].joined(separator: " ")))
        var total = 0
        for p in plans {
            let costs = p.alternatives.filter { $0.terms.allSatisfy { t in words.contains(t) } }.map(\.cost)
            total += costs.min() ?? 0
        }
        return max(total, 1)
    }

    // MARK: Readers

    private final class Reader: @unchecked Sendable {
        let queue: DispatchQueue
        var db: XapianDatabase?
        var reopened: ContinuousClock.Instant?
        init(index: Int) { queue = DispatchQueue(label: "hearth.search.reader.\(index)") }
    }

    /// The reader's database at a commit at most `refresh` old (called on the reader's queue).
    private func open(_ reader: Reader) throws -> XapianDatabase {
        let now = ContinuousClock.now
        if let db = reader.db {
            if let last = reader.reopened, now - last < refresh { return db }
            try db.reopen()
            reader.reopened = now
            try refreshVocabulary(db)
            return db
        }
        let db = try XapianDatabase(path: path)
        reader.db = db
        reader.reopened = now
        try refreshVocabulary(db)
        return db
    }

    /// Rebuilds the vocabulary when the index changed size, or every ten refreshes.
    private func refreshVocabulary(_ db: XapianDatabase) throws {
        let count = try db.documentCount()
        let due = state.withLock { s -> Bool in
            if s.vocabularyDocuments != count { return true }
            guard let built = s.vocabularyBuilt else { return true }
            return ContinuousClock.now - built > refresh * 10
        }
        guard due else { return }
        let vocabulary = Vocabulary(try db.terms(prefix: ""))
        state.withLock { s in
            s.vocabulary = vocabulary
            s.vocabularyDocuments = count
            s.vocabularyBuilt = .now
        }
    }
}
