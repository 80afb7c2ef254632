import Dispatch
import Foundation
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthSupport
import Synchronization

/// The catalog's search sink: restaurants and menu items as Xapian documents.
/// Each batch's documents, entity revisions and the partition's position go
/// into one Xapian commit (the exactly-once protocol); stale revisions are ignored.
public final class SearchSink: ReplayableSink {
    public let name = "search"
    private let queue = DispatchQueue(label: "hearth.search.writer")
    /// Where item and restaurant documents are built ahead of the writer.
    private let builder = DispatchQueue(label: "hearth.search.builder")
    private let index: IndexBox
    /// CPU time of the writer's thread in batches (Xapian's writer is one thread: this bounds the indexing rate),
    /// and of the builder's.
    private let writerCPU = ThreadCPUTally(), builderCPU = ThreadCPUTally()
    /// Reads the last commit for `prebuild`, on the builder's queue only.
    private let predictor: RestaurantPredictor
    private let items: IndexDefinition
    private let restaurants: IndexDefinition

    /// Opens (or creates) the index at `path`. One writer per directory. Fields and weights come
    /// from the index definitions of the two entities.
    public init(path: String, definitions: [IndexDefinition]) throws {
        guard let items = definitions.first(where: { $0.entity == .item }),
              let restaurants = definitions.first(where: { $0.entity == .restaurant }) else {
            throw XapianError(message: "the search sink needs an index definition for items and one for restaurants")
        }
        self.items = items
        self.restaurants = restaurants
        index = IndexBox(try XapianWritableDatabase(path: path))
        predictor = RestaurantPredictor(path: path)
    }

    static func positionKey(_ pipeline: String, _ tp: TopicPartition) -> String {
        "offset:\(pipeline):\(tp.topic):\(tp.partition)"
    }

    public func positions(pipeline: String, partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        let index = index
        return try await Blocking.run(on: queue) {
            var out: [TopicPartition: Int64] = [:]
            for tp in partitions {
                if let v = try index.db.metadata(Self.positionKey(pipeline, tp)), let n = Int64(v) { out[tp] = n }
            }
            return out
        }
    }

    public func apply(_ batch: SinkBatch) async throws {
        let index = index
        try await write(batch.events) { prebuilt in
            let key = Self.positionKey(batch.pipeline, batch.partition)
            let stored = try index.db.metadata(key).flatMap(Int64.init)
            guard stored == batch.expectedPosition else {
                throw SinkPositionConflict(partition: batch.partition, stored: stored)
            }
            // Documents, suggestion counts, revisions and the position commit together or not at all.
            try index.transaction {
                var context = BatchContext(popularity: index.currentPopularity)
                try self.apply(batch.events, prebuilt: prebuilt, to: index.db, &context)
                try self.flushSuggestions(context.suggestionDeltas, index)
                try index.db.setMetadata(key, String(batch.nextOffset))
            }
        }
    }

    /// Archived catalog events again, in one commit: entity revisions make this harmless (a revision already
    /// indexed, or an older one, is ignored). Positions are not touched.
    public func replay(_ records: [SinkRecord]) async throws -> ReplayOutcome {
        let index = index
        let events = records.compactMap { try? $0.event.get() }
        try await write(events) { prebuilt in
            try index.transaction {
                var context = BatchContext(popularity: index.currentPopularity)
                try self.apply(events, prebuilt: prebuilt, to: index.db, &context)
                try self.flushSuggestions(context.suggestionDeltas, index)
            }
        }
        return ReplayOutcome(applied: events.count)
    }

