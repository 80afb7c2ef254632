import Foundation
@testable import HearthAPI
import HearthAnalytics
import HearthCore
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthPostgres
@testable import HearthSearch
import Hummingbird
import HummingbirdTesting
import Testing

/// Menu search over a real Xapian index on disk, written by the search sink as the catalog
/// pipeline writes it and read through `SearchIndex`.
@Suite struct SearchTests {
    /// A small catalog with known dishes; every test builds its own index.
    struct Catalog {
        let dir = makeTemporaryDirectory()
        let sink: SearchSink
        let index: SearchIndex
        private var offset: Int64 = 0

        init() throws {
            let definitions = try IndexDefinition.loadAll(from: TestPaths.indexes)
            let path = dir.appendingPathComponent("index").path
            sink = try SearchSink(path: path, definitions: definitions)
            index = try SearchIndex(path: path, definitions: definitions, refresh: .zero)
        }

        mutating func apply(_ payloads: [EventPayload]) async throws {
            let events = payloads.map { Event(eventID: UUID().uuidString, occurredAt: Timestamp(epochMillis: 1_790_000_000_000), payload: $0) }
            offset = try await IngestHarness.applyBatch(events, to: sink, pipeline: "catalog", topic: "menus", at: offset)
        }

        func search(_ text: String, _ configure: (inout SearchIndex.MenuQuery) -> Void = { _ in }) async throws -> SearchIndex.MenuResult {
            var q = SearchIndex.MenuQuery()
            q.text = text
            configure(&q)
            return try await index.searchMenu(q)
        }

        func names(_ text: String, _ configure: (inout SearchIndex.MenuQuery) -> Void = { _ in }) async throws -> [String] {
            try await search(text, configure).hits.map(\.item.name)
        }

        func restaurants(_ text: String, _ configure: (inout SearchIndex.RestaurantQuery) -> Void = { _ in }) async throws -> SearchIndex.RestaurantResult {
            var q = SearchIndex.RestaurantQuery()
            q.text = text
            configure(&q)
            return try await index.searchRestaurants(q)
        }
    }

    /// An index directory written by a new sink for each batch, as after a restart.
    struct ReopenedIndex {
        let path = makeTemporaryDirectory().appendingPathComponent("index").path
        let definitions: [IndexDefinition]

        init() throws { definitions = try IndexDefinition.loadAll(from: TestPaths.indexes) }

        func apply(_ payloads: [EventPayload], at offset: Int64) async throws {
            let sink = try SearchSink(path: path, definitions: definitions)
            let events = payloads.map { Event(eventID: UUID().uuidString, occurredAt: Timestamp(epochMillis: 1_790_000_000_000), payload: $0) }
            _ = try await IngestHarness.applyBatch(events, to: sink, pipeline: "catalog", topic: "menus", at: offset)
            try await sink.close()
        }
    }

    static func restaurant(_ id: String, _ name: String, city: String = "London", status: String = "ACTIVE", revision: Int64 = 1,
                           cuisines: [String] = ["italian"], at location: GeoPoint = GeoPoint(lat: 51.5, lng: -0.12),
                           timezone: String = "Europe/London", rating: Double = 4.5,
                           hours: [OpeningHours] = [OpeningHours(day: 1, open: "11:00", close: "23:00")]) -> EventPayload {
        .restaurantUpserted(RestaurantUpserted(
            restaurant_id: id, revision: revision, name: name, cuisines: cuisines, city: city, country: "GB", timezone: timezone,
            address: "1 High Street", location: location, rating: rating, rating_count: 100, price_level: 2,
            status: status, opening_hours: hours))
    }

    static func item(_ id: String, _ name: String, restaurant: String = "r-1", category: String = "pizza", diet: String = "veg",
                     price: Int64 = 1000, tags: [String] = [], description: String = "", available: Bool = true,
                     revision: Int64 = 1) -> EventPayload {
        .menuItemUpserted(MenuItemUpserted(item_id: id, restaurant_id: restaurant, revision: revision, name: name,
                                           description: description, category: category, tags: tags, diet: diet,
                                           price_minor: price, currency: "GBP", available: available))
    }

    static func standardCatalog() async throws -> Catalog {
        var c = try Catalog()
        try await c.apply([
            restaurant("r-1", "Luigi's Pizzeria"),
            restaurant("r-2", "Delhi Darbar", city: "Kolkata", cuisines: ["indian"]),
            item("m-1", "Pepperoni Pizza", category: "pizza", diet: "non_veg", price: 1200, description: "Spicy pepperoni on mozzarella"),
            item("m-2", "Margherita Pizza", category: "pizza", price: 900, description: "Tomato, mozzarella and basil"),
            item("m-3", "Chicken Tikka", restaurant: "r-2", category: "curry", diet: "non_veg", price: 45000),
            item("m-4", "Garlic Bread", category: "sides", price: 400),
            item("m-5", "Coca Cola", category: "drinks", price: 250),
            item("m-6", "French Fries", category: "sides", price: 350),
            item("m-7", "Vegetarian Thali", restaurant: "r-2", category: "thali", price: 30000),
            item("m-8", "Paneer Tikka", restaurant: "r-2", category: "curry", price: 35000),
            item("m-9", "Chickpea Salad", category: "salads", price: 800),
        ])
        return c
    }

    @Test func everyWordMayCarryTyposTheLastOneToo() async throws {
        let c = try await Self.standardCatalog()
        #expect(try await c.names("peperoni piz").first == "Pepperoni Pizza")
        #expect(try await c.names("margarita").first == "Margherita Pizza")
        #expect(try await c.names("chiken tika").first == "Chicken Tikka")
        #expect(try await c.names("chiken tika").contains("Paneer Tikka") == false, "every word must match")
    }

    @Test func exactMatchesRankAboveTypoMatches() async throws {
        var c = try Catalog()
        try await c.apply([
            Self.restaurant("r-1", "Corner Cafe"),
            Self.item("m-1", "Pizza Bianca"),   // "bianca" exact
            Self.item("m-2", "Pizza Blanca"),   // "blanca": one typo away from "bianca"
        ])
        let result = try await c.search("bianca")
        #expect(result.hits.map(\.item.name) == ["Pizza Bianca", "Pizza Blanca"])
        #expect(result.hits.map(\.typos) == [0, 1])
        #expect(result.correctedQuery == nil, "an exact match needs no correction")
        let typo = try await c.search("biancca")
        #expect(typo.hits.first?.item.name == "Pizza Bianca")
        #expect(typo.correctedQuery == "bianca")
    }

    @Test func shortWordsAndFirstLettersAreNotGuessed() async throws {
        var c = try Catalog()
        try await c.apply([
            Self.restaurant("r-1", "Corner Cafe"),
            Self.item("m-1", "Chocolate Cake", category: "desserts"),
            Self.item("m-2", "Diet Coke", category: "drinks"),
            Self.item("m-3", "Fried Rice", category: "mains"),
        ])
        #expect(try await c.names("cake ") == ["Chocolate Cake"], "four letters: no typos, cake is not coke")
        #expect(try await c.names("price ").isEmpty, "a wrong first letter costs two: price is not rice")
        #expect(try await c.names("fried ride ").isEmpty)
    }

    @Test func synonymsAndSplitOrJoinedWords() async throws {
        let c = try await Self.standardCatalog()
        #expect(try await c.names("coke ").contains("Coca Cola"))
        #expect(try await c.names("chips ").contains("French Fries"))
        #expect(try await c.names("veg thali ").contains("Vegetarian Thali"))
        #expect(try await c.names("garlicbread ").contains("Garlic Bread"))
        var joined = try Catalog()
        try await joined.apply([Self.restaurant("r-1", "Corner Cafe"), Self.item("m-1", "Cheesecake", category: "desserts")])
        #expect(try await joined.names("cheese cake ").contains("Cheesecake"))
    }

    @Test func filtersFacetsAndHighlights() async throws {
        let c = try await Self.standardCatalog()
        // A finished word ("pizza "): while still typed, "pizza" may also be a mistyped "pizze…" (Luigi's Pizzeria).
        let pizzas = try await c.search("pizza ", { $0.diet = "veg" })
        #expect(pizzas.hits.map(\.item.name) == ["Margherita Pizza"])
        let typing = try await c.search("pizza", { $0.diet = "veg" })
        #expect(typing.hits.first?.item.name == "Margherita Pizza" && typing.hits.dropFirst().allSatisfy { $0.typos > 0 })
        #expect(try await c.names("", { $0.city = "Kolkata" }).sorted() == ["Chicken Tikka", "Paneer Tikka", "Vegetarian Thali"])
        #expect(try await c.names("", { $0.maxPriceMinor = 400 }).sorted() == ["Coca Cola", "French Fries", "Garlic Bread"])
        #expect(try await c.names("tikka", { $0.restaurantID = "r-2"; $0.category = "curry" }).count == 2)
        let all = try await c.search("")
        #expect(all.facets["category"]?["pizza"] == 2 && all.facets["category"]?["curry"] == 2)
        #expect(all.facets["city"]?["Kolkata"] == 3 && all.facets["diet"]?["non_veg"] == 2)
        #expect(all.estimatedTotal == 9)
        let highlighted = try await c.search("pepperoni")
        #expect(highlighted.hits.first?.highlights["name"] == "<mark>Pepperoni</mark> Pizza")
        #expect(highlighted.hits.first?.highlights["description"] == "Spicy <mark>pepperoni</mark> on mozzarella")
    }

