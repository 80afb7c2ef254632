import Crypto
import Foundation
import HearthAnalytics
import HearthPostgres
import Hummingbird

/// `GET /dashboard`: a page for business users, rendered on the server from the reports, with its
/// charts as inline SVG; no scripts, no fonts, nothing fetched from elsewhere. It refreshes itself
/// every minute and reflows from laptop to phone widths.
///
/// Browsers cannot send a bearer token when a page is opened, so the page asks for one (a token
/// from `hearth token --role analyst` or an API key) and keeps it in an HttpOnly, SameSite=Strict
/// cookie scoped to `/dashboard`. Requests that carry `Authorization` or `X-API-Key` work too.
struct DashboardController<Context: RequestContext> {
    let runner: ReportRunner
    let authenticator: Authenticator

    static var cookieName: String { "hearth_dashboard" }

    func add(to router: Router<Context>) {
        router.get("/dashboard") { request, _ in
            let html = Self.wantsHTML(request)
            switch await signedIn(request) {
            case .none:
                guard html else { throw Authenticator.unauthorized("unauthorized", "the dashboard needs a bearer token, an API key or its sign-in cookie") }
                return Page.signIn(message: nil, status: .unauthorized)
            case .failed(let message, let error):
                guard html else { throw error }
                return Page.signIn(message: message, status: .unauthorized)
            case .principal(let principal) where principal.role < .analyst:
                let message = "The dashboard needs the analyst role; these credentials carry \(principal.role.rawValue)."
                guard html else { throw APIError(.forbidden, code: "forbidden", message: message) }
                return Page.message(message, status: .forbidden)
            case .principal:
                var query: [String: String] = [:]
                for (k, v) in request.uri.queryParameters { query[String(k)] = String(v) }
                let page = await dashboard(query)
                if page.status != .ok && !html { throw APIError.badRequest("invalid_parameter", page.problem ?? "the filters are not valid") }
                return Page.response(page.html, status: page.status)
            }
        }
        router.post("/dashboard/session") { request, _ in
            let html = Self.wantsHTML(request)
            let body = try await request.body.collect(upTo: 16 * 1024)
            let form = Self.form(String(buffer: body))
            let credential = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !credential.isEmpty else {
                guard html else { throw APIError.badRequest("missing_parameter", "the form needs a token (a token or an API key)") }
                return Page.signIn(message: "Enter a token or an API key.", status: .badRequest)
            }
            do {
                _ = try await authenticator.authenticate(credential: credential)
            } catch {
                guard html else { throw error }
                return Page.signIn(message: Self.reason(error), status: .unauthorized)
            }
            var response = Response(status: .seeOther, headers: [.location: "/dashboard"])
            response.headers[.setCookie] = "\(Self.cookieName)=\(credential.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? ""); Path=/dashboard; Max-Age=43200; HttpOnly; SameSite=Strict"
            return response
        }
        router.post("/dashboard/signout") { _, _ in
            var response = Response(status: .seeOther, headers: [.location: "/dashboard"])
            response.headers[.setCookie] = "\(Self.cookieName)=; Path=/dashboard; Max-Age=0; HttpOnly; SameSite=Strict"
            return response
        }
    }

    enum SignIn { case none, failed(String, any Error), principal(Principal) }

    /// Browsers ask for HTML and get pages; other clients get the API's JSON error body.
    static func wantsHTML(_ request: Request) -> Bool {
        request.headers[values: .accept].contains { $0.contains("text/html") }
    }

    /// The request's credentials: its headers first, else the dashboard's cookie.
    func signedIn(_ request: Request) async -> SignIn {
        do {
            if let principal = try await authenticator.authenticate(request.headers) { return .principal(principal) }
            guard let credential = Self.cookie(request) else { return .none }
            return .principal(try await authenticator.authenticate(credential: credential))
        } catch {
            return .failed("The saved credentials no longer work (\(Self.reason(error))). Enter a new token.", error)
        }
    }

