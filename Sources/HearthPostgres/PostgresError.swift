/// An error from PostgreSQL. `description` is safe to show a user; the server's
/// message and the SQL are only in `debugDescription` (for logs).
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Kind: String, Sendable {
        /// The server cannot be reached or the connection was lost.
        case unavailable
        /// The server rejected the statement (see `sqlState`).
        case query
        /// The statement was cancelled (statement timeout).
        case cancelled
        /// The result could not be read as the caller expected.
        case decoding
    }

    public let kind: Kind
    /// The five-character SQLSTATE, when the server sent one.
    public let sqlState: String?
    let detail: String

    public init(_ kind: Kind, sqlState: String? = nil, detail: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.detail = detail
    }

    public var description: String {
        switch kind {
        case .unavailable: "the database is unavailable"
        case .query: "the database rejected a statement" + (sqlState.map { " (SQLSTATE \($0))" } ?? "")
        case .cancelled: "the database statement was cancelled"
        case .decoding: "a database result could not be read"
        }
    }

    public var debugDescription: String { "\(description): \(detail)" }

    /// True for errors that a retry on a fresh connection may cure.
    public var isTransient: Bool {
        kind == .unavailable || sqlState.map { $0.hasPrefix("08") || $0.hasPrefix("57P") || $0 == "40001" || $0 == "40P01" } ?? false
    }
}
