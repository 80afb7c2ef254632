import Foundation
import HearthEvents
import HearthPostgres
import HearthSearch
import HearthSupport

struct PeerResult {
    var times: [Double]
    var typoRecall: Double
    var loadSeconds: Double
}

/// What a team would otherwise build: PostgreSQL full-text search (weighted tsvector, GIN) for
/// words and prefixes, with pg_trgm similarity on the name for typos; earth-distance by formula
/// with a bounding box for geo.
enum PostgresPeer {
    static func run(url: String, items: [[String?]], restaurants: [[String?]], mix: QueryMix, rounds: Int,
                    note: ((String) -> Void)? = nil) async throws -> PeerResult {
        let db = PostgresConnection(url: url)
        defer { Task { await db.close() } }
        let loadStart = ContinuousClock.now
        try await db.withSession { s in
            try s.execute("""
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                DROP TABLE IF EXISTS bench_items, bench_restaurants;
                CREATE TABLE bench_restaurants (restaurant_id text PRIMARY KEY, name text, city text, lat float8, lng float8, rating float8);
                CREATE TABLE bench_items (item_id text PRIMARY KEY, restaurant_id text, name text, description text, category text,
                                          diet text, city text, price_minor bigint, available boolean);
                """)
            try s.copy(into: "bench_restaurants", columns: ["restaurant_id", "name", "city", "lat", "lng", "rating"], rows: restaurants)
            try s.copy(into: "bench_items", columns: ["item_id", "restaurant_id", "name", "description", "category", "diet", "city",
                                                      "price_minor", "available"], rows: items)
            try s.execute("""
                ALTER TABLE bench_items ADD COLUMN search tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', name), 'A') || setweight(to_tsvector('english', category), 'B')
                    || setweight(to_tsvector('english', description), 'D')) STORED;
                CREATE INDEX ON bench_items USING gin (search);
                CREATE INDEX ON bench_items USING gin (name gin_trgm_ops);
                CREATE INDEX ON bench_restaurants USING gin (name gin_trgm_ops);
                CREATE INDEX ON bench_restaurants (lat, lng);
                ANALYZE bench_items; ANALYZE bench_restaurants;
                """)
        }
        let loadSeconds = (ContinuousClock.now - loadStart).seconds

        for _ in 0..<2 { _ = try await runAll(db, mix) }
        var times: [Double] = []
        for _ in 0..<rounds { times += try await runAll(db, mix) }
        var recall: [Double] = []
        for (query, intended) in QueryMix.typoQueries {
            var q = SearchIndex.MenuQuery()
            q.text = query
            recall.append(QueryMix.recall(try await menu(db, q), intended: intended))
            if recall.last! < 1, let note {
                note(String(format: "  peer typo recall %.1f for \"%@\" (meant: %@)", recall.last!, query, intended))
            }
        }
        try await db.withSession { s in try s.execute("DROP TABLE bench_items, bench_restaurants") }
        return PeerResult(times: times, typoRecall: recall.reduce(0, +) / Double(recall.count), loadSeconds: loadSeconds)
    }

    static func runAll(_ db: PostgresConnection, _ mix: QueryMix) async throws -> [Double] {
        var out: [Double] = []
        for q in mix.menu {
            let t = ContinuousClock.now
            _ = try await menu(db, q)
            out.append((ContinuousClock.now - t).seconds * 1000)
        }
        for q in mix.restaurants {
            let t = ContinuousClock.now
            _ = try await restaurants(db, q)
            out.append((ContinuousClock.now - t).seconds * 1000)
        }
        return out
    }

    /// The words as a tsquery: all required, the last as a prefix while still being typed.
    static func tsquery(_ text: String) -> String? {
        let words = QueryWords.words(text)
        guard !words.isEmpty else { return nil }
        let open = text.last.map { $0.isLetter || $0.isNumber } ?? false
        return words.enumerated().map { i, w in i == words.count - 1 && open ? w + ":*" : w }.joined(separator: " & ")
    }

    static func menu(_ db: PostgresConnection, _ q: SearchIndex.MenuQuery) async throws -> [String] {
        let text = QueryWords.words(q.text).joined(separator: " ")
        let ts = tsquery(q.text)
        let rows = try await db.query("""
            SELECT name FROM bench_items
            WHERE available
              AND (\(ts)::text IS NULL OR search @@ to_tsquery('english', \(ts)) OR name % \(text))
              AND (\(q.city)::text IS NULL OR city = \(q.city))
              AND (\(q.diet)::text IS NULL OR diet = \(q.diet))
              AND (\(q.category)::text IS NULL OR category = \(q.category))
              AND (\(q.maxPriceMinor)::bigint IS NULL OR price_minor <= \(q.maxPriceMinor))
            ORDER BY ts_rank(search, to_tsquery('english', coalesce(\(ts), ''))) DESC, similarity(name, \(text)) DESC
            LIMIT 10
            """)
        return rows.compactMap { $0[0] }
    }

    static func restaurants(_ db: PostgresConnection, _ q: SearchIndex.RestaurantQuery) async throws -> [String] {
        let at = q.location ?? GeoPoint(lat: 0, lng: 0)
        let radius = q.radiusKm ?? 20_000
        let dLat = radius / 111.0, dLng = radius / (111.0 * max(0.01, cos(at.lat * .pi / 180)))
        let text = QueryWords.words(q.text).joined(separator: " ")
        let rows = try await db.query("""
            SELECT restaurant_id FROM (
                SELECT restaurant_id, name, 2 * 6371 * asin(sqrt(power(sin(radians(lat - \(at.lat)) / 2), 2)
                       + cos(radians(\(at.lat))) * cos(radians(lat)) * power(sin(radians(lng - \(at.lng)) / 2), 2))) AS km
                FROM bench_restaurants
                WHERE lat BETWEEN \(at.lat - dLat) AND \(at.lat + dLat) AND lng BETWEEN \(at.lng - dLng) AND \(at.lng + dLng)
                  AND (\(text) = '' OR name % \(text) OR to_tsvector('english', name) @@ plainto_tsquery('english', \(text)))
            ) near WHERE km <= \(radius)
            ORDER BY CASE WHEN \(q.sort.rawValue) = 'distance' THEN km ELSE 0 END, similarity(name, \(text)) DESC, km
            LIMIT 10
            """)
        return rows.compactMap { $0[0] }
    }
}
