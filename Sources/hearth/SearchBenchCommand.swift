import ArgumentParser
import Foundation
import HearthAPI
import HearthCore
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthPostgres
import HearthSearch
import HearthSupport
import Logging
import ServiceLifecycle
import Synchronization

/// Indexing rate and query latency of search, beside PostgreSQL full-text search with pg_trgm.
struct BenchSearch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Index a generated catalog and time a fixed query mix, beside PostgreSQL full-text search with pg_trgm.")
    @Option(help: "Restaurants in the catalog.") var restaurants: Int = 50_000
    @Option(name: .customLong("items-per-restaurant"), help: "Menu items per restaurant.") var itemsPerRestaurant: Int = 20
    @Option(help: "Timed runs of the query mix (each runs every query once).") var rounds: Int = 20
    @Option(name: .customLong("http-seconds"), help: "Duration of each HTTP load run (wrk).") var httpSeconds: Int = 5
    @Option(help: "PostgreSQL URL for the peer (default: a managed server in a temporary directory).") var postgres: String?
    @Flag(name: .customLong("skip-peer"), help: "Leave out the PostgreSQL comparison.") var skipPeer = false
    @Option(name: .customLong("indexes-dir"), help: "Where the index definitions are.") var indexesDir: String = "Indexes"
    @Option(name: .customLong("pipelines-dir"), help: "Where the pipeline definitions are (the catalog pipeline's batch size is used).")
    var pipelinesDir: String = "Pipelines"
    @Option(help: "Events per sink batch (default: the catalog pipeline's batch.max_records).") var batch: Int?
    @Option(name: .customLong("keep-index"),
            help: "Build the index in this folder and keep it; when it already holds one, time queries on it without indexing again.")
    var keepIndex: String?
    @Option(help: "Time only the searches whose name in the per-search table contains this text (for profiling one query; HTTP load and suggestions unchanged).")
    var only: String?
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() async throws {
        Bootstrap.start(logLevel: "error")
        guard (1...1_000_000).contains(restaurants), (1...200).contains(itemsPerRestaurant) else {
            throw fail("--restaurants must be 1 to 1000000 and --items-per-restaurant 1 to 200")
        }
        guard (1...10_000).contains(rounds), (1...600).contains(httpSeconds) else { throw fail("--rounds 1 to 10000, --http-seconds 1 to 600") }
        if let only, QueryMix.standard.only(only).labels.isEmpty {
            throw fail("--only \(only): no search of the mix is named so; the names are those of the per-search table")
        }
        let definitions: [IndexDefinition]
        do { definitions = try IndexDefinition.loadAll(from: URL(fileURLWithPath: indexesDir)) } catch {
            throw fail("\(describe(error)) (run from the repository, or pass --indexes-dir)")
        }
        // The catalog pipeline's batch size and concurrency: the runner applies up to that many batches of
        // different partitions at once, each partition's in order.
        let catalogPipeline: PipelineDefinition?
        do {
            catalogPipeline = try PipelineDefinition.loadAll(from: URL(fileURLWithPath: pipelinesDir)).first { $0.name == "catalog" }
        } catch {
            guard batch != nil else { throw fail("\(describe(error)) (run from the repository, or pass --pipelines-dir or --batch)") }
            catalogPipeline = nil
        }
        let batchSize: Int
        if let batch {
            guard (1...100_000).contains(batch) else { throw fail("--batch must be 1 to 100000") }
            batchSize = batch
        } else {
            guard let catalogPipeline else { throw fail("no catalog pipeline in \(pipelinesDir) (pass --pipelines-dir or --batch)") }
            batchSize = catalogPipeline.maxBatchRecords
        }
        let partitions = catalogPipeline?.concurrency ?? PipelineDefinition.defaultConcurrency
        let wrk = Self.which("wrk")
        let json = json
        func note(_ s: String) { if !json { FileHandle.standardError.write(Data((s + "\n").utf8)) } }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-bench-search-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: work) }
        let logger = Logger(label: "hearth.bench")

        // 1. Index the catalog through the search sink, in batches as the catalog pipeline applies them.
        let path = keepIndex ?? work.appendingPathComponent("index").path
        let reuse = keepIndex.map { FileManager.default.fileExists(atPath: $0 + "/iamglass") } ?? false
        let sink = try SearchSink(path: path, definitions: definitions)
        let catalog = CatalogGenerator()
        let totalDocs = restaurants * (1 + itemsPerRestaurant)
        note(reuse ? "reusing the index in \(path) (indexing not timed)"
                   : "indexing \(restaurants) restaurants and \(restaurants * itemsPerRestaurant) menu items in batches of \(batchSize) events …")
        // The catalog's batches are generated before the clock starts: the rate is the sink's, as when a
        // consumer decodes the next records while the sink applies a batch, not the generator's. Each restaurant
        // and its items go to one of `partitions` partitions, as the menus topic is keyed by restaurant.
        var batches = Array(repeating: [SinkBatch](), count: partitions)
        var pending = Array(repeating: [EventPayload](), count: partitions)
        var offsets = Array(repeating: Int64(0), count: partitions)
        func cut(_ p: Int) {
            guard !pending[p].isEmpty else { return }
            if !reuse { batches[p].append(Self.batch(pending[p], partition: p, at: offsets[p], eventIDs: "bench")) }
            offsets[p] += Int64(pending[p].count)
            pending[p].removeAll(keepingCapacity: true)
        }
        var peerRows: [[String?]] = []
        var peerRestaurants: [[String?]] = []
        if !reuse || !skipPeer {
            note("generating the catalog …")
            var next = 0
            for start in stride(from: 0, to: restaurants, by: 1000) {
                var chunk: [(RestaurantUpserted, [MenuItemUpserted])] = []
                catalog.generate(restaurants: start..<min(restaurants, start + 1000), itemsPerRestaurant: itemsPerRestaurant) { chunk.append(($0, $1)) }
                for (r, items) in chunk {
                    let p = next % partitions
                    next += 1
                    pending[p].append(.restaurantUpserted(r))
                    pending[p].append(contentsOf: items.map { .menuItemUpserted($0) })
                    if !skipPeer {
                        peerRestaurants.append([r.restaurant_id, r.name, r.city, String(r.location.lat), String(r.location.lng), String(r.rating)])
                        for m in items {
                            peerRows.append([m.item_id, m.restaurant_id, m.name, m.description, m.category, m.diet, r.city,
                                             String(m.price_minor), m.available ? "t" : "f"])
                        }
                    }
                    if pending[p].count >= batchSize { cut(p) }
                }
            }
            for p in 0..<partitions { cut(p) }
        }
        var indexed = reuse ? totalDocs : 0
        let indexStart = ContinuousClock.now
        let indexCPUStart = CPUUsage.now()
        if !reuse {
            // As the pipeline runner applies them: each partition's batches in order, the partitions at once.
            for p in 0..<partitions { batches[p].reverse() }
            try await withThrowingTaskGroup(of: (partition: Int, records: Int).self) { group in
                func start(_ p: Int) {
                    guard let batch = batches[p].popLast() else { return }
                    group.addTask {
                        try await sink.apply(batch)
                        return (p, batch.records.count)
                    }
                }
                for p in 0..<partitions { start(p) }
                var lastNote = ContinuousClock.now
                while let done = try await group.next() {
                    indexed += done.records
                    start(done.partition)
                    if ContinuousClock.now - lastNote > .seconds(5) {
                        note("  \(indexed) of \(totalDocs) documents")
                        lastNote = .now
                    }
                }
            }
        }
        let indexSeconds = (ContinuousClock.now - indexStart).seconds
        let docsPerSecond = Double(indexed) / indexSeconds
        // CPU time of the whole process per document: steadier than the rate on a shared machine, and what the
        // rate is bounded by once the writer and the document builder keep both cores busy.
        let cpuPerDocument = (CPUUsage.now() - indexCPUStart) / Double(max(indexed, 1)) * 1e6
        // The writer's thread alone: Xapian writes on one thread, so its time per document bounds the rate.
        let threads = sink.threadCPUSeconds
        let writerPerDocument = threads.writer / Double(max(indexed, 1)) * 1e6
        let builderPerDocument = threads.builder / Double(max(indexed, 1)) * 1e6
        let indexing = String(format: "%.1f s (%.0f docs/s, %.0f µs of CPU each: writer %.0f, builder %.0f)",
                              indexSeconds, docsPerSecond, cpuPerDocument, writerPerDocument, builderPerDocument)
        if !reuse { note("indexed \(indexed) documents in \(indexing)") }

        // 2. The fixed query mix, in process.
        let index = try SearchIndex(path: path, definitions: definitions)
        let mix = QueryMix.standard.only(only)
        note("timing \(mix.menu.count + mix.restaurants.count) queries and \(mix.suggestions.count) suggestions × \(rounds) rounds …")
        let first = ContinuousClock.now
        try await index.warm()   // as `hearth serve` does before it is ready
        note(String(format: "warming the readers (what a first query on each would read: vocabulary, suggestions, columns): %.1f ms",
                    (ContinuousClock.now - first).seconds * 1000))
        for _ in 0..<2 { _ = try await mix.runAll(index) }   // warm the page cache and the vocabulary
        var searchTimes: [Double] = [], suggestTimes: [Double] = []
        var byQuery = [[Double]](repeating: [], count: mix.labels.count)
        for _ in 0..<rounds {
            let (s, g) = try await mix.runAll(index)
            searchTimes += s
            suggestTimes += g
            for (i, ms) in s.enumerated() { byQuery[i].append(ms) }
        }
        var recall: [Double] = []
        for (query, intended) in QueryMix.typoQueries {
            var q = SearchIndex.MenuQuery()
            q.text = query
            q.limit = 10
            recall.append(QueryMix.recall(try await index.searchMenu(q).hits.map(\.item.name), intended: intended))
            if recall.last! < 1 { note(String(format: "  typo recall %.1f for \"%@\" (meant: %@)", recall.last!, query, intended)) }
        }
        let typoRecall = recall.reduce(0, +) / Double(recall.count)

        // 2b. The query mix again while the writer applies new revisions of part of the catalog (every
        // price changes, so facet values do), as readers see a catalog pipeline at work.
        let busyRestaurants = min(restaurants, 2_500)
        note("timing the query mix while re-indexing the items of \(busyRestaurants) restaurants …")
        let busyStart = try await sink.positions(pipeline: "bench", partitions: [Self.partition(0)])[Self.partition(0)] ?? 0
        let revision = Int64(Date().timeIntervalSince1970)   // newer than any revision a run wrote before
        let writing = Atomic<Bool>(true)
        let perBatch = max(1, batchSize / itemsPerRestaurant)   // restaurants whose items make one batch
        let writer = Task { [itemsPerRestaurant] () -> (documents: Int, seconds: Double) in
            defer { writing.store(false, ordering: .releasing) }
            let started = ContinuousClock.now
            var position = busyStart, documents = 0
            for start in stride(from: 0, to: busyRestaurants, by: perBatch) {
                var payloads: [EventPayload] = []
                catalog.generate(restaurants: start..<min(busyRestaurants, start + perBatch), itemsPerRestaurant: itemsPerRestaurant) { _, items in
                    for var m in items {
                        m.revision = revision
                        m.price_minor += 10
                        payloads.append(.menuItemUpserted(m))
                    }
                }
                try await sink.apply(Self.batch(payloads, partition: 0, at: position, eventIDs: "bench-busy"))
                position += Int64(payloads.count)
                documents += payloads.count
            }
            return (documents, (ContinuousClock.now - started).seconds)
        }
        var busySearch: [Double] = [], busySuggest: [Double] = []
        repeat {
            let (s, g) = try await mix.runAll(index)
            busySearch += s
            busySuggest += g
        } while writing.load(ordering: .acquiring)
        let busy = try await writer.value

        // 3. Over HTTP with wrk (a separate process on loopback).
        var httpSuggest: Double?, httpSearch: Double?
        if let wrk {
            note("HTTP load with wrk, \(httpSeconds) s per run …")
            let ready = AsyncStream.makeStream(of: Int.self)
            // The public endpoints as served: the authentication middleware runs, with no credentials needed.
            let authenticator = try await Authenticator(settings: AuthSettings(), secret: UUID().uuidString + UUID().uuidString)
            let app = HearthAPI.searchApplication(index: index, authenticator: authenticator, host: "127.0.0.1", port: 0,
                                                  logger: logger) { port in
                ready.continuation.yield(port)
            }
            let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
            let server = Task { try await group.run() }
            var ports = ready.stream.makeAsyncIterator()
            guard let port = await ports.next() else { throw fail("the HTTP server did not start") }
            let base = "http://127.0.0.1:\(port)"
            httpSuggest = try await Self.wrk(wrk, base: base, paths: mix.suggestions.map { "/api/v1/search/suggestions?q=\(Self.escape($0))" },
                                       seconds: httpSeconds, dir: work)
            httpSearch = try await Self.wrk(wrk, base: base, paths: (mix.menu.isEmpty ? QueryMix.standard.menu : mix.menu).map { "/api/v1/search/menu?" + $0.httpQuery },
                                      seconds: httpSeconds, dir: work)
            await group.triggerGracefulShutdown()
            _ = try? await server.value
        } else {
            note("wrk is not installed (apt-get install wrk): HTTP figures left out")
        }

        // 4. The peer: PostgreSQL full-text search with pg_trgm on the same catalog and queries.
        var peer: PeerResult?
        if !skipPeer {
            note("loading the catalog into PostgreSQL (full-text search + pg_trgm) …")
            let (url, managed) = try await benchPostgres(postgres, in: work, logger: logger)
            do {
                peer = try await PostgresPeer.run(url: url, items: peerRows, restaurants: peerRestaurants, mix: mix, rounds: max(1, rounds / 4), note: note)
            } catch {
                await managed?.stop()
                throw fail("the PostgreSQL comparison failed: \(describe(error))")
            }
            await managed?.stop()
        }

        let result = SearchBenchResult(
            documents: indexed, batch_events: batchSize, index_seconds: reuse ? nil : indexSeconds, index_docs_per_second: reuse ? nil : docsPerSecond,
            index_cpu_us_per_doc: reuse ? nil : cpuPerDocument,
            index_writer_cpu_us_per_doc: reuse ? nil : writerPerDocument, index_builder_cpu_us_per_doc: reuse ? nil : builderPerDocument,
            search_p50_ms: Self.percentile(searchTimes, 0.50), search_p99_ms: Self.percentile(searchTimes, 0.99),
            suggest_p50_ms: Self.percentile(suggestTimes, 0.50), suggest_p99_ms: Self.percentile(suggestTimes, 0.99),
            http_suggest_requests_per_second: httpSuggest, http_search_requests_per_second: httpSearch,
            peer_search_p50_ms: peer.map { Self.percentile($0.times, 0.50) }, peer_search_p99_ms: peer.map { Self.percentile($0.times, 0.99) },
            typo_recall_at_10: typoRecall, peer_typo_recall_at_10: peer?.typoRecall,
            peer_load_seconds: peer?.loadSeconds,
            busy_search_p50_ms: Self.percentile(busySearch, 0.50), busy_search_p99_ms: Self.percentile(busySearch, 0.99),
            busy_suggest_p99_ms: Self.percentile(busySuggest, 0.99), busy_index_docs_per_second: Double(busy.documents) / busy.seconds)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            say(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            func ms(_ x: Double?) -> String { x.map { String(format: "%.2f ms", $0) } ?? "n/a" }
            func rate(_ x: Double?) -> String { x.map { "\(Int($0))/s" } ?? "n/a" }
            say("""
                documents indexed        \(reuse ? "\(indexed), not timed (index reused)" : "\(indexed) in \(indexing)")
                                         Hearth (Xapian)     PostgreSQL FTS + pg_trgm
                search p50               \(ms(result.search_p50_ms).padding(toLength: 20, withPad: " ", startingAt: 0))\(ms(result.peer_search_p50_ms))
                search p99               \(ms(result.search_p99_ms).padding(toLength: 20, withPad: " ", startingAt: 0))\(ms(result.peer_search_p99_ms))
                typo recall@10 (\(String(QueryMix.typoQueries.count).padding(toLength: 3, withPad: " ", startingAt: 0)) q.)  \(String(format: "%.3f", typoRecall).padding(toLength: 20, withPad: " ", startingAt: 0))\(peer.map { String(format: "%.3f", $0.typoRecall) } ?? "n/a")
                suggestions p50 / p99    \(ms(result.suggest_p50_ms)) / \(ms(result.suggest_p99_ms))
                HTTP suggestions         \(rate(httpSuggest))
                HTTP menu search         \(rate(httpSearch))
                while indexing           search \(ms(result.busy_search_p50_ms)) / \(ms(result.busy_search_p99_ms)), suggestions p99 \(ms(result.busy_suggest_p99_ms)), \(Int(result.busy_index_docs_per_second)) docs/s

                per search (Hearth), median and slowest of the rounds:

                """ + zip(mix.labels, byQuery).map {
                    "  " + ms(Self.percentile($1, 0.5)).padding(toLength: 12, withPad: " ", startingAt: 0)
                        + ms($1.max() ?? 0).padding(toLength: 12, withPad: " ", startingAt: 0) + $0
                }.joined(separator: "\n"))
        }
    }

    /// A partition of the catalog as the benchmark feeds it to the search sink.
    static func partition(_ p: Int) -> TopicPartition { TopicPartition("menus", Int32(p)) }

    /// `payloads` as the catalog pipeline hands them to the sink from partition `p`, from offset `position` on
    /// (event ids `<eventIDs>-<p>-<offset>`).
    static func batch(_ payloads: [EventPayload], partition p: Int, at position: Int64, eventIDs: String) -> SinkBatch {
        let partition = partition(p)
        let records = payloads.enumerated().map { i, payload in
            SinkRecord(record: KafkaRecord(topic: partition.topic, partition: partition.partition, offset: position + Int64(i), key: nil, value: []),
                       event: .success(Event(eventID: "\(eventIDs)-\(p)-\(position + Int64(i))", occurredAt: Timestamp(epochMillis: 0), payload: payload)))
        }
        return SinkBatch(pipeline: "bench", partition: partition, expectedPosition: position == 0 ? nil : position,
                         nextOffset: position + Int64(records.count), records: records)
    }

    struct SearchBenchResult: Encodable {
        let documents: Int
        /// Events per sink batch (one Xapian transaction each).
        let batch_events: Int
        /// Nil when an index kept from an earlier run was reused.
        let index_seconds: Double?
        let index_docs_per_second: Double?
        /// Process CPU time (user + system) per document indexed, in microseconds.
        let index_cpu_us_per_doc: Double?
        /// Of that, the sink's writer thread (which bounds the rate) and its document builder's thread.
        let index_writer_cpu_us_per_doc: Double?
        let index_builder_cpu_us_per_doc: Double?
        let search_p50_ms: Double
        let search_p99_ms: Double
        let suggest_p50_ms: Double
        let suggest_p99_ms: Double
        let http_suggest_requests_per_second: Double?
        let http_search_requests_per_second: Double?
        let peer_search_p50_ms: Double?
        let peer_search_p99_ms: Double?
        let typo_recall_at_10: Double
        let peer_typo_recall_at_10: Double?
        let peer_load_seconds: Double?
        /// The query mix while the writer re-indexes the items of up to 2,500 restaurants (new revisions).
        let busy_search_p50_ms: Double
        let busy_search_p99_ms: Double
        let busy_suggest_p99_ms: Double
        let busy_index_docs_per_second: Double
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    static func escape(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Requests per second from wrk cycling through `paths` on 2 threads and 32 connections.
    static func wrk(_ wrk: String, base: String, paths: [String], seconds: Int, dir: URL) async throws -> Double {
        let script = dir.appendingPathComponent("paths.lua")
        let list = paths.map { "\"\($0)\"" }.joined(separator: ",")
        try """
            local paths = {\(list)}
            local i = 0
            request = function()
              i = i % #paths + 1
              return wrk.format("GET", paths[i])
            end
            response = function(status, headers, body)
              if status ~= 200 then io.stderr:write("status " .. status .. "\\n") end
            end
            """.write(to: script, atomically: true, encoding: .utf8)
        let child = try ChildProcess(wrk, ["-t2", "-c32", "-d\(seconds)s", "-s", script.path, base], stdout: .capture, stderr: .discard)
        guard await child.wait(timeout: .seconds(seconds + 60)) != nil else {
            child.signal(SIGKILL)
            throw fail("wrk did not finish within \(seconds + 60) s")
        }
        _ = await child.outputClosed(timeout: .seconds(5))
        let text = child.output
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }),
              let value = Double(line.split(separator: " ").last ?? "") else {
            throw fail("could not read wrk's output: \(text.prefix(200))")
        }
        if text.contains("Non-2xx") { throw fail("wrk saw non-2xx responses: \(text.prefix(300))") }
        return value
    }
}

