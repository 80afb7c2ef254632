import Foundation
import HearthCore
import HearthEvents
import HearthSearch
import Hummingbird

/// Menu item search for the customer apps' search box.
struct SearchController<Context: RequestContext> {
    let index: SearchIndex?

    /// Public: no credentials needed unless the configuration requires them.
    func add(to router: Router<Context>, authenticator: Authenticator, limiter: RateLimiter? = nil) {
        let router = router.group()
        if let limiter { router.add(middleware: RateLimitMiddleware(limiter: limiter)) }
        router.add(middleware: RequireRole(role: .public, authenticator: authenticator))
        router.get("/api/v1/search/menu") { request, _ in
            let index = try requireIndex()
            let p = QueryParameters(request.uri.queryParameters)
            try p.allow(["q", "restaurant_id", "city", "category", "diet", "tags", "max_price", "include_unavailable", "limit", "offset"])
            var q = SearchIndex.MenuQuery()
            q.text = p.string("q") ?? ""
            q.restaurantID = try p.identifier("restaurant_id")
            q.city = try p.text("city")
            q.category = try p.text("category")
            q.diet = try p.oneOf("diet", ["veg", "vegan", "non_veg"])
            q.tags = try p.list("tags")
            q.maxPriceMinor = try p.int("max_price", range: 0...Int(Int32.max)).map(Int64.init)
            q.includeUnavailable = try p.bool("include_unavailable") ?? false
            q.limit = try p.int("limit", range: 1...100) ?? 20
            q.offset = try p.int("offset", range: 0...10_000) ?? 0
            return try JSONBody.response(try await index.searchMenu(q))
        }
        router.get("/api/v1/search/restaurants") { request, _ in
            let index = try requireIndex()
            let p = QueryParameters(request.uri.queryParameters)
            try p.allow(["q", "location", "radius_km", "city", "cuisine", "open_now", "min_rating", "sort", "limit", "offset"])
            var q = SearchIndex.RestaurantQuery()
            q.text = p.string("q") ?? ""
            q.location = try p.location("location")
            q.radiusKm = try p.double("radius_km", range: 0.1...500)
            q.city = try p.text("city")
            q.cuisine = try p.text("cuisine")
            q.openNow = try p.bool("open_now") ?? false
            q.minRating = try p.double("min_rating", range: 0...5)
            if let sort = try p.oneOf("sort", index.restaurants.sorts) {
                q.sort = SearchIndex.RestaurantSort(rawValue: sort)!
            }
            if q.location == nil, q.sort == .distance || q.radiusKm != nil {
                throw APIError.badRequest("location_required", "sort=distance and radius_km need location=lat,lng")
            }
            q.limit = try p.int("limit", range: 1...100) ?? 20
            q.offset = try p.int("offset", range: 0...10_000) ?? 0
            return try JSONBody.response(try await index.searchRestaurants(q))
        }
        router.get("/api/v1/search/suggestions") { request, _ in
            let index = try requireIndex()
            let p = QueryParameters(request.uri.queryParameters)
            try p.allow(["q", "location", "city", "limit"])
            var q = SearchIndex.SuggestQuery()
            guard let text = p.string("q"), !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw APIError.badRequest("missing_parameter", "q is required: the text typed so far")
            }
            q.text = text
            q.location = try p.location("location")
            q.city = try p.text("city")
            q.limit = try p.int("limit", range: 1...20) ?? 8
            return try JSONBody.response(try await index.suggest(q))
        }
        router.get("/api/v1/restaurants/{id}") { _, context in
            let index = try requireIndex()
            let id = try Self.restaurantID(context)
            guard let restaurant = try await index.restaurant(id: id) else { throw APIError.notFound("no restaurant \(id)") }
            return try JSONBody.response(restaurant)
        }
        router.get("/api/v1/restaurants/{id}/menu") { _, context in
            let index = try requireIndex()
            let id = try Self.restaurantID(context)
            guard try await index.restaurant(id: id) != nil else { throw APIError.notFound("no restaurant \(id)") }
            return try JSONBody.response(RestaurantMenu(restaurantId: id, items: try await index.menu(restaurantID: id)))
        }
    }

    private func requireIndex() throws -> SearchIndex {
        guard let index else { throw APIError.unavailable("search_unavailable", "no pipeline writes a search index") }
        return index
    }

    private static func restaurantID(_ context: Context) throws -> String {
        let id = try context.parameters.require("id")
        guard id.range(of: "^[A-Za-z0-9._-]{1,64}$", options: .regularExpression) != nil else {
            throw APIError.badRequest("invalid_parameter", "a restaurant id is 1 to 64 letters, digits, '.', '-' or '_'")
        }
        return id
    }
}

