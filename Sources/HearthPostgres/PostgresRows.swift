/// The rows of a result, in text format, copied out of libpq.
public struct PostgresRows: Sendable, Sequence {
    public let columns: [String]
    public let values: [[String?]]
    /// Rows affected by an INSERT, UPDATE or DELETE.
    public let affected: Int

    public var count: Int { values.count }
    public var first: PostgresRow? { values.first.map { PostgresRow(columns: columns, values: $0) } }

    public func makeIterator() -> AnyIterator<PostgresRow> {
        var it = values.makeIterator()
        let columns = columns
        return AnyIterator { it.next().map { PostgresRow(columns: columns, values: $0) } }
    }
}

public struct PostgresRow: Sendable {
    public let columns: [String]
    public let values: [String?]

    public subscript(_ index: Int) -> String? { values[index] }

    public subscript(_ name: String) -> String? {
        columns.firstIndex(of: name).flatMap { values[$0] }
    }

    public func int(_ index: Int) throws(PostgresError) -> Int64 {
        guard let text = values[index], let v = Int64(text) else {
            throw PostgresError(.decoding, detail: "column \(index) is not an integer")
        }
        return v
    }
}
