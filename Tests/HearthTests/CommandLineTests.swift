import Foundation
import HearthPostgres
import Testing

/// The command line as people and other tools use it: `hearth broker` with kcat, `hearth serve`, `hearth validate`.
@Suite(.serialized) struct CommandLineTests {
    @Test func kcatTalksToTheBrokerAndServeConsumesWhatKcatProduced() async throws {
        try await HearthProcess.with(["broker", "--brokers", "3", "--partitions", "4"]) { broker in
        let address = try await broker.nextLine()
        #expect(address.split(separator: ",").count == 3 && address.hasPrefix("127.0.0.1:"))

        let metadata = try await runTool("/usr/bin/kcat", ["-b", address, "-L"])
        #expect(metadata.status == 0)
        #expect(metadata.out.contains("3 brokers"))
        #expect(metadata.out.contains("topic \"orders\" with 4 partitions"))

        let good = """
            o-kcat-1|{"event_id":"kcat-1","type":"order.placed","occurred_at":"2026-11-22T23:34:05+05:30","schema_version":1,"data":{"order_id":"o-kcat-1","customer_id":"c-1","restaurant_id":"r-kcat","city":"Mumbai","currency":"INR","channel":"app","payment_method":"upi","items":[{"item_id":"m-1","name":"Pepperoni Feast","quantity":2,"unit_price_minor":54900}],"subtotal_minor":109800,"delivery_fee_minor":4000,"discount_minor":0,"total_minor":113800}}
            o-kcat-2|not json
            o-kcat-1|{"event_id":"kcat-1","type":"order.placed","occurred_at":"2026-11-22T23:34:05+05:30","schema_version":1,"data":{"order_id":"o-kcat-1","customer_id":"c-1","restaurant_id":"r-kcat","city":"Mumbai","currency":"INR","channel":"app","payment_method":"upi","items":[{"item_id":"m-1","name":"Pepperoni Feast","quantity":2,"unit_price_minor":54900}],"subtotal_minor":109800,"delivery_fee_minor":4000,"discount_minor":0,"total_minor":113800}}

            """
        let produced = try await runTool("/usr/bin/kcat", ["-b", address, "-P", "-t", "orders", "-K", "|"], stdin: good)
        #expect(produced.status == 0, "\(produced.out)")

        let url = try await SharedPostgres.shared.freshDatabase()
        let pipelines = try IngestHarness.pipelines(["orders"])
        try await HearthProcess.with(["serve", "--brokers", address, "--postgres", url, "--pipelines-dir", pipelines.path,
                                      "--data-dir", makeTemporaryDirectory().path, "--port", "0"]) { _ in
        let db = PostgresConnection(url: url)
        try await waitUntil("the kcat order to be aggregated", timeout: .seconds(60)) {
            let rows = try? await db.query("SELECT orders, gross_revenue_minor, to_char(bucket AT TIME ZONE 'UTC', 'HH24:MI') FROM orders_15m WHERE restaurant_id = 'r-kcat'")
            return rows?.count == 1
        }
        let row = try #require(try await db.query("SELECT orders, gross_revenue_minor, to_char(bucket AT TIME ZONE 'UTC', 'HH24:MI') FROM orders_15m WHERE restaurant_id = 'r-kcat'").first)
        // The duplicate (same event_id) counted once; 23:34:05+05:30 is 18:04:05Z, in the 18:00 bucket.
        #expect(row[0] == "1" && row[1] == "113800" && row[2] == "18:00")
        await db.close()

        // The invalid record is on another partition, applied independently: wait for its dead letter.
        var letter = (status: Int32(0), out: "")
        try await waitUntil("the dead letter", timeout: .seconds(120), every: .milliseconds(500)) {
            letter = try await runTool("/usr/bin/kcat", ["-b", address, "-C", "-t", "orders.dlq", "-c", "1", "-e", "-q",
                                                    "-f", "%k %s %h\\n"])
            return !letter.out.isEmpty
        }
        #expect(letter.out.contains("o-kcat-2 not json"))
        #expect(letter.out.contains("__connect.errors.exception.class.name=invalid_json"))
        #expect(letter.out.contains("__connect.errors.stage=decode"))
        }
        }
    }

    /// `hearth bench decode` decodes the generator's records (about one in a hundred invalid, as in every stream)
    /// and refuses a size it cannot measure with one line.
    @Test func benchDecodePrintsItsFiguresAndRefusesBadSizes() async throws {
        let run = try await runTool(TestPaths.hearthBinary.path, ["bench", "decode", "--records", "2000", "--rounds", "1", "--json"])
        #expect(run.status == 0, "\(run.out)")
        let line = try #require(run.out.split(separator: "\n").last)
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(figures["records"] as? Int == 2000)
        let valid = try #require(figures["valid"] as? Int)
        #expect((1900..<2000).contains(valid), "about 1% of the records are invalid: \(valid)")
        #expect((figures["median_records_per_second"] as? Double ?? 0) > 0)
        let bad = try await runTool("/bin/sh", ["-c", "\"$0\" bench decode --records 5 2>&1", TestPaths.hearthBinary.path])
        #expect(bad.status != 0)
        #expect(bad.out == "hearth: error: --records must be 1000 to 2000000\n", "\(bad.out)")
    }

    /// `hearth` allocates with mimalloc (linked ahead of glibc), not glibc's malloc: mimalloc reports its
    /// start when asked to be verbose, which it cannot do unless its `malloc` is the one in use.
    @Test func theExecutableAllocatesWithMimalloc() async throws {
        let run = try await runTool("/bin/sh", ["-c", "MIMALLOC_VERBOSE=1 \"$0\" --help 2>&1", TestPaths.hearthBinary.path])
        #expect(run.status == 0)
        #expect(run.out.contains("mimalloc: process init"), "\(run.out.prefix(300))")
    }

    @Test func validateReportsFileLineAndKey() async throws {
        let ok = try await runTool(TestPaths.hearthBinary.path, ["validate", "--pipelines-dir", TestPaths.pipelines.path,
                                                            "--indexes-dir", TestPaths.indexes.path])
        #expect(ok.status == 0 && ok.out.contains("ok: 2 pipelines") && ok.out.contains("2 indexes (menu_items, restaurants)") && ok.out.contains("11 reports (cancellations, delivery_distribution, delivery_times, funnel, live, payment_mix, ratings, sales, top_items, top_restaurants, unique_customers)"))
        let dir = makeTemporaryDirectory()
        try "name: orders\ntopics: [orders]\nsinks: [analytics]\nbatch:\n  max_records: lots\n".write(
            to: dir.appendingPathComponent("orders.yaml"), atomically: true, encoding: .utf8)
        let bad = try await runTool(TestPaths.hearthBinary.path, ["validate", "--pipelines-dir", dir.path])
        #expect(bad.status != 0)
        #expect(bad.out == "hearth: error: orders.yaml:5: batch.max_records: must be an integer\n")
        try "name: menu\nentity: item\nfields:\n  name: {weight: 10}\n  colour: {weight: 2}\n".write(
            to: dir.appendingPathComponent("menu.yaml"), atomically: true, encoding: .utf8)
        let badIndex = try await runTool(TestPaths.hearthBinary.path, ["validate", "--pipelines-dir", TestPaths.pipelines.path,
                                                                  "--indexes-dir", dir.path])
        #expect(badIndex.status != 0)
        #expect(badIndex.out.hasPrefix("hearth: error: menu.yaml:5: fields.colour: is not a searchable field of an item"))
    }
}
