import Foundation
import HearthEvents
@testable import HearthSearch
import Testing

/// Facet values are stored as two-byte codes of a table the index keeps in its metadata; documents written
/// in the text format before codes (or once the table is full) still count.
@Suite struct FacetDictionaryTests {
    @Test func codesAreAssignedOnceAndTheTableRoundTrips() throws {
        let d = FacetDictionary(stored: nil)
        let first = d.pack(["pizza", "veg", "", "london"])
        #expect(first == [0x01, 0, 1, 0, 2, 0, 0, 0, 3], "0 is no value")
        #expect(d.pack(["london", "veg", "pizza", ""]) == [0x01, 0, 3, 0, 2, 0, 1, 0, 0])
        let table = try #require(d.unsaved())
        #expect(table.count == 3)
        d.saved(table.count)
        #expect(d.unsaved() == nil, "nothing new since it was saved")

        let reopened = FacetDictionary(stored: table.stored)
        #expect(reopened.pack(["pizza", "veg", "", "london"]) == first, "the same codes after a restart")
        #expect(reopened.unsaved() == nil)
        #expect(reopened.pack(["sushi"]) == [0x01, 0, 4])
        #expect(reopened.unsaved()?.count == 4)

        // Control bytes, the table's separator and NUL among them, cannot corrupt the table.
        let odd = FacetDictionary(stored: nil)
        _ = odd.pack(["a\u{1E}b", "c\u{0}d"])
        let stored = try #require(odd.unsaved()).stored
        #expect(FacetDictionary(stored: stored).pack(["a b", "c d"]) == [0x01, 0, 1, 0, 2])
    }

    @Test func aFullTableFallsBackToText() {
        let d = FacetDictionary(stored: nil)
        for i in 0..<Int(UInt16.max) { _ = d.pack(["v\(i)"]) }
        #expect(d.pack(["v0"]) == [0x01, 0, 1])
        #expect(d.pack(["new", "v1"]) == SearchSchema.packFacets(["new", "v1"]))
    }

    /// A writer that restarts continues the stored table, and a document in the text format (as written before
    /// codes) counts with the coded ones.
    @Test func facetsCountCodedAndTextDocumentsAcrossWriters() async throws {
        let path = makeTemporaryDirectory("hearth-facets").appendingPathComponent("index").path
        let definitions = try IndexDefinition.loadAll(from: TestPaths.indexes)
        let items = try #require(definitions.first { $0.entity == .item })
        func events(_ payloads: [EventPayload]) -> [Event] {
            payloads.map { Event(eventID: UUID().uuidString, occurredAt: Timestamp(epochMillis: 1_790_000_000_000), payload: $0) }
        }
        var offset: Int64 = 0
        do {
            let sink = try SearchSink(path: path, definitions: definitions)
            offset = try await IngestHarness.applyBatch(events([
                SearchTests.restaurant("r-1", "Luigi's Pizzeria"),
                SearchTests.item("m-1", "Margherita Pizza"),
                SearchTests.item("m-2", "Pepperoni Pizza", diet: "non_veg"),
            ]), to: sink, pipeline: "catalog", topic: "menus", at: offset)
        }
        do {
            let db = try XapianWritableDatabase(path: path)
            guard case .restaurantUpserted(let r) = SearchTests.restaurant("r-1", "Luigi's Pizzeria"),
                  case .menuItemUpserted(let m) = SearchTests.item("m-3", "Vegan Pizza", diet: "vegan") else { Issue.record(); return }
            let doc = try SearchSink.itemDocument(StoredMenuItem(item: m, restaurant: RestaurantSummary(r)), definition: items,
                                                  facets: FacetDictionary(stored: nil))
            try doc.addValue(SearchSchema.packedFacets, bytes: SearchSchema.packFacets([
                "pizza", "vegan", "London", "italian", SearchSchema.priceBand(m.price_minor, bands: items.priceBandsMinor)]))
            try db.replace(idTerm: SearchSchema.itemID("m-3"), document: doc)
            try db.commit()
        }
        let sink = try SearchSink(path: path, definitions: definitions)
        _ = try await IngestHarness.applyBatch(events([
            SearchTests.item("m-4", "Vegan Pizza Deluxe", diet: "vegan"),
            SearchTests.item("m-5", "Garlic Pizza", category: "sides"),
        ]), to: sink, pipeline: "catalog", topic: "menus", at: offset)

        let index = try SearchIndex(path: path, definitions: definitions, refresh: .zero)
        var q = SearchIndex.MenuQuery()
        q.text = "pizza"
        let result = try await index.searchMenu(q)
        #expect(result.hits.count == 5)
        #expect(result.facets["diet"] == ["veg": 2, "non_veg": 1, "vegan": 2])
        #expect(result.facets["category"] == ["pizza": 4, "sides": 1])
        #expect(result.facets["city"] == ["London": 5])
    }
}
