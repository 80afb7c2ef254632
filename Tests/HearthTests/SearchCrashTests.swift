import Foundation
import HearthCore
import HearthEvents
import HearthKafka
import HearthSupport
@testable import HearthSearch
import Testing

/// Exactly-once for the search index: `hearth serve` killed at random points during catalog
/// ingest; after a final run the index holds exactly the catalog, each entity at its last revision.
@Suite(.serialized) struct SearchCrashTests {
    @Test func killedDuringCatalogIngestTheIndexEqualsTheCatalog() async throws {
        let cluster = try DevelopmentCluster(brokers: 1, partitions: 4)
        let pipelines = try IngestHarness.pipelines(["catalog"], maxRecords: 20, lingerMillis: 10,
                                                    kafka: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"])
        let data = makeTemporaryDirectory("hearth-search-crash")
        let args = ["serve", "--brokers", cluster.bootstrapServers, "--postgres", try await SharedPostgres.shared.freshDatabase(),
                    "--pipelines-dir", pipelines.path, "--indexes-dir", TestPaths.indexes.path, "--data-dir", data.path, "--port", "0"]

        // The catalog (restaurants and menus, with menu revisions among the orders), and its last state.
        var config = IngestHarness.config(seed: 5, restaurants: 1500)
        config.invalidShare = 0
        var generator = EventGenerator(config: config)
        let producer = try GeneratorService.makeProducer(brokers: cluster.bootstrapServers)
        let codec = EventCodec()
        let latest = Latest()
        _ = try await GeneratorService.produce(&generator, producer: producer, rate: 0, count: 45_000, observe: { r in
            guard r.topic != "orders", let e = try? codec.decode(r.value) else { return }
            latest.note(e.payload)
        })
        await producer.close()
        let produced = Int64(generator.expected.recordsPerTopic["restaurants", default: 0] + generator.expected.recordsPerTopic["menus", default: 0])
        #expect(latest.items.count > 10_000 && produced > Int64(latest.items.count), "revisions are in the stream")

        let indexPath = data.appendingPathComponent("index").path
        var midIngestKills = 0
        var attempts = 0
        var rng = SystemRandomNumberGenerator()
        while midIngestKills < 8 {
            attempts += 1
            #expect(attempts < 25, "could not kill the process during catalog ingest")
            if attempts >= 25 { break }
            let before = Self.applied(indexPath)
            if before == produced { break }   // everything applied: more records are needed for this test
            let hearth = try HearthProcess(args)
            try? await waitUntil("progress", timeout: .seconds(20), every: .milliseconds(50)) { Self.applied(indexPath) > before }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...300, using: &rng)))
            let atKill = Self.applied(indexPath)
            await hearth.kill()
            if atKill > before && atKill < produced { midIngestKills += 1 }
        }

        let final = try HearthProcess(args)
        #expect(try await final.nextLine().hasPrefix("Hearth is listening on"))
        try await waitUntil("the final run to index every record", timeout: .seconds(120)) { Self.applied(indexPath) == produced }
        let stopped = await final.interrupt()
        #expect(stopped == .exited(0), "graceful stop: \(final.stderr.suffix(500))")

        // Counts and contents: every restaurant and item once, each at its last revision.
        let index = try SearchIndex(path: indexPath, definitions: try IndexDefinition.loadAll(from: TestPaths.indexes))
        var indexed: [String: MenuItemUpserted] = [:]
        for (id, restaurant) in latest.restaurants {
            #expect(try await index.restaurant(id: id) == restaurant)
            for item in try await index.menu(restaurantID: id) {
                #expect(indexed.updateValue(item, forKey: item.item_id) == nil, "no duplicates")
            }
        }
        #expect(indexed.count == latest.items.count)
        #expect(indexed == latest.items, "each item at its last revision")
        let db = try XapianDatabase(path: indexPath)
        #expect(try db.documentCount() >= latest.items.count + latest.restaurants.count)
        #expect(midIngestKills >= 8)
    }

    /// Records the index has applied: the sum of its stored positions (offsets start at 0).
    static func applied(_ path: String) -> Int64 {
        guard let db = try? XapianDatabase(path: path) else { return 0 }
        var total: Int64 = 0
        for topic in ["restaurants", "menus"] {
            for p in 0..<4 {
                total += (try? db.metadata("offset:catalog:\(topic):\(p)")).flatMap { $0.flatMap(Int64.init) } ?? 0
            }
        }
        return total
    }

    /// The last revision of every restaurant and item produced.
    final class Latest: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var restaurants: [String: RestaurantUpserted] = [:]
        private(set) var items: [String: MenuItemUpserted] = [:]

        func note(_ payload: EventPayload) {
            lock.lock()
            defer { lock.unlock() }
            switch payload {
            case .restaurantUpserted(let r) where r.revision >= (restaurants[r.restaurant_id]?.revision ?? 0): restaurants[r.restaurant_id] = r
            case .menuItemUpserted(let m) where m.revision >= (items[m.item_id]?.revision ?? 0): items[m.item_id] = m
            default: break
            }
        }
    }
}
