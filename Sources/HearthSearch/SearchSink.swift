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

    /// Opens (or creates) the index at `path`. One writer per directory.
    public init(path: String) throws {
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
            for event in batch.events { try Self.apply(event, to: index.db) }
            try index.db.setMetadata(key, String(batch.nextOffset))
            try index.db.commit()
        }
    }

    public func isReachable() async -> Bool { true }

    /// The number of documents (restaurants and menu items) in the index.
    public func documentCount() async throws -> Int {
        let index = index
        return try await Blocking.run(on: queue) { try index.db.documentCount() }
    }

    static func apply(_ event: Event, to db: XapianWritableDatabase) throws {
        switch event.payload {
        case .restaurantUpserted(let r):
            guard try isNewer("r", r.restaurant_id, r.revision, db) else { return }
            let doc = XapianDocument()
            try doc.setData(Array(try JSONEncoder().encode(r)))
            try doc.addBooleanTerm("XTrestaurant")
            try doc.addBooleanTerm("XCITY" + r.city.lowercased())
            try doc.addBooleanTerm("XSTATUS" + r.status)
            try doc.indexText(r.name, weight: 3)
            try doc.indexText(r.cuisines.joined(separator: " "), weight: 2)
            try doc.indexText(r.city)
            try db.replace(idTerm: "Qr:" + r.restaurant_id, document: doc)
        case .restaurantRemoved(let r):
            guard try isNewer("r", r.restaurant_id, r.revision, db) else { return }
            try db.delete(idTerm: "Qr:" + r.restaurant_id)
        case .menuItemUpserted(let m):
            guard try isNewer("m", m.item_id, m.revision, db) else { return }
            let doc = XapianDocument()
            try doc.setData(Array(try JSONEncoder().encode(m)))
            try doc.addBooleanTerm("XTitem")
            try doc.addBooleanTerm("XR" + m.restaurant_id)
            try doc.indexText(m.name, weight: 3)
            try doc.indexText(([m.category] + m.tags).joined(separator: " "), weight: 2)
            try doc.indexText(m.description)
            try db.replace(idTerm: "Qm:" + m.item_id, document: doc)
        case .menuItemRemoved(let m):
            guard try isNewer("m", m.item_id, m.revision, db) else { return }
            try db.delete(idTerm: "Qm:" + m.item_id)
        default:
            return
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
