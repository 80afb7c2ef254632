import Crypto
import Foundation
import HearthCore
import Hummingbird
import JWTKit

public typealias Role = AuthSettings.Role

/// Who made a request, once credentials are checked.
public struct Principal: Sendable, Equatable {
    public var subject: String
    public var role: Role
}

/// The claims of a Hearth token: `role` beside the registered claims.
struct HearthClaims: JWTPayload {
    var sub: SubjectClaim
    var role: String
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var iat: IssuedAtClaim?

    /// Signature checks are done by the time this runs; the times and the issuer and audience are
    /// checked by `Authenticator` (so that each failure has its own error code).
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Checks bearer JWTs and API keys, and signs Hearth's own tokens.
///
/// Each algorithm has its own keys: an HS256 token is only ever checked with the shared secret,
/// an RS256 one only with RSA public keys, an ES256 one only with P-256 keys, and no other
/// algorithm (`none` included) is accepted, so a token cannot choose how it is verified.
public final class Authenticator: Sendable {
    public let settings: AuthSettings
    private let hmac: JWTKeyCollection?
    private let rsa: JWTKeyCollection?
    private let ecdsa: JWTKeyCollection?
    private let apiKeys: [String: AuthSettings.APIKey]

    /// `secret`: the HS256 secret in use (configured or generated), if any.
    public init(settings: AuthSettings, secret: String?) async throws {
        self.settings = settings
        if let secret {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            hmac = keys
        } else {
            hmac = nil
        }
        var rsaKeys: JWTKeyCollection?
        var ecKeys: JWTKeyCollection?
        for (kid, pem) in settings.publicKeys.sorted(by: { $0.key < $1.key }) {
            let id = kid.isEmpty ? nil : JWKIdentifier(string: kid)
            if let key = try? Insecure.RSA.PublicKey(pem: pem) {
                rsaKeys = rsaKeys ?? JWTKeyCollection()
                await rsaKeys!.add(rsa: key, digestAlgorithm: .sha256, kid: id)
            } else if let key = try? ES256PublicKey(pem: pem) {
                ecKeys = ecKeys ?? JWTKeyCollection()
                await ecKeys!.add(ecdsa: key, kid: id)
            } else {
                throw AuthSetupError(message: "public key \(kid.isEmpty ? "(default)" : kid) is neither an RSA nor a P-256 public key")
            }
        }
        rsa = rsaKeys
        ecdsa = ecKeys
        apiKeys = Dictionary(settings.apiKeys.map { ($0.sha256, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The HS256 secret: the configured one, else one generated once and kept in
    /// `<dataDirectory>/auth/jwt-secret` (mode 0600). Nil when only public keys are configured.
    public static func secret(for settings: AuthSettings, dataDirectory: URL) throws -> String? {
        if let s = settings.jwtSecret { return s }
        guard settings.publicKeys.isEmpty else { return nil }
        let dir = dataDirectory.appendingPathComponent("auth")
        let file = dir.appendingPathComponent("jwt-secret")
        if let existing = try? String(contentsOf: file, encoding: .utf8), existing.count >= 32 {
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.map { String(format: "%02x", $0) }.joined()
        // Written to a temporary name and renamed, so that two processes starting together agree.
        let tmp = dir.appendingPathComponent("jwt-secret.\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: tmp.path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw AuthSetupError(message: "cannot write \(file.path)")
        }
        if link(tmp.path, file.path) != 0 {
            // Someone else won the race: use theirs.
            try? FileManager.default.removeItem(at: tmp)
            guard let existing = try? String(contentsOf: file, encoding: .utf8) else { throw AuthSetupError(message: "cannot read \(file.path)") }
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try? FileManager.default.removeItem(at: tmp)
        return secret
    }

    /// Signs a token for `role`, valid from now for `ttl` (HS256 with the secret).
    public func issue(role: Role, subject: String = "hearth-cli", ttl: Duration, now: Date = Date()) async throws -> String {
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        guard let hmac else {
            throw AuthSetupError(message: "no HS256 secret is configured to sign with (tokens come from the configured identity provider)")
        }
        let claims = HearthClaims(sub: .init(value: subject), role: role.rawValue, iss: .init(value: settings.issuer),
                                  aud: .init(value: [settings.audience]),
                                  exp: .init(value: now.addingTimeInterval(ttl.seconds)), nbf: .init(value: now), iat: .init(value: now))
        return try await hmac.sign(claims)
    }

    /// The principal behind a request's credentials; nil without any; an `APIError` (401) when they are not valid.
    public func authenticate(_ headers: HTTPFields, now: Date = Date()) async throws -> Principal? {
        if let key = headers[.init("X-API-Key")!] {
            guard let entry = apiKeys[Self.hash(apiKey: key)] else { throw Self.unauthorized("invalid_api_key", "the API key is not valid") }
            return Principal(subject: "api-key:\(entry.name)", role: entry.role)
        }
        guard let authorization = headers[.authorization] else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Self.unauthorized("invalid_credentials", "Authorization must be \"Bearer <token>\"")
        }
        return try await verify(String(parts[1]).trimmingCharacters(in: .whitespaces), now: now)
    }

    func verify(_ token: String, now: Date) async throws -> Principal {
        guard token.utf8.count <= 8192 else { throw Self.invalidToken("the token is too long") }
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count == 3, let headerData = Base64URL.decode(String(segments[0])),
              let header = try? JSONDecoder().decode(Header.self, from: headerData) else {
            throw Self.invalidToken("the token is not a well-formed JWT")
        }
        let keys: JWTKeyCollection?
        switch header.alg {
        case "HS256": keys = hmac
        case "RS256": keys = rsa
        case "ES256": keys = ecdsa
        default: throw Self.invalidToken("the token's algorithm \"\(header.alg.prefix(16))\" is not accepted")
        }
        guard let keys else { throw Self.invalidToken("no key is configured for \(header.alg) tokens") }
        let claims: HearthClaims
        do {
            claims = try await keys.verify(token, as: HearthClaims.self)
        } catch {
            throw Self.invalidToken("the token's signature or claims are not valid")
        }
        if claims.exp.value <= now { throw Self.unauthorized("token_expired", "the token has expired") }
        if let nbf = claims.nbf, nbf.value > now.addingTimeInterval(30) {
            throw Self.unauthorized("token_not_yet_valid", "the token is not valid yet")
        }
        guard claims.iss?.value == settings.issuer else { throw Self.invalidToken("the token was not issued by \(settings.issuer)") }
        guard claims.aud?.value.contains(settings.audience) == true else {
            throw Self.invalidToken("the token is not meant for this audience")
        }
        guard let role = Role(rawValue: claims.role) else { throw Self.invalidToken("the token's role is not known") }
        return Principal(subject: claims.sub.value, role: role)
    }

    struct Header: Decodable { let alg: String }

    /// How API keys are stored: the lower-case hex SHA-256 of the key.
    public static func hash(apiKey: String) -> String {
        SHA256.hash(data: Data(apiKey.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func unauthorized(_ code: String, _ message: String) -> APIError {
        var e = APIError(.unauthorized, code: code, message: message)
        e.headers[.wwwAuthenticate] = "Bearer realm=\"hearth\""
        return e
    }

    static func invalidToken(_ message: String) -> APIError { unauthorized("invalid_token", message) }
}

public struct AuthSetupError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Base64url without padding, as JWTs use it.
enum Base64URL {
    static func decode(_ s: String) -> Data? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }
}

/// Lets a request through only with credentials of at least `role` (401 without valid ones,
/// 403 with too weak a role). Public routes need none unless the configuration says so.
struct RequireRole<Context: RequestContext>: RouterMiddleware {
    let role: Role
    let authenticator: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let principal = try await authenticator.authenticate(request.headers)
        if role == .public && !authenticator.settings.requireTokenForPublic { return try await next(request, context) }
        guard let principal else {
            throw Authenticator.unauthorized("unauthorized", "this endpoint needs a bearer token or an API key")
        }
        guard principal.role >= role else {
            throw APIError(.forbidden, code: "forbidden", message: "this endpoint needs the \(role.rawValue) role; the credentials carry \(principal.role.rawValue)")
        }
        return try await next(request, context)
    }
}
