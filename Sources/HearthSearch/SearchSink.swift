import Dispatch
import Foundation
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthSupport

/// The catalog's search sink: restaurants and menu items as Xapian documents.
/// Each batch's documents, entity revisions and the partition's position go
/// into one Xapian commit (the exactly-once protocol); stale revisions are ignored.
public final class SearchSink: Sink {
    public let name = "search"
    private let queue = DispatchQueue(label: "hearth.search.writer")
    private let index: IndexBox
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
        try await Blocking.run(on: queue) {
            let key = Self.positionKey(batch.pipeline, batch.partition)
            let stored = try index.db.metadata(key).flatMap(Int64.init)
            guard stored == batch.expectedPosition else {
                throw SinkPositionConflict(partition: batch.partition, stored: stored)
            }
            for event in batch.events { try self.apply(event, to: index.db) }
            try index.db.setMetadata(key, String(batch.nextOffset))
            try index.db.commit()
        }
    }

    public func isReachable() async -> Bool { true }

    /// The number of restaurants and menu items in the index.
    public func documentCount() async throws -> Int {
        let index = index
        return try await Blocking.run(on: queue) {
            try index.db.documentCount(withTerm: SearchSchema.itemType) + index.db.documentCount(withTerm: SearchSchema.restaurantType)
        }
    }

    func apply(_ event: Event, to db: XapianWritableDatabase) throws {
        switch event.payload {
        case .restaurantUpserted(let r):
            guard try Self.isNewer("r", r.restaurant_id, r.revision, db) else { return }
            try suggestions(removing: try previousRestaurant(r.restaurant_id, db), adding: r, db)
            try db.replace(idTerm: SearchSchema.restaurantID(r.restaurant_id), document: Self.restaurantDocument(r, definition: restaurants))
            try reindexItems(of: r.restaurant_id, restaurant: RestaurantSummary(r), db)
        case .restaurantRemoved(let r):
            guard try Self.isNewer("r", r.restaurant_id, r.revision, db) else { return }
            try suggestions(removing: try previousRestaurant(r.restaurant_id, db), adding: nil, db)
            try db.delete(idTerm: SearchSchema.restaurantID(r.restaurant_id))
            try reindexItems(of: r.restaurant_id, restaurant: nil, db)
        case .menuItemUpserted(let m):
            guard try Self.isNewer("m", m.item_id, m.revision, db) else { return }
            let restaurant = try db.data(idTerm: SearchSchema.restaurantID(m.restaurant_id))
                .map { RestaurantSummary(try JSONDecoder().decode(RestaurantUpserted.self, from: Data($0))) }
            let previous = try previousStoredItem(m.item_id, db)
            if previous?.item.name != m.name || previous?.restaurant?.city != restaurant?.city {
                try previous.map { try adjustSuggestion(.dish, $0.item.name, city: $0.restaurant?.city, by: -1, db) }
                try adjustSuggestion(.dish, m.name, city: restaurant?.city, by: 1, db)
            }
            try db.replace(idTerm: SearchSchema.itemID(m.item_id),
                           document: Self.itemDocument(StoredMenuItem(item: m, restaurant: restaurant), definition: items))
        case .menuItemRemoved(let m):
            guard try Self.isNewer("m", m.item_id, m.revision, db) else { return }
            try previousStoredItem(m.item_id, db).map { try adjustSuggestion(.dish, $0.item.name, city: $0.restaurant?.city, by: -1, db) }
            try db.delete(idTerm: SearchSchema.itemID(m.item_id))
        default:
            return
        }
    }

    private func previousStoredItem(_ id: String, _ db: XapianWritableDatabase) throws -> StoredMenuItem? {
        try db.data(idTerm: SearchSchema.itemID(id)).map { try JSONDecoder().decode(StoredMenuItem.self, from: Data($0)) }
    }

    private func previousRestaurant(_ id: String, _ db: XapianWritableDatabase) throws -> RestaurantUpserted? {
        try db.data(idTerm: SearchSchema.restaurantID(id)).map { try JSONDecoder().decode(RestaurantUpserted.self, from: Data($0)) }
    }

    /// Suggestions count ACTIVE restaurants by name and by cuisine, per city.
    private func suggestions(removing old: RestaurantUpserted?, adding new: RestaurantUpserted?, _ db: XapianWritableDatabase) throws {
        if let old, old.status == "ACTIVE" {
            try adjustSuggestion(.restaurant, old.name, city: old.city, by: -1, db)
            for c in old.cuisines { try adjustSuggestion(.cuisine, c, city: old.city, by: -1, db) }
        }
        if let new, new.status == "ACTIVE" {
            try adjustSuggestion(.restaurant, new.name, city: new.city, by: 1, db)
            for c in new.cuisines { try adjustSuggestion(.cuisine, c, city: new.city, by: 1, db) }
        }
    }

    /// Adds `delta` to how many dishes, restaurants or cuisines of `city` carry `text`; the
    /// suggestion is removed when none is left.
    private func adjustSuggestion(_ kind: Suggestion.Kind, _ text: String, city: String?, by delta: Int, _ db: XapianWritableDatabase) throws {
        let key = Suggestion.key(kind, text)
        guard !key.isEmpty else { return }
        let idTerm = SearchSchema.suggestionID(kind.rawValue, SearchSchema.normal(city ?? ""), key)
        var s = try db.data(idTerm: idTerm).map { try JSONDecoder().decode(Suggestion.self, from: Data($0)) }
            ?? Suggestion(text: text, kind: kind, city: city, count: 0)
        s.count += delta
        if s.count <= 0 {
            try db.delete(idTerm: idTerm)
        } else {
            try db.replace(idTerm: idTerm, document: Self.suggestionDocument(s))
        }
    }

    /// Rewrites the restaurant's items with its new state (nil: removed), so that their city,
    /// name and visibility follow the restaurant.
    private func reindexItems(of restaurantID: String, restaurant: RestaurantSummary?, _ db: XapianWritableDatabase) throws {
        for data in try db.documents(withTerm: SearchSchema.restaurantTerm(restaurantID)) {
            var stored = try JSONDecoder().decode(StoredMenuItem.self, from: Data(data))
            guard stored.restaurant != restaurant else { continue }
            if stored.restaurant?.city != restaurant?.city {
                try adjustSuggestion(.dish, stored.item.name, city: stored.restaurant?.city, by: -1, db)
                try adjustSuggestion(.dish, stored.item.name, city: restaurant?.city, by: 1, db)
            }
            stored.restaurant = restaurant
            try db.replace(idTerm: SearchSchema.itemID(stored.item.item_id), document: Self.itemDocument(stored, definition: items))
        }
    }

    /// Records `revision` for the entity when it is newer than the one applied; false for a stale event.
    static func isNewer(_ kind: String, _ id: String, _ revision: Int64, _ db: XapianWritableDatabase) throws -> Bool {
        let key = "rev:\(kind):\(id)"
        if let current = try db.metadata(key).flatMap(Int64.init), current >= revision { return false }
        try db.setMetadata(key, String(revision))
        return true
    }
}

/// The writer, reached only from the sink's serial queue.
final class IndexBox: @unchecked Sendable {
    let db: XapianWritableDatabase
    init(_ db: XapianWritableDatabase) { self.db = db }
}
