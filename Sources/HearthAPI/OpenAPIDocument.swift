import Foundation
import HearthArchive
import HearthEvents

/// The OpenAPI 3.1 description of every endpoint, served at `/openapi.json`. A test keeps it true:
/// every route of the router is documented here and every documented route exists.
enum OpenAPIDocument {
    typealias JSON = [String: Any]

    struct Operation {
        var method: String
        /// OpenAPI path template (`/api/v1/restaurants/{id}`).
        var path: String
        var summary: String
        var role: Role?
        var parameters: [JSON] = []
        var ok: (description: String, schema: JSON, contentType: String)
        /// Further content types the success response may have (same schema), e.g. an export's formats.
        var alsoContentTypes: [String] = []
        /// Error statuses the operation may answer with (401 and 403 are added from the role).
        var errors: [Int] = []
        /// The success status (303: a redirect, with no body).
        var okStatus = 200
        var requestBody: JSON? = nil
        /// A page for people: its errors are HTML pages for browsers (Accept: text/html), the error body otherwise.
        var html = false
    }

    // MARK: Building blocks

    static func ref(_ name: String) -> JSON { ["$ref": "#/components/schemas/\(name)"] }
    static func string(_ extra: JSON = [:]) -> JSON { ["type": "string"].merging(extra) { $1 } }
    static func integer(_ min: Int? = nil, _ max: Int? = nil) -> JSON {
        var s: JSON = ["type": "integer"]
        if let min { s["minimum"] = min }
        if let max { s["maximum"] = max }
        return s
    }
    static func number(_ min: Double? = nil, _ max: Double? = nil) -> JSON {
        var s: JSON = ["type": "number"]
        if let min { s["minimum"] = min }
        if let max { s["maximum"] = max }
        return s
    }
    static var boolean: JSON { ["type": "boolean"] }
    static func array(_ items: JSON) -> JSON { ["type": "array", "items": items] }
    static func nullable(_ s: JSON) -> JSON { ["oneOf": [s, ["type": "null"]]] }
    static func object(_ properties: [String: JSON], required: [String]) -> JSON {
        ["type": "object", "properties": properties, "required": required]
    }
    static func map(_ values: JSON) -> JSON { ["type": "object", "additionalProperties": values] }

    static func query(_ name: String, _ schema: JSON, _ description: String, required: Bool = false) -> JSON {
        ["name": name, "in": "query", "required": required, "schema": schema, "description": description]
    }

    static var id: JSON { string(["pattern": "^[A-Za-z0-9._-]{1,64}$"]) }
    static var filterText: JSON { string(["minLength": 1, "maxLength": 100]) }
    /// `lat,lng` in degrees, in range.
    static var location: JSON {
        string(["pattern": "^-?(90(\\.0+)?|[1-8]?[0-9](\\.[0-9]+)?),-?(180(\\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\\.[0-9]+)?)$",
                "examples": ["19.076,72.8777"]])
    }
    /// 1 to 10 comma-separated entries of at most 50 characters.
    static var list: JSON { string(["pattern": "^ *[^, ][^,]{0,49}( *, *[^, ][^,]{0,49}){0,9} *$", "examples": ["spicy,bestseller"]]) }
    static var flag: JSON { string(["enum": ["true", "false", "1", "0"]]) }

    /// `topic` (required), `from`, `to` of the archive endpoints.
    static var archiveRange: [JSON] { [
        query("topic", string(["pattern": "^[A-Za-z0-9._-]{1,249}$"]), "the topic (orders, restaurants, menus, …)", required: true),
        query("from", string(), "start: a date (YYYY-MM-DD, UTC) or an RFC 3339 timestamp, inclusive"),
        query("to", string(), "end: a date (that day included) or an RFC 3339 timestamp (excluded)"),
    ] }

    // MARK: Operations