    /// Price and rating filters test a reader's copy of the slot, kept up to date from the writer's lists: a
    /// changed price, a removed item and a new one in one commit, with the filter behind a word (asked per
    /// candidate) and alone (it walks the copy, where a removed item's old price would name a missing document).
    @Test func rangeFiltersFollowEveryCommit() async throws {
        var c = try Catalog()
        try await c.apply([
            Self.restaurant("r-1", "Luigi's Pizzeria", rating: 4.5), Self.restaurant("r-2", "Pizza Hut", rating: 4.0),
            Self.item("m-1", "Margherita Pizza", price: 900), Self.item("m-2", "Pepperoni Pizza", price: 1400),
            Self.item("m-3", "Tiramisu", category: "dessert", price: 500),
        ])
        #expect(try await c.names("pizza ", { $0.maxPriceMinor = 1000 }) == ["Margherita Pizza"])
        #expect(try await c.names("", { $0.maxPriceMinor = 1000 }).sorted() == ["Margherita Pizza", "Tiramisu"])
        #expect(try await c.restaurants("", { $0.minRating = 4.2 }).hits.map(\.id) == ["r-1"])
        try await c.apply([
            Self.item("m-2", "Pepperoni Pizza", price: 800, revision: 2),
            .menuItemRemoved(MenuItemRemoved(item_id: "m-1", restaurant_id: "r-1", revision: 2)),
            Self.item("m-4", "Garlic Pizza", price: 700),
            Self.restaurant("r-2", "Pizza Hut", revision: 2, rating: 4.8),
        ])
        #expect(try await c.names("pizza ", { $0.maxPriceMinor = 800 }).sorted() == ["Garlic Pizza", "Pepperoni Pizza"], "the bound counts")
        #expect(try await c.names("pizza ", { $0.maxPriceMinor = 799 }) == ["Garlic Pizza"])
        #expect(try await c.names("", { $0.maxPriceMinor = 1000 }).sorted() == ["Garlic Pizza", "Pepperoni Pizza", "Tiramisu"])
        #expect(try await c.names("", { $0.maxPriceMinor = 100 }).isEmpty)
        #expect(try await c.restaurants("", { $0.minRating = 4.5 }).hits.map(\.id).sorted() == ["r-1", "r-2"])
        try await c.apply([.restaurantRemoved(RestaurantRemoved(restaurant_id: "r-1", revision: 2))])
        #expect(try await c.restaurants("", { $0.minRating = 4.2 }).hits.map(\.id) == ["r-2"])
        #expect(try await c.restaurants("pizza", { $0.minRating = 4.9 }).hits.isEmpty)
    }

    /// A new revision whose terms are the old one's (only the price changed) rewrites only the document's values and
    /// data; one whose terms changed is replaced whole. Either way every search sees the item as it is now.
    @Test func anUpdateWithTheSameTermsRewritesValuesAndData() async throws {
        var c = try Catalog()
        try await c.apply([Self.restaurant("r-1", "Luigi's Pizzeria"), Self.item("m-1", "Margherita Pizza", diet: "veg", price: 900),
                           Self.item("m-2", "Pepperoni Pizza", diet: "non_veg", price: 1400)])
        try await c.apply([Self.item("m-1", "Margherita Pizza", diet: "veg", price: 2500, revision: 2)])
        let now = try await c.search("margherita ")
        #expect(now.hits.map(\.item.price_minor) == [2500], "the stored item is the new one")
        #expect(now.facets["price_band"] == ["2000-4000": 1], "its facet values too")
        #expect(try await c.names("pizza ", { $0.maxPriceMinor = 1000 }).isEmpty)
        #expect(try await c.names("pizza ", { $0.maxPriceMinor = 3000; $0.diet = "veg" }) == ["Margherita Pizza"], "terms kept")
        #expect(try await c.names("", { $0.category = "pizza" }).count == 2)
        // Terms changed: the old name's words leave with them.
        try await c.apply([Self.item("m-1", "Marinara Pizza", diet: "veg", price: 2500, revision: 3)])
        #expect(try await c.names("margherita ").isEmpty)
        #expect(try await c.names("marinara ") == ["Marinara Pizza"])
        #expect(try await c.names("pizza ").count == 2, "no document added or lost")
    }

    /// Facets count every match of a large result, not only those that could still reach the page once a thousand
    /// were seen: 1,200 soups, every hundredth named "Soup Soup" (it weighs more, so the page's lowest weight rises
    /// above the others' after the first thousand). The page stays in order of weight, then of arrival.
    @Test func facetsCountEveryMatchOfALargeResult() async throws {
        var c = try Catalog()
        var events = [Self.restaurant("r-1", "Corner Cafe")]
        for i in 0..<1200 {
            events.append(Self.item("m-\(i)", i % 100 == 99 ? "Soup Soup \(i)" : "Soup \(i)", category: i % 2 == 0 ? "soup" : "starter"))
        }
        try await c.apply(events)
        let result = try await c.search("soup ", { $0.limit = 12 })
        #expect(result.facets["category"] == ["soup": 600, "starter": 600])
        #expect(result.estimatedTotal >= 1200, "at least every match walked")
        #expect(result.hits.map(\.item.name) == (0..<12).map { "Soup Soup \($0 * 100 + 99)" })
        let next = try await c.search("soup ", { $0.limit = 3; $0.offset = 12 })
        // Soups whose category is "soup" weigh more than starters; among equals, the order of arrival.
        #expect(next.hits.map(\.item.name) == ["Soup 0", "Soup 2", "Soup 4"])
    }

    @Test func staleRevisionsAreIgnoredAndRemovalsHideItems() async throws {
        var c = try await Self.standardCatalog()
        try await c.apply([Self.item("m-2", "Margherita Pizza Deluxe", price: 1100, revision: 3)])
        try await c.apply([Self.item("m-2", "Old Margherita", price: 800, revision: 2)])
        #expect(try await c.names("margherita") == ["Margherita Pizza Deluxe"], "revision 2 after 3 is stale")
        try await c.apply([Self.item("m-1", "Pepperoni Pizza", available: false, revision: 2)])
        #expect(try await c.names("pepperoni").isEmpty, "unavailable items are filtered out …")
        #expect(try await c.names("pepperoni", { $0.includeUnavailable = true }) == ["Pepperoni Pizza"], "… unless asked for")
        try await c.apply([.restaurantRemoved(RestaurantRemoved(restaurant_id: "r-2", revision: 2))])
        #expect(try await c.names("tikka").isEmpty, "a removed restaurant's items leave the results")
        try await c.apply([Self.restaurant("r-2", "Delhi Darbar", city: "Kolkata", revision: 3, cuisines: ["indian"])])
        #expect(try await c.names("tikka").count == 2, "and come back with it")
        try await c.apply([Self.restaurant("r-1", "Luigi's Pizzeria", city: "Manchester", revision: 2)])
        #expect(try await c.names("", { $0.city = "Manchester" }).count == 5, "items follow their restaurant's city (m-1 is unavailable)")
        #expect(try await c.names("", { $0.city = "London" }).isEmpty)
        try await c.apply([.menuItemRemoved(MenuItemRemoved(item_id: "m-4", restaurant_id: "r-1", revision: 2))])
        #expect(try await c.names("garlic").isEmpty)
    }

    /// Item documents are built ahead of the writer for the restaurant the batch's own events predict; the writer
    /// keeps a document only when the restaurant it resolved is the same (a stale restaurant event makes them
    /// differ), so items carry their restaurant as applied at their place in the batch. Counts of suggestions
    /// that exist already change in place.
    @Test func itemsCarryTheirRestaurantAsAppliedWithinOneBatch() async throws {
        var c = try Catalog()
        try await c.apply([Self.restaurant("r-1", "Luigi's Pizzeria", revision: 2)])
        var batch: [EventPayload] = (0..<20).map { Self.item("f-\($0)", "Focaccia \($0)") }
        batch += [
            Self.item("m-1", "Pepperoni Pizza"),
            Self.restaurant("r-1", "Luigi's Pizzeria", city: "Paris", revision: 1),   // stale: r-1 stays in London
            Self.item("m-2", "Pepperoni Pizza"),
            Self.restaurant("r-2", "Roma", city: "Rome"),
            Self.item("m-3", "Pepperoni Pizza", restaurant: "r-2"),
            Self.restaurant("r-2", "Roma", city: "Milan", revision: 2),
            Self.item("m-4", "Pepperoni Pizza", restaurant: "r-2"),
        ]
        batch += (0..<600).map { Self.item("g-\($0)", "Garlic Bread \($0)") }
        try await c.apply(batch)
        #expect(try await c.sink.documentCount() == 2 + 20 + 4 + 600)
        let london = try await c.search("pepperoni", { $0.city = "London" })
        #expect(london.hits.map(\.id).sorted() == ["m-1", "m-2"], "the stale event moved nothing to Paris")
        #expect(london.hits.allSatisfy { $0.restaurant?.city == "London" })
        #expect(try await c.names("pepperoni", { $0.city = "Paris" }).isEmpty)
        let milan = try await c.search("pepperoni", { $0.city = "Milan" })
        #expect(milan.hits.map(\.id).sorted() == ["m-3", "m-4"], "m-3 followed r-2 to Milan, m-4 was built there")
        #expect(milan.hits.allSatisfy { $0.restaurant?.city == "Milan" })
        #expect(try await c.names("pepperoni", { $0.city = "Rome" }).isEmpty)

        func dishCount(_ city: String) async throws -> Int? {
            var q = SearchIndex.SuggestQuery()
            q.text = "pepperoni pizza"
            q.city = city
            return try await c.index.suggest(q).suggestions.first { $0.text == "Pepperoni Pizza" }?.count
        }
        #expect(try await dishCount("London") == 2)
        #expect(try await dishCount("Milan") == 2)
        #expect(try await dishCount("Rome") == nil, "counted in Rome, then moved with its restaurant")
        try await c.apply([Self.item("m-5", "Pepperoni Pizza")])
        #expect(try await dishCount("London") == 3, "an existing suggestion's count changed in place")
        try await c.apply([.menuItemRemoved(MenuItemRemoved(item_id: "m-5", restaurant_id: "r-1", revision: 2)),
                           .menuItemRemoved(MenuItemRemoved(item_id: "m-1", restaurant_id: "r-1", revision: 2))])
        #expect(try await dishCount("London") == 1)
    }

