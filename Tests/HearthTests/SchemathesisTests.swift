import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// schemathesis (from PyPI; `make test` installs it in `.build/tools`) against a live `hearth demo`
/// and its own OpenAPI document: no 5xx, and every response as the document says (status code,
/// content type, schema), over generated valid and edge-case requests with an admin token.
@Suite struct SchemathesisTests {
    static var tool: URL {
        if let path = ProcessInfo.processInfo.environment["HEARTH_SCHEMATHESIS"] { return URL(fileURLWithPath: path) }
        return TestPaths.root.appendingPathComponent(".build/tools/bin/schemathesis")
    }

    @Test func theLiveAPIKeepsToItsOpenAPIDocument() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.tool.path),
                     "schemathesis is not installed at \(Self.tool.path): run `make test` (it installs it) or set HEARTH_SCHEMATHESIS")
        let dir = makeTemporaryDirectory()
        // The per-client rate limit (429s are documented) would answer most of schemathesis's requests
        // from one address: raise it so that the endpoints themselves are exercised.
        try await HearthProcess.with(["demo", "--port", "0", "--data-dir", dir.path, "--rate", "300"],
                                     environment: ["HEARTH_RATE_LIMIT_PER_SECOND": "100000"]) { demo in
        let first = try await demo.nextLine(timeout: .seconds(60))
        let base = try #require(first.components(separatedBy: " on ").last, "unexpected first line: \(first)")
        var token: String?
        for _ in 0..<12 where token == nil {
            let line = try await demo.nextLine()
            if line.contains("admin token") { token = line.split(separator: " ").last.map(String.init) }
        }
        let admin = try #require(token, "demo printed no admin token")
        // Let the generated catalog and orders reach the index so that searches find things.
        try await waitUntil("the catalog to be searchable", timeout: .seconds(60)) {
            guard let url = URL(string: "\(base)/api/v1/search/suggestions?q=p") else { return false }
            guard let (data, _) = try? await URLSession.shared.data(from: url) else { return false }
            return String(decoding: data, as: UTF8.self).contains("\"text\"")
        }
        let run = try await runTool(Self.tool.path, [
            "run", "\(base)/openapi.json", "-H", "Authorization: Bearer \(admin)",
            "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--max-examples", "40", "--seed", "20261122", "--no-color",
        ], in: dir,   // its caches (.schemathesis, .hypothesis) go to the test's folder, not the repository
           // about 115 s of its phases in a loaded full run (it passed and was killed printing its summary at 120)
           timeout: .seconds(300))
        let failures = run.out.range(of: "FAILURES").map { String(run.out[$0.lowerBound...].prefix(8000)) } ?? String(run.out.suffix(4000))
        #expect(run.status == 0, "schemathesis found problems:\n\(failures)")
        #expect(run.out.contains("passed") && run.out.contains("Operations:"), "\(run.out.suffix(2000))")
        }
    }
}
