import Foundation
@testable import HearthAPI
import HearthAnalytics
import HearthCore
import HearthEvents
import HearthKafka
import HearthPipeline
import HearthPostgres
import Hummingbird
import HummingbirdTesting
import Testing

/// Reports from `Reports/*.sql` over a real PostgreSQL, filled by the analytics sink: definitions
/// read strictly, parameters checked and bound, JSON and CSV, roles, the time limit, and
/// injection attempts in every parameter.
@Suite struct ReportTests {
    @Test func definitionsAreReadStrictly() throws {
        let reports = try ReportDefinition.loadAll(from: TestPaths.root.appendingPathComponent("Reports"))
        let top = try #require(reports.first { $0.name == "top_items" })
        #expect(top.bindOrder == ["from", "to", "city", "restaurant_id", "currency", "limit"])
        #expect(!top.sql.contains(":from") && top.sql.contains("$1::date") && top.sql.contains("$6::int"))
        func error(_ text: String) -> String? {
            do { _ = try ReportDefinition(file: "r.sql", text: text); return nil } catch { return "\(error)" }
        }
        let head = "/*---\nname: r\ndescription: d\n"
        #expect(error("SELECT 1") == "r.sql:1: must start with a /*--- … ---*/ block declaring the report")
        #expect(error(head + "columns: {a: text}\n---*/ SELECT :nope") == "r.sql: the SQL refers to :nope, which is not a declared parameter")
        #expect(error(head + "params: {a: {type: colour}}\ncolumns: {a: text}\n---*/ SELECT 1")?.contains("params.a.type: must be one of") == true)
        #expect(error(head + "---*/ SELECT 1")?.contains("columns: is required") == true)
        // Casts (`::int`) and quoted text are left alone.
        let r = try ReportDefinition(file: "r.sql", text: head + "params: {n: {type: int}}\ncolumns: {a: text}\n---*/ SELECT ':n', :n::int, :n")
        #expect(r.sql.hasSuffix("SELECT ':n', $1::int, $1") && r.bindOrder == ["n"])
        // So are comments: an apostrophe there opens no string, a `:name` there is no parameter.
        let c = try ReportDefinition(file: "r.sql", text: head + "params: {n: {type: int}}\ncolumns: {a: text}\n---*/ -- it's :n\nSELECT /* don't :n */ :n, ':n'")
        #expect(c.sql.hasSuffix("-- it's :n\nSELECT /* don't :n */ $1, ':n'") && c.bindOrder == ["n"], "\(c.sql)")
    }

