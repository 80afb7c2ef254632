import Foundation
import HearthEvents
import HearthPostgres
import Logging
import Synchronization

/// A parameter a caller got wrong: a stable code and a message for people.
public struct ReportParameterError: Error, Sendable, Equatable {
    public let code: String
    public let message: String
}

/// A report that could not be answered.
public enum ReportFailure: Error, Sendable, Equatable {
    /// It ran longer than the time limit and PostgreSQL cancelled it.
    case timedOut(limit: Duration)
    case unavailable
    /// PostgreSQL refused a parameter value (a data exception).
    case rejectedParameter
}

/// Runs report definitions against PostgreSQL: parameters checked and bound, each run in a
/// read-only transaction with a statement time limit (PostgreSQL cancels it when exceeded).
public final class ReportRunner: Sendable {
    public let reports: [ReportDefinition]
    public let timeLimit: Duration
    private let connections: [PostgresConnection]
    private let next = Atomic<Int>(0)

    public init(url: String, reports: [ReportDefinition], timeLimit: Duration = .seconds(10), connections: Int = 2, logger: Logger) {
        self.reports = reports
        self.timeLimit = timeLimit
        self.connections = (0..<max(1, connections)).map { _ in PostgresConnection(url: url, logger: logger) }
    }

    public func report(named name: String) -> ReportDefinition? { reports.first { $0.name == name } }

    /// The connections runs take turns on.
    public var connectionCount: Int { connections.count }

    /// The bind values of `report` for the caller's `values` (defaults filled in), in bind order.
    public static func binds(_ report: ReportDefinition, _ values: [String: String]) throws(ReportParameterError) -> [String?] {
        for key in values.keys.sorted() where key != "format" && !report.params.contains(where: { $0.name == key }) {
            throw ReportParameterError(code: "unknown_parameter",
                                       message: "unknown parameter \"\(key.prefix(40))\" (known: \(report.params.map(\.name).joined(separator: ", ")))")
        }
        var checked: [String: String] = [:]
        for p in report.params {
            guard let raw = values[p.name] ?? p.defaultValue else {
                if p.required { throw ReportParameterError(code: "missing_parameter", message: "\(p.name) is required (\(p.type.rawValue))") }
                continue
            }
            checked[p.name] = try check(p, raw)
        }
        if let r = report.range, let from = checked[r.from].flatMap(instant), let to = checked[r.to].flatMap(instant) {
            guard from <= to else { throw ReportParameterError(code: "invalid_range", message: "\(r.from) must not be after \(r.to)") }
            guard to.timeIntervalSince(from) <= Double(r.maxDays) * 86_400 else {
                throw ReportParameterError(code: "range_too_large", message: "\(r.from) to \(r.to) may span at most \(r.maxDays) days")
            }
            if let g = r.granularity, let size = checked[g].flatMap({ Self.granularitySeconds[$0] }),
               (to.timeIntervalSince(from) + 86_400) / size > Double(r.maxBuckets) {
                throw ReportParameterError(code: "range_too_large",
                                           message: "\(r.from) to \(r.to) is more than \(r.maxBuckets) buckets of \(checked[g]!): choose a coarser \(g)")
            }
        }
        return report.bindOrder.map { checked[$0] }
    }