/// The fixed query mix: exact, typo, prefix, multi-word, filtered and geo searches, and suggestions.
struct QueryMix {
    var menu: [SearchIndex.MenuQuery]
    var restaurants: [SearchIndex.RestaurantQuery]
    var suggestions: [String]

    static var standard: QueryMix {
        func menu(_ text: String, _ configure: (inout SearchIndex.MenuQuery) -> Void = { _ in }) -> SearchIndex.MenuQuery {
            var q = SearchIndex.MenuQuery()
            q.text = text
            q.limit = 10
            configure(&q)
            return q
        }
        let kolkata = GeoPoint(lat: 22.5726, lng: 88.3639), london = GeoPoint(lat: 51.5072, lng: -0.1276)
        func near(_ text: String, _ at: GeoPoint, sort: SearchIndex.RestaurantSort) -> SearchIndex.RestaurantQuery {
            var q = SearchIndex.RestaurantQuery()
            q.text = text
            q.location = at
            q.radiusKm = 5
            q.sort = sort
            q.limit = 10
            return q
        }
        return QueryMix(
            menu: [
                // exact
                menu("margherita pizza "), menu("butter chicken "), menu("pad thai "),
                // typo
                menu("peperoni pizza "), menu("chiken tikka masala "), menu("margarita "),
                // prefix (still typing)
                menu("marg"), menu("chicken bir"), menu("tonkot"),
                // multi-word
                menu("spicy chicken wings "), menu("garlic naan butter "),
                // filtered
                menu("pizza ", { $0.city = "London"; $0.diet = "veg"; $0.maxPriceMinor = 1500 }),
                menu("momo ", { $0.city = "Kathmandu" }), menu("", { $0.category = "dessert"; $0.city = "Mumbai" }),
            ],
            restaurants: [near("biryani", kolkata, sort: .distance), near("pizza", london, sort: .relevance), near("", london, sort: .distance)],
            suggestions: ["p", "pi", "piz", "chi", "chick", "marg", "bir", "butt", "pad t", "sush", "garl", "mom", "pepe", "chiken"])
    }

