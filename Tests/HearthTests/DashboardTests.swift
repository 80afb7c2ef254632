import Foundation
@testable import HearthAPI
import HearthAnalytics
import HearthCore
import HearthEvents
import HearthPostgres
import HearthSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// `GET /dashboard` over a real PostgreSQL filled by the analytics sink: signing in with a token,
/// roles, filters, escaping, and the page rendered by headless Chromium with its charts drawn.
@Suite struct DashboardTests {
    /// The dashboard over `url`; `signedInAs` stands every request in for a browser signed in with that role.
    static func app(_ url: String, signedInAs role: Role? = nil) async throws -> (some ApplicationProtocol, Authenticator) {
        let auth = try await Authenticator(settings: AuthSettings(), secret: String(repeating: "k", count: 40))
        let authorization = try await role.asyncMap { "Bearer \(try await auth.issue(role: $0, ttl: .seconds(600)))" }
        let runner = ReportRunner(url: url, reports: try ReportDefinition.loadAll(from: TestPaths.root.appendingPathComponent("Reports")),
                                  timeLimit: .seconds(10), logger: testLogger)
        let router = Router(context: HearthRequestContext.self)
        if let authorization { router.add(middleware: InjectAuthorization(value: authorization)) }
        HearthAPI.addEdge(router, settings: Settings())
        DashboardController(runner: runner, authenticator: auth).add(to: router)
        return (Application(router: router), auth)
    }