    static func check(_ p: ReportDefinition.Param, _ raw: String) throws(ReportParameterError) -> String {
        func invalid(_ what: String) -> ReportParameterError { ReportParameterError(code: "invalid_parameter", message: "\(p.name) must be \(what)") }
        func bounded(_ x: Double) throws(ReportParameterError) {
            if let min = p.min, x < min { throw ReportParameterError(code: "parameter_out_of_range", message: "\(p.name) must be at least \(Self.show(min))") }
            if let max = p.max, x > max { throw ReportParameterError(code: "parameter_out_of_range", message: "\(p.name) must be at most \(Self.show(max))") }
        }
        switch p.type {
        case .date:
            guard raw.range(of: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", options: .regularExpression) != nil, instant(raw) != nil else {
                throw invalid("a date (YYYY-MM-DD)")
            }
        case .timestamp:
            guard raw.utf8.count <= 40, instant(raw) != nil else { throw invalid("a date (YYYY-MM-DD) or an ISO 8601 timestamp with its offset") }
        case .int:
            switch WholeNumber(raw) {
            case .value(let n): try bounded(Double(n))
            case .outOfRange(let negative):
                let bound = negative ? p.min.map { "at least \(Self.show($0))" } : p.max.map { "at most \(Self.show($0))" }
                throw ReportParameterError(code: "parameter_out_of_range", message: "\(p.name) must be \(bound ?? "a 64-bit whole number")")
            case .notANumber: throw invalid("a whole number")
            }
        case .number:
            guard let n = Double(raw), n.isFinite else { throw invalid("a number") }
            try bounded(n)
        case .text:
            guard !raw.isEmpty, raw.count <= 100 else { throw invalid("1 to 100 characters") }
        case .id:
            guard raw.range(of: "^[A-Za-z0-9._-]{1,64}$", options: .regularExpression) != nil else {
                throw invalid("an id of 1 to 64 letters, digits, '.', '-' or '_'")
            }
        case .currency:
            guard raw.range(of: "^[A-Z]{3}$", options: .regularExpression) != nil else { throw invalid("an ISO 4217 code such as INR") }
        case .zone:
            guard raw.utf8.count <= 64, raw.contains("/") || raw == "UTC", TimeZone(identifier: raw) != nil else {
                throw invalid("an IANA time zone such as Asia/Kolkata")
            }
        case .enum:
            guard p.values?.contains(raw) == true else { throw invalid("one of: \((p.values ?? []).joined(separator: ", "))") }
        case .bool:
            guard raw == "true" || raw == "false" else { throw invalid("true or false") }
        }
        return raw
    }

    /// The length of a granularity's bucket, in seconds (a month counted as 30 days).
    static let granularitySeconds: [String: Double] = ["15m": 900, "hour": 3600, "day": 86_400, "week": 604_800, "month": 2_592_000,
                                                       "all": .infinity]

    private static func show(_ x: Double) -> String { x.rounded() == x ? String(Int(x)) : String(x) }

    /// A date (midnight UTC) or an ISO 8601 timestamp with offset, as an instant. Dates must exist
    /// (no 30 February: the formatter alone would roll it over).
    static func instant(_ text: String) -> Date? {
        if text.count == 10 {
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withFullDate]
            guard let d = f.date(from: text), f.string(from: d) == text else { return nil }
            return d
        }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }

    /// Runs the report with checked binds; read-only, cancelled by PostgreSQL after `timeLimit`.
    public func run(_ report: ReportDefinition, binds: [String?]) async throws -> PostgresRows {
        let connection = connections[next.add(1, ordering: .relaxed).newValue % connections.count]
        let limitMs = Int(timeLimit.seconds * 1000)
        let query = PostgresQuery(unsafeSQL: report.sql, binds: binds)
        do {
            return try await connection.withTransaction { s in
                try s.execute("SET TRANSACTION READ ONLY")
                try s.execute("SET LOCAL statement_timeout = \(limitMs)")
                // Reports are short: compiling one to machine code (PostgreSQL's JIT, on above a plan cost
                // that generated series easily reach) took longer than running it.
                try s.execute("SET LOCAL jit = off")
                // Grouping a month of items sorted on disk at the default 4 MB.
                try s.execute("SET LOCAL work_mem = '64MB'")
                return try s.query(query)
            }
        } catch let error as PostgresError where error.sqlState == "57014" {
            throw ReportFailure.timedOut(limit: timeLimit)
        } catch let error as PostgresError where error.isTransient {
            throw ReportFailure.unavailable
        } catch let error as PostgresError where error.sqlState?.hasPrefix("22") == true {
            throw ReportFailure.rejectedParameter
        }
    }
}