    static func reason(_ error: any Error) -> String {
        (error as? APIError)?.message ?? "they are not valid"
    }

    static func cookie(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let kv = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == cookieName, !kv[1].isEmpty { return String(kv[1]).removingPercentEncoding }
            }
        }
        return nil
    }

    /// `application/x-www-form-urlencoded` fields.
    static func form(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if let key = kv.first { out[key] = kv.count > 1 ? kv[1] : "" }
        }
        return out
    }

    // MARK: The page

    func dashboard(_ query: [String: String]) async -> (html: String, status: HTTPResponse.Status, problem: String?) {
        var filters = DashboardFilters(query)
        let range = ["from": filters.from, "to": filters.to, "tz": filters.tz]
        var problems: [String] = filters.error.map { [$0] } ?? []
        func rows(_ name: String, _ params: [String: String]) async -> [[String: String]] {
            guard let report = runner.report(named: name) else { problems.append("The report \(name) is missing."); return [] }
            do {
                let result = try await runner.run(report, binds: try ReportRunner.binds(report, filters.params(params)))
                return result.values.map { row in
                    Dictionary(uniqueKeysWithValues: zip(result.columns, row).compactMap { k, v in v.map { (k, $0) } })
                }
            } catch let error as ReportParameterError {
                problems.append(error.message)
            } catch ReportFailure.timedOut {
                problems.append("\(name) took too long; narrow the range.")
            } catch {
                problems.append("\(name) is not available right now.")
            }
            return []
        }
        let sales = await rows("sales", range.merging(["granularity": filters.granularity]) { a, _ in a })
        let funnel = await rows("funnel", range)
        let delivery = await rows("delivery_times", range)
        let distribution = await rows("delivery_distribution", range)
        let items = await rows("top_items", ["from": filters.from, "to": filters.to, "limit": "10"])
        if problems.count > 1 { problems = Array(Set(problems)).sorted() }
        filters.error = problems.isEmpty ? nil : problems.joined(separator: " ")
        let html = Page.dashboard(filters: filters, sales: sales, funnel: funnel, delivery: delivery.first,
                                  distribution: distribution, items: items)
        return (html, problems.isEmpty || !(sales.isEmpty && funnel.isEmpty) ? .ok : .badRequest, filters.error)
    }
}

/// What the filters ask for, checked; `error` says what was wrong with them.
struct DashboardFilters {
    var from: String
    var to: String
    var tz: String
    var city: String
    var restaurantID: String
    var error: String?

    init(_ query: [String: String], now: Date = Date()) {
        tz = Self.clean(query["tz"]) ?? "UTC"
        if TimeZone(identifier: tz) == nil { error = "Unknown time zone \(tz.prefix(64)); showing UTC."; tz = "UTC" }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: tz)!
        let format = Date.ISO8601FormatStyle(timeZone: calendar.timeZone).year().month().day().dateSeparator(.dash)
        let today = now.formatted(format)
        let weekAgo = calendar.date(byAdding: .day, value: -6, to: now)!.formatted(format)
        from = Self.clean(query["from"]) ?? weekAgo
        to = Self.clean(query["to"]) ?? today
        city = Self.clean(query["city"]) ?? ""
        restaurantID = Self.clean(query["restaurant_id"]) ?? ""
        for (name, value) in [("from", from), ("to", to)] where (try? format.parse(value)) == nil {
            error = "\(name) must be a date (YYYY-MM-DD); showing the last 7 days."
            from = weekAgo
            to = today
        }
    }

    static func clean(_ value: String?) -> String? {
        guard let v = value?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
        return String(v.prefix(100))
    }

    var granularity: String { from == to ? "hour" : "day" }

    /// Report parameters with the filters that are set.
    func params(_ extra: [String: String]) -> [String: String] {
        var p = extra
        if !city.isEmpty { p["city"] = city }
        if !restaurantID.isEmpty { p["restaurant_id"] = restaurantID }
        return p
    }
}


