import Crypto
import CryptoExtras
import Foundation
@testable import HearthAPI
import HearthCore
import HearthSearch
import Hummingbird
import HummingbirdTesting
import JWTKit
import Testing

/// Authentication and roles over HTTP: bearer JWTs (HS256, RS256, ES256) and API keys, 401
/// versus 403, and the attacks a JWT verifier must refuse.
@Suite struct AuthTests {
    static let secret = "an-hs256-secret-of-at-least-32-characters"
    static let apiKey = "analyst-api-key-0123456789abcdef"

    /// Keys an identity provider would hold: RSA and P-256 private keys, their public halves configured.
    struct Provider {
        let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        let ec = P256.Signing.PrivateKey()

        func settings() -> AuthSettings {
            var s = AuthSettings()
            s.jwtSecret = AuthTests.secret
            s.publicKeys = ["rsa-1": rsa.publicKey.pemRepresentation, "ec-1": ec.publicKey.pemRepresentation]
            s.apiKeys = [.init(name: "bi-tool", sha256: Authenticator.hash(apiKey: AuthTests.apiKey),
                               role: .analyst)]
            return s
        }

        /// A token signed by `keys` with the given claims (defaults: valid now for an hour, Hearth's issuer and audience).
        static func token(_ keys: JWTKeyCollection, kid: String? = nil, role: String = "admin", iss: String = "hearth",
                          aud: String = "hearth", from: Date = Date(), ttl: TimeInterval = 3600) async throws -> String {
            let claims = HearthClaims(sub: .init(value: "someone"), role: role, iss: .init(value: iss), aud: .init(value: [aud]),
                                      exp: .init(value: from.addingTimeInterval(ttl)), nbf: .init(value: from), iat: .init(value: from))
            return try await keys.sign(claims, kid: kid.map { JWKIdentifier(string: $0) })
        }

        func rsaToken(role: String = "admin", aud: String = "hearth") async throws -> String {
            let keys = JWTKeyCollection()
            await keys.add(rsa: try Insecure.RSA.PrivateKey(backing: rsa), digestAlgorithm: .sha256, kid: "rsa-1")
            return try await Self.token(keys, kid: "rsa-1", role: role, aud: aud)
        }

        func ecToken(role: String = "analyst") async throws -> String {
            let keys = JWTKeyCollection()
            await keys.add(ecdsa: try ES256PrivateKey(backing: ec), kid: "ec-1")
            return try await Self.token(keys, kid: "ec-1", role: role)
        }
    }

    static func hsKeys(_ secret: String) async -> JWTKeyCollection {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return keys
    }

    /// One route per role behind the same middleware the API uses.
    static func app(_ settings: AuthSettings) async throws -> some ApplicationProtocol {
        let auth = try await Authenticator(settings: settings, secret: settings.jwtSecret)
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        for role in Role.allCases {
            router.group().add(middleware: RequireRole(role: role, authenticator: auth)).get("/\(role.rawValue)") { _, _ in "ok" }
        }
        return Application(router: router)
    }

    struct Outcome: Equatable, CustomStringConvertible {
        var status: Int
        var code: String?
        var description: String { "\(status) \(code ?? "")" }
    }

