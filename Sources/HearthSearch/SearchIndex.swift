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
    private let warmed = Atomic<Bool>(false)
    private let itemPlanner: QueryPlanner
    private let restaurantPlanner: QueryPlanner
    private let state = Mutex(Shared())
    /// Where the vocabulary and the suggestions are rebuilt, off the queries' path, with a database
    /// handle of its own.
    private let background = Reader(label: "hearth.search.background")

    private struct Shared {
        var vocabulary = Vocabulary()
        var zones: [String] = []
        var vocabularyDocuments = -1
        /// The commit the vocabulary was read at: no commit since, nothing to read again.
        var vocabularyRevision: Int64 = -1
        /// How often the vocabulary was read (for tests).
        var vocabularyReads = 0
        var vocabularyBuilt: ContinuousClock.Instant?
        var vocabularyBuilding = false
        /// The newest suggestions read (shared by the readers; nil: none yet).
        var suggestions: SuggestionSet?
        var suggestionsChecked: ContinuousClock.Instant?
        var suggestionsBuilding = false
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
        self.readers = (0..<max(1, readers)).map { Reader(label: "hearth.search.reader.\($0)") }
        itemPlanner = QueryPlanner(definition: items)
        restaurantPlanner = QueryPlanner(definition: restaurants)
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
        return try await withReader { db, vocabulary, _ in
            let t = try self.tiered(db, self.itemPlanner, vocabulary, text: query.text, filter: try self.menuFilter(query, db),
                                    boost: try Self.popularityBoost(SearchSchema.itemPopularity, self.items),
                                    offset: query.offset, limit: query.limit, facetFields: SearchSchema.itemFacetFields)
            let out = try t.hits.map { entry -> MenuHit in
                let stored = try StoredMenuItem.decode(entry.hit.data)
                let typos = entry.typos == 0 ? 0 : Self.typos(of: [stored.item.name, stored.item.category, stored.item.tags.joined(separator: " "),
                                                                   stored.item.description, stored.restaurant?.name ?? ""], plans: t.plans)
                return MenuHit(id: stored.item.item_id, score: Self.round(entry.hit.weight), typos: typos,
                               item: stored.item, restaurant: stored.restaurant,
                               highlights: ["name": Self.highlight(stored.item.name, t.matched),
                                            "description": Self.highlight(stored.item.description, t.matched)])
            }
            return MenuResult(hits: out, estimatedTotal: t.estimated, facets: Self.named(t.facets, self.items),
                              correctedQuery: t.corrected, warnings: t.warnings, tookMs: Self.millis(since: started))
        }
    }

    // MARK: Restaurant search

    public enum RestaurantSort: String, Sendable, CaseIterable { case relevance, distance, rating, popularity }

    public struct RestaurantQuery: Sendable {
        public var text = ""
        public var location: GeoPoint?
        public var radiusKm: Double?
        public var city: String?
        public var cuisine: String?
        public var openNow = false
        public var minRating: Double?
        public var sort = RestaurantSort.relevance
        public var limit = 20
        public var offset = 0
        /// The moment `open_now` is evaluated at (now, unless a test fixes it).
        public var at = Date()
        public init() {}
    }

    public struct RestaurantHit: Sendable, Encodable {
        public var id: String
        public var score: Double
        public var typos: Int
        public var distanceKm: Double?
        public var openNow: Bool
        public var restaurant: RestaurantUpserted
        public var highlights: [String: String]
    }

    public struct RestaurantResult: Sendable, Encodable {
        public var hits: [RestaurantHit]
        public var estimatedTotal: Int
        public var facets: [String: [String: Int]]
        public var correctedQuery: String?
        public var warnings: [String]
        public var tookMs: Double
    }

    public func searchRestaurants(_ query: RestaurantQuery) async throws -> RestaurantResult {
        let started = ContinuousClock.now
        return try await withReader { db, vocabulary, _ in
            var parts = [try db.flags(required: [SearchSchema.restaurantType], forbidden: [SearchSchema.hidden])]
            if let c = query.city { parts.append(try .term(SearchSchema.city(c))) }
            if let c = query.cuisine { parts.append(try .term(SearchSchema.cuisine(c))) }
            if let r = query.minRating { parts.append(try db.range(slot: SearchSchema.restaurantRating, lower: r, upper: nil)) }
            var boosts: [XapianQuery] = [], weighted: [XapianQuery] = []
            if let popular = try Self.popularityBoost(SearchSchema.restaurantPopularity, self.restaurants) { boosts.append(popular) }
            if let at = query.location {
                // Nearer ranks higher; with a radius, only what lies within it (one distance source that
                // both filters and weighs: each source computes every restaurant's distance).
                let radius = (query.radiusKm ?? 20_000) * 1000
                let near = try db.near(slot: SearchSchema.restaurantLocation, lat: at.lat, lng: at.lng, radiusMeters: radius)
                if query.radiusKm != nil { weighted.append(near) } else { boosts.append(near) }
            }
            let boost = boosts.count > 1 ? try XapianQuery.combine(.or, boosts) : boosts.first
            let sort: XapianDatabase.Sort
            switch query.sort {
            case .relevance: sort = .relevance
            case .distance: sort = .distance(slot: SearchSchema.restaurantLocation, lat: query.location!.lat, lng: query.location!.lng)
            case .rating: sort = .value(slot: SearchSchema.restaurantRating, descending: true)
            case .popularity: sort = .value(slot: SearchSchema.restaurantPopularity, descending: true)
            }
            let minutes = Self.minuteOfWeek(in: self.state.withLock { $0.zones }, at: query.at)
            let openNow = query.openNow ? XapianDatabase.OpenNow(hoursSlot: SearchSchema.restaurantHours, zoneSlot: SearchSchema.restaurantZone,
                                                                 minuteByZone: minutes) : nil
            let t = try self.tiered(db, self.restaurantPlanner, vocabulary, text: query.text,
                                    filter: Restriction(require: parts, weighted: weighted),
                                    boost: boost, offset: query.offset, limit: query.limit, sort: sort,
                                    facetFields: SearchSchema.restaurantFacetFields, openNow: openNow)
            let out = try t.hits.map { entry -> RestaurantHit in
                let r = try RestaurantUpserted.decodeStored(entry.hit.data)
                let typos = entry.typos == 0 ? 0 : Self.typos(of: [r.name, r.cuisines.joined(separator: " "), r.city, r.address], plans: t.plans)
                return RestaurantHit(id: r.restaurant_id, score: Self.round(entry.hit.weight), typos: typos,
                                     distanceKm: query.location.map { Self.round(Self.distanceKm($0, r.location)) },
                                     openNow: Self.isOpen(r.opening_hours, minute: minutes[r.timezone]
                                                             ?? Self.minuteOfWeek(in: [r.timezone], at: query.at)[r.timezone]),
                                     restaurant: r, highlights: ["name": Self.highlight(r.name, t.matched)])
            }
            return RestaurantResult(hits: out, estimatedTotal: t.estimated, facets: Self.named(t.facets, self.restaurants),
                                    correctedQuery: t.corrected, warnings: t.warnings, tookMs: Self.millis(since: started))
        }
    }

    // MARK: Suggestions

    public struct SuggestQuery: Sendable {
        public var text = ""
        public var location: GeoPoint?
        public var city: String?
        public var limit = 8
        public init() {}
    }

    public struct SuggestionHit: Sendable, Encodable {
        public var text: String
        public var kind: Suggestion.Kind
        /// Dishes or restaurants carrying it (in the city, when one applies).
        public var count: Int
        /// Orders of it in the popularity window (in the city, when one applies).
        public var orders: Int64
        public var typos: Int
        public var highlighted: String
    }

    public struct SuggestResult: Sendable, Encodable {
        public var suggestions: [SuggestionHit]
        /// The city suggestions were ranked for (given, or the nearest restaurant's to `location`).
        public var city: String?
        public var correctedQuery: String?
        public var warnings: [String]
        public var tookMs: Double
    }

    /// Completions of dish names, restaurant names and cuisines: typo-tolerant, deduplicated, the
    /// most ordered first (then the most common); in a city when one is given or a restaurant lies
    /// within 50 km of `location`.
    public func suggest(_ query: SuggestQuery) async throws -> SuggestResult {
        let started = ContinuousClock.now
        return try await withReader { db, _, reader in
            var city = query.city
            if city == nil, let at = query.location {
                let near = try XapianQuery.combine(.filter, [
                    try db.near(slot: SearchSchema.restaurantLocation, lat: at.lat, lng: at.lng, radiusMeters: 50_000),
                    try db.flags(required: [SearchSchema.restaurantType], forbidden: [SearchSchema.hidden]),
                ])
                let nearest = try db.run(near, offset: 0, limit: 1, sort: .distance(slot: SearchSchema.restaurantLocation, lat: at.lat, lng: at.lng))
                city = try nearest.hits.first.map { try RestaurantUpserted.decodeStored($0.data).city }
            }
            let set = try self.suggestions(reader, db)
            let (normalised, plans, joins) = Self.planned(self.itemPlanner, query.text, set.vocabulary)
            let cityKey = city.map(SearchSchema.normal)
            // Exact matches always rank above typo matches: the typo tier holds what only a typo matches.
            let exact = set.matching(plans, joins: joins, maxCost: 0)
            let tiers = [exact, Self.hasTypos(plans) ? set.matching(plans, joins: joins, maxCost: Int.max).subtracting(exact)
                                                      : EntrySet(count: set.entries.count)]
            // One hit per text (across cities and kinds), counts summed; it shows as its most ordered entry.
            var merged: [(hit: SuggestionHit, tier: Int, best: (Int64, Int, Int32))] = []
            var slot = [Int32](repeating: -1, count: set.keyCount)   // by entry key: its place in `merged`
            for (tier, ids) in tiers.enumerated() {
                for id in ids {
                    let entry = set.entries[Int(id)]
                    guard cityKey == nil || entry.city == cityKey else { continue }
                    let s = entry.suggestion
                    let rank = (s.orders, s.count, -id)
                    let at = Int(slot[Int(entry.key)])
                    guard at >= 0 else {
                        slot[Int(entry.key)] = Int32(merged.count)
                        merged.append((SuggestionHit(text: s.text, kind: s.kind, count: s.count, orders: s.orders, typos: tier,
                                                     highlighted: ""), tier, rank))
                        continue
                    }
                    merged[at].hit.count += s.count
                    merged[at].hit.orders += s.orders
                    if rank > merged[at].best { (merged[at].hit.text, merged[at].hit.kind, merged[at].best) = (s.text, s.kind, rank) }
                }
            }
            // Exact before typo matches; within each, the most ordered, then the most common (across
            // cities once merged), then by text.
            let matched = Self.matchedWords(plans)
            let out = merged.sorted { a, b in
                (a.tier, -a.hit.orders, -a.hit.count, a.hit.text) < (b.tier, -b.hit.orders, -b.hit.count, b.hit.text)
            }.prefix(query.limit).map { m -> SuggestionHit in
                var hit = m.hit
                if m.tier > 0 { hit.typos = Self.typos(of: [hit.text], plans: plans) }
                hit.highlighted = Self.highlight(hit.text, matched)
                return hit
            }
            // Only typo matches (in the city): show what the typos were read as.
            let corrected = !merged.isEmpty && !merged.contains { $0.tier == 0 } ? Self.correction(plans) : nil
            return SuggestResult(suggestions: out, city: city, correctedQuery: corrected, warnings: normalised.warnings,
                                 tookMs: Self.millis(since: started))
        }
    }

    // MARK: Read model

    /// One restaurant as indexed (nil when unknown or removed).
    public func restaurant(id: String) async throws -> RestaurantUpserted? {
        try await withReader { db, _, _ in
            let r = try db.run(try .term(SearchSchema.restaurantID(id)), offset: 0, limit: 1)
            return try r.hits.first.map { try RestaurantUpserted.decodeStored($0.data) }
        }
    }

    /// A restaurant's menu items (unavailable ones included, flagged), by category and name.
    public func menu(restaurantID: String, limit: Int = 1000) async throws -> [MenuItemUpserted] {
        try await withReader { db, _, _ in
            let q = try XapianQuery.combine(.filter, [try .term(SearchSchema.restaurantTerm(restaurantID)), try .term(SearchSchema.itemType)])
            let r = try db.run(q, offset: 0, limit: limit)
            return try r.hits.map { try StoredMenuItem.decode($0.data).item }
                .sorted { ($0.category, $0.name, $0.item_id) < ($1.category, $1.name, $1.item_id) }
        }
    }

    // MARK: Shared search steps

    struct Tiered {
        var hits: [(hit: XapianDatabase.Hit, typos: Int)]
        var estimated: Int
        var facets: [String: [String: Int]]
        var corrected: String?
        var warnings: [String]
        var plans: [WordPlan]
        var matched: (words: Set<String>, stems: Set<String>)
    }

    /// Exact matches always rank above typo matches: the typo tier only fills what the exact tier leaves.
    private func tiered(_ db: XapianDatabase, _ planner: QueryPlanner, _ vocabulary: Vocabulary, text: String, filter: Restriction,
                        boost: XapianQuery? = nil, offset: Int, limit: Int, sort: XapianDatabase.Sort = .relevance,
                        facetFields: [String], openNow: XapianDatabase.OpenNow? = nil) throws -> Tiered {
        let (normalised, plans, joins) = Self.planned(planner, text, vocabulary)
        let want = offset + limit
        // Facets count the matches Xapian examines: at least the first `facetSample` of them.
        let checkAtLeast = facetFields.isEmpty ? want : max(want, Self.facetSample)
        func finish(_ q: XapianQuery?) throws -> XapianQuery {
            let base = try Self.filtered(q, filter)
            guard let boost else { return base }
            return try .combine(.andMaybe, [base, boost])
        }
        let exact = try Self.textQuery(plans, joins: joins, maxCost: 0)
        let r0 = try db.run(try finish(exact), offset: offset, limit: limit, checkAtLeast: checkAtLeast, sort: sort,
                            facetFields: facetFields, openNow: openNow, weighedByWords: exact != nil)
        var out = Tiered(hits: r0.hits.map { ($0, 0) }, estimated: r0.estimated, facets: r0.facets, corrected: nil,
                         warnings: normalised.warnings, plans: plans, matched: Self.matchedWords(plans))
        if Self.hasTypos(plans), let exact {
            let all = try Self.textQuery(plans, joins: joins, maxCost: Int.max)!
            let typoOnly = try XapianQuery.combine(.andNot, [all, exact])
            let limit1 = max(0, limit - out.hits.count)
            // Typo matches rank below every exact one: when the exact tier fills the page and the
            // facet sample, the typo tier adds only its (rough) estimate, and Xapian need not walk
            // the exact matches to subtract them.
            let needed = limit1 > 0 || r0.estimated < checkAtLeast
            let r1 = try db.run(try finish(typoOnly), offset: max(0, offset - r0.estimated), limit: limit1,
                                checkAtLeast: needed ? checkAtLeast : 0, sort: sort,
                                facetFields: needed ? facetFields : [], openNow: openNow, weighedByWords: true)
            out.hits += r1.hits.prefix(limit1).map { ($0, 1) }
            out.estimated += r1.estimated
            for (field, counts) in r1.facets { out.facets[field, default: [:]].merge(counts, uniquingKeysWith: +) }
            if r0.estimated == 0, r1.estimated > 0 { out.corrected = Self.correction(plans) }
        }
        return out
    }

    private func withReader<T: Sendable>(_ body: @escaping @Sendable (XapianDatabase, Vocabulary, Reader) throws -> T) async throws -> T {
        try await on(readers[next.add(1, ordering: .relaxed).newValue % readers.count], body)
    }

    /// `body` on `reader`'s queue, with its database at a commit at most `refresh` old.
    private func on<T: Sendable>(_ reader: Reader, _ body: @escaping @Sendable (XapianDatabase, Vocabulary, Reader) throws -> T) async throws -> T {
        try await Blocking.run(on: reader.queue) { [self] in
            // A reader sees one revision; when the writer commits twice while a query runs, or while
            // opening reads the vocabulary in line (the first query), Xapian discards that revision
            // under it. Move to the newest and run the query again.
            var attempt = 0
            while true {
                do {
                    let db = try self.open(reader)
                    return try body(db, self.state.withLock { $0.vocabulary }, reader)
                } catch let error as XapianError where error.isRevisionDiscarded && attempt < 5 {
                    attempt += 1
                    reader.reopened = nil   // the next open moves to the newest commit
                }
            }
        }
    }

    /// Reads on every reader what the first query on it would otherwise read in line: the vocabulary, the
    /// suggestions, and the flag, facet, price and rating, and coordinate columns (at a million documents, 0.3 s with
    /// the index in the page cache and 2 s without, on some user's first query after a start). `hearth serve`
    /// warms in the background and is not ready until it has.
    public func warm() async throws {
        defer { warmed.store(true, ordering: .releasing) }
        // The vocabulary and the suggestions are shared: one reader reads them. Then every reader its columns, at once.
        try await on(readers[0]) { [self] db, _, reader in _ = try self.suggestions(reader, db) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for reader in readers {
                group.addTask {
                    try await self.on(reader) { db, _, _ in
                        try db.loadColumns(facetSlot: SearchSchema.packedFacets,
                                           numberSlots: Set([SearchSchema.itemPrice, SearchSchema.restaurantRating]).sorted(),
                                           pointSlots: [SearchSchema.restaurantLocation])
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Whether `warm` has finished (one that failed leaves the reading to the first queries, as without it).
    public var isWarm: Bool { warmed.load(ordering: .acquiring) }

    /// How often the vocabulary was read whole (for tests).
    var vocabularyReads: Int { state.withLock { $0.vocabularyReads } }

    /// Each reader's facet column statistics (for tests).
    func facetColumnStats() async throws -> [(fullLoads: Int, updates: Int)] {
        var out: [(fullLoads: Int, updates: Int)] = []
        for reader in readers {
            out.append(try await Blocking.run(on: reader.queue) { reader.db?.facetColumnStats ?? (0, 0) })
        }
        return out
    }

    /// Recent orders' lift for matches (nil when the definition gives popularity no weight).
    private static func popularityBoost(_ slot: UInt32, _ definition: IndexDefinition) throws -> XapianQuery? {
        definition.popularityWeight > 0 ? try .valueWeight(slot: slot, scale: definition.popularityWeight) : nil
    }

    /// How many matches facet counts look at, at least (bounded work per query; counts of larger
    /// result sets are over the matches Xapian examined, which include the best-ranked ones).
    static let facetSample = 1000

    /// The facets the index definition asks for (each present, empty when nothing was counted).
    private static func named(_ facets: [String: [String: Int]], _ definition: IndexDefinition) -> [String: [String: Int]] {
        var out: [String: [String: Int]] = [:]
        for name in definition.facets { out[name] = facets[name] ?? [:] }
        return out
    }

    private static func round(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

    private static func millis(since start: ContinuousClock.Instant) -> Double {
        ((ContinuousClock.now - start).seconds * 1e5).rounded() / 100
    }

    /// Great-circle distance in kilometres.
    static func distanceKm(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        let r = 6371.0088, rad = Double.pi / 180
        let dLat = (b.lat - a.lat) * rad, dLng = (b.lng - a.lng) * rad
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(a.lat * rad) * cos(b.lat * rad) * sin(dLng / 2) * sin(dLng / 2)
        return 2 * r * asin(min(1, sqrt(h)))
    }

    /// The minute of the week (0 = Sunday 00:00) in each of `zones` at `date` (unknown zones left out).
    static func minuteOfWeek(in zones: [String], at date: Date) -> [String: Int] {
        var out: [String: Int] = [:]
        let epochMinute = Int((date.timeIntervalSince1970 / 60).rounded(.down))
        for id in zones {
            guard let zone = TimeZone(identifier: id) else { continue }
            let local = epochMinute + zone.secondsFromGMT(for: date) / 60
            // 1970-01-01 was a Thursday (day 4).
            out[id] = ((local + 4 * 1440) % SearchSchema.minutesPerWeek + SearchSchema.minutesPerWeek) % SearchSchema.minutesPerWeek
        }
        return out
    }

    static func isOpen(_ hours: [OpeningHours], minute: Int?) -> Bool {
        guard let minute else { return false }
        let bytes = SearchSchema.openIntervals(hours)
        var i = 0
        while i + 3 < bytes.count {
            let start = Int(bytes[i]) | Int(bytes[i + 1]) << 8, end = Int(bytes[i + 2]) | Int(bytes[i + 3]) << 8
            if minute >= start && minute < end { return true }
            i += 4
        }
        return false
    }

    private func menuFilter(_ q: MenuQuery, _ db: XapianDatabase) throws -> Restriction {
        // Live items: one flag test per candidate (excluding the other kinds' and the hidden and unavailable items'
        // posting lists had been a seventh of a menu search).
        var parts = [try db.flags(required: [SearchSchema.itemType],
                                  forbidden: q.includeUnavailable ? [SearchSchema.hidden] : [SearchSchema.hidden, SearchSchema.unavailable])]
        if let r = q.restaurantID { parts.append(try .term(SearchSchema.restaurantTerm(r))) }
        if let c = q.city { parts.append(try .term(SearchSchema.city(c))) }
        if let c = q.category { parts.append(try .term(SearchSchema.category(c))) }
        if let d = q.diet { parts.append(try .term(SearchSchema.diet(d))) }
        for t in q.tags { parts.append(try .term(SearchSchema.tag(t))) }
        if let p = q.maxPriceMinor { parts.append(try db.range(slot: SearchSchema.itemPrice, lower: nil, upper: Double(p))) }
        return Restriction(require: parts)
    }

    /// What results must have: adding no weight, or adding its weight.
    struct Restriction {
        /// What results must have, adding no weight.
        var require: [XapianQuery] = []
        /// What results must match, adding its weight (a radius' distance decay).
        var weighted: [XapianQuery] = []
    }

    /// Text matches restricted by `filter`; with no text, everything the filter lets through.
    private static func filtered(_ text: XapianQuery?, _ filter: Restriction) throws -> XapianQuery {
        var base: XapianQuery
        switch (text, filter.require.isEmpty) {
        case (let text?, true): base = text
        case (let text?, false): base = try .combine(.filter, [text, try .combine(.and, filter.require)])
        case (nil, true): base = try .all()
        case (nil, false): base = try .combine(.and, filter.require)
        }
        if !filter.weighted.isEmpty { base = try .combine(.and, [base] + filter.weighted) }
        return base
    }

    /// The words of `text` under `planner`'s rules, each word's alternatives among `vocabulary`, and the
    /// adjacent pairs written together there.
    private static func planned(_ planner: QueryPlanner, _ text: String, _ vocabulary: Vocabulary)
        -> (normalised: QueryPlanner.Normalised, plans: [WordPlan], joins: [(Int, String)]) {
        let normalised = planner.normalise(text)
        return (normalised, planner.plan(normalised.words, lastWordOpen: normalised.lastWordOpen, vocabulary: vocabulary),
                QueryPlanner.joins(normalised.words, vocabulary))
    }

    /// Whether any word may match with typos.
    private static func hasTypos(_ plans: [WordPlan]) -> Bool { plans.contains { $0.alternatives.contains { $0.cost > 0 } } }

    /// The query as its cheapest typo alternatives spell it (shown when only typo matches were found).
    static func correction(_ plans: [WordPlan]) -> String {
        plans.map { p in p.alternatives.filter { $0.cost > 0 }.min { $0.cost < $1.cost }?.display ?? p.word }.joined(separator: " ")
    }

    /// The alternatives of a word that a match may use, at most `maxCost` typos each. Xapian indexes
    /// every word that starts with a letter under its stem as well ("Z" + stem), so the stem's
    /// documents include the exact word's: the exact word is left out where the stem covers it
    /// (reading both would double the work for the same matches).
    static func alternatives(_ plan: WordPlan, maxCost: Int) -> [WordPlan.Alternative] {
        let stemCovers = plan.word.first?.isLetter == true && plan.alternatives.contains { $0.kind == .stem }
        return plan.alternatives.filter { $0.cost <= maxCost && !(stemCovers && $0.kind == .exact) }
    }

    /// Every word must match one of its alternatives costing at most `maxCost` typos.
    static func textQuery(_ plans: [WordPlan], joins: [(Int, String)], maxCost: Int) throws -> XapianQuery? {
        guard !plans.isEmpty else { return nil }
        var parts: [XapianQuery] = []
        for plan in plans {
            var alternatives: [XapianQuery] = []
            for alt in Self.alternatives(plan, maxCost: maxCost) {
                let terms = try alt.terms.map { try XapianQuery.term($0) }
                alternatives.append(try XapianQuery.combine(.and, terms))
            }
            // The alternatives of a word weigh as one term (Xapian's OP_SYNONYM): a word that
            // expands to fifty prefixes costs about what one term costs, and ranks like one.
            parts.append(try .combine(.synonym, alternatives))
        }
        // "garlic bread" also finds "garlicbread": the pair may match the joined word instead.
        for (i, joined) in joins.reversed() where i + 1 < parts.count {
            let pair = try XapianQuery.combine(.or, [try .combine(.and, [parts[i], parts[i + 1]]), try .term(joined)])
            parts.replaceSubrange(i...(i + 1), with: [pair])
        }
        return try .combine(.and, parts)
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
        func isMatch(_ key: String) -> Bool {
            matched.words.contains(key) || (!matched.stems.isEmpty && matched.stems.contains(Stemmer.stem(key)))
        }
        let bytes = Array(text.utf8)
        if bytes.allSatisfy({ $0 < 0x80 }) {
            // ASCII (most names): words are runs of letters and digits, found by byte.
            var out = [UInt8]()
            out.reserveCapacity(bytes.count + 14)
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                let isWordByte = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                guard isWordByte else {
                    switch b {
                    case UInt8(ascii: "&"): out += Array("&amp;".utf8)
                    case UInt8(ascii: "<"): out += Array("&lt;".utf8)
                    case UInt8(ascii: ">"): out += Array("&gt;".utf8)
                    case UInt8(ascii: "\""): out += Array("&quot;".utf8)
                    default: out.append(b)
                    }
                    i += 1
                    continue
                }
                var j = i
                while j < bytes.count, (bytes[j] >= 0x30 && bytes[j] <= 0x39) || (bytes[j] >= 0x41 && bytes[j] <= 0x5A) || (bytes[j] >= 0x61 && bytes[j] <= 0x7A) {
                    j += 1
                }
                let word = bytes[i..<j]
                let key = String(decoding: word.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }, as: UTF8.self)
                if isMatch(key) { out += Array("<mark>".utf8) + word + Array("</mark>".utf8) } else { out += word }
                i = j
            }
            return String(decoding: out, as: UTF8.self)
        }
        var out = ""
        var word = ""
        func flush() {
            guard !word.isEmpty else { return }
            let hit = isMatch(QueryPlanner.words(word).first ?? "")
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
    private static func typos(of fields: [String], plans: [WordPlan]) -> Int {
        let words = Set(QueryPlanner.words(fields.joined(separator: " ")))
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
        /// `SearchSchema.suggestionsRevisionKey` at the reader's commit.
        var suggestionsRevision = ""
        init(label: String) { queue = DispatchQueue(label: label) }
    }

    /// The reader's database at a commit at most `refresh` old (called on the reader's queue).
    private func open(_ reader: Reader) throws -> XapianDatabase {
        let now = ContinuousClock.now
        if let db = reader.db {
            if let last = reader.reopened, now - last < refresh { return db }
            try reopen(reader, db)
            try refreshVocabulary(db)
            return db
        }
        let db = try XapianDatabase(path: path)
        reader.db = db
        reader.reopened = now
        try atCommit(reader, db)
        try refreshVocabulary(db)
        return db
    }

    /// Moves the reader to the newest commit.
    private func reopen(_ reader: Reader, _ db: XapianDatabase) throws {
        if try db.reopen() { try atCommit(reader, db) }
        reader.reopened = .now
    }

    /// Notes what the reader's (new) commit says of its suggestions.
    private func atCommit(_ reader: Reader, _ db: XapianDatabase) throws {
        reader.suggestionsRevision = try db.metadata(SearchSchema.suggestionsRevisionKey) ?? ""
    }

    /// The suggestions for a query on `reader` (called on the reader's queue). When the reader's commit
    /// changed them, they are read again on the background queue (at most once a refresh; a read
    /// takes some 30 ms at 7,000 suggestions, which had landed on a keystroke once a refresh per
    /// reader during catalog ingest) while keystrokes use the ones before. Only the first keystroke
    /// waits for a read, and with `refresh` zero every keystroke sees its reader's commit. A read in
    /// line that the writer discards under it serves the suggestions before when there are any, so a
    /// keystroke never fails for it; without any, the query moves to the newest commit and runs again.
    private func suggestions(_ reader: Reader, _ db: XapianDatabase) throws -> SuggestionSet {
        enum Plan { case current, inline, background }
        let wanted = reader.suggestionsRevision
        let refresh = refresh
        let (current, plan) = state.withLock { s -> (SuggestionSet?, Plan) in
            guard let set = s.suggestions else { return (nil, .inline) }
            if set.revision == wanted { return (set, .current) }
            if refresh == .zero { return (set, .inline) }
            if s.suggestionsBuilding { return (set, .current) }
            if let checked = s.suggestionsChecked, ContinuousClock.now - checked < refresh { return (set, .current) }
            s.suggestionsBuilding = true
            return (set, .background)
        }
        switch plan {
        case .current:
            return current!
        case .inline:
            do {
                let set = try SuggestionSet(db, revision: wanted)
                state.withLock { s in
                    s.suggestions = set
                    s.suggestionsChecked = .now
                }
                return set
            } catch let error as XapianError where error.isRevisionDiscarded {
                guard let current else { throw error }
                return current
            }
        case .background:
            let current = current!
            onBackground({ [self] db in
                let revision = try db.metadata(SearchSchema.suggestionsRevisionKey) ?? ""
                let set = revision == current.revision ? current : try SuggestionSet(db, revision: revision)
                state.withLock { s in
                    s.suggestions = set
                    s.suggestionsChecked = .now
                }
            }, then: { [self] in state.withLock { $0.suggestionsBuilding = false } })
            return current
        }
    }

    /// Rebuilds the vocabulary when the index changed size (at most once a refresh), or every ten
    /// refreshes. Only the first query waits for it: later rebuilds run on a queue of their own while
    /// queries use the vocabulary before (a rebuild reads every word of the index: 0.4 s at 1,050,000
    /// documents, which had landed on whichever query came due). With `refresh` zero every query
    /// sees the newest commit, the vocabulary included, so it is rebuilt in line.
    private func refreshVocabulary(_ db: XapianDatabase) throws {
        enum Plan { case none, inline, background }
        let count = try db.documentCount(), revision = try db.revision()
        let refresh = refresh
        let plan = state.withLock { s -> Plan in
            guard let built = s.vocabularyBuilt else { return .inline }
            // Read at this commit already (a quiet index had been read again every ten refreshes all the same).
            guard s.vocabularyRevision != revision else { return .none }
            let age = ContinuousClock.now - built
            let due = (s.vocabularyDocuments != count && age >= refresh) || age > refresh * 10
            guard due, !s.vocabularyBuilding else { return .none }
            if refresh == .zero { return .inline }
            s.vocabularyBuilding = true
            return .background
        }
        switch plan {
        case .none:
            return
        case .inline:
            try buildVocabulary(db)
        case .background:
            onBackground({ [self] db in try buildVocabulary(db) }, then: { [self] in state.withLock { $0.vocabularyBuilding = false } })
        }
    }

    /// Runs `work` on the background queue with that queue's own handle at the newest commit, then
    /// `done`. A failure (the writer discarded the commit being read) leaves what was there before;
    /// the next query that finds it due starts another read.
    private func onBackground(_ work: @escaping @Sendable (XapianDatabase) throws -> Void, then done: @escaping @Sendable () -> Void) {
        let reader = background
        reader.queue.async { [self] in
            defer { done() }
            do {
                let db = try reader.db ?? XapianDatabase(path: path)
                reader.db = db
                try db.reopen()
                try work(db)
            } catch {}
        }
    }

    private func buildVocabulary(_ db: XapianDatabase) throws {
        let count = try db.documentCount(), revision = try db.revision()
        let vocabulary = Vocabulary(try db.terms(prefix: "", wordsOnly: true))
        let zones = try db.terms(prefix: SearchSchema.zonePrefix).map { String($0.term.dropFirst(SearchSchema.zonePrefix.count)) }
        state.withLock { s in
            s.vocabulary = vocabulary
            s.zones = zones
            s.vocabularyDocuments = count
            s.vocabularyRevision = revision
            s.vocabularyBuilt = .now
            s.vocabularyReads += 1
        }
    }
}