extension Authenticator {
    /// A token or an API key on its own (as the dashboard keeps it): a JWT has three dot-separated
    /// parts, anything else is taken for an API key.
    public func authenticate(credential: String) async throws -> Principal {
        var headers = HTTPFields()
        if credential.split(separator: ".", omittingEmptySubsequences: false).count == 3 {
            headers[.authorization] = "Bearer \(credential)"
        } else {
            headers[.init("X-API-Key")!] = credential
        }
        guard let principal = try await authenticate(headers) else {
            throw Authenticator.unauthorized("unauthorized", "no credentials")
        }
        return principal
    }
}

/// HTML of the dashboard and its sign-in page.
enum Page {
    static var refreshSeconds: Int { 60 }

    static let style = """
        *{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f3f4f6}
        header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:8px;padding:12px 16px;background:#111827;color:#f9fafb}
        header h1{font-size:18px;margin:0}header form{margin:0}main{padding:16px;max-width:1200px;margin:auto}
        .filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:16px}
        .filters label{display:flex;flex-direction:column;font-size:12px;color:#4b5563}
        input{font:inherit;padding:6px 8px;border:1px solid #d1d5db;border-radius:6px;min-width:0}
        button{font:inherit;padding:7px 14px;border:0;border-radius:6px;background:#2563eb;color:#fff;cursor:pointer}
        header button{background:#374151}.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:16px}
        .kpi{background:#fff;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
        .kpi b{display:block;font-size:19px;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}.kpi span{font-size:12px;color:#6b7280}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px}
        section{background:#fff;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06);min-width:0}
        section h2{font-size:15px;margin:0 0 8px}svg{width:100%;height:auto;display:block}svg text{font:13px system-ui,sans-serif;fill:#4b5563}
        .empty{color:#6b7280;padding:24px 0;text-align:center}.problem{background:#fef3c7;border:1px solid #f59e0b;border-radius:8px;padding:8px 12px;margin-bottom:12px}
        .signin{max-width:420px;margin:10vh auto;background:#fff;border-radius:10px;padding:20px;box-shadow:0 1px 3px rgba(0,0,0,.1)}
        .signin input{width:100%;margin:8px 0 12px}@media (max-width:520px){main{padding:10px}.filters label{flex:1 1 40%}}
        """