    /// Runs `body` on the writer's queue, with the documents of `events` built ahead on the builder's.
    ///
    /// The builder predicts the batch's documents first, on its own queue, and the writer's turn is queued from
    /// there: so the builder starts on a batch while the writer still writes or commits the one before (the
    /// pipeline applies batches of different partitions concurrently), and both queues take batches in the same
    /// order (a builder busy with a later batch than the writer's would leave the writer to build everything).
    private func write(_ events: [Event], _ body: @escaping @Sendable (DocumentPrebuild) throws -> Void) async throws {
        let index = index
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            builder.async { [self] in
                let prebuilt = builderCPU.measure { prebuild(events, popularity: index.currentPopularity) }
                queue.async {
                    let result = self.writerCPU.measure { Result { try body(prebuilt) } }
                    prebuilt.finish()
                    continuation.resume(with: result)
                }
            }
        }
    }

    /// CPU seconds the writer's and the builder's threads spent applying batches so far.
    public var threadCPUSeconds: (writer: Double, builder: Double) { (writerCPU.seconds, builderCPU.seconds) }

    public func isReachable() async -> Bool { true }

    /// Closes the index and releases its write lock, after any call in flight; a new sink may then
    /// open the directory at once. Every commit is already durable, so there is nothing to write out.
    public func close() async throws {
        let index = index, predictor = predictor
        try await Blocking.run(on: queue) { try index.db.close() }
        try await Blocking.run(on: builder) { predictor.close() }
    }

    /// The number of restaurants and menu items in the index.
    public func documentCount() async throws -> Int {
        let index = index
        return try await Blocking.run(on: queue) {
            try index.db.documentCount(withTerm: SearchSchema.itemType) + index.db.documentCount(withTerm: SearchSchema.restaurantType)
        }
    }

    /// What one batch accumulates: suggestion count changes (written once per batch) and the
    /// restaurants already resolved.
    struct BatchContext {
        /// Popularity values by id term, carried over when a document is rewritten.
        let popularity: [String: [UInt8]]
        var suggestionDeltas: [String: (suggestion: Suggestion, delta: Int)] = [:]
        /// Each restaurant's state as of the event being applied (nil inside: unknown or removed).
        var restaurants: [String: RestaurantSummary?] = [:]
        /// Restaurants with a stale event in the batch, which the predictor took as applied.
        var staleRestaurants: [String] = []
    }

    /// Applies a batch's events in order, taking the item and restaurant documents `prebuilt` built ahead.
    func apply(_ events: [Event], prebuilt: DocumentPrebuild, to db: XapianWritableDatabase, _ context: inout BatchContext) throws {
        // Most item upserts count a dish suggestion: sized once, rather than grown (and rehashed) along the batch.
        context.suggestionDeltas.reserveCapacity(events.count)
        for (i, event) in events.enumerated() {
            prebuilt.writer(at: i)
            try apply(event, at: i, prebuilt: prebuilt, to: db, &context)
        }
        if !context.staleRestaurants.isEmpty {
            let stale = context.staleRestaurants, predictor = predictor
            builder.async { predictor.forget(stale) }
        }
    }

    /// Predicts the restaurant each item upsert will carry (see `RestaurantPredictor`) and starts building those
    /// documents and the restaurants'. Runs on the builder's queue. A wrong prediction costs only time: the writer
    /// takes a document only when it was built for the restaurant and popularity the writer resolved.
    private func prebuild(_ events: [Event], popularity: [String: [UInt8]]) -> DocumentPrebuild {
        predictor.begin()
        var jobs: [DocumentPrebuild.Job] = []
        for (i, event) in events.enumerated() {
            switch event.payload {
            case .restaurantUpserted(let r):
                predictor.note(r.restaurant_id, RestaurantSummary(r))
                jobs.append(.init(event: i, source: .restaurant(r), popularity: popularity[SearchSchema.restaurantID(r.restaurant_id)]))
            case .restaurantRemoved(let r):
                predictor.note(r.restaurant_id, nil)
            case .menuItemUpserted(let m):
                guard let restaurant = predictor.restaurant(m.restaurant_id) else { continue }
                jobs.append(.init(event: i, source: .item(StoredMenuItem(item: m, restaurant: restaurant)),
                                  popularity: popularity[SearchSchema.itemID(m.item_id)]))
            default:
                continue
            }
        }
        return DocumentPrebuild(jobs: jobs, items: items, restaurants: restaurants, on: builder, cpu: builderCPU)
    }

    /// Applies the event at `position` of its batch; an item upsert takes its document from `prebuilt` when it was
    /// built for the restaurant resolved here.
    func apply(_ event: Event, at position: Int, prebuilt: DocumentPrebuild, to db: XapianWritableDatabase,
               _ context: inout BatchContext) throws {
        switch event.payload {
        case .restaurantUpserted(let r):
            let revision = try Self.reviseRestaurant(r.restaurant_id, r.revision, db)
            guard revision != .stale else { context.staleRestaurants.append(r.restaurant_id); return }
            try suggestions(removing: revision == .first ? nil : try previousRestaurant(r.restaurant_id, db), adding: r, &context)
            context.restaurants[r.restaurant_id] = RestaurantSummary(r)
            let idTerm = SearchSchema.restaurantID(r.restaurant_id)
            let document = try prebuilt.take(restaurantEvent: position, popularity: context.popularity[idTerm])
                ?? Self.restaurantDocument(r, definition: restaurants, popularity: context.popularity[idTerm])
            try db.replace(idTerm: idTerm, document: document)
            prebuilt.recycle(document)
            try reindexItems(of: r.restaurant_id, restaurant: RestaurantSummary(r), db, &context)
        case .restaurantRemoved(let r):
            let revision = try Self.reviseRestaurant(r.restaurant_id, r.revision, db)
            guard revision != .stale else { context.staleRestaurants.append(r.restaurant_id); return }
            try suggestions(removing: revision == .first ? nil : try previousRestaurant(r.restaurant_id, db), adding: nil, &context)
            context.restaurants[r.restaurant_id] = .some(nil)
            try db.delete(idTerm: SearchSchema.restaurantID(r.restaurant_id))
            try reindexItems(of: r.restaurant_id, restaurant: nil, db, &context)
        case .menuItemUpserted(let m):
            let key = Self.recordKey("m", m.item_id)
            let record = try Self.record(key, db)
            if let record, record.revision >= m.revision { return }
            let restaurant: RestaurantSummary?
            if let known = context.restaurants[m.restaurant_id] {
                restaurant = known
            } else {
                restaurant = try previousRestaurant(m.restaurant_id, db).map(RestaurantSummary.init)
                context.restaurants[m.restaurant_id] = .some(restaurant)
            }
            let current = try record.flatMap { try Self.currentItem(m.item_id, $0, db) }
            let previous = current?.stored
            let idTerm = SearchSchema.itemID(m.item_id)
            let built = prebuilt.take(event: position, restaurant: restaurant, popularity: context.popularity[idTerm])
            if previous?.item.name != m.name || previous?.restaurant?.city != restaurant?.city {
                if let previous { Self.adjust(.dish, previous.item.name, city: previous.restaurant?.city, by: -1, &context) }
                // The builder made the term when it built the document for this restaurant.
                let term = built.map(\.dishTerm) ?? Suggestion.idTerm(.dish, m.name, city: restaurant?.city)
                if let term { Self.adjust(.dish, m.name, city: restaurant?.city, idTerm: term, by: 1, &context) }
            }
            let document = try built?.document
                ?? Self.itemDocument(StoredMenuItem(item: m, restaurant: restaurant), definition: items, popularity: context.popularity[idTerm])
            let docid: UInt32
            if let current {
                try db.replace(docid: current.docid, document: document)
                docid = current.docid
            } else {
                docid = try db.add(document: document)
            }
            try db.setMetadata(key, EntityRecord(revision: m.revision, docid: docid).stored)
            prebuilt.recycle(document)
        case .menuItemRemoved(let m):
            let key = Self.recordKey("m", m.item_id)
            let record = try Self.record(key, db)
            if let record, record.revision >= m.revision { return }
            if let record, let current = try Self.currentItem(m.item_id, record, db) {
                Self.adjust(.dish, current.stored.item.name, city: current.stored.restaurant?.city, by: -1, &context)
                try db.delete(docid: current.docid)
            }
            try db.setMetadata(key, EntityRecord(revision: m.revision, docid: nil).stored)
        default:
            return
        }
    }

    /// An item's document and what it stores: the document its record names, or, for an item last written before
    /// records named documents, the one holding its id term. Nil when it has none.
    static func currentItem(_ id: String, _ record: EntityRecord, _ db: XapianWritableDatabase) throws
        -> (docid: UInt32, stored: StoredMenuItem)? {
        guard let docid = try itemDocid(id, record, db), let data = try db.data(docid: docid) else { return nil }
        return (docid, try StoredMenuItem.decode(data))
    }

    /// The docid of an item's document (as `currentItem` finds it), nil when it has none.
    static func itemDocid(_ id: String, _ record: EntityRecord?, _ db: XapianWritableDatabase) throws -> UInt32? {
        guard let record else { return nil }
        return try record.docid ?? db.docid(SearchSchema.itemID(id))
    }

    private func previousRestaurant(_ id: String, _ db: XapianWritableDatabase) throws -> RestaurantUpserted? {
        try db.data(idTerm: SearchSchema.restaurantID(id)).map { try RestaurantUpserted.decodeStored($0) }
    }

    /// Suggestions count ACTIVE restaurants by name and by cuisine, per city.
    private func suggestions(removing old: RestaurantUpserted?, adding new: RestaurantUpserted?, _ context: inout BatchContext) throws {
        if let old, old.status == "ACTIVE" {
            Self.adjust(.restaurant, old.name, city: old.city, by: -1, &context)
            for c in old.cuisines { Self.adjust(.cuisine, c, city: old.city, by: -1, &context) }
        }
        if let new, new.status == "ACTIVE" {
            Self.adjust(.restaurant, new.name, city: new.city, by: 1, &context)
            for c in new.cuisines { Self.adjust(.cuisine, c, city: new.city, by: 1, &context) }
        }
    }

    /// Notes that `delta` more dishes, restaurants or cuisines of `city` carry `text`.
    private static func adjust(_ kind: Suggestion.Kind, _ text: String, city: String?, by delta: Int, _ context: inout BatchContext) {
        guard let term = Suggestion.idTerm(kind, text, city: city) else { return }
        adjust(kind, text, city: city, idTerm: term, by: delta, &context)
    }

    /// `adjust` with the suggestion's id term already made (by the document builder).
    private static func adjust(_ kind: Suggestion.Kind, _ text: String, city: String?, idTerm: String, by delta: Int,
                               _ context: inout BatchContext) {
        context.suggestionDeltas[idTerm, default: (Suggestion(text: text, kind: kind, city: city, count: 0), 0)].delta += delta
    }

    /// Writes the batch's suggestion count changes; a suggestion nothing carries any more is removed. The
    /// suggestions come from the writer's own copy (`IndexBox.suggestions`), so no change looks anything up.
    private func flushSuggestions(_ deltas: [String: (suggestion: Suggestion, delta: Int)], _ index: IndexBox) throws {
        guard deltas.values.contains(where: { $0.delta != 0 }) else { return }
        let db = index.db
        try Self.suggestionsChanged(db)
        try index.changeSuggestions { known in
            // Each suggestion is looked up in the copy once: counts of known suggestions are rewritten through the
            // copy's indices (valid until the removals and additions, which come after), in docid order, so that
            // their docdata entries are written in key order, each beside the one before.
            var rewrites: [(at: Dictionary<String, IndexBox.SuggestionDocument>.Index, suggestion: Suggestion)] = []
            var removals: [String] = [], additions: [(idTerm: String, suggestion: Suggestion)] = []
            rewrites.reserveCapacity(deltas.count)
            for (idTerm, change) in deltas where change.delta != 0 {
                let at = known.index(forKey: idTerm)
                let existing = at.map { known.values[$0] }
                var s = existing?.suggestion ?? change.suggestion
                s.count += change.delta
                if s.count <= 0 {
                    if existing != nil { removals.append(idTerm) }
                } else if let at, existing?.suggestion != nil {
                    rewrites.append((at, s))
                } else {
                    additions.append((idTerm, s))
                }
            }
            rewrites.sort { known.values[$0.at].docid < known.values[$1.at].docid }
            for (at, s) in rewrites {
                // Only its counts changed: its terms, and so its postings, stay (rewriting whole suggestion
                // documents in every batch had been a sixth of the writer's time).
                let existing = known.values[at]
                try Self.writeCounts(s, of: existing, db)
                known.values[at] = .init(docid: existing.docid, suggestion: s)
            }
            for idTerm in removals {
                try db.delete(idTerm: idTerm)
                known[idTerm] = nil
            }
            for (idTerm, s) in additions.sorted(by: { $0.idTerm < $1.idTerm }) {
                known[idTerm] = .init(docid: try db.replace(idTerm: idTerm, document: Self.suggestionDocument(s)), suggestion: s)
            }
        }
    }

    /// Rewrites a suggestion's stored form (its counts changed) as Xapian's document data: one docdata entry. Its
    /// data had been a value, and rewriting a value reads which slots the document uses from the term list table
    /// first, a block each (suggestions lie scattered among the items): most of the cost of a batch's suggestions.
    /// A suggestion written before still has its data in the data slot (some, two count values beside it that
    /// nothing reads any more): its values are cleared as its data moves.
    static func writeCounts(_ s: Suggestion, of document: IndexBox.SuggestionDocument, _ db: XapianWritableDatabase) throws {
        try db.setDocumentData(docid: document.docid, s.stored, clearingValues: document.inSlot)
    }

    /// Tells readers, in the same commit, that suggestions changed.
    static func suggestionsChanged(_ db: XapianWritableDatabase) throws {
        try db.setMetadata(SearchSchema.suggestionsRevisionKey, UUID().uuidString)
    }

    /// Rewrites the restaurant's items with its new state (nil: removed), so that their city,
    /// name and visibility follow the restaurant.
    private func reindexItems(of restaurantID: String, restaurant: RestaurantSummary?, _ db: XapianWritableDatabase,
                              _ context: inout BatchContext) throws {
        for (docid, data) in try db.documents(withTerm: SearchSchema.restaurantTerm(restaurantID)) {
            var stored = try StoredMenuItem.decode(data)
            guard stored.restaurant != restaurant else { continue }
            if stored.restaurant?.city != restaurant?.city {
                Self.adjust(.dish, stored.item.name, city: stored.restaurant?.city, by: -1, &context)
                Self.adjust(.dish, stored.item.name, city: restaurant?.city, by: 1, &context)
            }
            stored.restaurant = restaurant
            let idTerm = SearchSchema.itemID(stored.item.item_id)
            try db.replace(docid: docid, document: Self.itemDocument(stored, definition: items, popularity: context.popularity[idTerm]))
            // The new document has no id term, so its record must name it (one written before may not).
            let key = Self.recordKey("m", stored.item.item_id), record = EntityRecord(revision: stored.item.revision, docid: docid)
            if try Self.record(key, db) != record { try db.setMetadata(key, record.stored) }
        }
    }

    /// How an event's revision compares with the entity's last applied one.
    enum Revision {
        /// Not newer: the event is ignored.
        case stale
        /// No revision was ever applied, so the index holds nothing of the entity (every upsert and removal
        /// records its revision, from the first version of the index on): no need to look it up.
        case first
        case newer
    }

    /// Records `revision` for the restaurant unless it is stale.
    static func reviseRestaurant(_ id: String, _ revision: Int64, _ db: XapianWritableDatabase) throws -> Revision {
        let key = recordKey("r", id)
        let known = try record(key, db)
        if let known, known.revision >= revision { return .stale }
        try db.setMetadata(key, EntityRecord(revision: revision, docid: nil).stored)
        return known == nil ? .first : .newer
    }

    /// What the index records of a restaurant or menu item, in the index metadata under `recordKey`: the last
    /// revision applied (an upsert's or a removal's), and, for a menu item, the docid of its document while it
    /// has one. Items' documents have no id term: looking them up through their record (read anyway for the
    /// revision) spares each item a posting list of its own, about a tenth of the writer's time in a catalog
    /// load. Items written by earlier versions have an id term and a record with no docid (`currentItem`).
    struct EntityRecord: Equatable {
        var revision: Int64
        var docid: UInt32?

        /// `revision`, or `revision SPACE docid`.
        var stored: String { docid.map { "\(revision) \($0)" } ?? String(revision) }
    }

    static func recordKey(_ kind: String, _ id: String) -> String { SearchSchema.bounded("rev:\(kind):\(id)") }

    /// The entity's record; nil when no revision of it was ever applied.
    static func record(_ key: String, _ db: XapianWritableDatabase) throws -> EntityRecord? {
        guard let stored = try db.metadata(key) else { return nil }
        return EntityRecord(stored: stored) ?? EntityRecord(revision: .min, docid: nil)
    }
}