    /// Typo queries as the search box sends them (a finished word ends in a space) and the dish
    /// each one means (a hit is relevant when its name contains it).
    /// Typo recall is measured on these hand-picked misspellings and on one generated misspelling
    /// of every dish name the catalog uses (`CatalogGenerator.typoQueries`).
    static let typoQueries: [(String, String)] = handPickedTypos + CatalogGenerator.typoQueries().map { ($0.query, $0.intended) }

    static let handPickedTypos: [(String, String)] = [
        ("peperoni pizza ", "pepperoni pizza"), ("margarita pizza ", "margherita pizza"), ("chiken tikka masala ", "chicken tikka masala"),
        ("buter chicken ", "butter chicken"), ("chicken biriyani ", "chicken biryani"), ("garlik naan ", "garlic naan"),
        ("spagheti carbonara ", "spaghetti carbonara"), ("tonkatsu ramen ", "tonkotsu ramen"), ("falafal wrap ", "falafel wrap"),
        ("tiramisu ", "tiramisu"), ("lasagna ", "lasagne"), ("cesar salad ", "caesar salad"), ("masala dossa ", "masala dosa"),
        ("chicken shawerma ", "chicken shawarma"), ("mango lasi ", "mango lassi"), ("bruchetta ", "bruschetta"),
        // Still being typed (the search box calls on every keystroke): a typo and an unfinished last word.
        ("peperoni piz", "pepperoni pizza"), ("chiken tik", "chicken tikka"), ("spagetti carb", "spaghetti carbonara"),
        ("buter chick", "butter chicken"), ("margarita piz", "margherita pizza"), ("tonkotsu ram", "tonkotsu ramen"),
    ]

