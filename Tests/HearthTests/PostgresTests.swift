import Foundation
import HearthPostgres
import Testing

/// The libpq layer against the managed server.
@Suite struct PostgresTests {
    @Test func interpolatedValuesAreBindsNeverSQL() async throws {
        let q: PostgresQuery = "SELECT * FROM t WHERE a = \("x'; DROP TABLE t; --") AND b = \(42) AND c = \(Optional<String>.none)"
        #expect(q.sql == "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3")
        #expect(q.binds == ["x'; DROP TABLE t; --", "42", nil])

        let c = PostgresConnection(url: try await SharedPostgres.shared.freshDatabase())
        try await c.query("CREATE TABLE t (a text, b int)")
        let hostile = "x'); DROP TABLE t; --"
        try await c.query("INSERT INTO t VALUES (\(hostile), \(1))")
        let rows = try await c.query("SELECT a, b FROM t WHERE a = \(hostile)")
        #expect(rows.count == 1 && rows.first?["a"] == hostile && rows.first?["b"] == "1")
        let arrays = try await c.query("SELECT unnest(\(["a\"b", "c\\d", "é, {x}"])::text[]) AS v")
        #expect(arrays.map { $0[0] } == ["a\"b", "c\\d", "é, {x}"])
        let numbers: [Int64] = [.min, -1_000_000_007, -1, 0, 7, 10, 1_780_000_000_000, .max]
        #expect(try await c.query("SELECT unnest(\(numbers)::bigint[])").map { $0[0] } == numbers.map { String($0) })
        #expect(try await c.query("SELECT unnest(\([Int32.min, 0, Int32.max])::int[])").map { $0[0] } == ["-2147483648", "0", "2147483647"])
        await c.close()
    }

    @Test func transactionsCommitOrRollBack() async throws {
        let c = PostgresConnection(url: try await SharedPostgres.shared.freshDatabase())
        try await c.query("CREATE TABLE t (id int PRIMARY KEY)")
        _ = try await c.withTransaction { s in try s.query("INSERT INTO t VALUES (\(1))") }
        await #expect(throws: PostgresError.self) {
            try await c.withTransaction { s in
                try s.query("INSERT INTO t VALUES (\(2))")
                try s.query("INSERT INTO t VALUES (\(1))")
            }
        }
        #expect(try await c.query("SELECT id FROM t ORDER BY id").map { $0[0] } == ["1"])
        await c.close()
    }

    @Test func copyLoadsRowsWithEscapes() async throws {
        let c = PostgresConnection(url: try await SharedPostgres.shared.freshDatabase())
        try await c.query("CREATE TABLE t (a text, b text)")
        let rows: [[String?]] = (0..<5000).map { ["row\($0)\t\\tab\nline", $0 % 2 == 0 ? nil : "v"] }
        try await c.withSession { s in try s.copy(into: "t", columns: ["a", "b"], rows: rows) }
        #expect(try await c.query("SELECT count(*), count(b) FROM t").first?.values == ["5000", "2500"])
        #expect(try await c.query("SELECT a FROM t WHERE a LIKE 'row7\t%'").first?[0] == "row7\t\\tab\nline")
        await c.close()
    }

    @Test func errorsAreSafeToShowAndTheConnectionRecovers() async throws {
        let url = try await SharedPostgres.shared.freshDatabase()
        let c = PostgresConnection(url: url)
        do {
            try await c.query("SELECT * FROM no_such_table")
            Issue.record("expected an error")
        } catch let error as PostgresError {
            #expect(error.sqlState == "42P01")
            #expect(!error.description.contains("no_such_table"), "description must not leak SQL")
            #expect(error.debugDescription.contains("no_such_table"))
        }
        // A lost connection is re-established by the next statement.
        let pid = try await c.query("SELECT pg_backend_pid()").first![0]!
        let admin = PostgresConnection(url: url)
        try await admin.query("SELECT pg_terminate_backend(\(Int(pid)!))")
        _ = try? await c.query("SELECT 1")
        #expect(try await c.query("SELECT 2").first?[0] == "2")
        #expect(try await c.query("SELECT pg_backend_pid()").first![0] != pid)
        await c.close()
        await admin.close()

        let nowhere = PostgresConnection(url: "postgresql://nobody@127.0.0.1:1/none")
        await #expect(throws: PostgresError.self) { try await nowhere.query("SELECT 1") }
        #expect(await nowhere.ping() == false)
    }
}
