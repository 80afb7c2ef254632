import Foundation
import Hummingbird

/// The one error body of the API: `{"error": {"code": "…", "message": "…"}}`.
/// `code` is stable and machine-readable; `message` is for people and never
/// carries SQL, paths or internal names.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code: code, message: message) }
    public static func notFound(_ message: String = "no such resource") -> APIError { APIError(.notFound, code: "not_found", message: message) }
    public static func unavailable(_ code: String, _ message: String) -> APIError { APIError(.serviceUnavailable, code: code, message: message) }
    public static let internalError = APIError(.internalServerError, code: "internal", message: "an internal error occurred")

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    var body: [UInt8] {
        struct Body: Encodable { let error: Inner }
        struct Inner: Encodable { let code: String; let message: String }
        // Sorted keys: the encoder does not keep declaration order, and clients (and tests) may compare bodies.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(Body(error: Inner(code: code, message: message)))) ?? Data())
    }
}

/// Turns every error into the one error body; unexpected errors become a
/// generic 500 (the detail goes to the log, never to the client).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPError {
            if error.status == .notFound, let methods = OpenAPIDocument.methods(forPath: request.uri.path), !methods.isEmpty {
                var e = APIError(.methodNotAllowed, code: "method_not_allowed",
                                 message: "\(request.method) is not allowed on \(request.uri.path) (allowed: \(methods.joined(separator: ", ")))")
                e.headers[.allow] = methods.joined(separator: ", ")
                return try e.response(from: request, context: context)
            }
            let code: String = switch error.status {
            case .notFound: "not_found"
            case .methodNotAllowed: "method_not_allowed"
            case .contentTooLarge: "request_too_large"
            case .badRequest: "bad_request"
            default: error.status.code < 500 ? "bad_request" : "internal"
            }
            let message = error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)"
                : (error.status.code < 500 ? (error.body ?? error.status.reasonPhrase) : "an internal error occurred")
            return try APIError(error.status, code: code, message: message).response(from: request, context: context)
        } catch {
            context.logger.error("Request failed.", metadata: ["error": "\(String(reflecting: error))"])
            return try APIError.internalError.response(from: request, context: context)
        }
    }
}

/// JSON with snake_case keys, for every successful response.
struct JSONBody {
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
