import Foundation
@testable import HearthAPI
import HearthCore
import HearthSearch
import Hummingbird
import HummingbirdTesting
import Testing

/// What every request meets before a route: request ids, security headers, CORS, size limits,
/// the per-client rate limit, the one error body; and injection attempts in search filters.
@Suite struct EdgeTests {
    struct Boom: Error, CustomStringConvertible {
        var description: String { "SELECT * FROM secrets WHERE path = '/var/lib/hearth'" }
    }

    static func app(cors: [String] = [], limiter: RateLimiter? = nil) -> some ApplicationProtocol {
        var settings = Settings()
        settings.corsOrigins = cors
        let router = Router(context: HearthRequestContext.self)
        HearthAPI.addEdge(router, settings: settings)
        let group = router.group()
        if let limiter { group.add(middleware: RateLimitMiddleware(limiter: limiter)) }
        group.get("/ok") { _, _ in "ok" }
        group.get("/boom") { _, _ -> String in throw Boom() }
        return Application(router: router)
    }

    @Test func everyResponseCarriesARequestIdAndSecurityHeaders() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/ok", method: .get, headers: [.init("X-Request-Id")!: "trace-42"]) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.init("X-Request-Id")!] == "trace-42")
                #expect(r.headers[.init("X-Content-Type-Options")!] == "nosniff")
                #expect(r.headers[.init("X-Frame-Options")!] == "DENY")
                #expect(r.headers[.contentSecurityPolicy] == "default-src 'none'; frame-ancestors 'none'")
                #expect(r.headers[.cacheControl] == "no-store")
            }
            // A request id that is not sane is replaced, never echoed.
            try await client.execute(uri: "/nope", method: .get, headers: [.init("X-Request-Id")!: "<script>alert(1)</script>"]) { r in
                #expect(r.status == .notFound)
                let id = try #require(r.headers[.init("X-Request-Id")!])
                #expect(!id.contains("<") && id.count == 36)
                #expect(r.headers[.init("X-Content-Type-Options")!] == "nosniff")
            }
        }
    }

    @Test func errorsAreOneBodyAndLeakNothing() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/boom", method: .get) { r in
                #expect(r.status == .internalServerError)
                let body = String(buffer: r.body)
                #expect(body == #"{"error":{"code":"internal","message":"an internal error occurred"}}"#
                        || body == #"{"error":{"message":"an internal error occurred","code":"internal"}}"#)
                #expect(!body.contains("SELECT") && !body.contains("/var/lib"))
            }
            try await client.execute(uri: "/ok?" + String(repeating: "a", count: 9000), method: .get) { r in
                #expect(r.status == .uriTooLong)
                #expect(String(buffer: r.body).contains("uri_too_long"))
            }
            try await client.execute(uri: "/ok", method: .post, body: ByteBuffer(repeating: 0x61, count: (1 << 20) + 1)) { r in
                #expect(r.status == .contentTooLarge)
                #expect(String(buffer: r.body).contains("request_too_large"))
            }
        }
    }

    @Test func corsOnlyForConfiguredOrigins() async throws {
        try await Self.app(cors: ["https://app.example.com"]).test(.router) { client in
            let preflight: HTTPFields = [.origin: "https://app.example.com", .accessControlRequestMethod: "GET"]
            try await client.execute(uri: "/ok", method: .options, headers: preflight) { r in
                #expect(r.status == .noContent)
                #expect(r.headers[.accessControlAllowOrigin] == "https://app.example.com")
                #expect(r.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            }
            try await client.execute(uri: "/ok", method: .get, headers: [.origin: "https://app.example.com"]) { r in
                #expect(r.status == .ok && r.headers[.accessControlAllowOrigin] == "https://app.example.com")
            }
            try await client.execute(uri: "/ok", method: .get, headers: [.origin: "https://evil.example"]) { r in
                #expect(r.status == .ok && r.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }

    @Test func aClientOverItsRateGets429WithRetryAfter() async throws {
        // One token per 100 s: however slow the machine, the fourth request comes before a refill.
        let limiter = RateLimiter(perSecond: 0.01, burst: 3)
        try await Self.app(limiter: limiter).test(.router) { client in
            let started = ContinuousClock.now
            for _ in 0..<3 {
                try await client.execute(uri: "/ok", method: .get) { #expect($0.status == .ok) }
            }
            try await client.execute(uri: "/ok", method: .get) { r in
                #expect(r.status == .tooManyRequests)
                // The wait left for one token: 100 s less what has refilled since the bucket was full (a loaded
                // machine may take seconds over these requests).
                let elapsed = Int((ContinuousClock.now - started).components.seconds)
                #expect(r.headers[.retryAfter].flatMap(Int.init).map { ((99 - elapsed)...100).contains($0) } == true,
                        "\(String(describing: r.headers[.retryAfter])) after \(elapsed) s")
                #expect(String(buffer: r.body).contains("rate_limited"))
            }
            // Another client (told apart by its credentials) has its own bucket.
            try await client.execute(uri: "/ok", method: .get, headers: [.authorization: "Bearer other"]) { #expect($0.status == .ok) }
        }
        // The bucket refills at the configured rate (a clock given explicitly: no waiting).
        let refill = RateLimiter(perSecond: 2, burst: 1)
        let t0 = ContinuousClock.now
        #expect(refill.take("c", now: t0) == nil)
        #expect(refill.take("c", now: t0) == 1, "Retry-After rounds up to whole seconds")
        #expect(refill.take("c", now: t0 + .milliseconds(600)) == nil)
    }

    /// Filters become Xapian boolean terms or value ranges, never query syntax: attempts to reach
    /// other documents, hidden ones or the store itself are a 400 or match nothing, and leave the index as it was.
    @Test func injectionAttemptsInSearchFiltersHaveNoEffect() async throws {
        let c = try await SearchTests.standardCatalog()
        let before = try await c.search("pizza").hits.map(\.id)
        let router = Router(context: HearthRequestContext.self)
        HearthAPI.addEdge(router, settings: Settings())
        SearchController(index: c.index).add(to: router, authenticator: try await Authenticator(settings: AuthSettings(), secret: nil))
        let attacks = ["' OR '1'='1", "\"; DROP TABLE orders; --", "XDEAD", "XTrestaurant", "Qm:m-1", "*", "pizza OR chicken",
                       "London XCITYkolkata", "%00", "../../etc/passwd", "${jndi:ldap://x}", "<script>alert(1)</script>", "NEAR/3"]
        let filters: [(path: String, params: [String])] = [
            ("/api/v1/search/menu?q=pizza", ["restaurant_id", "city", "category", "diet", "tags", "max_price", "include_unavailable", "limit", "offset"]),
            ("/api/v1/search/restaurants?q=pizza", ["location", "radius_km", "city", "cuisine", "open_now", "min_rating", "sort", "limit", "offset"]),
            ("/api/v1/search/suggestions?q=piz", ["location", "city", "limit"]),
        ]
        try await Application(router: router).test(.router) { client in
            for (path, params) in filters {
                for param in params {
                    for attack in attacks {
                        let value = attack.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                        try await client.execute(uri: "\(path)&\(param)=\(value)", method: .get) { r in
                            #expect(r.status == .ok || r.status == .badRequest, "\(path) \(param)=\(attack): \(r.status)")
                            if r.status == .ok {
                                // Nothing hidden or foreign comes back: the filter matched its literal value or nothing.
                                let body = String(buffer: r.body)
                                #expect(!body.contains("\"estimated_total\":") || body.contains("\"estimated_total\":0")
                                        || ["limit", "offset", "include_unavailable", "open_now", "sort", "max_price", "min_rating", "radius_km", "location"].contains(param),
                                        "\(path) \(param)=\(attack) matched something")
                            }
                        }
                    }
                }
            }
            try await client.execute(uri: "/api/v1/restaurants/r-1'%20OR%20'1'='1", method: .get) { #expect($0.status == .badRequest) }
            // A known path with another method: 405 and what is allowed.
            try await client.execute(uri: "/api/v1/search/menu?q=x", method: .delete) { r in
                #expect(r.status == .methodNotAllowed && r.headers[.allow] == "GET")
                #expect(String(buffer: r.body).contains("method_not_allowed"))
            }
            try await client.execute(uri: "/api/v1/restaurants/r-1/menu", method: .post) { #expect($0.status == .methodNotAllowed) }
            try await client.execute(uri: "/api/v1/nowhere", method: .post) { #expect($0.status == .notFound) }
        }
        #expect(try await c.search("pizza").hits.map(\.id) == before, "the index is as it was")
    }
}
