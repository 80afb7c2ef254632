import HearthCore
import HearthSearch
import Hummingbird
import Logging
import Prometheus

/// Builds Hearth's HTTP application over a running engine.
public enum HearthAPI {
    public static func router(runtime: HearthRuntime, registry: PrometheusCollectorRegistry,
                              authenticator: Authenticator) -> Router<HearthRequestContext> {
        let router = Router(context: HearthRequestContext.self)
        addEdge(router, settings: runtime.settings)
        router.get("/") { _, _ in
            try JSONBody.response(Index(name: "hearth", endpoints: OpenAPIDocument.routes.sorted { $0.split(separator: " ")[1] < $1.split(separator: " ")[1] }))
        }
        let document = OpenAPIDocument.json()
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(data: document)))
        }
        OperationsController(runtime: runtime, registry: registry).add(to: router, authenticator: authenticator)
        SearchController(index: runtime.searchIndex).add(to: router, authenticator: authenticator, limiter: limiter(runtime.settings))
        ReportsController(runner: runtime.reports).add(to: router, authenticator: authenticator)
        DashboardController(runner: runtime.reports, authenticator: authenticator).add(to: router)
        ArchiveController(store: runtime.archive, logger: Logger(label: "hearth.archive")).add(to: router, authenticator: authenticator)
        return router
    }

    /// What every request passes first, outermost first: request id and access log, security
    /// headers and CORS (on error responses too), the one error body, size limits.
    static func addEdge<Context: RequestContext>(_ router: Router<Context>, settings: Settings) {
        router.add(middleware: RequestLogMiddleware(accessLog: Logger(label: "hearth.access")))
        router.add(middleware: SecurityHeadersMiddleware())
        if !settings.corsOrigins.isEmpty { router.add(middleware: CORSOriginsMiddleware(origins: Set(settings.corsOrigins))) }
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: RequestLimitsMiddleware())
    }

    static func limiter(_ settings: Settings) -> RateLimiter? {
        settings.rateLimitPerSecond > 0
            ? RateLimiter(perSecond: Double(settings.rateLimitPerSecond), burst: Double(max(settings.rateLimitBurst, 1))) : nil
    }

    public static func application(runtime: HearthRuntime, registry: PrometheusCollectorRegistry, authenticator: Authenticator,
                                   host: String, port: Int, logger: Logger,
                                   onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(router: router(runtime: runtime, registry: registry, authenticator: authenticator),
                    configuration: .init(address: .hostname(host, port: port), serverName: "hearth"),
                    onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
                    logger: logger)
    }

    /// Only the search endpoints over `index` (for `hearth bench search`): the same middleware as
    /// `serve` but no per-client rate limit (the load comes from one client).
    public static func searchApplication(index: SearchIndex, authenticator: Authenticator, host: String, port: Int, logger: Logger,
                                         onServerRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router(context: HearthRequestContext.self)
        addEdge(router, settings: Settings())
        SearchController(index: index).add(to: router, authenticator: authenticator)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "hearth"),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }

    struct Index: Encodable {
        let name: String
        let endpoints: [String]
    }
}