    /// A database with the analytics schema and a few days of orders, through the analytics sink.
    static func database() async throws -> String {
        let url = try await SharedPostgres.shared.freshDatabase()
        let connection = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(connection, logger: testLogger)
        await connection.close()
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24, logger: testLogger)
        let day = Int64(1_790_000_000_000)   // 2026-09-21T14:13:20Z
        func order(_ n: Int, item: String, name: String, restaurant: String, city: String, qty: Int, at: Int64) -> Event {
            Event(eventID: "e-\(n)", occurredAt: Timestamp(epochMillis: at), payload: .orderPlaced(OrderPlaced(
                order_id: "o-\(n)", customer_id: "c-1", restaurant_id: restaurant, city: city, currency: city == "London" ? "GBP" : "INR",
                channel: "app", payment_method: "card", items: [OrderLine(item_id: item, name: name, quantity: qty, unit_price_minor: 500)],
                subtotal_minor: Int64(qty) * 500, delivery_fee_minor: 0, discount_minor: 0, total_minor: Int64(qty) * 500)))
        }
        var events: [Event] = []
        for n in 0..<6 { events.append(order(n, item: "m-1", name: "Paneer Tikka", restaurant: "r-1", city: "Mumbai", qty: 2, at: day)) }
        for n in 6..<9 { events.append(order(n, item: "m-2", name: "Masala Dosa", restaurant: "r-1", city: "Mumbai", qty: 1, at: day + 86_400_000)) }
        for n in 9..<13 { events.append(order(n, item: "m-3", name: "Fish, \"Chips\"", restaurant: "r-2", city: "London", qty: 1, at: day)) }
        events.append(order(99, item: "m-1", name: "Paneer Tikka", restaurant: "r-1", city: "Mumbai", qty: 5, at: day + 10 * 86_400_000))
        for (n, (restaurant, city, stars)) in [("r-1", "Mumbai", 5), ("r-1", "Mumbai", 4), ("r-1", "Mumbai", 5), ("r-2", "London", 1)].enumerated() {
            events.append(Event(eventID: "rv-\(n)", occurredAt: Timestamp(epochMillis: day), payload: .reviewPosted(ReviewPosted(
                OrderDimensions(order_id: "o-\(n)", restaurant_id: restaurant, city: city, currency: city == "London" ? "GBP" : "INR"),
                rating: stars))))
        }
        try await IngestHarness.applyBatch(events, to: sink)
        return url
    }

    static func app(_ url: String, reportsDir: URL = TestPaths.root.appendingPathComponent("Reports"),
                    timeLimit: Duration = .seconds(10)) async throws -> (some ApplicationProtocol, Authenticator) {
        let auth = try await Authenticator(settings: AuthSettings(), secret: String(repeating: "k", count: 40))
        let runner = ReportRunner(url: url, reports: try ReportDefinition.loadAll(from: reportsDir), timeLimit: timeLimit, logger: testLogger)
        let router = Router(context: HearthRequestContext.self)
        HearthAPI.addEdge(router, settings: Settings())
        ReportsController(runner: runner).add(to: router, authenticator: auth)
        return (Application(router: router), auth)
    }

    @Test func topItemsAsJSONAndCSVForAnalystsOnly() async throws {
        let url = try await Self.database()
        let (app, auth) = try await Self.app(url)
        let analyst: HTTPFields = [.authorization: "Bearer \(try await auth.issue(role: .analyst, ttl: .seconds(300)))"]
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/reports", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/v1/reports", method: .get, headers: analyst) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body).contains("\"name\":\"top_items\""))
            }
            try await client.execute(uri: "/api/v1/reports/top_items?from=2026-09-21&to=2026-09-22", method: .get, headers: analyst) { r in
                #expect(r.status == .ok)
                let doc = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any]
                let rows = doc?["rows"] as? [[String: Any]] ?? []
                #expect(rows.map { $0["item_id"] as? String } == ["m-1", "m-3", "m-2"], "by orders: 6, 4, 3 (the later order is outside the range)")
                #expect(rows.first?["quantity"] as? Int == 12 && rows.first?["revenue_minor"] as? Int == 6000 && rows.first?["currency"] as? String == "INR")
            }
            try await client.execute(uri: "/api/v1/reports/top_items?from=2026-09-21&to=2026-10-30&city=Mumbai&limit=1", method: .get, headers: analyst) { r in
                let rows = (try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])?["rows"] as? [[String: Any]] ?? []
                #expect(rows.count == 1 && rows.first?["orders"] as? Int == 7)
            }
            try await client.execute(uri: "/api/v1/reports/ratings?from=2026-09-21&to=2026-09-22&format=csv", method: .get, headers: analyst) { r in
                #expect(String(buffer: r.body) == "restaurant_id,city,ratings,average_rating,stars_1,stars_2,stars_3,stars_4,stars_5\r\n"
                        + "r-1,Mumbai,3,4.67,0,0,0,1,2\r\nr-2,London,1,1.00,1,0,0,0,0\r\n")
            }
            try await client.execute(uri: "/api/v1/reports/top_items?from=2026-09-21&to=2026-09-21&currency=GBP&format=csv", method: .get, headers: analyst) { r in
                #expect(r.status == .ok && r.headers[.contentType] == "text/csv; charset=utf-8")
                #expect(String(buffer: r.body) == "item_id,name,restaurant_id,city,currency,orders,quantity,revenue_minor\r\nm-3,\"Fish, \"\"Chips\"\"\",r-2,London,GBP,4,4,2000\r\n")
            }
        }
    }

    @Test func badParametersAndInjectionAttemptsAreA400OrMatchNothing() async throws {
        let url = try await Self.database()
        let (app, auth) = try await Self.app(url)
        let analyst: HTTPFields = [.authorization: "Bearer \(try await auth.issue(role: .analyst, ttl: .seconds(300)))"]
        let base = "/api/v1/reports/top_items?"
        try await app.test(.router) { client in
            for (query, code) in [("to=2026-09-22", "missing_parameter"), ("from=2026-09-23&to=2026-09-22", "invalid_range"),
                                  ("from=2025-01-01&to=2026-09-22", "range_too_large"), ("from=2026-02-30&to=2026-09-22", "invalid_parameter"),
                                  ("from=yesterday&to=2026-09-22", "invalid_parameter"), ("from=2026-09-21&to=2026-09-22&limit=0", "parameter_out_of_range"),
                                  ("from=2026-09-21&to=2026-09-22&limit=99999999999999999999", "parameter_out_of_range"),
                                  ("from=2026-09-21&to=2026-09-22&limit=1.5", "invalid_parameter"),
                                  ("from=2026-09-21&to=2026-09-22&colour=red", "unknown_parameter"), ("from=2026-09-21&to=2026-09-22&format=xml", "invalid_parameter"),
                                  ("from=2026-09-21&to=2026-09-22&currency=inr", "invalid_parameter")] {
                try await client.execute(uri: base + query, method: .get, headers: analyst) { r in
                    #expect(r.status == .badRequest, "\(query)")
                    #expect(String(buffer: r.body).contains("\"code\":\"\(code)\""), "\(query): \(String(buffer: r.body))")
                }
            }
            let attacks = ["' OR '1'='1", "x'); DROP TABLE item_orders_daily; --", "1; SELECT pg_sleep(5)", "Mumbai' --", "$1", ":city"]
            for param in ["from", "to", "city", "restaurant_id", "currency", "limit"] {
                for attack in attacks {
                    var values = ["from": "2026-09-21", "to": "2026-09-22"]
                    values[param] = attack
                    let query = values.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
                    try await client.execute(uri: base + query, method: .get, headers: analyst) { r in
                        #expect(r.status == .badRequest || r.status == .ok, "\(param)=\(attack)")
                        if r.status == .ok {
                            let rows = (try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])?["rows"] as? [[String: Any]]
                            #expect(rows?.isEmpty == true, "\(param)=\(attack) matched rows")
                        }
                    }
                }
            }
        }
        let check = PostgresConnection(url: url, logger: testLogger)
        #expect(try await check.query("SELECT count(*) FROM item_orders_daily").first?[0] == "4", "the table is as it was")
        await check.close()
    }

    @Test func aReportOverItsTimeLimitIsCancelledWith503() async throws {
        let url = try await Self.database()
        let dir = makeTemporaryDirectory()
        try """
        /*---
        name: slow
        description: Sleeps.
        params: {seconds: {type: number, default: "10", min: 0, max: 30}}
        columns: {slept: text}
        ---*/
        SELECT pg_sleep(:seconds::float8)::text AS slept
        """.write(to: dir.appendingPathComponent("slow.sql"), atomically: true, encoding: .utf8)
        let (app, auth) = try await Self.app(url, reportsDir: dir, timeLimit: .seconds(1))
        let admin: HTTPFields = [.authorization: "Bearer \(try await auth.issue(role: .admin, ttl: .seconds(300)))"]
        try await app.test(.router) { client in
            // The runner's connections first (under a loaded test run, connecting can take seconds).
            for _ in 0..<2 {
                try await client.execute(uri: "/api/v1/reports/slow?seconds=0", method: .get, headers: admin) { #expect($0.status == .ok) }
            }
            let started = ContinuousClock.now
            try await client.execute(uri: "/api/v1/reports/slow?seconds=30", method: .get, headers: admin) { r in
                #expect(r.status == .serviceUnavailable)
                #expect(String(buffer: r.body).contains("\"code\":\"report_timeout\""))
            }
            // (a loaded test run answered a 1 s cancel after 7 s: the bound only has to tell it from the 30 s sleep)
            #expect(ContinuousClock.now - started < .seconds(20), "cancelled at the 1 s limit, not after the 30 s sleep")
            try await client.execute(uri: "/api/v1/reports/slow?seconds=0", method: .get, headers: admin) { #expect($0.status == .ok) }
        }
        // PostgreSQL is no longer running it.
        let check = PostgresConnection(url: url, logger: testLogger)
        #expect(try await check.query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()").first?[0] == "0")
        await check.close()
    }

    /// `sales` cuts buckets in the asked zone: 18:10Z and 18:20Z fall on one UTC day but on two days in
    /// Asia/Kathmandu (+05:45, midnight at 18:15Z) and in one in Asia/Kolkata (+05:30, midnight at 18:30Z).
    @Test func salesDaysAreExactInEveryZone() async throws {
        let url = try await SharedPostgres.shared.freshDatabase()
        let connection = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(connection, logger: testLogger)
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24, logger: testLogger)
        let base = Int64(1_790_000_000_000) / 86_400_000 * 86_400_000   // 2026-09-21T00:00Z
        func at(_ h: Int64, _ m: Int64) -> Timestamp { Timestamp(epochMillis: base + (h * 60 + m) * 60_000) }
        let dims = OrderDimensions(order_id: "o-1", restaurant_id: "r-1", city: "Kathmandu", currency: "NPR")
        func placed(_ id: String, _ t: Timestamp, _ total: Int64) -> Event {
            Event(eventID: id, occurredAt: t, payload: .orderPlaced(OrderPlaced(
                order_id: id, customer_id: "c", restaurant_id: "r-1", city: "Kathmandu", currency: "NPR", channel: "app",
                payment_method: "card", items: [OrderLine(item_id: "m-1", name: "Momo", quantity: 1, unit_price_minor: total)],
                subtotal_minor: total, delivery_fee_minor: 0, discount_minor: 0, total_minor: total)))
        }
        let events = [placed("a", at(18, 10), 1000), placed("b", at(18, 20), 3000), placed("c", at(18, 20), 2000),
                      Event(eventID: "x", occurredAt: at(18, 25), payload: .orderCancelled(OrderCancelled(dims, reason: "customer", refundMinor: 3000)))]
        try await IngestHarness.applyBatch(events, to: sink)
        let (app, auth) = try await Self.app(url)
        let analyst: HTTPFields = [.authorization: "Bearer \(try await auth.issue(role: .analyst, ttl: .seconds(300)))"]
        func rows(_ query: String) async throws -> [[String: Any]] {
            let body = try await app.test(.router) { client in
                try await client.execute(uri: "/api/v1/reports/sales?" + query, method: .get, headers: analyst) { r in
                    #expect(r.status == .ok, "\(query): \(String(buffer: r.body))")
                    return Data(buffer: r.body)
                }
            }
            return (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        }
        let kathmandu = try await rows("from=2026-09-21&to=2026-09-22&tz=Asia/Kathmandu")
        #expect(kathmandu.map { $0["bucket"] as? String } == ["2026-09-21T00:00:00+05:45", "2026-09-22T00:00:00+05:45"])
        #expect(kathmandu.map { $0["orders"] as? Int } == [1, 2])
        #expect(kathmandu.map { $0["gross_revenue_minor"] as? Int } == [1000, 5000])
        #expect(kathmandu.map { $0["cancellations"] as? Int } == [0, 1])
        #expect(kathmandu.map { $0["average_order_value_minor"] as? Int } == [1000, 2500])
        let kolkata = try await rows("from=2026-09-21&to=2026-09-22&tz=Asia/Kolkata")
        #expect(kolkata.map { $0["bucket"] as? String } == ["2026-09-21T00:00:00+05:30"] && kolkata.first?["orders"] as? Int == 3)
        let utcHours = try await rows("from=2026-09-21T18:00:00Z&to=2026-09-21T19:00:00Z&granularity=15m")
        #expect(utcHours.map { $0["bucket"] as? String } == ["2026-09-21T18:00:00+00:00", "2026-09-21T18:15:00+00:00"])
        let top = try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/reports/top_restaurants?from=2026-09-21&to=2026-09-22", method: .get, headers: analyst) {
                Data(buffer: $0.body)
            }
        }
        let restaurants = (try JSONSerialization.jsonObject(with: top) as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        #expect(restaurants.count == 1 && restaurants.first?["orders"] as? Int == 3 && restaurants.first?["cancellations"] as? Int == 1
                && restaurants.first?["city"] as? String == "Kathmandu")
        let newYork = try await rows("from=2026-09-21&to=2026-09-21&tz=America/New_York&granularity=month")
        #expect(newYork.map { $0["bucket"] as? String } == ["2026-09-01T00:00:00-04:00"] && newYork.first?["orders"] as? Int == 3)
        try await app.test(.router) { client in
            for (query, code) in [("from=2026-09-21&to=2026-09-22&tz=Mars/Olympus", "invalid_parameter"),
                                  ("from=2026-01-01&to=2026-09-22&granularity=15m", "range_too_large"),
                                  ("from=2026-09-22&to=2026-09-21", "invalid_range"), ("from=2026-09-21&to=2026-09-22&granularity=year", "invalid_parameter")] {
                try await client.execute(uri: "/api/v1/reports/sales?" + query, method: .get, headers: analyst) { r in
                    #expect(r.status == .badRequest && String(buffer: r.body).contains("\"code\":\"\(code)\""), "\(query): \(String(buffer: r.body))")
                }
            }
        }
        await connection.close()
    }

    /// Unique customers from the HyperLogLog sketches: 12,000 orders by 4,000 customers over two days,
    /// applied in batches (so sketches of one bucket are united on upsert), counted within 2%.
    @Test func uniqueCustomersWithinTwoPercent() async throws {
        let url = try await SharedPostgres.shared.freshDatabase()
        let connection = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(connection, logger: testLogger)
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24, logger: testLogger)
        let start = Int64(1_790_000_000_000) / 86_400_000 * 86_400_000
        var offset: Int64 = 0
        var firstDay = Set<String>()
        for batch in 0..<6 {
            let events = (0..<2000).map { i -> Event in
                let n = batch * 2000 + i
                let customer = "c-\((n * 7919) % 4000)"
                let at = start + Int64(n % 2 == 0 ? 0 : 86_400_000) + Int64(n % 96) * 900_000
                if n % 2 == 0 { firstDay.insert(customer) }
                return Event(eventID: "u-\(n)", occurredAt: Timestamp(epochMillis: at), payload: .orderPlaced(OrderPlaced(
                    order_id: "o-\(n)", customer_id: customer, restaurant_id: "r-\(n % 7)", city: "Mumbai", currency: "INR",
                    channel: "app", payment_method: "upi", items: [OrderLine(item_id: "m-1", name: "Dosa", quantity: 1, unit_price_minor: 100)],
                    subtotal_minor: 100, delivery_fee_minor: 0, discount_minor: 0, total_minor: 100)))
            }
            offset = try await IngestHarness.applyBatch(events, to: sink, at: offset)
        }
        let (app, auth) = try await Self.app(url)
        let analyst: HTTPFields = [.authorization: "Bearer \(try await auth.issue(role: .analyst, ttl: .seconds(300)))"]
        let body = try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/reports/unique_customers?from=2026-09-21&to=2026-09-22", method: .get, headers: analyst) {
                Data(buffer: $0.body)
            }
        }
        let rows = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        let all = try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/reports/unique_customers?from=2026-09-21&to=2026-09-22&granularity=all", method: .get, headers: analyst) {
                Data(buffer: $0.body)
            }
        }
        let total = ((try JSONSerialization.jsonObject(with: all) as? [String: Any])?["rows"] as? [[String: Any]])?.first?["customers"] as? Int
        #expect(rows.count == 2)
        let day1 = try #require(rows.first?["customers"] as? Int)
        #expect(abs(Double(day1) - Double(firstDay.count)) / Double(firstDay.count) <= 0.02, "day 1: \(day1) for \(firstDay.count)")
        let estimate = try #require(total)
        #expect(abs(Double(estimate) - 4000) / 4000 <= 0.02, "two days: \(estimate) for 4000")
        await connection.close()
    }

    /// The funnel, delivery times (percentiles from the mergeable histogram, within its documented
    /// 2.5%), the delivery-time distribution and the payment mix over a generated stream with
    /// duplicates and late records, against the generator's own count of every event.
    @Test func funnelDeliveryTimesAndPaymentMixMatchTheGeneratedStream() async throws {
        let url = try await SharedPostgres.shared.freshDatabase()
        let connection = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(connection, logger: testLogger)
        await connection.close()
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24 * 365, logger: testLogger)
        var generator = EventGenerator(config: IngestHarness.config(seed: 11, restaurants: 12, ordersPerMinute: 20))
        let codec = EventCodec()
        var batch: [Event] = [], arrivals: [Int64] = []
        var offset: Int64 = 0
        for _ in 0..<40_000 {
            let record = generator.next()
            guard record.topic == "orders", record.kind != .invalid else { continue }
            batch.append(try codec.decode(record.value, topic: record.topic))
            arrivals.append(record.timestampMillis)
            if batch.count == 2_000 {
                offset = try await IngestHarness.applyBatch(batch, arrivals: arrivals, to: sink, at: offset)
                batch = []
                arrivals = []
            }
        }
        try await IngestHarness.applyBatch(batch, arrivals: arrivals, to: sink, at: offset)
        let expected = generator.expected
        try await IngestHarness.expectExactTotals(url, expected)

        let (app, auth) = try await Self.app(url)
        let analyst: HTTPFields = [.authorization: "Bearer \(try await auth.issue(role: .analyst, ttl: .seconds(300)))"]
        func rows(_ path: String) async throws -> [[String: Any]] {
            let body = try await app.test(.router) { client in
                try await client.execute(uri: "/api/v1/reports/" + path, method: .get, headers: analyst) { r in
                    #expect(r.status == .ok, "\(path): \(String(buffer: r.body))")
                    return Data(buffer: r.body)
                }
            }
            return (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        }
        let days = expected.buckets.keys.map { String($0.prefix(10)) }.sorted()
        let range = "from=\(days.first!)&to=\(days.last!)"
        let totals = expected.buckets.values.reduce(OrderBuckets.Totals(), +)

        let funnel = try await rows("funnel?" + range)
        let stages = Dictionary(uniqueKeysWithValues: funnel.map { ($0["stage"] as! String, $0["orders"] as! Int) })
        #expect(funnel.map { $0["stage"] as? String } == ["placed", "paid", "accepted", "preparing", "ready", "assigned", "picked",
                                                          "out_for_delivery", "delivered", "cancelled"])
        #expect(stages["placed"] == expected.orders && stages["paid"] == Int(totals.paymentsSucceeded))
        #expect(stages["accepted"] == Int(totals.statuses[0]) && stages["out_for_delivery"] == Int(totals.statuses[5]))
        #expect(stages["delivered"] == Int(totals.deliveries) && stages["cancelled"] == Int(totals.cancellations))
        let rate = try #require(funnel.last?["share_of_placed"] as? Double)
        #expect(abs(rate - Double(totals.cancellations) / Double(expected.orders)) < 0.00005)

        // Percentiles per city, within the histogram's documented error of the exact values.
        #expect(expected.deliveryMinutesByCity.count >= 2)
        for (city, minutes) in expected.deliveryMinutesByCity {
            let query = "delivery_times?\(range)&city=" + city.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let row = try #require(try await rows(query).first, "\(city)")
            #expect(row["deliveries"] as? Int == minutes.count)
            for (column, q) in [("p50_minutes", 0.5), ("p90_minutes", 0.9), ("p99_minutes", 0.99)] {
                let exact = try #require(DeliveryHistogram.exactQuantile(minutes, q))
                let reported = try #require(row[column] as? Double, "\(city) \(column)")
                #expect(abs(reported - exact) <= max(0.5, exact * 0.025) + 0.01, "\(city) \(column): \(reported) for \(exact)")
            }
        }
        let sales = try await rows("sales?" + range)
        #expect(sales.reduce(0) { $0 + ($1["late_events"] as! Int) } == Int(totals.lateEvents) && totals.lateEvents > 0)
        let distribution = try await rows("delivery_distribution?" + range)
        #expect(distribution.reduce(0) { $0 + ($1["deliveries"] as! Int) } == Int(totals.deliveries))
        #expect(distribution.allSatisfy { ($0["from_minutes"] as! Double) < ($0["to_minutes"] as! Double) })

        // Payment methods per currency: orders add up to the currency's orders, payments to the events.
        let mix = try await rows("payment_mix?" + range)
        var byCurrency: [String: Int] = [:]
        for row in mix { byCurrency[row["currency"] as! String, default: 0] += row["orders"] as! Int }
        let expectedByCurrency = expected.buckets.reduce(into: [String: Int]()) { $0[String($1.key.split(separator: "|")[2]), default: 0] += Int($1.value.orders) }
        #expect(byCurrency == expectedByCurrency)
        #expect(mix.reduce(0) { $0 + ($1["payments_failed"] as! Int) } == Int(totals.paymentsFailed))
        let channels = try await rows("payment_mix?\(range)&by=channel")
        #expect(Set(channels.map { $0["value"] as! String }).isSubset(of: ["app", "web", "kiosk", "pos", "partner"]) && channels.count >= 5)
    }

    /// The live view: the last 60 minutes by minute, zeros where nothing happened.
    @Test func liveShowsTheLastHourByMinute() async throws {
        let url = try await SharedPostgres.shared.freshDatabase()
        let connection = PostgresConnection(url: url, logger: testLogger)
        try await Migrations.apply(connection, logger: testLogger)
        await connection.close()
        let sink = AnalyticsSink(url: url, dedupHorizonHours: 24, logger: testLogger)
        let minute = Int64(Date().timeIntervalSince1970 * 1000) / 60_000 * 60_000
        func placed(_ n: Int, minutesAgo: Int64, total: Int64) -> Event {
            Event(eventID: "l-\(n)", occurredAt: Timestamp(epochMillis: minute - minutesAgo * 60_000 + 5_000), payload: .orderPlaced(OrderPlaced(
                order_id: "o-\(n)", customer_id: "c", restaurant_id: "r-1", city: "Pune", currency: "INR", channel: "app",
                payment_method: "upi", items: [OrderLine(item_id: "m-1", name: "Vada Pav", quantity: 1, unit_price_minor: total)],
                subtotal_minor: total, delivery_fee_minor: 0, discount_minor: 0, total_minor: total)))
        }
        try await IngestHarness.applyBatch([placed(1, minutesAgo: 2, total: 100), placed(2, minutesAgo: 2, total: 250),
                                            placed(3, minutesAgo: 30, total: 400), placed(4, minutesAgo: 90, total: 999),
                                            placed(5, minutesAgo: 3 * 24 * 60, total: 5000)], to: sink)
        // The order three days ago counts in its quarter hour, but its minute is past the live table's two days:
        // it is not written there (the next maintenance would delete it).
        let check = PostgresConnection(url: url, logger: testLogger)
        let live = try await check.query("SELECT count(*)::text, sum(orders)::text FROM orders_live_1m")
        let quarterHours = try await check.query("SELECT sum(orders)::text FROM orders_15m")
        await check.close()
        #expect(live.first.map { [$0[0], $0[1]] } == ["3", "4"], "the minutes 2, 30 and 90 minutes ago")
        #expect(quarterHours.first?[0] == "5")
        let (app, auth) = try await Self.app(url)
        let analyst: HTTPFields = [.authorization: "Bearer \(try await auth.issue(role: .analyst, ttl: .seconds(300)))"]
        let body = try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/reports/live?city=Pune", method: .get, headers: analyst) { Data(buffer: $0.body) }
        }
        let rows = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        // 60 minutes (61 if the clock turned a minute between the batch and the query).
        #expect(rows.count == 60 || rows.count == 61)
        #expect(rows.reduce(0) { $0 + ($1["orders"] as! Int) } == 3, "the order 90 minutes ago is outside the hour")
        #expect(rows.reduce(0) { $0 + ($1["gross_revenue_minor"] as! Int) } == 750)
        #expect(rows.filter { ($0["orders"] as! Int) == 0 }.count >= 57)
    }
}
