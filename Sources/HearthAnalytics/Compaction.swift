/// Merging the writers' shards of closed periods.
///
/// Each writer connection owns a shard of every aggregate row, so that batches of different
/// partitions never wait for one another's row locks; an hour of a city therefore has up to one
/// row per writer. Once a period is closed (no batch writes there but the odd late event), its
/// shard rows are merged into shard 0 in one statement per table: the rows are deleted and their
/// sums added to shard 0, in one transaction, so every total stays exact at every moment. Reports
/// over history then read a quarter of the rows. A late event after that lands in its writer's
/// shard again and is merged by the next pass.
enum Compaction {
    struct Table {
        let name: String
        /// The time column and the other key columns (without `shard`).
        let time: String
        let keys: [String]
        /// Columns that follow from the key (taken from any row).
        let attributes: [String]
        /// Columns that add up.
        let sums: [String]
        /// Whether the rows carry a customers' sketch and a delivery-time histogram.
        let sketches: Bool
    }

    static var tables: [Table] {
        let measures = OrderBuckets.Totals.columns
        return [
            Table(name: "orders_15m", time: "bucket", keys: ["restaurant_id", "currency"], attributes: ["city"], sums: measures, sketches: true),
            Table(name: "orders_city_15m", time: "bucket", keys: ["city", "currency"], attributes: [], sums: measures, sketches: true),
            Table(name: "orders_city_1h", time: "bucket", keys: ["city", "currency"], attributes: [], sums: measures, sketches: true),
            Table(name: "orders_city_1d", time: "bucket", keys: ["city", "currency"], attributes: [], sums: measures, sketches: true),
            Table(name: "orders_zone_1d", time: "day", keys: ["zone", "city", "currency"], attributes: [], sums: measures, sketches: false),
            Table(name: "order_mix_15m", time: "bucket", keys: ["restaurant_id", "currency", "dimension", "value"], attributes: ["city"],
                  sums: OrderBuckets.MixTotals.columns, sketches: false),
            Table(name: "item_orders_daily", time: "day", keys: ["item_key"], attributes: [],
                  sums: ["orders", "quantity", "revenue_minor"], sketches: false),
        ]
    }

    /// The statement that merges `table`'s shard rows older than the first bind (a timestamptz).
    static func sql(_ t: Table) -> String {
        let key = ([t.time] + t.keys).joined(separator: ", ")
        var merged = [key] + t.attributes.map { "max(\($0)) AS \($0)" } + t.sums.map { "sum(\($0)) AS \($0)" }
        var columns = [key, "shard"] + t.attributes + t.sums
        var selected = [key, "0::smallint"] + t.attributes + t.sums
        var updates = t.attributes.map { "\($0) = EXCLUDED.\($0)" } + t.sums.map { "\($0) = \(t.name).\($0) + EXCLUDED.\($0)" }
        if t.sketches {
            merged += ["hll_union_agg(customers) AS customers", "hearth_hist_sum(delivery_hist) AS delivery_hist"]
            columns += ["customers", "delivery_hist"]
            selected += ["customers", "delivery_hist"]
            updates += AnalyticsSink.UpsertSQL.mergeSketches(t.name)
        }
        let before = t.time == "day" ? "day < ($1::timestamptz AT TIME ZONE 'UTC')::date" : "bucket < $1::timestamptz"
        return """
            WITH moved AS (
                DELETE FROM \(t.name) WHERE \(before) AND shard <> 0 RETURNING *
            ), merged AS (
                SELECT \(merged.joined(separator: ", ")) FROM moved GROUP BY \(key)
            )
            INSERT INTO \(t.name) (\(columns.joined(separator: ", ")))
            SELECT \(selected.joined(separator: ", ")) FROM merged
            ON CONFLICT (\(key), shard) DO UPDATE SET \(updates.joined(separator: ", "))
            """
    }
}