/// The writer, reached only from the sink's serial queue.
final class IndexBox: @unchecked Sendable {
    let db: XapianWritableDatabase
    /// Items' and restaurants' popularity values by id term, as of the last refresh (set by the writer, read by
    /// the builder too).
    private let popularity = Mutex<[String: [UInt8]]>([:])
    var currentPopularity: [String: [UInt8]] {
        get { popularity.withLock { $0 } }
        set { popularity.withLock { $0 = newValue } }
    }

    /// A suggestion document as the writer last wrote it (`suggestion` nil: its data could not be read, so it is
    /// written whole on its next change).
    struct SuggestionDocument {
        let docid: UInt32
        let suggestion: Suggestion?
        /// Its data is in the data slot, where suggestions written before kept it (see `SearchSink.writeCounts`).
        var inSlot = false
    }

    /// Every suggestion document by id term, as of the last commit (nil until first needed, and after a
    /// transaction that failed). This sink is the directory's only writer, so the copy stays exact: a batch's
    /// suggestion changes then look nothing up (they had been a fifth of the writer's time in a catalog load).
    var suggestions: [String: SuggestionDocument]?

    init(_ db: XapianWritableDatabase) { self.db = db }

    /// The suggestion documents, read from the index the first time.
    func suggestionDocuments() throws -> [String: SuggestionDocument] {
        if let suggestions { return suggestions }
        var read: [String: SuggestionDocument] = [:]
        for (term, docid, data, inSlot) in try db.documents(withTermPrefix: SearchSchema.suggestionIDPrefix) {
            read[term] = SuggestionDocument(docid: docid, suggestion: Suggestion(stored: data), inSlot: inSlot)
        }
        suggestions = read
        return read
    }

