/// A SQL statement whose interpolated values become bind parameters.
///
///     let q: PostgresQuery = "SELECT * FROM t WHERE id = \(id) AND day >= \(from)"
///     // sql: "SELECT * FROM t WHERE id = $1 AND day >= $2", binds: [id, from]
///
/// Raw SQL text enters only through `\(unsafeRaw:)`, for identifiers the code itself chose.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    public var binds: [String?]

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        sql = value
        binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
    }

    public var description: String { sql }

    public struct StringInterpolation: StringInterpolationProtocol {
        // Inlinable (with the binds below), so that callers' arrays are encoded by code specialised for
        // their element type rather than through generic witnesses per element.
        @usableFromInline var sql = ""
        @usableFromInline var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        @inlinable public mutating func appendInterpolation(_ value: some PostgresBindable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        @inlinable public mutating func appendInterpolation(_ value: (some PostgresBindable)?) {
            binds.append(value?.postgresText)
            sql += "$\(binds.count)"
        }

        /// Inserts SQL text as is. Never pass user input.
        public mutating func appendInterpolation(unsafeRaw text: String) { sql += text }
    }
}

/// A value that can be sent as a text-format bind parameter.
public protocol PostgresBindable: Sendable {
    var postgresText: String? { get }
    /// Appends the value as an element of an array literal (by default quoted, `NULL` when nil).
    func appendArrayElement(to out: inout [UInt8])
}

extension PostgresBindable {
    @inlinable public func appendArrayElement(to out: inout [UInt8]) {
        guard var text = postgresText else { out += "NULL".utf8; return }
        out.append(UInt8(ascii: "\""))
        text.withUTF8 { bytes in
            // Most values need no escapes: copied whole.
            guard bytes.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                out.append(contentsOf: bytes)
                return
            }
            for b in bytes {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Whole numbers go into array literals unquoted (the bucket upsert binds some 40 arrays of numbers per batch).
public protocol PostgresBindableInteger: PostgresBindable, BinaryInteger {}

extension PostgresBindableInteger {
    @inlinable public var postgresText: String? { String(self) }

    @inlinable public func appendArrayElement(to out: inout [UInt8]) {
        // Up to 15 digits the text is a small string (no allocation).
        out.append(contentsOf: String(self).utf8)
    }
}

extension String: PostgresBindable { public var postgresText: String? { self } }
extension Substring: PostgresBindable { public var postgresText: String? { String(self) } }
extension Int: PostgresBindableInteger {}
extension Int32: PostgresBindableInteger {}
extension Int64: PostgresBindableInteger {}
extension Double: PostgresBindable { public var postgresText: String? { isFinite ? String(self) : nil } }
extension Bool: PostgresBindable { public var postgresText: String? { self ? "t" : "f" } }

/// Arrays bind as PostgreSQL array literals (`{"a","b"}`, `{1,2}`), e.g. for `unnest($1::text[])`. Built as
/// bytes: the bucket upsert binds arrays of thousands of values per batch.
extension Array: PostgresBindable where Element: PostgresBindable {
    @inlinable public var postgresText: String? {
        var out: [UInt8] = []
        out.reserveCapacity(count * 12 + 2)
        out.append(UInt8(ascii: "{"))
        for (i, element) in enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            element.appendArrayElement(to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