    /// Relevant hits in the top 10 over the most there could be (10: every dish here has more than ten items).
    static func recall(_ names: [String], intended: String) -> Double {
        Double(names.prefix(10).filter { $0.lowercased().contains(intended) }.count) / 10
    }

    /// The searches whose name (`labels`) contains `text`, suggestions as they are; all of them for nil.
    func only(_ text: String?) -> QueryMix {
        guard let text else { return self }
        let kept = labels.map { $0.contains(text) }
        return QueryMix(menu: zip(menu, kept).filter(\.1).map(\.0), restaurants: zip(restaurants, kept.dropFirst(menu.count)).filter(\.1).map(\.0),
                        suggestions: suggestions)
    }

    /// Names of the searches, in the order `runAll` times them.
    var labels: [String] {
        menu.map { "menu \"\($0.text)\"" + ($0.city.map { " city=\($0)" } ?? "") + ($0.category.map { " category=\($0)" } ?? "") }
            + restaurants.map { "restaurants \"\($0.text)\" near, sort=\($0.sort.rawValue)" }
    }

    /// One pass over every query: search latencies and suggestion latencies in milliseconds.
    func runAll(_ index: SearchIndex) async throws -> ([Double], [Double]) {
        var search: [Double] = [], suggest: [Double] = []
        for q in menu {
            let t = ContinuousClock.now
            _ = try await index.searchMenu(q)
            search.append((ContinuousClock.now - t).seconds * 1000)
        }
        for q in restaurants {
            let t = ContinuousClock.now
            _ = try await index.searchRestaurants(q)
            search.append((ContinuousClock.now - t).seconds * 1000)
        }
        for text in suggestions {
            var q = SearchIndex.SuggestQuery()
            q.text = text
            let t = ContinuousClock.now
            _ = try await index.suggest(q)
            suggest.append((ContinuousClock.now - t).seconds * 1000)
        }
        return (search, suggest)
    }
}

extension SearchIndex.MenuQuery {
    var httpQuery: String {
        var parts = ["q=\(BenchSearch.escape(text))", "limit=\(limit)"]
        if let city { parts.append("city=\(BenchSearch.escape(city))") }
        if let diet { parts.append("diet=\(diet)") }
        if let category { parts.append("category=\(BenchSearch.escape(category))") }
        if let maxPriceMinor { parts.append("max_price=\(maxPriceMinor)") }
        return parts.joined(separator: "&")
    }
}