    /// The pipeline applies batches of different partitions at once, and the sink predicts a batch's documents
    /// before the writer reaches it (while it writes the batch before). A prediction from a batch not yet applied
    /// can be wrong (here a stale restaurant event predicts Paris); the writer then builds the items itself, so
    /// they carry their restaurant as applied.
    @Test func batchesOfOtherPartitionsAppliedAtOnceKeepItemsWithTheirRestaurant() async throws {
        let c = try Catalog()
        func events(_ payloads: [EventPayload]) -> [Event] {
            payloads.map { Event(eventID: UUID().uuidString, occurredAt: Timestamp(epochMillis: 1_790_000_000_000), payload: $0) }
        }
        _ = try await IngestHarness.applyBatch(events([Self.restaurant("r-9", "Trattoria", revision: 5)]), to: c.sink,
                                               pipeline: "catalog", topic: "restaurants")
        let busy = events([Self.restaurant("r-9", "Trattoria", city: "Paris", revision: 4)]   // stale
                          + (0..<3000).map { Self.item("b-\($0)", "Bruschetta \($0)", restaurant: "r-9") })
        let late = events((0..<40).map { Self.item("t-\($0)", "Tiramisu \($0)", restaurant: "r-9") })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await IngestHarness.applyBatch(busy, to: c.sink, pipeline: "catalog", topic: "restaurants", at: 1) }
            group.addTask { _ = try await IngestHarness.applyBatch(late, to: c.sink, pipeline: "catalog", topic: "menus", partition: 1) }
            try await group.waitForAll()
        }
        // Sequentially too: the stale event is in the predictor's recent restaurants either way.
        _ = try await IngestHarness.applyBatch(events([Self.item("t-40", "Tiramisu 40", restaurant: "r-9")]), to: c.sink,
                                               pipeline: "catalog", topic: "menus", partition: 1, at: 40)
        #expect(try await c.sink.documentCount() == 1 + 3000 + 41)
        var q = SearchIndex.MenuQuery()
        q.text = "tiramisu"
        q.limit = 100
        let hits = try await c.index.searchMenu(q).hits
        #expect(hits.count == 41)
        #expect(hits.allSatisfy { $0.restaurant?.city == "London" }, "the stale event moved nothing to Paris")
        #expect(try await c.names("tiramisu", { $0.city = "Paris" }).isEmpty)
    }

    /// A document built ahead is taken only for the restaurant and popularity the writer resolved: a popularity
    /// refresh between the prediction and the writer would otherwise be undone by a document built before it.
    @Test func documentsBuiltAheadAreTakenOnlyAsPredicted() throws {
        let definitions = try IndexDefinition.loadAll(from: TestPaths.indexes)
        let items = try #require(definitions.first { $0.entity == .item })
        let restaurants = try #require(definitions.first { $0.entity == .restaurant })
        guard case .menuItemUpserted(let m) = Self.item("m-1", "Margherita"),
              case .restaurantUpserted(let r) = Self.restaurant("r-1", "Luigi's") else { Issue.record("fixtures"); return }
        let london = RestaurantSummary(r)
        let popular = SearchSchema.popularityValue(orders: 10)
        func prebuild() -> DocumentPrebuild {
            DocumentPrebuild(jobs: [.init(event: 0, source: .restaurant(r), popularity: nil),
                                    .init(event: 1, source: .item(StoredMenuItem(item: m, restaurant: london)), popularity: popular)],
                             items: items, restaurants: restaurants, on: DispatchQueue(label: "test.builder"))
        }
        let first = prebuild()
        first.waitForHelper()
        #expect(first.take(restaurantEvent: 0, popularity: popular) == nil, "built without popularity")
        #expect(first.take(event: 1, restaurant: london, popularity: nil) == nil, "built with popularity")
        first.finish()
        let second = prebuild()
        second.waitForHelper()
        var paris = london
        paris.city = "Paris"
        #expect(second.take(event: 1, restaurant: paris, popularity: popular) == nil, "built for London")
        #expect(second.take(restaurantEvent: 0, popularity: nil) != nil)
        second.finish()
        let third = prebuild()
        third.waitForHelper()
        let built = try #require(third.take(event: 1, restaurant: london, popularity: popular))
        #expect(built.dishTerm == Suggestion.idTerm(.dish, city: "London", key: "margherita"), "the dish suggestion it counts")
        third.finish()
    }

    @Test func theHTTPEndpointValidatesItsParameters() async throws {
        let c = try await Self.standardCatalog()
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        // Public endpoints: no credentials needed.
        SearchController(index: c.index).add(to: router, authenticator: try await Authenticator(settings: AuthSettings(), secret: nil))
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/api/v1/search/menu?q=peperoni%20piz&limit=5", method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                let hits = body?["hits"] as? [[String: Any]] ?? []
                #expect((hits.first?["item"] as? [String: Any])?["name"] as? String == "Pepperoni Pizza")
                #expect(body?["estimated_total"] is Int && body?["took_ms"] is Double && body?["facets"] is [String: Any])
            }
            for (query, code) in [("limit=101", "parameter_out_of_range"), ("offset=10001", "parameter_out_of_range"),
                                  ("limit=ten", "invalid_parameter"), ("diet=carnivore", "invalid_parameter"),
                                  ("max_price=-1", "parameter_out_of_range"), ("colour=red", "unknown_parameter"),
                                  ("max_price=99999999999999999999", "parameter_out_of_range"), ("max_price=1e3", "invalid_parameter"),
                                  ("offset=--1", "invalid_parameter"), ("limit=", "invalid_parameter"),
                                  ("restaurant_id=r-1'%20OR%201=1", "invalid_parameter")] {
                try await client.execute(uri: "/api/v1/search/menu?" + query, method: .get) { response in
                    #expect(response.status == .badRequest, "\(query)")
                    let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    #expect((body?["error"] as? [String: Any])?["code"] as? String == code, "\(query)")
                }
            }
            for (path, status, code) in [
                ("/api/v1/search/restaurants?sort=distance", 400, "location_required"),
                ("/api/v1/search/restaurants?location=91,0", 400, "invalid_parameter"),
                ("/api/v1/search/restaurants?location=22.5,88.3&radius_km=0", 400, "parameter_out_of_range"),
                ("/api/v1/search/restaurants?sort=cheapest", 400, "invalid_parameter"),
                ("/api/v1/search/suggestions", 400, "missing_parameter"),
                ("/api/v1/search/suggestions?q=piz&limit=21", 400, "parameter_out_of_range"),
                ("/api/v1/restaurants/r-404", 404, "not_found"),
                ("/api/v1/restaurants/r%20x", 400, "invalid_parameter"),
            ] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(Int(response.status.code) == status, "\(path)")
                    let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    #expect((body?["error"] as? [String: Any])?["code"] as? String == code, "\(path)")
                }
            }
            for path in ["/api/v1/search/restaurants?q=delhi&location=51.5,-0.12&radius_km=10&sort=distance&open_now=false",
                         "/api/v1/search/suggestions?q=chic&city=Kolkata", "/api/v1/restaurants/r-2", "/api/v1/restaurants/r-2/menu"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok, "\(path)")
                    let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    let found = (body?["hits"] as? [Any])?.count ?? (body?["suggestions"] as? [Any])?.count
                        ?? (body?["items"] as? [Any])?.count ?? (body?["name"] != nil ? 1 : 0)
                    #expect(found > 0, "\(path)")
                }
            }
            let long = String(repeating: "pizza ", count: 100)
            try await client.execute(uri: "/api/v1/search/menu?q=" + long.replacingOccurrences(of: " ", with: "%20"), method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect((body?["warnings"] as? [String])?.first?.hasPrefix("query_truncated") == true)
            }
        }
    }

    @Test func restaurantsByRadiusDistanceAndRating() async throws {
        var c = try Catalog()
        let centre = GeoPoint(lat: 22.5726, lng: 88.3639)   // Kolkata
        try await c.apply([
            Self.restaurant("r-1", "Biryani House", city: "Kolkata", cuisines: ["indian"], at: GeoPoint(lat: 22.5800, lng: 88.3639), rating: 4.1),  // ~0.8 km
            Self.restaurant("r-2", "Biryani Palace", city: "Kolkata", cuisines: ["indian"], at: GeoPoint(lat: 22.6200, lng: 88.3639), rating: 4.8), // ~5.3 km
            Self.restaurant("r-3", "Biryani Express", city: "Kolkata", cuisines: ["indian"], at: GeoPoint(lat: 22.8000, lng: 88.3639), rating: 3.9), // ~25 km
            Self.restaurant("r-4", "Sushi Bar", city: "Kolkata", cuisines: ["japanese"], at: GeoPoint(lat: 22.5730, lng: 88.3640), rating: 4.9),
            Self.restaurant("r-5", "Biryani Closed", city: "Kolkata", status: "CLOSED", cuisines: ["indian"], at: centre),
        ])
        let within = try await c.restaurants("biryani", { $0.location = centre; $0.radiusKm = 10; $0.sort = .distance })
        #expect(within.hits.map(\.id) == ["r-1", "r-2"], "radius filter, nearest first, CLOSED never shown")
        #expect(abs((within.hits.first?.distanceKm ?? 0) - 0.82) < 0.05)
        let byRating = try await c.restaurants("biryani", { $0.sort = .rating })
        #expect(byRating.hits.map(\.id) == ["r-2", "r-1", "r-3"])
        let decayed = try await c.restaurants("biryani", { $0.location = centre })
        #expect(decayed.hits.map(\.id) == ["r-1", "r-2", "r-3"], "with a location, nearer ranks higher")
        let decayedWithin = try await c.restaurants("biryani", { $0.location = centre; $0.radiusKm = 10 })
        #expect(decayedWithin.hits.map(\.id) == ["r-1", "r-2"], "within a radius too, by relevance")
        #expect(try await c.restaurants("", { $0.location = centre; $0.radiusKm = 30 }).hits.map(\.id) == ["r-4", "r-1", "r-2", "r-3"],
                "no text: by distance decay alone")
        #expect(try await c.restaurants("", { $0.cuisine = "japanese" }).hits.map(\.id) == ["r-4"])
        #expect(try await c.restaurants("", { $0.minRating = 4.5 }).hits.map(\.id).sorted() == ["r-2", "r-4"])
        #expect(try await c.restaurants("biriyani").hits.count == 3, "typos in restaurant names too")
    }

    /// The radius filter first rejects restaurants outside the latitude band the radius allows, then measures
    /// the great-circle distance: a restaurant just inside the radius due north or south (the band's edge) is
    /// found, one just outside it is not, and so is one due east at the same latitude.
    @Test func radiusEdgesDueNorthSouthAndEast() async throws {
        var c = try Catalog()
        let centre = GeoPoint(lat: 22.5726, lng: 88.3639)
        let degreesPerKm = 180 / Double.pi / 6372.7976   // the metric's Earth radius (quadratic mean)
        func at(north km: Double) -> GeoPoint { GeoPoint(lat: centre.lat + km * degreesPerKm, lng: centre.lng) }
        let east = GeoPoint(lat: centre.lat, lng: centre.lng + 9.9 * degreesPerKm / cos(centre.lat * .pi / 180))
        try await c.apply([
            Self.restaurant("r-n", "North Kitchen", city: "Kolkata", cuisines: ["indian"], at: at(north: 9.99)),
            Self.restaurant("r-s", "South Kitchen", city: "Kolkata", cuisines: ["indian"], at: at(north: -9.99)),
            Self.restaurant("r-e", "East Kitchen", city: "Kolkata", cuisines: ["indian"], at: east),
            Self.restaurant("r-out", "Outer Kitchen", city: "Kolkata", cuisines: ["indian"], at: at(north: 10.1)),
            Self.restaurant("r-far", "Far Kitchen", city: "Kolkata", cuisines: ["indian"], at: at(north: -20)),
        ])
        let within = try await c.restaurants("", { $0.location = centre; $0.radiusKm = 10; $0.sort = .distance })
        #expect(Set(within.hits.map(\.id)) == ["r-n", "r-s", "r-e"])
        for hit in within.hits { #expect(abs((hit.distanceKm ?? 0) - 9.95) < 0.06, "\(hit.id)") }
        #expect(try await c.restaurants("", { $0.location = centre; $0.radiusKm = 10.2 }).hits.count == 4)
        #expect(try await c.restaurants("", { $0.location = centre; $0.radiusKm = 25 }).hits.count == 5)
    }

    /// The radius filter and the distance sort read a reader's copy of the restaurants' coordinates, brought up to
    /// each commit from the writer's lists: a restaurant moved, one removed and one added in one commit (beside a
    /// menu item, which has no location) are found where they are now, with and without words.
    @Test func radiusAndDistanceFollowEveryCommit() async throws {
        var c = try Catalog()
        let centre = GeoPoint(lat: 51.5, lng: -0.12)
        func at(north km: Double) -> GeoPoint { GeoPoint(lat: centre.lat + km / 111.2, lng: centre.lng) }
        try await c.apply([
            Self.restaurant("r-1", "Pizza One", at: centre), Self.restaurant("r-2", "Pizza Two", at: at(north: 2)),
            Self.restaurant("r-3", "Pizza Three", at: at(north: 5)), Self.restaurant("r-9", "Noodle Nine", at: at(north: 1)),
        ])
        func ids(_ text: String, radius: Double?, sort: SearchIndex.RestaurantSort = .distance) async throws -> [String] {
            try await c.restaurants(text, { $0.location = centre; $0.radiusKm = radius; $0.sort = sort }).hits.map(\.id)
        }
        #expect(try await ids("", radius: 3) == ["r-1", "r-9", "r-2"])
        #expect(try await ids("pizza", radius: 3) == ["r-1", "r-2"])
        #expect(try await ids("pizza", radius: nil) == ["r-1", "r-2", "r-3"])
        try await c.apply([
            Self.restaurant("r-1", "Pizza One", revision: 2, at: at(north: 8)),
            .restaurantRemoved(RestaurantRemoved(restaurant_id: "r-3", revision: 2)),
            Self.restaurant("r-4", "Pizza Four", at: at(north: 0.5)),
            Self.item("m-1", "Margherita Pizza", restaurant: "r-4"),
        ])
        #expect(try await ids("", radius: 3) == ["r-4", "r-9", "r-2"])
        #expect(try await ids("pizza", radius: 3) == ["r-4", "r-2"], "with words: each candidate checked")
        #expect(try await ids("pizza", radius: 10) == ["r-4", "r-2", "r-1"], "the moved restaurant where it is now")
        #expect(try await ids("pizza", radius: 10, sort: .relevance) == ["r-4", "r-2", "r-1"], "nearer weighs more")
        #expect(try await ids("pizza", radius: nil) == ["r-4", "r-2", "r-1"], "the removed one is gone")
        #expect(try await ids("pizza", radius: 1) == ["r-4"])
        // The next commit moves one restaurant only: its old coordinate goes, the others stay.
        try await c.apply([Self.restaurant("r-2", "Pizza Two", revision: 2, at: at(north: 30))])
        #expect(try await ids("pizza", radius: 10) == ["r-4", "r-1"])
        #expect(try await ids("pizza", radius: nil) == ["r-4", "r-1", "r-2"])
    }

    /// Warming reads on every reader what a first query would read in line: afterwards no query reads the
    /// facet column or the vocabulary whole again.
    @Test func warmingReadsWhatTheFirstQueriesWouldRead() async throws {
        var c = try Catalog()
        try await c.apply([Self.restaurant("r-1", "Pizza One"), Self.item("m-1", "Margherita Pizza", price: 900)])
        #expect(!c.index.isWarm)
        #expect(try await c.index.facetColumnStats().map(\.fullLoads) == [0, 0], "no reader opened yet")
        try await c.index.warm()
        #expect(c.index.isWarm)
        #expect(try await c.index.facetColumnStats().map(\.fullLoads) == [1, 1], "each reader read its column")
        let reads = c.index.vocabularyReads
        #expect(reads == 1)
        for _ in 0..<4 {
            #expect(try await c.names("pizza", { $0.maxPriceMinor = 1000 }) == ["Margherita Pizza"])
            #expect(try await c.restaurants("", { $0.location = GeoPoint(lat: 51.5, lng: -0.12); $0.radiusKm = 1 }).hits.map(\.id) == ["r-1"])
        }
        #expect(try await c.index.facetColumnStats().map(\.fullLoads) == [1, 1], "and no query read it again")
        #expect(c.index.vocabularyReads == reads)
    }

    @Test func openNowInTheRestaurantsOwnZoneAcrossMidnight() async throws {
        var c = try Catalog()
        // Friday 2026-11-20 18:50 UTC = 00:20 Saturday in Kolkata (+05:30) = 00:35 Saturday in Kathmandu (+05:45).
        let at = ISO8601DateFormatter().date(from: "2026-11-20T18:50:00Z")!
        try await c.apply([
            // Friday 18:00 until 01:00 on Saturday, local time.
            Self.restaurant("r-kol", "Late Kitchen Kolkata", city: "Kolkata", timezone: "Asia/Kolkata",
                            hours: [OpeningHours(day: 5, open: "18:00", close: "01:00")]),
            // Friday 18:00 until 00:30 on Saturday: closed by 00:35 in Kathmandu.
            Self.restaurant("r-ktm", "Late Kitchen Kathmandu", city: "Kathmandu", timezone: "Asia/Kathmandu",
                            hours: [OpeningHours(day: 5, open: "18:00", close: "00:30")]),
            // Saturday 00:30 until 02:00 in Kathmandu: open at 00:35.
            Self.restaurant("r-ktm2", "Night Owl Kathmandu", city: "Kathmandu", timezone: "Asia/Kathmandu",
                            hours: [OpeningHours(day: 6, open: "00:30", close: "02:00")]),
            // Saturday 23:00 until 02:00: past Saturday midnight runs into Sunday; not open on Friday night.
            Self.restaurant("r-lon", "Late Kitchen London", timezone: "Europe/London",
                            hours: [OpeningHours(day: 6, open: "23:00", close: "02:00")]),
        ])
        let open = try await c.restaurants("", { $0.openNow = true; $0.at = at })
        #expect(open.hits.map(\.id).sorted() == ["r-kol", "r-ktm2"])
        #expect(open.hits.allSatisfy { $0.openNow })
        let sundayEarly = ISO8601DateFormatter().date(from: "2026-11-22T01:30:00Z")!   // Sunday 01:30 in London (GMT)
        #expect(try await c.restaurants("", { $0.openNow = true; $0.at = sundayEarly }).hits.map(\.id) == ["r-lon"])
        let all = try await c.restaurants("", { $0.at = at })
        #expect(all.hits.count == 4 && all.hits.filter { $0.openNow }.count == 2)
    }

    @Test func restaurantReadModel() async throws {
        let c = try await Self.standardCatalog()
        let r = try #require(try await c.index.restaurant(id: "r-2"))
        #expect(r.name == "Delhi Darbar" && r.city == "Kolkata")
        #expect(try await c.index.restaurant(id: "r-404") == nil)
        let menu = try await c.index.menu(restaurantID: "r-2")
        #expect(menu.map(\.name) == ["Chicken Tikka", "Paneer Tikka", "Vegetarian Thali"])
    }

    @Test func suggestionsCompleteDishesRestaurantsAndCuisinesOncePerText() async throws {
        var c = try Catalog()
        try await c.apply([
            Self.restaurant("r-1", "Pizza Planet", cuisines: ["italian", "pizza"]),
            Self.restaurant("r-2", "Pizzeria Roma", cuisines: ["italian"]),
            Self.restaurant("r-3", "Mumbai Pizza Co", city: "Mumbai", cuisines: ["pizza"], at: GeoPoint(lat: 19.07, lng: 72.87)),
            Self.item("m-1", "Pepperoni Pizza", restaurant: "r-1"),
            Self.item("m-2", "Pepperoni Pizza", restaurant: "r-2"),
            Self.item("m-3", "Pepperoni Pizza", restaurant: "r-3"),
            Self.item("m-4", "Peppered Steak", restaurant: "r-2", category: "mains"),
            Self.item("m-5", "Paneer Pizza", restaurant: "r-3"),
        ])
        func suggest(_ text: String, _ configure: (inout SearchIndex.SuggestQuery) -> Void = { _ in }) async throws -> SearchIndex.SuggestResult {
            var q = SearchIndex.SuggestQuery()
            q.text = text
            configure(&q)
            return try await c.index.suggest(q)
        }
        let pep = try await suggest("pep")
        #expect(pep.suggestions.map(\.text) == ["Pepperoni Pizza", "Peppered Steak"], "deduplicated, the most common first")
        #expect(pep.suggestions.first?.count == 3 && pep.suggestions.first?.highlighted == "<mark>Pepperoni</mark> Pizza")
        let piz = try await suggest("piz")
        #expect(Set(piz.suggestions.map(\.kind)) == [.dish, .restaurant, .cuisine])
        #expect(piz.suggestions.filter { $0.text.lowercased() == "pizza" }.count == 1, "the cuisine once, though two cities have it")
        #expect(try await suggest("peperoni").suggestions.first?.text == "Pepperoni Pizza", "typos")
        let mumbai = try await suggest("p", { $0.location = GeoPoint(lat: 19.08, lng: 72.88) })
        #expect(mumbai.city == "Mumbai")
        #expect(Set(mumbai.suggestions.map(\.text)) == ["Mumbai Pizza Co", "Pepperoni Pizza", "Paneer Pizza", "pizza"])
        // Renaming and removing keep the counts true.
        try await c.apply([Self.item("m-2", "Pepperoni Feast", restaurant: "r-2", revision: 2),
                           .menuItemRemoved(MenuItemRemoved(item_id: "m-1", restaurant_id: "r-1", revision: 2))])
        let after = try await suggest("pepperoni")
        #expect(after.suggestions.map(\.text).sorted() == ["Pepperoni Feast", "Pepperoni Pizza"])
        #expect(after.suggestions.first { $0.text == "Pepperoni Pizza" }?.count == 1)
        // Upserted again after its removal (its revision recorded, its document gone), then renamed: counted once each time.
        try await c.apply([Self.item("m-1", "Pepperoni Pizza", restaurant: "r-1", revision: 3)])
        #expect(try await suggest("pepperoni").suggestions.first { $0.text == "Pepperoni Pizza" }?.count == 2)
        try await c.apply([Self.item("m-1", "Pepperoni Feast", restaurant: "r-1", revision: 4)])
        let renamed = try await suggest("pepperoni")
        #expect(renamed.suggestions.first { $0.text == "Pepperoni Pizza" }?.count == 1)
        #expect(renamed.suggestions.first { $0.text == "Pepperoni Feast" }?.count == 2)
        try await c.apply([Self.restaurant("r-2", "Pizzeria Roma", status: "CLOSED", revision: 2, cuisines: ["italian"])])
        #expect(try await suggest("pizzeria").suggestions.isEmpty, "a closed restaurant is not suggested")
    }

    /// Suggestions keep their data in Xapian's document data; an index written before kept it in the data slot (some
    /// also with two count values beside it). Such suggestions are read as before, and the first count change moves
    /// the data and clears the values.
    @Test func suggestionsWrittenBeforeMoveTheirDataOnTheirNextChange() async throws {
        let reopened = try ReopenedIndex()
        let (path, definitions) = (reopened.path, reopened.definitions)
        func counts(_ text: String) async throws -> [String: Int] {
            let index = try SearchIndex(path: path, definitions: definitions, refresh: .zero)
            var q = SearchIndex.SuggestQuery()
            q.text = text
            return Dictionary(try await index.suggest(q).suggestions.map { ($0.text, $0.count) }, uniquingKeysWith: +)
        }
        try await reopened.apply([Self.restaurant("r-1", "Pizza Planet"), Self.restaurant("r-2", "Pasta Palace"),
                         Self.item("m-1", "Pepperoni Pizza"), Self.item("m-2", "Pepperoni Pizza", restaurant: "r-2"),
                         Self.item("m-3", "Penne Arrabbiata", restaurant: "r-2")], at: 0)
        #expect(try await counts("pe") == ["Pepperoni Pizza": 2, "Penne Arrabbiata": 1])

        // As an earlier version wrote them: the data in the data slot, no document data, two count values.
        let legacySlots: [UInt32] = [9, 10]
        var suggestionIDs: [String: UInt32] = [:]
        do {
            let db = try XapianWritableDatabase(path: path)
            try db.transaction {
                for (term, docid, data, inSlot) in try db.documents(withTermPrefix: SearchSchema.suggestionIDPrefix) {
                    #expect(!inSlot, "written now: in the document data")
                    suggestionIDs[term] = docid
                    try db.setDocumentData(docid: docid, [])
                    try db.setValues(docid: docid, [(XapianDocument.dataSlot, data), (9, [1]), (10, [2])])
                }
                try SearchSink.suggestionsChanged(db)
            }
            try db.close()
        }
        #expect(suggestionIDs.count == 5, "two dishes, two restaurants and a cuisine (italian, one city)")
        #expect(try await counts("pe") == ["Pepperoni Pizza": 2, "Penne Arrabbiata": 1], "read from the data slot")

        // One more Pepperoni Pizza changes that suggestion's count only.
        try await reopened.apply([Self.item("m-4", "Pepperoni Pizza", restaurant: "r-2")], at: 5)
        #expect(try await counts("pe") == ["Pepperoni Pizza": 3, "Penne Arrabbiata": 1])
        let db = try XapianWritableDatabase(path: path)
        defer { try? db.close() }
        let pepperoni = try #require(Suggestion.idTerm(.dish, "Pepperoni Pizza", city: "London"))
        let moved = try #require(suggestionIDs[pepperoni])
        let found = Dictionary(uniqueKeysWithValues: try db.documents(withTermPrefix: SearchSchema.suggestionIDPrefix)
            .map { ($0.term, $0) })
        #expect(found[pepperoni]?.docid == moved && found[pepperoni]?.inSlot == false)
        #expect(found[pepperoni].flatMap { Suggestion(stored: $0.data) }?.count == 3)
        for slot in [XapianDocument.dataSlot] + legacySlots {
            #expect(try db.values(slot: slot)[moved] == nil, "slot \(slot) cleared as the data moved")
        }
        // The others were not rewritten: still in the slot, with their count values.
        let penne = try #require(Suggestion.idTerm(.dish, "Penne Arrabbiata", city: "London"))
        let penneCount = try db.values(slot: 9)[try #require(suggestionIDs[penne])]
        #expect(found[penne]?.inSlot == true && penneCount == [1])
    }

    /// Items' documents are found through their records (revision and docid, in the index metadata), and have no id
    /// term. Items written before records named their documents (an id term, a record of the revision alone) are
    /// found through their id term, and move to the new form on their next write, a restaurant's change included.
    @Test func itemsWrittenBeforeRecordsNamedTheirDocuments() async throws {
        let reopened = try ReopenedIndex()
        let (path, definitions) = (reopened.path, reopened.definitions)
        try await reopened.apply([Self.restaurant("r-1", "Pizza Planet"), Self.restaurant("r-2", "Pasta Palace"),
                                  Self.item("m-1", "Pepperoni Pizza"), Self.item("m-2", "Garlic Bread"),
                                  Self.item("m-3", "Tiramisu", restaurant: "r-2"), Self.item("m-4", "Penne Arrabbiata")], at: 0)
        /// Every item document: item id → (docid, stored item); duplicates fail the test.
        func items(_ db: XapianWritableDatabase) throws -> [String: (docid: UInt32, stored: StoredMenuItem)] {
            var out: [String: (docid: UInt32, stored: StoredMenuItem)] = [:]
            for (docid, data) in try db.documents(withTerm: SearchSchema.itemType) {
                let stored = try StoredMenuItem.decode(data)
                #expect(out[stored.item.item_id] == nil, "one document for \(stored.item.item_id)")
                out[stored.item.item_id] = (docid, stored)
            }
            return out
        }
        let itemDefinition = try #require(definitions.first { $0.entity == .item })
        do {
            let db = try XapianWritableDatabase(path: path)
            defer { try? db.close() }
            for (id, found) in try items(db) {
                #expect(try SearchSink.record(SearchSink.recordKey("m", id), db) == .init(revision: 1, docid: found.docid))
                #expect(try db.docid(SearchSchema.itemID(id)) == nil, "no id term")
            }
            // As an earlier version wrote them: each item with its id term (under a new docid), its record the revision alone.
            try db.transaction {
                for (id, found) in try items(db) {
                    try db.delete(docid: found.docid)
                    try db.replace(idTerm: SearchSchema.itemID(id), document: SearchSink.itemDocument(found.stored, definition: itemDefinition))
                    try db.setMetadata(SearchSink.recordKey("m", id), "1")
                }
            }
        }
        func names(_ text: String) async throws -> [String] {
            let index = try SearchIndex(path: path, definitions: definitions, refresh: .zero)
            var q = SearchIndex.MenuQuery()
            q.text = text
            return try await index.searchMenu(q).hits.map(\.item.name).sorted()
        }
        #expect(try await names("") == ["Garlic Bread", "Penne Arrabbiata", "Pepperoni Pizza", "Tiramisu"])

        try await reopened.apply([
            Self.item("m-1", "Pepperoni Feast", revision: 2),                                   // replaced
            .menuItemRemoved(MenuItemRemoved(item_id: "m-2", restaurant_id: "r-1", revision: 2)), // removed
            Self.item("m-3", "Stale Tiramisu", restaurant: "r-2", revision: 1),                  // stale: ignored
            Self.restaurant("r-1", "Pizza Planet", city: "Manchester", revision: 2),             // m-4 rewritten with it
            Self.item("m-5", "Margherita Pizza"),                                                // new
        ], at: 6)
        #expect(try await names("") == ["Margherita Pizza", "Penne Arrabbiata", "Pepperoni Feast", "Tiramisu"])
        // m-4 was rewritten without its id term: its record must name its document, or its next revision is added twice.
        try await reopened.apply([Self.item("m-4", "Penne Rigate", revision: 2)], at: 11)
        #expect(try await names("penne") == ["Penne Rigate"])

        let sink = try SearchSink(path: path, definitions: definitions)
        let change = try await sink.applyPopularity(items: ["m-3": 40, "m-4": 3], restaurants: [:], dishes: [])
        try await sink.close()
        #expect(change.documents == 2, "an item of the old form (m-3) and one moved (m-4)")

        let db = try XapianWritableDatabase(path: path)
        defer { try? db.close() }
        let found = try items(db)
        #expect(found.keys.sorted() == ["m-1", "m-3", "m-4", "m-5"])
        #expect(found["m-4"]?.stored.restaurant?.city == "Manchester" && found["m-4"]?.stored.item.revision == 2)
        for (id, expected) in [("m-1", 2), ("m-4", 2), ("m-5", 1)] as [(String, Int64)] {
            #expect(try SearchSink.record(SearchSink.recordKey("m", id), db) == .init(revision: expected, docid: found[id]?.docid))
            #expect(try db.docid(SearchSchema.itemID(id)) == nil, "\(id) moved: no id term")
        }
        #expect(try SearchSink.record(SearchSink.recordKey("m", "m-2"), db) == .init(revision: 2, docid: nil), "removed")
        #expect(try SearchSink.record(SearchSink.recordKey("m", "m-3"), db) == .init(revision: 1, docid: nil), "not written since")
        #expect(try db.docid(SearchSchema.itemID("m-3")) == found["m-3"]?.docid)
        let popularity = try db.values(slot: SearchSchema.itemPopularity)
        #expect(popularity[try #require(found["m-3"]?.docid)] == SearchSchema.popularityValue(orders: 40))
        #expect(popularity[try #require(found["m-4"]?.docid)] == SearchSchema.popularityValue(orders: 3))
        #expect(SearchSink.EntityRecord(stored: "7") == .init(revision: 7, docid: nil))
        #expect(SearchSink.EntityRecord(stored: "7 12") == .init(revision: 7, docid: 12))
        #expect(SearchSink.EntityRecord(stored: "7 x") == nil && SearchSink.EntityRecord(stored: "") == nil)
    }

    /// Facet counts cover documents written by different sinks on the same index (a restart between batches).
    @Test func facetCountsAcrossARestart() async throws {
        let reopened = try ReopenedIndex()
        let (path, definitions) = (reopened.path, reopened.definitions)
        try await reopened.apply([Self.restaurant("r-1", "Luigi's Pizzeria"),
                         Self.item("m-1", "Margherita Pizza", category: "pizza", price: 900),
                         Self.item("m-2", "Tiramisu", category: "dessert", price: 600)], at: 0)
        // A second sink on the same index, with values the first had and values it had not.
        try await reopened.apply([Self.restaurant("r-2", "Delhi Darbar", city: "Kolkata", cuisines: ["indian"]),
                         Self.item("m-3", "Chicken Tikka", restaurant: "r-2", category: "curry", diet: "non_veg", price: 45000),
                         Self.item("m-4", "Paneer Pizza", restaurant: "r-2", category: "pizza", price: 30000)], at: 3)
        let index = try SearchIndex(path: path, definitions: definitions, refresh: .zero)
        var q = SearchIndex.MenuQuery()
        q.text = ""
        let all = try await index.searchMenu(q)
        #expect(all.facets["category"] == ["pizza": 2, "dessert": 1, "curry": 1])
        #expect(all.facets["city"] == ["London": 2, "Kolkata": 2])
        #expect(all.facets["diet"] == ["veg": 3, "non_veg": 1])
        var restaurants = SearchIndex.RestaurantQuery()
        restaurants.text = ""
        #expect(try await index.searchRestaurants(restaurants).facets["city"] == ["London": 1, "Kolkata": 1])
    }

    /// Names, cities, categories and ids as long as the event contract allows (200 characters, here of two
    /// UTF-8 bytes each) are indexed, filtered on and suggested: Xapian refuses terms over 245 bytes, so
    /// longer filter and id terms end in a hash of what they hold, on the writer and the query side alike.
    @Test func valuesAsLongAsTheContractAllows() async throws {
        let long = { (c: Character) in String(repeating: c, count: EventValidator.maxNameLength) }
        let city = long("ü"), category = long("é"), name = "Pizza " + long("ß").dropFirst(6)
        let restaurantID = String(repeating: "𝔯", count: EventValidator.maxIDLength)   // four UTF-8 bytes each
        let itemID = String(repeating: "𝔪", count: EventValidator.maxIDLength)
        #expect(SearchSchema.city(city).utf8.count <= 245 && SearchSchema.city(city) != SearchSchema.city(city.dropLast() + "u"))
        var c = try Catalog()
        try await c.apply([Self.restaurant(restaurantID, long("ø"), city: city, cuisines: [long("å")]),
                           Self.item(itemID, name, restaurant: restaurantID, category: category, tags: [long("ñ")]),
                           Self.restaurant("r-2", "Short", city: city.dropLast() + "u")])
        let found = try await c.search("pizza") { $0.city = city; $0.category = category }
        #expect(found.hits.map(\.item.item_id) == [itemID])
        #expect(try await c.search("pizza") { $0.city = city.dropLast() + "u" }.hits.isEmpty, "another city, which differs only in its last letter")
        var q = SearchIndex.SuggestQuery()
        q.text = "pizz"
        q.city = city
        #expect(try await c.index.suggest(q).suggestions.map(\.text) == [name])
        // Updated and removed by those ids.
        try await c.apply([Self.item(itemID, "Pasta", restaurant: restaurantID, category: category, revision: 2)])
        #expect(try await c.names("pasta") == ["Pasta"])
        #expect(try await c.names("pizza").isEmpty)
        try await c.apply([.menuItemRemoved(MenuItemRemoved(item_id: itemID, restaurant_id: restaurantID, revision: 3))])
        #expect(try await c.names("pasta").isEmpty)
    }

    /// The generated catalog's restaurant `i` and its items do not depend on the range they are generated in (the
    /// search bench generates the catalog in chunks and, for its busy phase, new revisions of the same items).
    @Test func theCatalogGeneratorMakesEachRestaurantTheSameInAnyRange() {
        func generate(_ range: Range<Int>) -> [String: [MenuItemUpserted]] {
            var out: [String: [MenuItemUpserted]] = [:]
            CatalogGenerator().generate(restaurants: range, itemsPerRestaurant: 5) { r, items in out[r.restaurant_id] = items }
            return out
        }
        let whole = generate(0..<30), parts = generate(0..<7).merging(generate(7..<19), uniquingKeysWith: { a, _ in a })
            .merging(generate(19..<30), uniquingKeysWith: { a, _ in a })
        #expect(whole.count == 30)
        #expect(whole == parts)
        #expect(Set(whole.values.flatMap { $0.map(\.name) }).count > 10, "and the items still vary")
    }

    /// A stored item's JSON is written directly; `JSONDecoder` and the event reader (which the index reads it with)
    /// both read it back to the same value, for a generated catalog and for strings that need escaping, with and
    /// without a restaurant. The event reader reads a restaurant as `JSONEncoder` stores it, too.
    @Test func storedItemsJSONReadsBackAsWritten() throws {
        var stored: [StoredMenuItem] = []
        var restaurants: [RestaurantUpserted] = []
        CatalogGenerator().generate(restaurants: 0..<40, itemsPerRestaurant: 20) { r, items in
            restaurants.append(r)
            for m in items { stored.append(StoredMenuItem(item: m, restaurant: RestaurantSummary(r))) }
        }
        let awkward = ["quote \" and backslash \\ ", "tab\tnew\nline\u{0}\u{1F}", "ünïcödé 🍕 \u{2028}", "", "/slash/"]
        for (i, text) in awkward.enumerated() {
            guard case .restaurantUpserted(let r) = Self.restaurant("r-\(i)", text, city: text + "x", cuisines: [text, "a"],
                                                                     at: GeoPoint(lat: -0.000012345, lng: 179.99999999999997),
                                                                     timezone: text, rating: 1e-7),
                  case .menuItemUpserted(let m) = Self.item(text, text, restaurant: text, category: text, diet: text,
                                                            price: -Int64(i), tags: [text, text], description: text,
                                                            available: i % 2 == 0, revision: Int64.max - Int64(i)) else { continue }
            restaurants.append(r)
            stored.append(StoredMenuItem(item: m, restaurant: RestaurantSummary(r)))
            stored.append(StoredMenuItem(item: m, restaurant: nil))
        }
        for value in stored {
            let bytes = try value.json()
            #expect(try JSONDecoder().decode(StoredMenuItem.self, from: Data(bytes)) == value, "\(String(decoding: bytes, as: UTF8.self))")
            #expect(try StoredMenuItem.read(bytes) == value, "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(stored.count == 810)
        // As `JSONEncoder` wrote items before `json()`, and writes restaurants.
        for value in stored.prefix(20) + stored.suffix(10) {
            #expect(try StoredMenuItem.read(Array(JSONEncoder().encode(value))) == value)
        }
        for r in restaurants {
            #expect(try StoredJSONObject(Array(JSONEncoder().encode(r))).restaurantUpserted() == r)
        }
        #expect(restaurants.count == 45)
    }

    /// Term lists are stored uncompressed (zlib's set-up is replaced for Xapian's streams), and the index reads
    /// as before.
    /// A writer opening an index waits a little for the lock to be released, then reports it held.
    @Test func aWriterWaitsBrieflyForTheIndexLock() throws {
        let path = makeTemporaryDirectory().appendingPathComponent("index").path
        let first = try XapianWritableDatabase(path: path)
        let started = ContinuousClock.now
        do {
            _ = try XapianWritableDatabase(path: path, lockWait: .milliseconds(200))
            Issue.record("a second writer opened a locked index")
        } catch {
            #expect(error.isLocked, "\(error)")
        }
        #expect(ContinuousClock.now - started >= .milliseconds(200))
        // Released while the second waits: it opens.
        nonisolated(unsafe) let held = first
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { try? held.close() }
        let second = try XapianWritableDatabase(path: path, lockWait: .seconds(10))
        try second.close()
    }

    @Test func termListsAreStoredUncompressed() async throws {
        var c = try Catalog()
        try await c.apply([Self.restaurant("r-1", "Luigi's Pizzeria"), Self.item("m-1", "Margherita Pizza")])
        #expect(XapianWritableDatabase.uncompressedTermListStreams > 0)
        try await c.apply([Self.item("m-1", "Pepperoni Pizza", revision: 2)])   // a replace reads the old term list
        #expect(try await c.names("pizza") == ["Pepperoni Pizza"])
        #expect(try await c.names("margherita").isEmpty)
    }

    /// Facet counts follow every commit. A reader reads every document's facet values once, then
    /// brings them up to each new commit from the documents the writer listed in it.
    @Test func facetCountsFollowEachCommit() async throws {
        let dir = makeTemporaryDirectory()
        let path = dir.appendingPathComponent("index").path
        let definitions = try IndexDefinition.loadAll(from: TestPaths.indexes)
        let sink = try SearchSink(path: path, definitions: definitions)
        let index = try SearchIndex(path: path, definitions: definitions, readers: 1, refresh: .zero)
        var offset: Int64 = 0
        func apply(_ payloads: [EventPayload]) async throws {
            let events = payloads.map { Event(eventID: UUID().uuidString, occurredAt: Timestamp(epochMillis: 1_790_000_000_000), payload: $0) }
            offset = try await IngestHarness.applyBatch(events, to: sink, pipeline: "catalog", topic: "menus", at: offset)
        }
        func facets() async throws -> [String: [String: Int]] {
            var q = SearchIndex.MenuQuery()
            q.text = ""
            return try await index.searchMenu(q).facets
        }
        try await apply([Self.restaurant("r-1", "Luigi's Pizzeria"),
                         Self.item("m-1", "Margherita Pizza", category: "pizza"),
                         Self.item("m-2", "Tiramisu", category: "dessert")])
        #expect(try await facets()["category"] == ["pizza": 1, "dessert": 1])
        // A changed item, a new one, a restaurant in a new city with an item, in one commit.
        try await apply([Self.item("m-2", "Tiramisu", category: "cake", revision: 2),
                         Self.item("m-3", "Garlic Bread", category: "sides"),
                         Self.restaurant("r-2", "Delhi Darbar", city: "Kolkata", cuisines: ["indian"]),
                         Self.item("m-4", "Paneer Pizza", restaurant: "r-2", category: "pizza", diet: "veg")])
        var now = try await facets()
        #expect(now["category"] == ["pizza": 2, "cake": 1, "sides": 1])
        #expect(now["city"] == ["London": 3, "Kolkata": 1])
        // A restaurant moving city carries its items with it; a removed item leaves the counts.
        try await apply([Self.restaurant("r-2", "Delhi Darbar", city: "Mumbai", revision: 2, cuisines: ["indian"]),
                         .menuItemRemoved(MenuItemRemoved(item_id: "m-1", restaurant_id: "r-1", revision: 2))])
        now = try await facets()
        #expect(now["category"] == ["pizza": 1, "cake": 1, "sides": 1])
        #expect(now["city"] == ["London": 2, "Mumbai": 1])
        var restaurants = SearchIndex.RestaurantQuery()
        restaurants.text = ""
        #expect(try await index.searchRestaurants(restaurants).facets["city"] == ["London": 1, "Mumbai": 1])
        let stats = try await index.facetColumnStats()
        #expect(stats.map(\.fullLoads) == [1], "read whole once, when the reader opened")
        #expect(stats.map(\.updates) == [2], "then brought up to each of the two later commits")
        // A reader more commits behind than the writer keeps lists for reads everything again.
        for i in 0..<65 { try await apply([Self.item("n-\(i)", "Soup \(i)", category: "soup")]) }
        #expect(try await facets()["category"] == ["pizza": 1, "cake": 1, "sides": 1, "soup": 65])
        #expect(try await index.facetColumnStats().map(\.fullLoads) == [2])
        let db = try XapianDatabase(path: path)
        let kept = try (1...200).filter { try db.metadata("hearth:written:\($0)") != nil }
        #expect(kept.count == 64, "the writer keeps the lists of its last 64 commits")
        #expect(kept.last == 68, "one per commit: 3 + 65 batches")
    }

    /// Orders reach search through the analytics store: the orders pipeline's analytics sink
    /// (real PostgreSQL) counts them, the popularity refresher hands the counts to the index.
    @Test func recentOrdersRankItemsRestaurantsAndSuggestions() async throws {
        var c = try Catalog()
        try await c.apply([
            Self.restaurant("r-1", "Curry House", cuisines: ["indian"]),
            Self.restaurant("r-2", "Tandoor Palace", cuisines: ["indian"]),
            Self.restaurant("r-3", "Spice Route", cuisines: ["indian"]),
            Self.item("m-1", "Paneer Tikka", restaurant: "r-1", category: "curry"),
            Self.item("m-2", "Paneer Tikka", restaurant: "r-2", category: "curry"),
            Self.item("m-3", "Paneer Butter Masala", restaurant: "r-1", category: "curry"),
            Self.item("m-4", "Paneer Butter Masala", restaurant: "r-2", category: "curry"),
            Self.item("m-5", "Paneer Butter Masala", restaurant: "r-3", category: "curry"),
        ])
        let url = try await SharedPostgres.shared.freshDatabase()
        let connection = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(connection, logger: testLogger)
        let analytics = AnalyticsSink(url: url, dedupHorizonHours: 24, logger: testLogger)
        let refresher = PopularityRefresher(analytics: analytics, search: c.sink, days: 30, interval: .seconds(60), logger: testLogger)
        func suggest(_ text: String) async throws -> [SearchIndex.SuggestionHit] {
            var q = SearchIndex.SuggestQuery()
            q.text = text
            return try await c.index.suggest(q).suggestions
        }
        func restaurants(_ sort: SearchIndex.RestaurantSort = .relevance) async throws -> [String] {
            try await c.restaurants("indian") { $0.sort = sort }.hits.map(\.id)
        }
        // Without orders: equal matches in index order, suggestions by how many dishes carry them.
        #expect(try await c.search("paneer tikka").hits.map(\.id) == ["m-1", "m-2"])
        #expect(try await restaurants() == ["r-1", "r-2", "r-3"])
        #expect(try await suggest("paneer").map(\.text) == ["Paneer Butter Masala", "Paneer Tikka"])

        // Five recent orders of m-2 at r-2 (one a duplicate delivery); twenty of m-1 at r-1, 40 days ago.
        func order(_ n: Int, item: String, restaurant: String, daysAgo: Double) -> Event {
            Event(eventID: "e-\(item)-\(n)", occurredAt: Timestamp(epochMillis: Int64((Date().timeIntervalSince1970 - daysAgo * 86_400) * 1000)),
                  payload: .orderPlaced(OrderPlaced(
                    order_id: "o-\(item)-\(n)", customer_id: "c-1", restaurant_id: restaurant, city: "London", currency: "GBP",
                    channel: "app", payment_method: "card", items: [OrderLine(item_id: item, name: "Paneer Tikka", quantity: 1, unit_price_minor: 1000)],
                    subtotal_minor: 1000, delivery_fee_minor: 0, discount_minor: 0, total_minor: 1000)))
        }
        let events = (0..<5).map { order($0, item: "m-2", restaurant: "r-2", daysAgo: 0.01) } + [order(0, item: "m-2", restaurant: "r-2", daysAgo: 0.01)]
            + (0..<20).map { order($0, item: "m-1", restaurant: "r-1", daysAgo: 40) }
        try await IngestHarness.applyBatch(events, to: analytics)
        let change = try await refresher.refresh()
        #expect(change == SearchSink.PopularityChange(documents: 2, suggestions: 3), "m-2 and r-2; the dish, the restaurant and its cuisine")

        #expect(try await c.search("paneer tikka").hits.map(\.id) == ["m-2", "m-1"], "the item ordered lately first")
        #expect(try await restaurants() == ["r-2", "r-1", "r-3"], "old orders do not count")
        #expect(try await restaurants(.popularity).first == "r-2")
        let paneer = try await suggest("paneer")
        #expect(paneer.map(\.text) == ["Paneer Tikka", "Paneer Butter Masala"])
        #expect(paneer.first?.orders == 5, "a duplicate event counts once")
        #expect(try await suggest("tand").first?.orders == 5)
        #expect(try await refresher.refresh() == SearchSink.PopularityChange(), "a refresh with the same counts rewrites nothing")

        // A catalog update keeps the item's popularity; when its orders leave the window, the lift goes.
        try await c.apply([Self.item("m-2", "Paneer Tikka", restaurant: "r-2", category: "curry", price: 1100, revision: 2)])
        #expect(try await c.search("paneer tikka").hits.map(\.id) == ["m-2", "m-1"])
        try await connection.query("DELETE FROM item_orders_daily")
        try await connection.query("DELETE FROM orders_15m")
        #expect(try await refresher.refresh() == SearchSink.PopularityChange(documents: 2, suggestions: 3))
        #expect(try await c.search("paneer tikka").hits.map(\.id) == ["m-1", "m-2"])
        #expect(try await suggest("paneer").map(\.text) == ["Paneer Butter Masala", "Paneer Tikka"])
        await connection.close()
    }

    /// Searching never fails during indexing: readers stay on a revision for up to the refresh
    /// interval while the writer commits batch after batch (Xapian discards old revisions under
    /// them); a query that meets a discarded revision moves to the newest and runs again.
    @Test func searchingNeverFailsWhileTheWriterCommits() async throws {
        var c = try Catalog()
        let definitions = try IndexDefinition.loadAll(from: TestPaths.indexes)
        let index = try SearchIndex(path: c.dir.appendingPathComponent("index").path, definitions: definitions, readers: 2,
                                    refresh: .milliseconds(300))
        try await c.apply([Self.restaurant("r-1", "Luigi's Pizzeria")])
        let searches = Task {
            var done = 0
            while !Task.isCancelled {
                var q = SearchIndex.MenuQuery()
                q.text = "pizza"
                _ = try await index.searchMenu(q)
                var s = SearchIndex.SuggestQuery()
                s.text = "piz"
                _ = try await index.suggest(s)
                done += 1
            }
            return done
        }
        for batch in 0..<150 {
            try await c.apply((0..<20).map { i in
                Self.item("m-\(batch)-\(i)", "Pizza \(batch) \(i)", description: "Tomato and mozzarella, batch \(batch)")
            })
        }
        searches.cancel()
        let completed = try await searches.value
        #expect(completed > 0)
        #expect(try await c.search("pizza", { $0.limit = 1 }).estimatedTotal >= 100)
    }

    /// With a refresh interval, the vocabulary (what typos are read as) and the suggestions are rebuilt
    /// off the queries' path: a word indexed later is found with a typo, and completed, once a rebuild
    /// has run, while queries go on.
    @Test func wordsIndexedLaterAreFoundWithTyposAfterABackgroundRebuild() async throws {
        var c = try Catalog()
        let definitions = try IndexDefinition.loadAll(from: TestPaths.indexes)
        let index = try SearchIndex(path: c.dir.appendingPathComponent("index").path, definitions: definitions, readers: 1,
                                    refresh: .milliseconds(100))
        try await c.apply([Self.restaurant("r-1", "Luigi's Pizzeria"), Self.item("m-1", "Margherita Pizza")])
        var q = SearchIndex.MenuQuery()
        q.text = "margarita "
        #expect(try await index.searchMenu(q).hits.map(\.item.name) == ["Margherita Pizza"], "the first query builds the vocabulary")
        var first = SearchIndex.SuggestQuery()
        first.text = "marg"
        #expect(try await index.suggest(first).suggestions.map(\.text) == ["Margherita Pizza"], "and the first keystroke the suggestions")
        // With no commit, queries over more than ten refreshes read nothing again (a read is 0.4 s at a million documents).
        let quietUntil = ContinuousClock.now + .milliseconds(1200)
        while ContinuousClock.now < quietUntil {
            _ = try await index.searchMenu(q)
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(index.vocabularyReads == 1)
        try await c.apply([Self.item("m-2", "Tiramisu", category: "dessert")])
        q.text = "tiramsu "
        var found: [String] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while found.isEmpty, ContinuousClock.now < deadline {
            found = try await index.searchMenu(q).hits.map(\.item.name)
            if found.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(found == ["Tiramisu"])
        var suggest = SearchIndex.SuggestQuery()
        suggest.text = "tiram"
        var completions: [String] = []
        while completions.isEmpty, ContinuousClock.now < deadline {
            completions = try await index.suggest(suggest).suggestions.map(\.text)
            if completions.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(completions == ["Tiramisu"])
    }
}