    static var operations: [Operation] { [
        Operation(method: "get", path: "/", summary: "The service's name and its endpoints", role: nil,
                  ok: ("name and endpoints", object(["name": string(), "endpoints": array(string())], required: ["name", "endpoints"]),
                       "application/json")),
        Operation(method: "get", path: "/openapi.json", summary: "This document", role: nil,
                  ok: ("the OpenAPI 3.1 document", ["type": "object"], "application/json")),
        Operation(method: "get", path: "/healthz", summary: "Liveness: 200 while the process runs", role: nil,
                  ok: ("alive", object(["status": string()], required: ["status"]), "application/json")),
        Operation(method: "get", path: "/readyz",
                  summary: "Readiness: PostgreSQL answers, every sink is reachable, every pipeline has partitions and none is stalled",
                  role: nil, ok: ("ready", object(["status": string()], required: ["status"]), "application/json"), errors: [503]),
        Operation(method: "get", path: "/metrics", summary: "Prometheus metrics", role: nil,
                  ok: ("Prometheus text exposition format", string(), "text/plain")),
        Operation(method: "get", path: "/api/v1/pipelines", summary: "Every pipeline with its partitions' positions, lag and state",
                  role: .admin, ok: ("pipelines", object(["pipelines": array(ref("Pipeline"))], required: ["pipelines"]), "application/json")),
        Operation(method: "get", path: "/api/v1/pipelines/{name}", summary: "One pipeline", role: .admin,
                  parameters: [["name": "name", "in": "path", "required": true, "schema": string()]],
                  ok: ("the pipeline", ref("Pipeline"), "application/json"), errors: [404]),
        Operation(method: "get", path: "/api/v1/search/menu", summary: "Search menu items: typo-tolerant, with filters and facets",
                  role: .public, parameters: [
                      query("q", string(), "the text typed; the last word matches as a prefix unless the text ends in a space"),
                      query("restaurant_id", id, "only this restaurant's items"),
                      query("city", filterText, "only items of restaurants in this city"),
                      query("category", filterText, "only this category"),
                      query("diet", string(["enum": ["veg", "vegan", "non_veg"]]), "only this diet"),
                      query("tags", list, "comma-separated tags (1 to 10), all required"),
                      query("max_price", integer(0, Int(Int32.max)), "highest price in minor units"),
                      query("include_unavailable", flag, "include items marked unavailable"),
                      query("limit", integer(1, 100), "page size (default 20)"),
                      query("offset", integer(0, 10_000), "hits to skip (default 0)"),
                  ], ok: ("menu items", ref("MenuResult"), "application/json"), errors: [400, 503]),
        Operation(method: "get", path: "/api/v1/search/restaurants",
                  summary: "Search restaurants: typo-tolerant, near a location, open now, by rating or popularity", role: .public,
                  parameters: [
                      query("q", string(), "the text typed"),
                      query("location", location, "lat,lng: adds distance_km and a distance decay"),
                      query("radius_km", number(0.1, 500), "only restaurants within this distance (needs location)"),
                      query("city", filterText, "only this city"),
                      query("cuisine", filterText, "only this cuisine"),
                      query("open_now", flag, "only restaurants open now in their own time zone"),
                      query("min_rating", number(0, 5), "lowest rating"),
                      query("sort", string(["enum": ["relevance", "distance", "rating", "popularity"]]), "order (distance needs location)"),
                      query("limit", integer(1, 100), "page size (default 20)"),
                      query("offset", integer(0, 10_000), "hits to skip (default 0)"),
                  ], ok: ("restaurants", ref("RestaurantResult"), "application/json"), errors: [400, 503]),
        Operation(method: "get", path: "/api/v1/search/suggestions",
                  summary: "Autocomplete: dish names, restaurant names and cuisines, the most ordered near the user first", role: .public,
                  parameters: [
                      query("q", string(["minLength": 1]), "the text typed so far", required: true),
                      query("location", location, "lat,lng: ranks for the nearest restaurant's city"),
                      query("city", filterText, "ranks for this city"),
                      query("limit", integer(1, 20), "how many (default 8)"),
                  ], ok: ("suggestions", ref("SuggestResult"), "application/json"), errors: [400, 503]),
        Operation(method: "get", path: "/api/v1/restaurants/{id}", summary: "One restaurant as indexed", role: .public,
                  parameters: [["name": "id", "in": "path", "required": true, "schema": id]],
                  ok: ("the restaurant", ref("Restaurant"), "application/json"), errors: [400, 404, 503]),
        Operation(method: "get", path: "/api/v1/restaurants/{id}/menu", summary: "A restaurant's menu items, by category and name",
                  role: .public, parameters: [["name": "id", "in": "path", "required": true, "schema": id]],
                  ok: ("the menu", object(["restaurant_id": string(), "items": array(ref("MenuItem"))], required: ["restaurant_id", "items"]),
                       "application/json"), errors: [400, 404, 503]),
        Operation(method: "get", path: "/api/v1/archive", summary: "The archive: writer state, and per topic segments, records, bytes and event-time range",
                  role: .admin, ok: ("the archive", ref("ArchiveOverview"), "application/json"), errors: [503]),
        Operation(method: "get", path: "/api/v1/archive/segments", summary: "Manifest entries of a topic whose event times meet the range, by partition and offset",
                  role: .admin, parameters: archiveRange + [
                      query("limit", integer(1, 10_000), "entries per page (default 1000)"),
                      query("offset", integer(0, 10_000_000), "entries to skip (default 0)"),
                  ], ok: ("segments", ref("SegmentList"), "application/json"), errors: [400, 503]),
        Operation(method: "get", path: "/api/v1/archive/export",
                  summary: "Streams the archived records of a topic and range (JSON Lines, zstd JSON Lines or CSV) in bounded memory",
                  role: .admin, parameters: archiveRange + [
                      query("type", list, "only these event types (comma-separated); leaves out invalid records"),
                      query("format", string(["enum": ExportFormat.allCases.map(\.rawValue)]), "jsonl (default), jsonl.zst or csv"),
                  ], ok: ("the records", string(), "application/x-ndjson"), alsoContentTypes: ["application/zstd", "text/csv"],
                  errors: [400, 503]),
        Operation(method: "post", path: "/api/v1/archive/exports",
                  summary: "Starts a batch export into the archive's exports area; GET its Location for progress", role: .admin,
                  ok: ("the export, running", ref("ExportJob"), "application/json"), errors: [400, 413, 429, 503], okStatus: 202,
                  requestBody: ["required": true, "content": ["application/json": ["schema": object([
                      "topic": string(["pattern": "^[A-Za-z0-9._-]{1,249}$"]),
                      "from": string(["description": "date (YYYY-MM-DD, UTC) or RFC 3339 timestamp, inclusive"]),
                      "to": string(["description": "date (that day included) or RFC 3339 timestamp (excluded)"]),
                      "types": array(string(["enum": EventType.allCases.map(\.rawValue)])),
                      "format": string(["enum": ExportFormat.allCases.map(\.rawValue)]),
                  ], required: ["topic"])]]]),
        Operation(method: "get", path: "/api/v1/archive/exports", summary: "The batch exports started since the process started, newest first",
                  role: .admin, ok: ("exports", object(["exports": array(ref("ExportJob"))], required: ["exports"]), "application/json"),
                  errors: [503]),
        Operation(method: "get", path: "/api/v1/archive/exports/{id}",
                  summary: "One batch export: progress, and when done its path, size, record count and SHA-256", role: .admin,
                  parameters: [["name": "id", "in": "path", "required": true, "schema": string()]],
                  ok: ("the export", ref("ExportJob"), "application/json"), errors: [404, 503]),
        Operation(method: "get", path: "/api/v1/archive/exports/{id}/file", summary: "A finished batch export's file", role: .admin,
                  parameters: [["name": "id", "in": "path", "required": true, "schema": string()]],
                  ok: ("the file", string(), "application/x-ndjson"), alsoContentTypes: ["application/zstd", "text/csv"],
                  errors: [404, 409, 503]),
        Operation(method: "get", path: "/api/v1/reports", summary: "The reports: name, description, parameters and columns of each",
                  role: .analyst, ok: ("reports", object(["reports": array(ref("ReportInfo"))], required: ["reports"]), "application/json")),
        Operation(method: "get", path: "/api/v1/reports/{name}",
                  summary: "Runs one report; its parameters (listed by GET /api/v1/reports) go in the query string", role: .analyst,
                  parameters: [["name": "name", "in": "path", "required": true, "schema": string()],
                               query("format", string(["enum": ["json", "csv"]]), "json (default) or csv")],
                  ok: ("the report's rows", ref("ReportResult"), "application/json"), errors: [400, 404, 503]),
        Operation(method: "get", path: "/dashboard",
                  summary: "The dashboard: KPIs and charts (inline SVG) of orders for a range, city and restaurant; without credentials (a bearer token, an API key or the dashboard's cookie) a sign-in form",
                  role: .analyst, parameters: [
                      query("from", string(), "first day (YYYY-MM-DD; default: six days before today)"),
                      query("to", string(), "last day (YYYY-MM-DD; default: today)"),
                      query("tz", string(), "IANA time zone the days are cut in (default UTC)"),
                      query("city", string(), "only this city"),
                      query("restaurant_id", string(), "only this restaurant"),
                  ], ok: ("the dashboard page", string(), "text/html"), errors: [400], html: true),
        Operation(method: "post", path: "/dashboard/session",
                  summary: "Signs in to the dashboard: checks a token or API key and keeps it in an HttpOnly cookie for /dashboard (12 hours)",
                  role: nil, ok: ("to the dashboard, with the cookie set", string(), "text/html"), errors: [400, 401, 413], okStatus: 303,
                  requestBody: ["required": true, "content": ["application/x-www-form-urlencoded": ["schema":
                      object(["token": string(["description": "a token (hearth token --role analyst) or an API key"])], required: ["token"])]]],
                  html: true),
        Operation(method: "post", path: "/dashboard/signout", summary: "Signs out of the dashboard (clears its cookie)", role: nil,
                  ok: ("to the sign-in form", string(), "text/html"), okStatus: 303, html: true),
    ] }