    static func call(_ client: some TestClientProtocol, _ path: String, _ headers: HTTPFields = [:]) async throws -> Outcome {
        try await client.execute(uri: path, method: .get, headers: headers) { response in
            let code = try? JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body)).error.code
            if response.status == .unauthorized { #expect(response.headers[.wwwAuthenticate] != nil) }
            return Outcome(status: Int(response.status.code), code: code)
        }
    }

    struct ErrorBody: Decodable {
        struct Inner: Decodable { let code: String }
        let error: Inner
    }

    /// Calls `path` and expects `status` (and the error `code`, when given).
    static func check(_ client: some TestClientProtocol, _ path: String, _ headers: HTTPFields = [:], _ status: Int, _ code: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let outcome = try await call(client, path, headers)
        #expect(outcome.status == status, "\(path) \(headers)", sourceLocation: sourceLocation)
        if let code { #expect(outcome.code == code, "\(path) \(headers)", sourceLocation: sourceLocation) }
    }

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    @Test func everyRoleGetsWhatItMayAndNoMore() async throws {
        let provider = Provider()
        let app = try await Self.app(provider.settings())
        let hs = await Self.hsKeys(Self.secret)
        let analyst = try await Provider.token(hs, role: "analyst")
        let admin = try await Provider.token(hs, role: "admin")
        try await app.test(.router) { client in
            // No credentials: public only.
            try await Self.check(client, "/public", [:], 200)
            try await Self.check(client, "/analyst", [:], 401, "unauthorized")
            try await Self.check(client, "/admin", [:], 401, "unauthorized")
            // Analyst: 403 (not 401) where the role is too weak.
            try await Self.check(client, "/public", Self.bearer(analyst), 200)
            try await Self.check(client, "/analyst", Self.bearer(analyst), 200)
            try await Self.check(client, "/admin", Self.bearer(analyst), 403, "forbidden")
            // Admin: everything.
            for role in Role.allCases { try await Self.check(client, "/\(role.rawValue)", Self.bearer(admin), 200) }
            // RS256 and ES256 tokens from the identity provider's keys.
            try await Self.check(client, "/admin", Self.bearer(try await provider.rsaToken()), 200)
            try await Self.check(client, "/analyst", Self.bearer(try await provider.ecToken()), 200)
            try await Self.check(client, "/admin", Self.bearer(try await provider.ecToken()), 403)
            // A static API key, stored hashed.
            try await Self.check(client, "/analyst", [.init("X-API-Key")!: Self.apiKey], 200)
            try await Self.check(client, "/admin", [.init("X-API-Key")!: Self.apiKey], 403, "forbidden")
            try await Self.check(client, "/analyst", [.init("X-API-Key")!: "not-the-key"], 401, "invalid_api_key")
        }
    }

    @Test func expiredEarlyForgedAndMisdirectedTokensAreRefused() async throws {
        let provider = Provider()
        let app = try await Self.app(provider.settings())
        let hs = await Self.hsKeys(Self.secret)
        let now = Date()
        let expired = try await Provider.token(hs, from: now.addingTimeInterval(-7200), ttl: 3600)
        let early = try await Provider.token(hs, from: now.addingTimeInterval(3600))
        let forged = try await Provider.token(await Self.hsKeys("another-secret-of-at-least-32-characters!!"))
        let wrongAudience = try await Provider.token(hs, aud: "billing")
        let wrongIssuer = try await Provider.token(hs, iss: "someone-else")
        let unknownRole = try await Provider.token(hs, role: "root")
        // alg "none": a valid payload with no signature.
        let payload = try await Provider.token(hs).split(separator: ".")[1]
        let none = Self.base64URL(#"{"alg":"none","typ":"JWT"}"#) + "." + payload + "."
        // HS/RS swap: an HS256 token "signed" with the RSA public key as the HMAC secret.
        let swapped = try await Provider.token(await Self.hsKeys(provider.rsa.publicKey.pemRepresentation))
        try await app.test(.router) { client in
            try await Self.check(client, "/admin", Self.bearer(expired), 401, "token_expired")
            try await Self.check(client, "/admin", Self.bearer(early), 401, "token_not_yet_valid")
            for token in [forged, wrongAudience, wrongIssuer, unknownRole, none, swapped, "abc", "a.b.c"] {
                try await Self.check(client, "/admin", Self.bearer(token), 401, "invalid_token")
            }
            try await Self.check(client, "/admin", [.authorization: "Basic YWRtaW46YWRtaW4="], 401, "invalid_credentials")
            try await Self.check(client, "/admin", [.authorization: "Bearer "], 401, "invalid_credentials")
            // Invalid credentials are refused even where none are needed.
            try await Self.check(client, "/public", Self.bearer(forged), 401, "invalid_token")
        }
        // With only public keys configured (no HS256 secret), the swapped token has no key to be checked with.
        var rsOnly = provider.settings()
        rsOnly.jwtSecret = nil
        try await Self.app(rsOnly).test(.router) { client in
            try await Self.check(client, "/admin", Self.bearer(swapped), 401, "invalid_token")
            try await Self.check(client, "/admin", Self.bearer(try await provider.rsaToken()), 200)
            try await Self.check(client, "/admin", Self.bearer(try await provider.rsaToken(aud: "billing")), 401)
        }
    }

    @Test func publicEndpointsCanBeClosedAndTheCLIIssuesTokens() async throws {
        var settings = Provider().settings()
        settings.requireTokenForPublic = true
        let dir = makeTemporaryDirectory()
        // `hearth token` signs with the secret generated once in the data directory.
        var generated = AuthSettings()
        generated.issuer = "hearth"
        let secret = try #require(try Authenticator.secret(for: generated, dataDirectory: dir))
        #expect(try Authenticator.secret(for: generated, dataDirectory: dir) == secret, "generated once, then kept")
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("auth/jwt-secret").path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let cli = try await runTool(TestPaths.hearthBinary.path, ["token", "--role", "analyst", "--ttl", "10m", "--data-dir", dir.path])
        #expect(cli.status == 0)
        let token = try #require(cli.out.split(separator: "\n").last.map(String.init))
        settings.jwtSecret = secret
        try await Self.app(settings).test(.router) { client in
            try await Self.check(client, "/public", [:], 401, "unauthorized")
            try await Self.check(client, "/public", Self.bearer(token), 200)
            try await Self.check(client, "/analyst", Self.bearer(token), 200)
            try await Self.check(client, "/admin", Self.bearer(token), 403)
        }
        let bad = try await runTool(TestPaths.hearthBinary.path, ["token", "--role", "root", "--data-dir", dir.path])
        #expect(bad.status == 1 && bad.out.contains("--role must be analyst or admin"))
    }

    static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