    /// Stands in for a browser that signed in (Chromium cannot be given a cookie from the command line).
    struct InjectAuthorization<Context: RequestContext>: RouterMiddleware {
        let value: String
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var head = request.head
            head.headerFields[.authorization] = value
            return try await next(Request(head: head, body: request.body), context)
        }
    }

    /// A database with a week of generated orders ending today (UTC), so that the default range shows them.
    static func database() async throws -> String {
        let url = try await SharedPostgres.shared.freshDatabase()
        let connection = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(connection, logger: testLogger)
        await connection.close()
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24 * 365, logger: testLogger)
        var config = IngestHarness.config(seed: 5, restaurants: 10, ordersPerMinute: 2)
        config.start = Timestamp(epochMillis: (Int64(Date().timeIntervalSince1970) / 86_400 - 5) * 86_400_000)
        var generator = EventGenerator(config: config)
        let codec = EventCodec()
        var events: [Event] = []
        for _ in 0..<25_000 {
            let record = generator.next()
            guard record.topic == "orders", record.kind != .invalid, let event = try? codec.decode(record.value, topic: record.topic),
                  event.occurredAt.epochMillis < Int64(Date().timeIntervalSince1970 * 1000) else { continue }
            events.append(event)
        }
        try await IngestHarness.applyBatch(events, to: sink)
        return url
    }

    @Test func signingInRolesFiltersAndEscaping() async throws {
        let url = try await Self.database()
        let (app, auth) = try await Self.app(url)
        let analyst = try await auth.issue(role: .analyst, ttl: .seconds(300))
        let viewer = try await auth.issue(role: .public, ttl: .seconds(300))
        try await app.test(.router) { client in
            // Without credentials: the sign-in form (no data).
            let browser: HTTPFields = [.accept: "text/html,application/xhtml+xml,*/*;q=0.8"]
            try await client.execute(uri: "/dashboard", method: .get, headers: browser) { r in
                #expect(r.status == .unauthorized)
                let html = String(buffer: r.body)
                #expect(html.contains("<form method=\"post\" action=\"/dashboard/session\"") && !html.contains("<svg"))
                #expect(r.headers[.contentSecurityPolicy]?.contains("style-src 'sha256-") == true)
                #expect(r.headers[.contentSecurityPolicy]?.contains("script-src") == false)
            }
            // A wrong token: the form again, with the reason.
            // Other clients get the API's error body.
            try await client.execute(uri: "/dashboard", method: .get) { r in
                #expect(r.status == .unauthorized && String(buffer: r.body).contains("{\"error\":{\"code\":\"unauthorized\""), "\(String(buffer: r.body))")
            }
            try await client.execute(uri: "/dashboard/session", method: .post,
                                     headers: [.contentType: "application/x-www-form-urlencoded", .accept: "text/html"],
                                     body: ByteBuffer(string: "token=not-a-token")) { r in
                #expect(r.status == .unauthorized && String(buffer: r.body).contains("the API key is not valid"))
                #expect(r.headers[.setCookie] == nil)
            }
            // The right one: a cookie for /dashboard only, then the page.
            let cookie = try await client.execute(uri: "/dashboard/session", method: .post,
                                                  headers: [.contentType: "application/x-www-form-urlencoded"],
                                                  body: ByteBuffer(string: "token=" + analyst)) { r -> String in
                #expect(r.status == .seeOther && r.headers[.location] == "/dashboard")
                let set = try #require(r.headers[.setCookie])
                #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/dashboard"))
                return String(set.split(separator: ";")[0])
            }
            try await client.execute(uri: "/dashboard", method: .get, headers: [.cookie: cookie]) { r in
                #expect(r.status == .ok)
                let html = String(buffer: r.body)
                for chart in ["chart-sales", "chart-items", "chart-funnel", "chart-delivery"] {
                    #expect(html.contains("<svg class=\"\(chart)\""), "\(chart) is drawn")
                }
                #expect(html.contains("Cancellation rate") && html.contains("p90 delivery time") && html.contains("Average order ("))
                #expect(html.contains("<meta http-equiv=\"refresh\"") && !html.contains("<script"))
            }
            // A weaker role is refused; a bad zone is named, and what is typed is escaped.
            try await client.execute(uri: "/dashboard", method: .get, headers: [.authorization: "Bearer \(viewer)", .accept: "text/html"]) { r in
                #expect(r.status == .forbidden && String(buffer: r.body).contains("needs the analyst role"))
            }
            try await client.execute(uri: "/dashboard", method: .get, headers: [.authorization: "Bearer \(viewer)"]) { r in
                #expect(r.status == .forbidden && String(buffer: r.body).contains("\"code\":\"forbidden\""))
            }
            try await client.execute(uri: "/dashboard?tz=Mars/Olympus&city=%3Cscript%3Ealert(1)%3C/script%3E", method: .get,
                                     headers: [.cookie: cookie]) { r in
                let html = String(buffer: r.body)
                #expect(html.contains("Unknown time zone Mars/Olympus"))
                #expect(!html.contains("<script>") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            }
            try await client.execute(uri: "/dashboard?from=yesterday", method: .get, headers: [.cookie: cookie]) { r in
                #expect(String(buffer: r.body).contains("from must be a date (YYYY-MM-DD)"))
            }
            // Signing out clears the cookie.
            try await client.execute(uri: "/dashboard/signout", method: .post, headers: [.cookie: cookie]) { r in
                #expect(r.status == .seeOther && r.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
        }
    }

    /// Debian's Chromium renders the page headless at a laptop's and a phone's width; in each
    /// screenshot every chart's colour must cover a visible area (the bars are drawn, not just present).
    @Test func chromiumDrawsTheChartsAtLaptopAndPhoneWidths() async throws {
        let chromium = "/usr/bin/chromium"
        try #require(FileManager.default.isExecutableFile(atPath: chromium), "chromium is not installed: run `make test` (it installs it)")
        let url = try await Self.database()
        let (app, _) = try await Self.app(url, signedInAs: .analyst)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let dir = makeTemporaryDirectory("hearth-chromium")
            for (name, size) in [("laptop", "1280,1800"), ("phone", "390,2600")] {
                let png = dir.appendingPathComponent("\(name).png")
                let run = try await runTool(chromium, [
                    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
                    "--user-data-dir=\(dir.appendingPathComponent("profile-\(name)").path)", "--window-size=\(size)",
                    "--screenshot=\(png.path)", "http://127.0.0.1:\(port)/dashboard",
                ], timeout: .seconds(120))
                #expect(FileManager.default.fileExists(atPath: png.path), "chromium wrote no screenshot: \(run.out.suffix(1000))")
                let counts = try await Self.colourCounts(png, ["sales": "2563eb", "items": "16a34a", "funnel": "9333ea", "delivery": "ea580c"])
                for (chart, pixels) in counts {
                    #expect(pixels >= 300, "\(name): the \(chart) chart covers \(pixels) pixels")
                }
            }
        }
    }

    /// Pixels of each colour in a PNG (decoded by Python's standard library: zlib and the PNG filters).
    static func colourCounts(_ png: URL, _ colours: [String: String]) async throws -> [String: Int] {
        let script = """
            import json, struct, sys, zlib
            data = open(sys.argv[1], 'rb').read()
            pos, idat, width, height, kind = 8, b'', 0, 0, 0
            while pos < len(data):
                n, tag = struct.unpack('>I4s', data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
                if tag == b'IHDR': width, height, depth, kind = struct.unpack('>IIBB', body[:10])
                elif tag == b'IDAT': idat += body
            bpp = {2: 3, 6: 4}[kind]; stride = width * bpp; raw = zlib.decompress(idat)
            prev = bytearray(stride); want = {k: bytes.fromhex(v) for k, v in json.loads(sys.argv[2]).items()}; counts = dict.fromkeys(want, 0)
            for y in range(height):
                f = raw[y * (stride + 1)]; line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
                for i in range(stride):
                    a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
                    if f == 1: line[i] = (line[i] + a) & 255
                    elif f == 2: line[i] = (line[i] + b) & 255
                    elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
                    elif f == 4:
                        p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                        line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
                for x in range(0, stride, bpp):
                    px = bytes(line[x:x + 3])
                    for k, v in want.items():
                        if px == v: counts[k] += 1
                prev = line
            print(json.dumps(counts))
            """
        let json = String(data: try JSONSerialization.data(withJSONObject: colours), encoding: .utf8)!
        let run = try await runTool("/usr/bin/env", ["python3", "-c", script, png.path, json], timeout: .seconds(120))
        let line = run.out.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Int]) ?? [:]
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