    /// Runs `body` on the copy of the suggestion documents (read first if need be), which it keeps up to date with
    /// what it writes. The copy has one owner meanwhile (no copy on write), and is forgotten if `body` throws.
    func changeSuggestions(_ body: (inout [String: SuggestionDocument]) throws -> Void) throws {
        var known = try suggestionDocuments()
        suggestions = nil
        try body(&known)
        suggestions = known
    }

    /// `db.transaction`, forgetting the copy of the suggestions when the transaction fails (it may hold changes
    /// that were rolled back).
    func transaction<T>(_ body: () throws -> T) throws -> T {
        do {
            return try db.transaction(body)
        } catch {
            suggestions = nil
            throw error
        }
    }
}

extension SearchSink {
    /// How a popularity refresh changed the index.
    public struct PopularityChange: Sendable, Equatable {
        /// Items and restaurants whose popularity value was set, changed or cleared.
        public var documents = 0
        /// Suggestions whose order count changed.
        public var suggestions = 0
        public init(documents: Int = 0, suggestions: Int = 0) {
            self.documents = documents
            self.suggestions = suggestions
        }
    }

    /// Ranks items, restaurants and suggestions by `orders` (counts over the popularity window,
    /// recomputed from the analytics store; nothing here is incremental, so a refresh is
    /// idempotent). Only documents whose rounded popularity changed are rewritten, and only their
    /// values: terms and data stay. One Xapian transaction; positions are not touched.
    public func applyPopularity(items: [String: Int64], restaurants: [String: Int64],
                                dishes: [(city: String, name: String, orders: Int64)]) async throws -> PopularityChange {
        let index = index
        return try await Blocking.run(on: queue) {
            let db = index.db
            var change = PopularityChange()
            var values: [String: [UInt8]] = [:]
            for (id, n) in items where n > 0 { values[SearchSchema.itemID(id)] = SearchSchema.popularityValue(orders: n) }
            for (id, n) in restaurants where n > 0 { values[SearchSchema.restaurantID(id)] = SearchSchema.popularityValue(orders: n) }
            // Suggestions: dishes by city and name; restaurants' orders count for their name and cuisines.
            var suggestionOrders: [String: Int64] = [:]
            for d in dishes {
                suggestionOrders[Suggestion(text: d.name, kind: .dish, city: d.city, count: 0).idTerm, default: 0] += d.orders
            }
            for (id, n) in restaurants where n > 0 {
                guard let data = try db.data(idTerm: SearchSchema.restaurantID(id)),
                      let r = try? RestaurantUpserted.decodeStored(data), r.status == "ACTIVE" else { continue }
                suggestionOrders[Suggestion(text: r.name, kind: .restaurant, city: r.city, count: 0).idTerm, default: 0] += n
                for c in r.cuisines { suggestionOrders[Suggestion(text: c, kind: .cuisine, city: r.city, count: 0).idTerm, default: 0] += n }
            }
            try index.transaction {
                var wanted: [UInt32: [UInt8]] = [:]
                for (id, n) in items where n > 0 {
                    if let docid = try Self.itemDocid(id, try Self.record(Self.recordKey("m", id), db), db) { wanted[docid] = SearchSchema.popularityValue(orders: n) }
                }
                for (id, n) in restaurants where n > 0 {
                    if let docid = try db.docid(SearchSchema.restaurantID(id)) { wanted[docid] = SearchSchema.popularityValue(orders: n) }
                }
                // Slot 1 is the popularity of items and of restaurants alike.
                let current = try db.values(slot: SearchSchema.itemPopularity)
                for (docid, value) in wanted where current[docid] != value {
                    try db.setValue(docid: docid, slot: SearchSchema.itemPopularity, value)
                    change.documents += 1
                }
                for docid in current.keys where wanted[docid] == nil {
                    try db.setValue(docid: docid, slot: SearchSchema.itemPopularity, [])
                    change.documents += 1
                }
                // From the writer's copy of the suggestions (`index.transaction` drops it if this commit fails).
                try index.changeSuggestions { known in
                    for (term, document) in known {
                        guard var s = document.suggestion else { continue }
                        let orders = suggestionOrders[s.idTerm] ?? 0
                        guard orders != s.orders else { continue }
                        s.orders = orders
                        try Self.writeCounts(s, of: document, db)
                        known[term] = .init(docid: document.docid, suggestion: s)
                        change.suggestions += 1
                    }
                }
                if change.suggestions > 0 { try Self.suggestionsChanged(db) }
            }
            index.currentPopularity = values
            return change
        }
    }
}

extension SearchSink.EntityRecord {
    // In an extension, so that the memberwise initialiser stays.
    /// Nil for a value that is neither form, which counts as a record older than any revision.
    init?(stored: String) {
        let parts = stored.split(separator: " ")
        guard (1...2).contains(parts.count), let revision = Int64(parts[0]) else { return nil }
        let docid = parts.count == 2 ? UInt32(parts[1]) : nil
        if parts.count == 2, docid == nil { return nil }
        self.init(revision: revision, docid: docid)
    }
}