struct RestaurantMenu: Encodable {
    let restaurantId: String
    let items: [MenuItemUpserted]
}

/// Query parameters read strictly: unknown names, malformed numbers and out-of-range values are 400s.
struct QueryParameters {
    private let values: [String: String]

    init(_ params: Hummingbird.Parameters) {
        var v: [String: String] = [:]
        for (key, value) in params { v[String(key)] = String(value) }
        values = v
    }

    func allow(_ names: Set<String>) throws {
        if let unknown = values.keys.sorted().first(where: { !names.contains($0) }) {
            throw APIError.badRequest("unknown_parameter", "unknown parameter \"\(unknown.prefix(40))\" (known: \(names.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ name: String) -> String? { values[name] }

    /// Free text for a filter: non-empty, at most 100 characters.
    func text(_ name: String) throws -> String? {
        guard let v = values[name] else { return nil }
        guard !v.isEmpty, v.count <= 100 else { throw APIError.badRequest("invalid_parameter", "\(name) must be 1 to 100 characters") }
        return v
    }

    /// An id of the contract (letters, digits, `-`, `_`, `.`; at most 64).
    func identifier(_ name: String) throws -> String? {
        guard let v = values[name] else { return nil }
        guard v.range(of: "^[A-Za-z0-9._-]{1,64}$", options: .regularExpression) != nil else {
            throw APIError.badRequest("invalid_parameter", "\(name) must be an id of 1 to 64 letters, digits, '.', '-' or '_'")
        }
        return v
    }

    func oneOf(_ name: String, _ allowed: [String]) throws -> String? {
        guard let v = values[name] else { return nil }
        guard allowed.contains(v) else {
            throw APIError.badRequest("invalid_parameter", "\(name) must be one of: \(allowed.joined(separator: ", "))")
        }
        return v
    }

    /// A comma-separated list of at most 10 entries.
    func list(_ name: String) throws -> [String] {
        guard let v = values[name] else { return [] }
        let items = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty, items.count <= 10, items.allSatisfy({ $0.count <= 50 }) else {
            throw APIError.badRequest("invalid_parameter", "\(name) must be a comma-separated list of 1 to 10 entries")
        }
        return items
    }

    func int(_ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let v = values[name] else { return nil }
        let parsed = WholeNumber(v)
        if parsed == .notANumber { throw APIError.badRequest("invalid_parameter", "\(name) must be a whole number") }
        guard case .value(let n) = parsed, range.contains(n) else {
            throw APIError.badRequest("parameter_out_of_range", "\(name) must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return n
    }

    func double(_ name: String, range: ClosedRange<Double>) throws -> Double? {
        guard let v = values[name] else { return nil }
        guard let n = Double(v), n.isFinite else { throw APIError.badRequest("invalid_parameter", "\(name) must be a number") }
        guard range.contains(n) else {
            throw APIError.badRequest("parameter_out_of_range", "\(name) must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return n
    }

    /// `lat,lng` in degrees.
    func location(_ name: String) throws -> GeoPoint? {
        guard let v = values[name] else { return nil }
        let parts = v.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let lat = Double(parts[0].trimmingCharacters(in: .whitespaces)),
              let lng = Double(parts[1].trimmingCharacters(in: .whitespaces)),
              (-90...90).contains(lat), (-180...180).contains(lng) else {
            throw APIError.badRequest("invalid_parameter", "\(name) must be lat,lng in degrees (latitude -90 to 90, longitude -180 to 180)")
        }
        return GeoPoint(lat: lat, lng: lng)
    }

    func bool(_ name: String) throws -> Bool? {
        guard let v = values[name] else { return nil }
        switch v {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError.badRequest("invalid_parameter", "\(name) must be true or false")
        }
    }
}
