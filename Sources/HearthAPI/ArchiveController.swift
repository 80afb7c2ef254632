import Foundation
import HearthArchive
import HearthCore
import HearthSupport
import Hummingbird
import Logging

/// The cold archive for data engineers: manifest entries, streamed exports, and batch export jobs.
/// Raw events carry customer ids, so every route needs the admin role.
struct ArchiveController<Context: RequestContext> {
    let store: ArchiveStore?
    let jobs: ExportJobs?

    init(store: ArchiveStore?, logger: Logger) {
        self.store = store
        jobs = store.map { s in ExportJobs(layout: s.layout, logger: logger, entries: { s.allEntries() }) }
    }

    func add(to router: Router<Context>, authenticator: Authenticator) {
        let admin = router.group().add(middleware: RequireRole(role: .admin, authenticator: authenticator))
        admin.get("/api/v1/archive") { _, _ in
            let store = try requireStore()
            return try JSONBody.response(ArchiveOverview(store))
        }
        admin.get("/api/v1/archive/segments") { request, _ in
            let store = try requireStore()
            let params = QueryParameters(request.uri.queryParameters)
            try params.allow(["topic", "from", "to", "limit", "offset"])
            let query = try Self.query(params, types: false)
            let limit = try params.int("limit", range: 1...10_000) ?? 1000
            let offset = try params.int("offset", range: 0...10_000_000) ?? 0
            let all = query.segments(in: store.allEntries())
            let page = Array(all.dropFirst(offset).prefix(limit))
            return try JSONBody.response(SegmentList(topic: query.topic, total: all.count, records: all.reduce(0) { $0 + $1.records },
                                                     bytes: all.reduce(0) { $0 + $1.bytes }, segments: page))
        }
        admin.get("/api/v1/archive/export") { request, _ in
            let store = try requireStore()
            let params = QueryParameters(request.uri.queryParameters)
            try params.allow(["topic", "from", "to", "type", "format"])
            let query = try Self.query(params, types: true)
            let format = try Self.format(params.string("format"))
            let export = try ArchiveExport(layout: store.layout, entries: store.allEntries(), query: query, format: format)
            let cursor = BlockingChunks { try export.next() }
            let name = "\(query.topic)-\(query.from.map(ArchiveTime.string) ?? "start")-\(query.to.map(ArchiveTime.string) ?? "end").\(format.fileExtension)"
                .replacingOccurrences(of: ":", with: "")
            // Pulled one chunk (about 1 MiB) at a time off the cooperative pool: memory stays bounded
            // however large the export, and a slow client slows the reading down.
            return Response(status: .ok, headers: [.contentType: format.contentType,
                                                    .contentDisposition: "attachment; filename=\"\(name)\""],
                            body: ResponseBody { writer in
                                while let chunk = try await cursor.next() { try await writer.write(ByteBuffer(bytes: chunk)) }
                                try await writer.finish(nil)
                            })
        }
        admin.post("/api/v1/archive/exports") { request, _ in
            let jobs = try requireJobs()
            let body = try await request.body.collect(upTo: 16 * 1024)
            let (query, format) = try Self.jobRequest(Data(buffer: body))
            do {
                let job = try jobs.start(query, format: format)
                var response = try JSONBody.response(job, status: .accepted)
                response.headers[.location] = "/api/v1/archive/exports/\(job.id)"
                return response
            } catch ExportJobs.StartError.busy(let running) {
                // A client-side limit (429, like the rate limit), not an outage: the server is healthy.
                var e = APIError(.tooManyRequests, code: "exports_busy", message: "\(running) exports are running already; try again when one has finished")
                e.headers[.retryAfter] = "10"
                throw e
            }
        }
        admin.get("/api/v1/archive/exports") { _, _ in
            try JSONBody.response(JobList(exports: try requireJobs().list()))
        }
        admin.get("/api/v1/archive/exports/{id}") { _, context in
            try JSONBody.response(try job(context))
        }
        admin.get("/api/v1/archive/exports/{id}/file") { _, context in
            let job = try job(context)
            guard job.state == .done, let path = job.path, FileManager.default.fileExists(atPath: path) else {
                throw APIError(.conflict, code: "export_not_ready",
                               message: job.state == .failed ? "the export failed: \(job.error ?? "")" : "the export is still running")
            }
            let reader = BlockingChunks.file(path)
            return Response(status: .ok, headers: [.contentType: job.format.contentType,
                                                    .contentDisposition: "attachment; filename=\"\(job.id).\(job.format.fileExtension)\""],
                            body: ResponseBody(contentLength: job.bytes) { writer in
                                while let chunk = try await reader.next() { try await writer.write(ByteBuffer(bytes: chunk)) }
                                try await writer.finish(nil)
                            })
        }
    }

    private func requireStore() throws -> ArchiveStore {
        guard let store else { throw APIError.unavailable("archive_unavailable", "no pipeline writes an archive") }
        return store
    }

