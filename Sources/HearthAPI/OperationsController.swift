import HearthCore
import HearthPipeline
import Hummingbird
import Prometheus

/// Health, readiness, metrics and pipeline status.
struct OperationsController<Context: RequestContext> {
    let runtime: HearthRuntime
    let registry: PrometheusCollectorRegistry

    /// Health and metrics are open (probes and scrapers); pipeline state needs the admin role.
    func add(to router: Router<Context>, authenticator: Authenticator) {
        router.get("/healthz") { _, _ in try JSONBody.response(["status": "ok"]) }
        router.get("/readyz") { _, _ in
            let (ready, reason) = await runtime.readiness()
            guard ready else { throw APIError.unavailable("not_ready", reason ?? "not ready") }
            return try JSONBody.response(["status": "ready"])
        }
        router.get("/metrics") { _, _ in
            runtime.runners.forEach { $0.updateLagMetrics() }
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let admin = router.group().add(middleware: RequireRole(role: .admin, authenticator: authenticator))
        admin.get("/api/v1/pipelines") { _, _ in
            try JSONBody.response(PipelinesResponse(pipelines: runtime.pipelineStatus()))
        }
        admin.get("/api/v1/pipelines/{name}") { _, context in
            let name = try context.parameters.require("name")
            guard let status = runtime.pipelineStatus().first(where: { $0.name == name }) else {
                throw APIError.notFound("no pipeline named \(name)")
            }
            return try JSONBody.response(status)
        }
    }
}

struct PipelinesResponse: Encodable {
    let pipelines: [PipelineStatus]
}
