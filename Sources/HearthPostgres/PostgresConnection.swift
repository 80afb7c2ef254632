import CLibPQ
import Dispatch
import Foundation
import HearthSupport
import Logging

/// One PostgreSQL connection. Every libpq call runs on the connection's own
/// serial queue (never on the cooperative pool); a lost connection is
/// re-established by the next statement.
public final class PostgresConnection: Sendable {
    public let url: String
    private let queue: DispatchQueue
    private let native: NativeConnection

    public init(url: String, logger: Logger = Logger(label: "hearth.postgres")) {
        self.url = url
        queue = DispatchQueue(label: "hearth.postgres.connection")
        native = NativeConnection(url: url, logger: logger)
    }

    /// Runs one statement.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        let native = native
        return try await Blocking.run(on: queue) { try native.session().query(query) }
    }

    /// Runs `body` inside BEGIN … COMMIT on this connection's queue; ROLLBACK when it throws.
    /// The body is synchronous: every statement of the transaction runs in one blocking stretch.
    /// `synchronousCommit: false` lets COMMIT return before the WAL is flushed: a server crash may then lose
    /// the transaction whole (never part of it) — right for writes that are replayed from Kafka when lost.
    public func withTransaction<T: Sendable>(synchronousCommit: Bool = true,
                                             _ body: @escaping @Sendable (PostgresSession) throws -> T) async throws -> T {
        let native = native
        return try await Blocking.run(on: queue) {
            let session = try native.session()
            try session.execute(synchronousCommit ? "BEGIN" : "BEGIN; SET LOCAL synchronous_commit = off")
            do {
                let result = try body(session)
                try session.execute("COMMIT")
                return result
            } catch {
                try? session.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Runs `body` with the session outside any transaction (e.g. for migrations that manage their own).
    public func withSession<T: Sendable>(_ body: @escaping @Sendable (PostgresSession) throws -> T) async throws -> T {
        let native = native
        return try await Blocking.run(on: queue) { try body(try native.session()) }
    }

    /// Checks the server answers.
    public func ping() async -> Bool {
        (try? await query("SELECT 1")) != nil
    }

    public func close() async {
        let native = native
        _ = try? await Blocking.run(on: queue) { native.close() }
    }
}

/// Owns the `PGconn`. Only ever touched from its connection's serial queue,
/// which is why this wrapper is `@unchecked Sendable`.
final class NativeConnection: @unchecked Sendable {
    let url: String
    let logger: Logger
    private var conn: OpaquePointer?

    init(url: String, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    deinit { if let conn { PQfinish(conn) } }

    func session() throws(PostgresError) -> PostgresSession {
        if let conn, PQstatus(conn) == CONNECTION_OK { return PostgresSession(conn: conn) }
        if let conn {
            PQfinish(conn)
            self.conn = nil
        }
        let keywords = ["dbname", "connect_timeout", "application_name"]
        let values = [url, "5", "hearth"]
        let c: OpaquePointer? = withCStrings(keywords) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let c else { throw PostgresError(.unavailable, detail: "out of memory") }
        guard PQstatus(c) == CONNECTION_OK else {
            let detail = String(cString: PQerrorMessage(c))
            PQfinish(c)
            throw PostgresError(.unavailable, detail: detail)
        }
        PQsetNoticeProcessor(c, { _, _ in }, nil)
        conn = c
        return PostgresSession(conn: c)
    }

    func close() {
        if let conn { PQfinish(conn) }
        conn = nil
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.map { UnsafePointer($0) }.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Synchronous access to a connection, for use inside `withTransaction` and `withSession`.
/// Valid only for the duration of that call.
public struct PostgresSession: @unchecked Sendable {
    let conn: OpaquePointer

    /// Runs one statement with its binds.
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        let pointers = query.binds.map { $0.map { strdup($0) } ?? nil }
        defer { pointers.forEach { free($0) } }
        let result: OpaquePointer? = pointers.map { UnsafePointer($0) }.withUnsafeBufferPointer { values in
            PQexecParams(conn, query.sql, Int32(values.count), nil, values.baseAddress, nil, nil, 0)
        }
        return try read(result, sql: query.sql)
    }

    /// Runs SQL text without binds (several statements allowed). For code-owned SQL only.
    public func execute(_ sql: String) throws(PostgresError) {
        _ = try read(PQexec(conn, sql), sql: sql)
    }

    /// Streams rows into `COPY <table> (<columns>) FROM STDIN` in text format.
    public func copy(into table: String, columns: [String], rows: [[String?]]) throws(PostgresError) {
        let sql = "COPY \(table) (\(columns.joined(separator: ","))) FROM STDIN"
        let start = PQexec(conn, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try read(start, sql: sql)
            throw PostgresError(.query, detail: "COPY did not start")
        }
        PQclear(start)
        var buffer = ""
        buffer.reserveCapacity(1 << 16)
        func send() -> Bool {
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer.utf8.withContiguousStorageIfAvailable { bytes in
                bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) == 1 }
            } ?? false
        }
        for row in rows {
            for (i, value) in row.enumerated() {
                if i > 0 { buffer += "\t" }
                guard let value else { buffer += "\\N"; continue }
                for ch in value.unicodeScalars {
                    switch ch {
                    case "\\": buffer += "\\\\"
                    case "\t": buffer += "\\t"
                    case "\n": buffer += "\\n"
                    case "\r": buffer += "\\r"
                    default: buffer.unicodeScalars.append(ch)
                    }
                }
            }
            buffer += "\n"
            if buffer.utf8.count > 1 << 16, !send() { break }
        }
        if !buffer.isEmpty { _ = send() }
        PQputCopyEnd(conn, nil)
        var failure: PostgresError?
        while let result = PQgetResult(conn) {
            do { _ = try read(result, sql: sql) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    private func read(_ result: OpaquePointer?, sql: String) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw PostgresError(.unavailable, detail: String(cString: PQerrorMessage(conn)))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], values: [], affected: Int(String(cString: PQcmdTuples(result))) ?? 0)
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            let n = Int(PQntuples(result)), f = Int(PQnfields(result))
            let columns = (0..<f).map { String(cString: PQfname(result, Int32($0))) }
            var rows: [[String?]] = []
            rows.reserveCapacity(n)
            for r in 0..<n {
                rows.append((0..<f).map { c in
                    PQgetisnull(result, Int32(r), Int32(c)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(r), Int32(c)))
                })
            }
            return PostgresRows(columns: columns, values: rows, affected: n)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = String(cString: PQresultErrorMessage(result))
            if PQstatus(conn) != CONNECTION_OK {
                throw PostgresError(.unavailable, sqlState: state, detail: message)
            }
            let kind: PostgresError.Kind = state == "57014" ? .cancelled : .query
            throw PostgresError(kind, sqlState: state, detail: "\(message) [\(sql.prefix(200))]")
        }
    }
}