    // MARK: Schemas

    static var schemas: [String: JSON] { [
        "Error": object(["error": object(["code": string(), "message": string()], required: ["code", "message"])], required: ["error"]),
        "Segment": object([
            "path": string(), "topic": string(), "partition": integer(0), "start_offset": integer(0), "first_offset": integer(0),
            "last_offset": integer(0), "records": integer(1), "dead_letters": integer(0), "min_event_time": string(),
            "max_event_time": string(), "bytes": integer(0), "uncompressed_bytes": integer(0), "sha256": string(), "created_at": string(),
        ], required: ["path", "topic", "partition", "start_offset", "first_offset", "last_offset", "records", "dead_letters",
                      "min_event_time", "max_event_time", "bytes", "uncompressed_bytes", "sha256", "created_at"]),
        "SegmentList": object([
            "topic": string(), "total": integer(0), "records": integer(0), "bytes": integer(0), "segments": array(ref("Segment")),
        ], required: ["topic", "total", "records", "bytes", "segments"]),
        "ArchiveOverview": object([
            "root": string(),
            "status": object([
                "segments": integer(0), "open_segments": integer(0), "queued_segments": integer(0), "buffered_bytes": integer(0),
                "memory_budget_bytes": integer(0), "last_error": string(),
            ], required: ["segments", "open_segments", "queued_segments", "buffered_bytes", "memory_budget_bytes"]),
            "topics": array(object([
                "topic": string(), "segments": integer(0), "records": integer(0), "dead_letters": integer(0), "bytes": integer(0),
                "uncompressed_bytes": integer(0), "min_event_time": string(), "max_event_time": string(),
            ], required: ["topic", "segments", "records", "dead_letters", "bytes", "uncompressed_bytes"])),
        ], required: ["root", "status", "topics"]),
        "ExportJob": object([
            "id": string(), "state": string(["enum": ["running", "done", "failed"]]),
            "query": object(["topic": string(), "from": string(), "to": string(), "types": array(string())], required: ["topic", "types"]),
            "format": string(["enum": ExportFormat.allCases.map(\.rawValue)]),
            "progress": object([
                "segments_done": integer(0), "segments_total": integer(0), "bytes_read": integer(0), "bytes_total": integer(0),
                "records": integer(0), "bytes_out": integer(0),
            ], required: ["segments_done", "segments_total", "bytes_read", "bytes_total", "records", "bytes_out"]),
            "created_at": string(), "finished_at": string(), "path": string(), "bytes": integer(0), "records": integer(0),
            "sha256": string(), "error": string(),
        ], required: ["id", "state", "query", "format", "progress", "created_at"]),
        "GeoPoint": object(["lat": number(-90, 90), "lng": number(-180, 180)], required: ["lat", "lng"]),
        "OpeningHours": object(["day": integer(0, 6), "open": string(), "close": string()], required: ["day", "open", "close"]),
        "Restaurant": object([
            "restaurant_id": string(), "revision": integer(), "name": string(), "cuisines": array(string()), "city": string(),
            "country": string(), "timezone": string(), "address": string(), "location": ref("GeoPoint"), "rating": number(),
            "rating_count": integer(), "price_level": integer(), "status": string(), "opening_hours": array(ref("OpeningHours")),
        ], required: ["restaurant_id", "name", "city", "location", "status"]),
        "MenuItem": object([
            "item_id": string(), "restaurant_id": string(), "revision": integer(), "name": string(), "description": string(),
            "category": string(), "tags": array(string()), "diet": string(), "price_minor": integer(), "currency": string(),
            "available": boolean,
        ], required: ["item_id", "restaurant_id", "name", "price_minor", "currency", "available"]),
        "RestaurantSummary": object([
            "name": string(), "city": string(), "cuisines": array(string()), "location": ref("GeoPoint"), "rating": number(),
            "status": string(), "timezone": string(),
        ], required: ["name", "city"]),
        "Facets": map(map(integer(0))),
        "MenuHit": object([
            "id": string(), "score": number(), "typos": integer(0), "item": ref("MenuItem"), "restaurant": nullable(ref("RestaurantSummary")),
            "highlights": map(string()),
        ], required: ["id", "score", "typos", "item", "highlights"]),
        "MenuResult": object([
            "hits": array(ref("MenuHit")), "estimated_total": integer(0), "facets": ref("Facets"), "corrected_query": nullable(string()),
            "warnings": array(string()), "took_ms": number(0),
        ], required: ["hits", "estimated_total", "facets", "warnings", "took_ms"]),
        "RestaurantHit": object([
            "id": string(), "score": number(), "typos": integer(0), "distance_km": nullable(number(0)), "open_now": boolean,
            "restaurant": ref("Restaurant"), "highlights": map(string()),
        ], required: ["id", "score", "typos", "open_now", "restaurant", "highlights"]),
        "RestaurantResult": object([
            "hits": array(ref("RestaurantHit")), "estimated_total": integer(0), "facets": ref("Facets"),
            "corrected_query": nullable(string()), "warnings": array(string()), "took_ms": number(0),
        ], required: ["hits", "estimated_total", "facets", "warnings", "took_ms"]),
        "Suggestion": object([
            "text": string(), "kind": string(["enum": ["dish", "restaurant", "cuisine"]]), "count": integer(), "orders": integer(),
            "typos": integer(0), "highlighted": string(),
        ], required: ["text", "kind", "count", "orders", "typos", "highlighted"]),
        "SuggestResult": object([
            "suggestions": array(ref("Suggestion")), "city": nullable(string()), "corrected_query": nullable(string()),
            "warnings": array(string()), "took_ms": number(0),
        ], required: ["suggestions", "warnings", "took_ms"]),
        "PartitionStatus": object([
            "topic": string(), "partition": integer(0), "position": nullable(integer()), "high_watermark": nullable(integer()),
            "lag": nullable(integer()), "consumed": integer(0), "applied": integer(0), "dead_lettered": integer(0),
            "state": string(["enum": ["running", "paused", "stalled"]]), "reason": nullable(string()),
        ], required: ["topic", "partition", "consumed", "applied", "dead_lettered", "state"]),
        "ReportInfo": object([
            "name": string(), "description": string(), "params": array(["type": "object"]), "columns": array(["type": "object"]),
        ], required: ["name", "description", "params", "columns"]),
        "ReportResult": object([
            "report": string(), "columns": array(string()), "rows": array(["type": "object"]), "row_count": integer(0), "took_ms": number(0),
        ], required: ["report", "columns", "rows", "row_count", "took_ms"]),
        "Pipeline": object([
            "name": string(), "topics": array(string()), "group": string(), "sinks": array(string()), "assigned": boolean,
            "partitions": array(ref("PartitionStatus")),
        ], required: ["name", "topics", "group", "sinks", "assigned", "partitions"]),
    ] }

