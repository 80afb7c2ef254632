import Foundation
import HearthSupport

/// One report, from `Reports/<name>.sql`: a leading `/*--- … ---*/` block of YAML declares its
/// name, description, typed parameters (defaults, bounds) and output columns; the SQL after it
/// refers to parameters as `:name`, which become bind parameters (`$1`, `$2`, …): no value is
/// ever spliced into SQL text.
///
///     /*---
///     name: top_items
///     description: The menu items ordered most.
///     params:
///       from: {type: date, required: true}
///       limit: {type: int, default: 20, min: 1, max: 1000}
///     range: {from: from, to: to, max_days: 400}
///     columns: {item_id: text, orders: int}
///     ---*/
///     SELECT … WHERE day >= :from … LIMIT :limit
public struct ReportDefinition: Sendable, Equatable {
    public enum ParamType: String, Sendable, CaseIterable, Encodable {
        case date, timestamp, int, number, text, id, currency, zone, `enum`, bool
    }

    public struct Param: Sendable, Equatable, Encodable {
        public var name: String
        public var type: ParamType
        public var required: Bool
        public var defaultValue: String?
        public var min: Double?
        public var max: Double?
        public var values: [String]?
        public var description: String

        enum CodingKeys: String, CodingKey { case name, type, required, defaultValue = "default", min, max, values, description }
    }

    public enum ColumnType: String, Sendable, CaseIterable, Encodable { case text, int, number, timestamp, date, bool }

    public struct Column: Sendable, Equatable, Encodable {
        public var name: String
        public var type: ColumnType
    }

    public var name: String
    public var description: String
    public var params: [Param]
    public var columns: [Column]
    /// `from` ≤ `to`, at most `maxDays` apart; with a granularity parameter, at most `maxBuckets` buckets of it.
    public struct RangeRule: Sendable, Equatable {
        public var from: String
        public var to: String
        public var maxDays: Int
        public var granularity: String?
        public var maxBuckets: Int
    }

    public var range: RangeRule?
    /// The SQL with `$n` placeholders, and which parameter each stands for.
    public var sql: String
    public var bindOrder: [String]

    public static func == (a: ReportDefinition, b: ReportDefinition) -> Bool {
        a.name == b.name && a.sql == b.sql && a.params == b.params && a.columns == b.columns
    }

    public init(file: String, text: String) throws(ConfigError) {
        guard text.hasPrefix("/*---"), let end = text.range(of: "---*/") else {
            throw ConfigError(file: file, line: 1, key: "", message: "must start with a /*--- … ---*/ block declaring the report")
        }
        let header = String(text[text.index(text.startIndex, offsetBy: 5)..<end.lowerBound])
        let map = try ConfigMap(file: file, yaml: header)
        name = try map.requiredString("name")
        guard name.range(of: "^[a-z][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw map.error("name", "must be lower-case letters, digits or _, starting with a letter")
        }
        description = try map.requiredString("description")
        var params: [Param] = []
        let paramMap = try map.map("params")
        for key in paramMap.keys {
            guard key.range(of: "^[a-z][a-z0-9_]{0,40}$", options: .regularExpression) != nil, key != "format" else {
                throw paramMap.error(key, "is not a usable parameter name (lower-case, not \"format\")")
            }
            let p = try paramMap.map(key)
            let typeName = try p.requiredString("type")
            guard let type = ParamType(rawValue: typeName) else {
                throw p.error("type", "must be one of: \(ParamType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let values = try p.strings("values")
            if type == .enum && (values ?? []).isEmpty { throw p.error("values", "is required for an enum") }
            let param = Param(name: key, type: type, required: try p.bool("required", default: false),
                              defaultValue: try p.string("default"), min: try p.has("min") ? p.double("min", default: 0) : nil,
                              max: try p.has("max") ? p.double("max", default: 0) : nil, values: values,
                              description: try p.string("description", default: ""))
            try p.finish()
            params.append(param)
        }
        try paramMap.finish()
        self.params = params
        let rangeMap = try map.map("range")
        if rangeMap.has("from") {
            let from = try rangeMap.requiredString("from"), to = try rangeMap.requiredString("to")
            for n in [from, to] where !params.contains(where: { $0.name == n }) {
                throw rangeMap.error("from", "names no parameter \(n)")
            }
            let granularity = try rangeMap.string("granularity")
            if let g = granularity, params.first(where: { $0.name == g })?.type != .enum {
                throw rangeMap.error("granularity", "must name an enum parameter (15m, hour, day, week, month)")
            }
            range = RangeRule(from: from, to: to, maxDays: try rangeMap.int("max_days", default: 3660, range: 1...36600),
                              granularity: granularity, maxBuckets: try rangeMap.int("max_buckets", default: 10_000, range: 1...1_000_000))
        } else {
            range = nil
        }
        try rangeMap.finish()
        let columnMap = try map.map("columns")
        var columns: [Column] = []
        for key in columnMap.keys {
            let t = try columnMap.requiredString(key)
            guard let type = ColumnType(rawValue: t) else {
                throw columnMap.error(key, "must be one of: \(ColumnType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            columns.append(Column(name: key, type: type))
        }
        try columnMap.finish()
        guard !columns.isEmpty else { throw map.error("columns", "is required: the report's output columns") }
        self.columns = columns
        try map.finish()

        // `:name` (not `::type`) becomes `$n`; each parameter gets one number however often it appears.
        // Comments are copied as they are (an apostrophe there opens no string).
        let body = String(text[end.upperBound...])
        var out = "", order: [String] = []
        let chars = Array(body)
        var i = 0
        var inString = false
        while i < chars.count {
            let c = chars[i]
            if !inString, i + 1 < chars.count, (c == "-" && chars[i + 1] == "-") || (c == "/" && chars[i + 1] == "*") {
                var j = i + 2
                if c == "-" {
                    while j < chars.count, chars[j] != "\n" { j += 1 }
                } else {
                    while j < chars.count, !(chars[j - 1] == "*" && chars[j] == "/" && j - 1 > i + 1) { j += 1 }
                    j = min(j + 1, chars.count)
                }
                out.append(contentsOf: String(chars[i..<j]))
                i = j
                continue
            }
            if c == "'" { inString.toggle() }
            if !inString, c == ":", i + 1 < chars.count, chars[i + 1] != ":", i == 0 || chars[i - 1] != ":",
               chars[i + 1].isLetter || chars[i + 1] == "_" {
                var j = i + 1
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                let name = String(chars[(i + 1)..<j])
                guard params.contains(where: { $0.name == name }) else {
                    throw ConfigError(file: file, line: nil, key: "", message: "the SQL refers to :\(name), which is not a declared parameter")
                }
                if !order.contains(name) { order.append(name) }
                out += "$\(order.firstIndex(of: name)! + 1)"
                i = j
                continue
            }
            out.append(c)
            i += 1
        }
        guard !out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ConfigError(file: file, line: nil, key: "", message: "has no SQL after its declaration")
        }
        sql = out
        bindOrder = order
    }

    /// Every `*.sql` of `directory`, names unique (none: no reports).
    public static func loadAll(from directory: URL) throws(ConfigError) -> [ReportDefinition] {
        try DefinitionDirectory.load(directory, kind: "reports", extensions: [".sql"], allowEmpty: true,
                                     parse: { (file, text) throws(ConfigError) in try ReportDefinition(file: file, text: text) },
                                     name: \.name)
    }
}
