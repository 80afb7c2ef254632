import Foundation
import HearthAnalytics
import HearthPostgres
import Hummingbird

/// Reports for analysts: the list of `Reports/*.sql`, and one run as JSON or CSV.
struct ReportsController<Context: RequestContext> {
    let runner: ReportRunner

    func add(to router: Router<Context>, authenticator: Authenticator) {
        let router = router.group().add(middleware: RequireRole(role: .analyst, authenticator: authenticator))
        router.get("/api/v1/reports") { _, _ in
            try JSONBody.response(ReportList(reports: runner.reports.map {
                ReportList.Entry(name: $0.name, description: $0.description, params: $0.params, columns: $0.columns)
            }))
        }
        router.get("/api/v1/reports/{name}") { request, context in
            let name = try context.parameters.require("name")
            guard let report = runner.report(named: name) else {
                throw APIError.notFound("no report \(name.prefix(64)) (GET /api/v1/reports lists them)")
            }
            var values: [String: String] = [:]
            for (k, v) in request.uri.queryParameters { values[String(k)] = String(v) }
            let format = values["format"] ?? "json"
            guard format == "json" || format == "csv" else { throw APIError.badRequest("invalid_parameter", "format must be json or csv") }
            let binds: [String?]
            do { binds = try ReportRunner.binds(report, values) } catch let error as ReportParameterError {
                throw APIError.badRequest(error.code, error.message)
            }
            let started = ContinuousClock.now
            let rows: PostgresRows
            do {
                rows = try await runner.run(report, binds: binds)
            } catch ReportFailure.timedOut(let limit) {
                throw APIError.unavailable("report_timeout", "the report ran longer than \(Int(limit.seconds)) s and was cancelled; narrow the range")
            } catch ReportFailure.rejectedParameter {
                throw APIError.badRequest("invalid_parameter", "a parameter value is out of what the report accepts")
            } catch ReportFailure.unavailable {
                throw APIError.unavailable("analytics_unavailable", "the analytics store is not reachable; try again shortly")
            }
            if format == "csv" {
                return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                                        .contentDisposition: "attachment; filename=\"\(report.name).csv\""],
                                body: .init(byteBuffer: ByteBuffer(string: Self.csv(report, rows))))
            }
            let body = Self.json(report, rows, tookMs: ((ContinuousClock.now - started).seconds * 1e5).rounded() / 100)
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(data: body)))
        }
    }

    struct ReportList: Encodable {
        struct Entry: Encodable {
            let name: String
            let description: String
            let params: [ReportDefinition.Param]
            let columns: [ReportDefinition.Column]
        }
        let reports: [Entry]
    }

    /// Rows as objects, each value typed by its declared column.
    static func json(_ report: ReportDefinition, _ rows: PostgresRows, tookMs: Double) -> Data {
        let out: [[String: Any]] = rows.values.map { row in
            var o: [String: Any] = [:]
            for (i, column) in report.columns.enumerated() {
                let v = i < row.count ? row[i] : nil
                switch (column.type, v) {
                case (_, nil): o[column.name] = NSNull()
                case (.int, let s?): o[column.name] = Int64(s) ?? NSNull()
                case (.number, let s?): o[column.name] = Double(s).map { $0.isFinite ? $0 as Any : NSNull() } ?? NSNull()
                case (.bool, let s?): o[column.name] = s == "t" || s == "true"
                case (_, let s?): o[column.name] = s
                }
            }
            return o
        }
        let doc: [String: Any] = ["report": report.name, "columns": report.columns.map(\.name), "rows": out,
                                  "row_count": out.count, "took_ms": tookMs]
        return (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }

    /// RFC 4180: a header row, then one line per row; fields with commas, quotes or line breaks quoted.
    static func csv(_ report: ReportDefinition, _ rows: PostgresRows) -> String {
        func field(_ s: String?) -> String {
            guard let s else { return "" }
            // A leading =, +, - or @ would be a formula in a spreadsheet: quote it as text.
            let guarded = s.first.map { "=+-@".contains($0) && Double(s) == nil } == true ? "'" + s : s
            return guarded.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + guarded.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : guarded
        }
        var out = report.columns.map(\.name).joined(separator: ",") + "\r\n"
        for row in rows.values { out += row.map(field).joined(separator: ",") + "\r\n" }
        return out
    }
}