    private func requireJobs() throws -> ExportJobs {
        guard let jobs else { throw APIError.unavailable("archive_unavailable", "no pipeline writes an archive") }
        return jobs
    }

    private func job(_ context: Context) throws -> ExportJob {
        let id = try context.parameters.require("id")
        guard let job = try requireJobs().job(id) else { throw APIError.notFound("no export \(id.prefix(64))") }
        return job
    }

    static func query(_ params: QueryParameters, types: Bool) throws -> ArchiveQuery {
        guard let topic = params.string("topic") else { throw APIError.badRequest("missing_parameter", "topic is required") }
        return try parse(topic: topic, from: params.string("from"), to: params.string("to"),
                         types: types ? (try params.list("type")) : [])
    }

    static func parse(topic: String, from: String?, to: String?, types: [String]) throws -> ArchiveQuery {
        do {
            return try ArchiveQuery.parse(topic: topic, from: from, to: to, types: types)
        } catch {
            let message = error.description
            throw APIError.badRequest(message.hasPrefix("from must be before") ? "invalid_range" : "invalid_parameter", message)
        }
    }

    static func format(_ text: String?) throws -> ExportFormat {
        guard let text else { return .jsonl }
        guard let f = ExportFormat(rawValue: text) else {
            throw APIError.badRequest("invalid_parameter", "format must be one of: \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return f
    }

    /// `{"topic": …, "from"?: …, "to"?: …, "types"?: [...] or "a,b", "format"?: …}`.
    static func jobRequest(_ data: Data) throws -> (ArchiveQuery, ExportFormat) {
        guard let object = try? JSONSerialization.jsonObject(with: data), let body = object as? [String: Any] else {
            throw APIError.badRequest("invalid_body", "the body must be a JSON object like {\"topic\": \"orders\", \"from\": \"2026-11-01\", \"to\": \"2026-11-30\"}")
        }
        let known: Set<String> = ["topic", "from", "to", "types", "format"]
        if let unknown = body.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError.badRequest("unknown_parameter", "unknown field \"\(unknown.prefix(40))\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        func text(_ key: String) throws -> String? {
            guard let v = body[key], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw APIError.badRequest("invalid_parameter", "\(key) must be a string") }
            return s
        }
        guard let topic = try text("topic") else { throw APIError.badRequest("missing_parameter", "topic is required") }
        var types: [String] = []
        switch body["types"] {
        case nil, is NSNull: break
        case let s as String: types = [s]
        case let list as [Any]:
            guard list.count <= 20, let strings = list as? [String] else {
                throw APIError.badRequest("invalid_parameter", "types must be a list of at most 20 event types")
            }
            types = strings
        default: throw APIError.badRequest("invalid_parameter", "types must be a list of event types")
        }
        return (try parse(topic: topic, from: try text("from"), to: try text("to"), types: types), try format(try text("format")))
    }
}

/// Chunks pulled one at a time on a serial queue of their own (the reads block), for streamed bodies.
final class BlockingChunks: @unchecked Sendable {
    private let queue = DispatchQueue(label: "hearth.archive.stream")
    private let pull: () throws -> [UInt8]?
    init(_ pull: @escaping () throws -> [UInt8]?) { self.pull = pull }
    func next() async throws -> [UInt8]? { try await Blocking.run(on: queue) { [self] in try pull() } }

    /// A finished file in 1 MiB chunks.
    static func file(_ path: String) -> BlockingChunks {
        var handle: FileHandle?
        return BlockingChunks {
            if handle == nil { handle = FileHandle(forReadingAtPath: path) }
            guard let data = try handle?.read(upToCount: 1 << 20), !data.isEmpty else {
                try? handle?.close()
                return nil
            }
            return [UInt8](data)
        }
    }
}

struct ArchiveOverview: Encodable {
    struct Topic: Encodable {
        var topic: String
        var segments = 0
        var records = 0
        var deadLetters = 0
        var bytes = 0
        var uncompressedBytes = 0
        var minEventTime: String?
        var maxEventTime: String?
    }
    let status: ArchiveStatus
    let root: String
    let topics: [Topic]

    init(_ store: ArchiveStore) {
        status = store.status()
        root = store.layout.root.path
        var byTopic: [String: Topic] = [:]
        for e in store.allEntries() {
            var t = byTopic[e.topic] ?? Topic(topic: e.topic)
            t.segments += 1
            t.records += e.records
            t.deadLetters += e.deadLetters
            t.bytes += e.bytes
            t.uncompressedBytes += e.uncompressedBytes
            t.minEventTime = min(t.minEventTime ?? e.minEventTime, e.minEventTime)
            t.maxEventTime = max(t.maxEventTime ?? e.maxEventTime, e.maxEventTime)
            byTopic[e.topic] = t
        }
        topics = byTopic.values.sorted { $0.topic < $1.topic }
    }
}

struct SegmentList: Encodable {
    let topic: String
    let total: Int
    let records: Int
    let bytes: Int
    let segments: [SegmentEntry]
}

struct JobList: Encodable {
    let exports: [ExportJob]
}