    static let policy: String = {
        let digest = Data(SHA256.hash(data: Data(style.utf8))).base64EncodedString()
        return "default-src 'none'; style-src 'sha256-\(digest)'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    }()

    static func response(_ html: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: policy,
                                           .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func document(_ title: String, refresh: Bool, _ body: String) -> String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">\
        \(refresh ? "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">" : "")\
        <title>\(escape(title))</title><style>\(style)</style></head><body>\(body)</body></html>
        """
    }

    static func signIn(message: String?, status: HTTPResponse.Status) -> Response {
        response(document("Hearth — sign in", refresh: false, """
            <div class="signin"><h1>Hearth dashboard</h1>\
            \(message.map { "<p class=\"problem\">\(escape($0))</p>" } ?? "")\
            <form method="post" action="/dashboard/session"><label>Token or API key (analyst or admin)\
            <input name="token" type="password" autocomplete="off" required></label>\
            <button type="submit">Open the dashboard</button></form>\
            <p><small>Get one with <code>hearth token --role analyst</code>. It is kept in a cookie for 12 hours.</small></p></div>
            """), status: status)
    }

    static func message(_ text: String, status: HTTPResponse.Status) -> Response {
        response(document("Hearth", refresh: false, "<div class=\"signin\"><p class=\"problem\">\(escape(text))</p>"
                          + "<form method=\"post\" action=\"/dashboard/signout\"><button>Use other credentials</button></form></div>"),
                 status: status)
    }

    static func dashboard(filters f: DashboardFilters, sales: [[String: String]],
                          funnel: [[String: String]], delivery: [String: String]?, distribution: [[String: String]],
                          items: [[String: String]]) -> String {
        // KPIs: counts add up across currencies, money never does.
        var orders = 0, cancellations = 0
        var revenue: [String: Int64] = [:], ordersByCurrency: [String: Int64] = [:]
        for row in sales {
            let n = Int64(row["orders"] ?? "") ?? 0
            orders += Int(n)
            cancellations += Int(row["cancellations"] ?? "") ?? 0
            if let c = row["currency"] {
                revenue[c, default: 0] += Int64(row["gross_revenue_minor"] ?? "") ?? 0
                ordersByCurrency[c, default: 0] += n
            }
        }
        let currencies = revenue.keys.sorted()
        let cancelled = funnel.first { $0["stage"] == "cancelled" }?["share_of_placed"].flatMap(Double.init)
        var kpis = [kpi("Orders", grouped(orders)),
                    kpi("Cancellation rate", cancelled.map { String(format: "%.1f%%", $0 * 100) } ?? "—"),
                    kpi("p90 delivery time", delivery?["p90_minutes"].flatMap(Double.init).map { String(format: "%.0f min", $0) } ?? "—")]
        for c in currencies {
            kpis.append(kpi("Revenue (\(c))", money(revenue[c]!, c)))
            kpis.append(kpi("Average order (\(c))", ordersByCurrency[c]! > 0 ? money(revenue[c]! / ordersByCurrency[c]!, c) : "—"))
        }
        if currencies.isEmpty { kpis.append(kpi("Revenue", "—")) }

        // Sales over time: orders per bucket (summed over currencies).
        var perBucket: [(String, Double)] = []
        for row in sales {
            guard let b = row["bucket"] else { continue }
            let n = Double(row["orders"] ?? "") ?? 0
            if let last = perBucket.last, last.0 == b { perBucket[perBucket.count - 1].1 += n } else { perBucket.append((b, n)) }
        }
        let salesChart = columns(perBucket.map { (label(bucket: $0.0, hourly: f.granularity == "hour"), $0.1) }, color: "#2563eb",
                                 title: "Orders per \(f.granularity)", name: "sales")
        let itemsChart = bars(items.map { ("\($0["name"] ?? "?") · \($0["currency"] ?? "")", Double($0["orders"] ?? "") ?? 0) },
                              color: "#16a34a", title: "Top items by orders", name: "items")
        let funnelChart = bars(funnel.map { (($0["stage"] ?? "").replacingOccurrences(of: "_", with: " "), Double($0["orders"] ?? "") ?? 0) },
                               color: "#9333ea", title: "Order funnel", name: "funnel")
        let deliveryChart = columns(distribution.map {
            let from = Double($0["from_minutes"] ?? "") ?? 0
            return (from >= 10 ? String(format: "%.0f", from) : String(format: "%.1f", from), Double($0["deliveries"] ?? "") ?? 0)
        }, color: "#ea580c", title: "Deliveries by minutes taken", name: "delivery")

        let body = """
            <header><h1>Hearth · orders</h1><form method="post" action="/dashboard/signout"><button>Sign out</button></form></header>\
            <main><form class="filters" method="get" action="/dashboard">\
            \(input("From", "from", f.from, type: "date"))\(input("To", "to", f.to, type: "date"))\
            \(input("Time zone", "tz", f.tz))\(input("City", "city", f.city))\(input("Restaurant id", "restaurant_id", f.restaurantID))\
            <button type="submit">Show</button></form>\
            \(f.error.map { "<p class=\"problem\">\(escape($0))</p>" } ?? "")\
            <div class="kpis">\(kpis.joined())</div>\
            <div class="charts">\
            <section><h2>Sales over time</h2>\(salesChart)</section>\
            <section><h2>Top items</h2>\(itemsChart)</section>\
            <section><h2>Funnel</h2>\(funnelChart)</section>\
            <section><h2>Delivery times</h2>\(deliveryChart)</section>\
            </div><p><small>\(escape(f.from)) to \(escape(f.to)) in \(escape(f.tz)); refreshes every minute.</small></p></main>
            """
        return document("Hearth dashboard", refresh: true, body)
    }

    static func kpi(_ name: String, _ value: String) -> String {
        "<div class=\"kpi\"><span>\(escape(name))</span><b>\(escape(value))</b></div>"
    }

    static func input(_ label: String, _ name: String, _ value: String, type: String = "text") -> String {
        "<label>\(escape(label))<input name=\"\(name)\" type=\"\(type)\" value=\"\(escape(value))\"></label>"
    }

    /// Vertical bars (a time series or a histogram), a few labels under them.
    static func columns(_ data: [(String, Double)], color: String, title: String, name: String) -> String {
        guard let top = data.map(\.1).max(), top > 0 else { return "<p class=\"empty\">Nothing in this range.</p>" }
        let width = 420.0, height = 220.0, left = 44.0, bottom = 24.0
        let step = (width - left) / Double(data.count)
        var svg = "<svg class=\"chart-\(name)\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\"><title>\(escape(title))</title>"
        svg += "<text x=\"0\" y=\"12\">\(escape(grouped(Int(top))))</text><text x=\"0\" y=\"\(Int(height - bottom))\">0</text>"
        let labelEvery = max(1, data.count / 5)
        for (i, (label, value)) in data.enumerated() {
            let h = (height - bottom - 8) * value / top
            let x = left + Double(i) * step
            svg += "<rect x=\"\(fmt(x + step * 0.1))\" y=\"\(fmt(height - bottom - h))\" width=\"\(fmt(max(step * 0.8, 1)))\" height=\"\(fmt(h))\" fill=\"\(color)\"><title>\(escape(label)): \(escape(grouped(Int(value))))</title></rect>"
            if i % labelEvery == 0 { svg += "<text x=\"\(fmt(x))\" y=\"\(Int(height - 6))\">\(escape(label))</text>" }
        }
        return svg + "</svg>"
    }

    /// Horizontal bars with their names and values.
    static func bars(_ data: [(String, Double)], color: String, title: String, name: String) -> String {
        guard let top = data.map(\.1).max(), top > 0 else { return "<p class=\"empty\">Nothing in this range.</p>" }
        let width = 420.0, row = 26.0, labelWidth = 150.0
        let height = row * Double(data.count) + 4
        var svg = "<svg class=\"chart-\(name)\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\"><title>\(escape(title))</title>"
        for (i, (label, value)) in data.enumerated() {
            let y = Double(i) * row + 2
            let w = (width - labelWidth - 56) * value / top
            let short = label.count > 20 ? String(label.prefix(19)) + "…" : label
            svg += "<text x=\"0\" y=\"\(fmt(y + 17))\">\(escape(short))</text>"
            svg += "<rect x=\"\(Int(labelWidth))\" y=\"\(fmt(y + 3))\" width=\"\(fmt(max(w, 1)))\" height=\"\(fmt(row - 8))\" fill=\"\(color)\"><title>\(escape(label)): \(escape(grouped(Int(value))))</title></rect>"
            svg += "<text x=\"\(fmt(labelWidth + max(w, 1) + 4))\" y=\"\(fmt(y + 17))\">\(escape(grouped(Int(value))))</text>"
        }
        return svg + "</svg>"
    }

    static func label(bucket: String, hourly: Bool) -> String {
        // "2026-09-21T14:00:00+05:30" → "09-21" or "14:00".
        let parts = bucket.split(separator: "T")
        guard parts.count == 2 else { return bucket }
        return hourly ? String(parts[1].prefix(5)) : String(parts[0].dropFirst(5))
    }

    static func fmt(_ x: Double) -> String { String(format: "%.1f", x) }

    static func grouped(_ n: Int) -> String { n.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US"))) }

    /// Minor units shown in major units of the currency (two decimals unless the currency has none).
    static func money(_ minor: Int64, _ currency: String) -> String {
        let digits = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XAF", "XOF"].contains(currency) ? 0 : 2
        let major = Double(minor) / pow(10, Double(digits))
        return "\(currency) " + major.formatted(.number.precision(.fractionLength(digits)).grouping(.automatic).locale(Locale(identifier: "en_US")))
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
