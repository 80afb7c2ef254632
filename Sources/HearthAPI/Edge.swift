import Foundation
import HearthCore
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The request context of Hearth's API: Hummingbird's core context and the peer's address (for
/// per-client rate limits and the access log).
public struct HearthRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Gives every request an id (the caller's `X-Request-Id` when it is sane, else a new one), puts it
/// on every log line written for the request and on the response, and writes one access-log line
/// per request: method, path, status, duration, client.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let accessLog: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let given = request.headers[.init("X-Request-Id")!]
        let id = given.flatMap { $0.utf8.count <= 64 && $0.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) } ? $0 : nil }
            ?? UUID().uuidString.lowercased()
        var context = context
        context.logger[metadataKey: "request_id"] = .string(id)
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // The error middleware sits inside this one; anything reaching here is unexpected.
            context.logger.error("Request failed.", metadata: ["error": "\(String(reflecting: error))"])
            response = try APIError.internalError.response(from: request, context: context)
        }
        response.headers[.init("X-Request-Id")!] = id
        var line = accessLog
        line.logLevel = context.logger.logLevel   // the application's level (tests run theirs quiet)
        line[metadataKey: "request_id"] = .string(id)
        var metadata: Logger.Metadata = [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
            "duration_ms": "\(((ContinuousClock.now - started).seconds * 1e5).rounded() / 100)",
        ]
        if let peer = (context as? any RemoteAddressRequestContext)?.remoteAddress?.ipAddress { metadata["client"] = "\(peer)" }
        line.info("request", metadata: metadata)
        return response
    }
}

/// Headers every response carries: no sniffing, no framing, no referrer, no caching of API answers,
/// and a content security policy that allows nothing (JSON needs nothing).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.init("X-Content-Type-Options")!] = "nosniff"
        response.headers[.init("X-Frame-Options")!] = "DENY"
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// Bounds on a request before any work is done: the URI's length and the declared body size.
struct RequestLimitsMiddleware<Context: RequestContext>: RouterMiddleware {
    static var maxURIBytes: Int { 8192 }
    static var maxBodyBytes: Int { 1 << 20 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.description.utf8.count <= Self.maxURIBytes else {
            throw APIError(.uriTooLong, code: "uri_too_long", message: "the request URI is longer than \(Self.maxURIBytes) bytes")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maxBodyBytes {
            throw APIError(.contentTooLarge, code: "request_too_large", message: "the request body is larger than \(Self.maxBodyBytes) bytes")
        }
        return try await next(request, context)
    }
}

/// A token bucket per client: `perSecond` requests a second on average, `burst` at once. Clients
/// are told apart by their credentials when they send any, else by address.
final class RateLimiter: Sendable {
    let perSecond: Double
    let burst: Double
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])
    /// Clients remembered at most (the idlest are forgotten first).
    static var maxClients: Int { 100_000 }

    init(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = burst
    }

    /// Nil when the request may go ahead, else the seconds until it may.
    func take(_ client: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            if buckets.count >= Self.maxClients, buckets[client] == nil {
                // Forget clients whose buckets are full again: they have been idle long enough.
                buckets = buckets.filter { (now - $0.value.at).seconds * perSecond + $0.value.tokens < burst }
                if buckets.count >= Self.maxClients { buckets.removeAll(keepingCapacity: true) }
            }
            var b = buckets[client] ?? (burst, now)
            b.tokens = min(burst, b.tokens + (now - b.at).seconds * perSecond)
            b.at = now
            guard b.tokens >= 1 else {
                buckets[client] = b
                return max(1, Int(((1 - b.tokens) / perSecond).rounded(.up)))
            }
            b.tokens -= 1
            buckets[client] = b
            return nil
        }
    }
}

/// 429 with `Retry-After` when a client goes over its rate.
struct RateLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let client: String
        if let key = request.headers[.init("X-API-Key")!] {
            client = "key:" + String(key.prefix(128))
        } else if let auth = request.headers[.authorization] {
            client = "token:" + String(auth.suffix(43))
        } else {
            client = "ip:" + ((context as? any RemoteAddressRequestContext)?.remoteAddress?.ipAddress ?? "unknown")
        }
        if let wait = limiter.take(client) {
            var error = APIError(.tooManyRequests, code: "rate_limited",
                                 message: "too many requests: at most \(Int(limiter.perSecond)) a second (bursts of \(Int(limiter.burst))); retry after \(wait) s")
            error.headers[.retryAfter] = String(wait)
            throw error
        }
        return try await next(request, context)
    }
}

/// CORS for the configured origins only: their requests get `Access-Control-Allow-Origin`, and a
/// preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered 204 without reaching a route.
struct CORSOriginsMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) || origins.contains("*") else {
            return try await next(request, context)
        }
        let allowOrigin = origins.contains("*") ? "*" : origin
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            return Response(status: .noContent, headers: [
                .accessControlAllowOrigin: allowOrigin, .vary: "Origin",
                .accessControlAllowMethods: "GET, POST, OPTIONS",
                .accessControlAllowHeaders: "Authorization, X-API-Key, Content-Type, X-Request-Id",
                .accessControlMaxAge: "600",
            ])
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = allowOrigin
        response.headers[.vary] = "Origin"
        response.headers[.accessControlExposeHeaders] = "X-Request-Id, Retry-After"
        return response
    }
}
