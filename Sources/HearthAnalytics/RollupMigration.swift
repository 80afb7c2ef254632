/// Migration 13: city rollups, monthly partitions and retention.
///
/// - `orders_city_15m`, `orders_city_1h` and `orders_city_1d` hold every measure of `orders_15m`
///   per city × currency (no restaurant) per 15 minutes, UTC hour and UTC day. The sink upserts
///   all three in the batch's transaction, so they are exact at every position; reports over a
///   city or the whole platform read the coarsest rows that lie inside one bucket of the asked
///   zone (`hearth_cut`), so a year by day reads about 365 (UTC) or 9,000 (+05:30) rows per shard
///   instead of every restaurant's quarter hours.
/// - Every time-keyed table is partitioned by month of UTC time (`<table>_pYYYYMM`). The sink
///   creates a month's partitions before it first writes there (`hearth_ensure_partitions`), so
///   an event from any time lands in its own bucket, however late.
/// - `hearth_drop_expired` drops whole months: the 15-minute level (restaurant buckets, the
///   channel and payment mix, city quarter hours) after its retention, the rollups (hours, days,
///   item orders per day) after theirs.
///
/// Frozen with the measures as they were at version 13; a later migration that adds a measure
/// adds it to these tables and replaces `hearth_cut` itself.
enum RollupMigration {
    static let measures = [
        "orders", "gross_revenue_minor", "discounts_minor", "delivery_fees_minor", "items_sold", "cancellations",
        "refunds_minor", "payments_succeeded", "payments_failed", "deliveries", "delivery_seconds", "ratings", "ratings_sum",
        "ratings_1", "ratings_2", "ratings_3", "ratings_4", "ratings_5", "status_accepted", "status_preparing", "status_ready",
        "status_assigned", "status_picked", "status_out_for_delivery", "late_events", "cancelled_customer",
        "cancelled_restaurant_rejected", "cancelled_payment_failed", "cancelled_no_rider", "cancelled_other",
    ]

    /// The rollup tables and the length of their buckets.
    static let rollups = [("orders_city_15m", "15 minutes"), ("orders_city_1h", "1 hour"), ("orders_city_1d", "1 day")]

    static func list(_ prefix: String) -> String { measures.map { prefix + $0 }.joined(separator: ", ") }

    /// `hearth_cut`'s rows of `table` inside the broken periods (`t` in the CTE `periods`, each `unit` long),
    /// one index range scan each.
    static func inside(table: String, of periods: String, unit: String) -> String {
        """
        SELECT hearth_cut_start(r.bucket, p_granularity, p_zone, b.lo), NULL, r.city, r.currency, \(list("r.")), r.customers, r.delivery_hist
                FROM bounds b, \(periods) p,
                     LATERAL (SELECT * FROM \(table) x
                              WHERE x.bucket >= p.t AND x.bucket < p.t + interval '\(unit)' AND x.bucket >= b.lo AND x.bucket < b.hi
                                AND (p_city IS NULL OR x.city = p_city) AND (p_currency IS NULL OR x.currency = p_currency)
                              OFFSET 0) r
                WHERE p_restaurant IS NULL AND p_granularity <> '15m'
        """
    }