    static let errorDescriptions: [Int: String] = [
        400: "bad parameters (`unknown_parameter`, `invalid_parameter`, `parameter_out_of_range`, `location_required`, `missing_parameter`, `invalid_range`, `range_too_large`, `invalid_body`)",
        401: "no valid credentials (`unauthorized`, `invalid_token`, `token_expired`, `token_not_yet_valid`, `invalid_api_key`, `invalid_credentials`)",
        403: "the credentials' role is too weak (`forbidden`)",
        404: "no such resource (`not_found`)",
        409: "not in a state for this (`export_not_ready`)",
        413: "the request body is too large (`request_too_large`)",
        414: "the request URI is longer than 8,192 bytes (`uri_too_long`)",
        429: "over the per-client rate (`rate_limited`) or the running batch exports (`exports_busy`); `Retry-After` says when to try again",
        503: "not available (`not_ready`, `search_unavailable`, `report_timeout`, `analytics_unavailable`, `archive_unavailable`)",
    ]

    /// The document as JSON.
    static func json(version: String = "1.0.0") -> Data {
        var paths: [String: JSON] = [:]
        for op in operations {
            var responses: [String: JSON] = op.okStatus == 303
                ? ["303": ["description": op.ok.description, "headers": ["Location": ["schema": string()]]]]
                : [String(op.okStatus): ["description": op.ok.description,
                                         "content": Dictionary(uniqueKeysWithValues: ([op.ok.contentType] + op.alsoContentTypes).map { ($0, ["schema": op.ok.schema] as JSON) })]]
            var errors = op.errors + [414]
            if let role = op.role { errors += role == .public ? [401, 429] : [401, 403] }
            for status in Set(errors).sorted() {
                // Pages answer browsers (Accept: text/html) with a page, other clients with the error body.
                let page = op.html && ![413, 414].contains(status)
                var content: JSON = ["application/json": ["schema": ref("Error")]]
                if page { content["text/html"] = ["schema": string()] }
                responses[String(status)] = ["description": errorDescriptions[status] ?? "error", "content": content]
            }
            var operation: JSON = ["summary": op.summary, "operationId": operationID(op), "responses": responses,
                                   "tags": [op.path.hasPrefix("/api/v1/") ? String(op.path.split(separator: "/")[2])
                                            : op.path.hasPrefix("/dashboard") ? "dashboard" : "operations"]]
            if !op.parameters.isEmpty { operation["parameters"] = op.parameters }
            if let body = op.requestBody { operation["requestBody"] = body }
            switch op.role {
            case nil: operation["security"] = [JSON]()
            case .public?: operation["security"] = [JSON(), ["bearer": [String]()], ["apiKey": [String]()]]
            case let role?:
                operation["security"] = [["bearer": [String]()], ["apiKey": [String]()]] + (op.html ? [["dashboardCookie": [String]()]] : [])
                operation["x-hearth-role"] = role.rawValue
            }
            paths[op.path, default: [:]][op.method] = operation
        }
        let document: JSON = [
            "openapi": "3.1.0",
            "info": ["title": "Hearth", "version": version,
                     "description": "Search, analytics and archive of the food delivery platform. Roles: public (no credentials unless configured), analyst, admin. Every error is {\"error\": {\"code\", \"message\"}}."],
            "paths": paths,
            "components": [
                "schemas": schemas,
                "securitySchemes": [
                    "bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "HS256, RS256 or ES256; the `role` claim is public, analyst or admin"],
                    "apiKey": ["type": "apiKey", "in": "header", "name": "X-API-Key"],
                    "dashboardCookie": ["type": "apiKey", "in": "cookie", "name": "hearth_dashboard",
                                        "description": "set by POST /dashboard/session"],
                ],
            ],
        ]
        return (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }

    static func operationID(_ op: Operation) -> String {
        let words = op.path.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).filter { !["api", "v1", "json"].contains($0) }
        return op.method + words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// The methods a documented path template matching `path` allows (nil: no such path).
    static func methods(forPath path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var out: [String] = []
        for (template, methods) in templates {
            let parts = template.split(separator: "/", omittingEmptySubsequences: true)
            guard parts.count == segments.count,
                  zip(parts, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) else { continue }
            out += methods
        }
        return out.isEmpty ? nil : out.sorted()
    }

    /// Path templates with their methods, upper-case (built once).
    static let templates: [String: [String]] = {
        var t: [String: [String]] = [:]
        for op in operations { t[op.path, default: []].append(op.method.uppercased()) }
        return t
    }()

    /// Documented routes as the router names them (`GET /api/v1/restaurants/{id}`).
    static var routes: Set<String> { Set(operations.map { "\($0.method.uppercased()) \($0.path)" }) }
}