    static var sql: String {
        let columns = measures.map { "\($0) bigint NOT NULL DEFAULT 0" }.joined(separator: ",\n    ")
        let sums = measures.map { "sum(\($0))" }.joined(separator: ", ")
        var out = """
            -- The partition of `parent` holding the UTC month of `t`, created when missing. Creation is
            -- serialised by an advisory lock held to the end of the transaction, so that concurrent
            -- writers that both find it missing create it once.
            CREATE FUNCTION hearth_month_partition(parent text, t timestamptz) RETURNS void
                LANGUAGE plpgsql AS $$
                DECLARE
                    m timestamp := date_trunc('month', t AT TIME ZONE 'UTC');
                    name text := parent || '_p' || to_char(m, 'YYYYMM');
                BEGIN
                    IF to_regclass(name) IS NOT NULL THEN RETURN; END IF;
                    PERFORM pg_advisory_xact_lock(7261002);
                    IF to_regclass(name) IS NOT NULL THEN RETURN; END IF;
                    -- The lock does not refresh this statement's view of the catalog: a partition another
                    -- writer has just committed may still look missing, and then creating it fails harmlessly.
                    BEGIN
                        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', name, parent,
                                       to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00', to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
                    EXCEPTION WHEN duplicate_table OR unique_violation THEN
                        NULL;
                    END;
                END
            $$;
            CREATE FUNCTION hearth_partitioned_tables() RETURNS text[]
                LANGUAGE sql IMMUTABLE AS $$
                SELECT ARRAY['orders_15m', 'order_mix_15m', 'orders_city_15m', 'orders_city_1h', 'orders_city_1d', 'item_orders_daily']
            $$;
            -- Every partitioned table's partitions for the months of `times`.
            CREATE FUNCTION hearth_ensure_partitions(times timestamptz[]) RETURNS void
                LANGUAGE sql AS $$
                SELECT hearth_month_partition(t.name, m.month)
                FROM unnest(hearth_partitioned_tables()) AS t(name),
                     (SELECT DISTINCT date_trunc('month', x AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month FROM unnest(times) AS x) AS m
            $$;

            -- The time-keyed tables become partitioned by month (rows moved as they are).

            """
        for (table, key, primaryKey) in [("orders_15m", "bucket", "bucket, restaurant_id, currency, shard"),
                                         ("order_mix_15m", "bucket", "bucket, restaurant_id, currency, dimension, value, shard"),
                                         ("item_orders_daily", "day", "day, item_id, currency, shard")] {
            let utc = key == "day" ? "day::timestamp AT TIME ZONE 'UTC'" : key
            out += """
                ALTER TABLE \(table) RENAME TO \(table)_unpartitioned;
                ALTER INDEX \(table)_pkey RENAME TO \(table)_unpartitioned_pkey;
                CREATE TABLE \(table) (LIKE \(table)_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (\(key));
                ALTER TABLE \(table) ADD PRIMARY KEY (\(primaryKey));
                SELECT hearth_month_partition('\(table)', t) FROM (SELECT DISTINCT \(utc) AS t FROM \(table)_unpartitioned) AS months;
                INSERT INTO \(table) SELECT * FROM \(table)_unpartitioned;
                DROP TABLE \(table)_unpartitioned;

                """
        }
        out += """
            -- One restaurant's buckets without reading every restaurant's.
            CREATE INDEX orders_15m_restaurant ON orders_15m (restaurant_id, bucket);

            """
        for (table, length) in rollups {
            let start = length == "1 day" ? "date_trunc('day', bucket, 'UTC')" : length == "1 hour" ? "date_trunc('hour', bucket, 'UTC')" : "bucket"
            out += """
                CREATE TABLE \(table) (
                    bucket timestamptz NOT NULL,
                    city text NOT NULL,
                    currency text NOT NULL,
                    shard smallint NOT NULL DEFAULT 0,
                    \(columns),
                    customers hll,
                    delivery_hist bigint[],
                    PRIMARY KEY (city, bucket, currency, shard)
                ) PARTITION BY RANGE (bucket);
                CREATE INDEX \(table)_bucket ON \(table) (bucket);
                SELECT hearth_month_partition('\(table)', t) FROM (SELECT DISTINCT bucket AS t FROM orders_15m) AS months;
                INSERT INTO \(table) (bucket, city, currency, shard, \(list("")), customers, delivery_hist)
                SELECT \(start), city, currency, shard, \(sums), hll_union_agg(customers), hearth_hist_sum(delivery_hist)
                FROM orders_15m GROUP BY 1, city, currency, shard;

                """
        }
        let rollupColumns = list("r.") + ", r.customers, r.delivery_hist"
        out += """
            -- A report bucket's start: the 15-minute bucket itself, the start of its hour, day, week or
            -- month in `zone`, or the range's start for one bucket over the whole range.
            CREATE FUNCTION hearth_cut_start(t timestamptz, granularity text, zone text, lo timestamptz) RETURNS timestamptz
                LANGUAGE sql STABLE PARALLEL SAFE AS $$
                SELECT CASE granularity WHEN '15m' THEN t WHEN 'total' THEN lo WHEN 'all' THEN lo ELSE date_trunc(granularity, t, zone) END
            $$;
            -- Every measure of the range [from, to) in `zone`, each row tagged with the start of its report
            -- bucket (`hearth_cut_start`). One restaurant's rows come from `orders_15m`. Otherwise a rollup row
            -- serves when no report-bucket boundary falls strictly inside it: UTC days without one, then the
            -- UTC hours of the other days without one, then the quarter hours of the other hours (at +05:30 by
            -- day: every hour but the one around local midnight). Boundaries are the range's ends and the
            -- starts of the report buckets (local midnights, weeks, months; for hours, the quarter hours that
            -- begin a local hour). Exact in every zone; the work grows with the boundaries, not the range.
            CREATE FUNCTION hearth_cut(p_from text, p_to text, p_zone text, p_granularity text,
                                       p_restaurant text, p_city text, p_currency text)
                RETURNS TABLE (start timestamptz, restaurant_id text, city text, currency text,
                               \(measures.map { "\($0) bigint" }.joined(separator: ", ")), customers hll, delivery_hist bigint[])
                LANGUAGE sql STABLE AS $$
                WITH bounds AS (
                    SELECT hearth_range_start(p_from, p_zone) AS lo, hearth_range_end(p_to, p_zone) AS hi
                ), boundaries AS (
                    SELECT b.lo AS t FROM bounds b
                    UNION ALL SELECT b.hi FROM bounds b
                    UNION ALL
                    SELECT s AT TIME ZONE p_zone
                    FROM bounds b, generate_series(date_trunc(p_granularity, b.lo, p_zone) AT TIME ZONE p_zone, b.hi AT TIME ZONE p_zone,
                                                   -- (guarded: planning folds constants, '1 total' is no interval)
                                                   CASE WHEN p_granularity IN ('day', 'week', 'month') THEN ('1 ' || p_granularity)::interval
                                                        ELSE interval '1 day' END) AS s
                    WHERE p_granularity IN ('day', 'week', 'month')
                    UNION ALL
                    SELECT q FROM bounds b, generate_series(date_trunc('hour', b.lo, 'UTC'), b.hi, interval '15 minutes') AS q
                    WHERE p_granularity = 'hour' AND date_trunc('hour', q, p_zone) = q
                ), broken_days AS (
                    SELECT DISTINCT date_trunc('day', t, 'UTC') AS t FROM boundaries WHERE t <> date_trunc('day', t, 'UTC')
                ), broken_hours AS (
                    SELECT DISTINCT date_trunc('hour', t, 'UTC') AS t FROM boundaries WHERE t <> date_trunc('hour', t, 'UTC')
                )
                SELECT hearth_cut_start(r.bucket, p_granularity, p_zone, b.lo), r.restaurant_id, r.city, r.currency, \(rollupColumns)
                FROM orders_15m r, bounds b
                WHERE p_restaurant IS NOT NULL AND r.restaurant_id = p_restaurant AND r.bucket >= b.lo AND r.bucket < b.hi
                  AND (p_city IS NULL OR r.city = p_city) AND (p_currency IS NULL OR r.currency = p_currency)
                UNION ALL
                SELECT hearth_cut_start(r.bucket, p_granularity, p_zone, b.lo), NULL, r.city, r.currency, \(rollupColumns)
                FROM orders_city_1d r, bounds b
                WHERE p_restaurant IS NULL AND p_granularity <> '15m' AND r.bucket >= b.lo AND r.bucket < b.hi
                  AND r.bucket NOT IN (SELECT t FROM broken_days)
                  AND (p_city IS NULL OR r.city = p_city) AND (p_currency IS NULL OR r.currency = p_currency)
                UNION ALL
                -- The hours of broken days: one index range scan from the first broken day to the last
                -- (none when every day is whole), keeping the hours of broken days that are whole.
                SELECT hearth_cut_start(r.bucket, p_granularity, p_zone, b.lo), NULL, r.city, r.currency, \(rollupColumns)
                FROM bounds b, orders_city_1h r,
                     (SELECT min(t) AS first, max(t) + interval '1 day' AS last,
                             count(*) = extract(day FROM max(t) - min(t)) + 1 AS every_day FROM broken_days) e
                WHERE p_restaurant IS NULL AND p_granularity <> '15m'
                  AND r.bucket >= e.first AND r.bucket < e.last AND r.bucket >= b.lo AND r.bucket < b.hi
                  -- (when every day in between is broken, as at +05:30, each hour's day need not be looked up)
                  AND (e.every_day OR date_trunc('day', r.bucket, 'UTC') IN (SELECT t FROM broken_days))
                  AND r.bucket NOT IN (SELECT t FROM broken_hours)
                  AND (p_city IS NULL OR r.city = p_city) AND (p_currency IS NULL OR r.currency = p_currency)
                UNION ALL
                -- The quarter hours of broken hours: one index range scan per broken hour (OFFSET 0 keeps the
                -- planner from turning them into one scan of the whole range joined by filter).
                \(inside(table: "orders_city_15m", of: "broken_hours", unit: "1 hour"))
                UNION ALL
                SELECT r.bucket, NULL, r.city, r.currency, \(rollupColumns)
                FROM orders_city_15m r, bounds b
                WHERE p_restaurant IS NULL AND p_granularity = '15m' AND r.bucket >= b.lo AND r.bucket < b.hi
                  AND (p_city IS NULL OR r.city = p_city) AND (p_currency IS NULL OR r.currency = p_currency)
            $$;

            -- Drops the months whose end is more than `quarter_days` (the 15-minute level) or `rollup_days`
            -- (hours, days, item orders per day) in the past; returns the partitions dropped.
            CREATE FUNCTION hearth_drop_expired(quarter_days int, rollup_days int) RETURNS SETOF text
                LANGUAGE plpgsql AS $$
                DECLARE
                    part record;
                BEGIN
                    FOR part IN
                        SELECT c.relname, p.relname AS parent
                        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                        WHERE p.relname = ANY (hearth_partitioned_tables()) AND c.relname ~ '_p[0-9]{6}$'
                    LOOP
                        IF (to_date(right(part.relname, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                           <= now() - make_interval(days => CASE WHEN part.parent IN ('orders_15m', 'order_mix_15m', 'orders_city_15m')
                                                                 THEN quarter_days ELSE rollup_days END) THEN
                            EXECUTE format('DROP TABLE %I', part.relname);
                            RETURN NEXT part.relname;
                        END IF;
                    END LOOP;
                END
            $$;
            """
        return out
    }
}
