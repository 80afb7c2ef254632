/// Migration 16: every measure per local day of the report zones.
///
/// A report by day, week or month in a zone whose midnights are not UTC midnights (Asia/Kolkata at
/// +05:30, America/New_York, and every zone but UTC on some days) could not use the UTC day rollup:
/// `hearth_cut` read 23 hour rows and 4 quarter-hour rows for each day. `orders_zone_1d` holds the
/// measures per city × currency per local day of each zone registered in `hearth_report_zones`
/// (the setting `report_zones`). The sink adds each batch's city quarter hours to the day rows of
/// every registered zone in the batch's transaction, in SQL (`AnalyticsSink.upsertZoneDays`), so the
/// local date comes from PostgreSQL's time-zone data, as the reports' own does.
///
/// `hearth_cut_totals` is `hearth_cut` without the customers' sketch and the delivery-time histogram
/// (not kept per zone day: a sketch is up to 10 KiB, rewritten on every update). It takes the range's
/// whole local days from `orders_zone_1d` when the zone is registered, and its edges (a range given
/// as timestamps, and days before the zone's `since`) through the rollups as before. Reports that
/// sum measures only read it; those that need sketches keep `hearth_cut`.
///
/// A zone is registered by `hearth_register_report_zone`, which fills its rows from the 15-minute
/// level (`since` is the first local day that level holds whole) under locks that make writers wait,
/// so that no batch is counted twice or missed; `hearth_unregister_report_zone` deletes them.
///
/// Frozen as released: a later migration that adds a measure adds it to `orders_zone_1d` and replaces
/// `hearth_cut_totals`.
enum ZoneDayMigration {
    static let measures = RollupMigration.measures

    static func list(_ prefix: String) -> String { measures.map { prefix + $0 }.joined(separator: ", ") }

    static var sql: String {
        let columns = measures.map { "\($0) bigint NOT NULL DEFAULT 0" }.joined(separator: ",\n    ")
        let sums = measures.map { "sum(\($0))" }.joined(separator: ", ")
        let measured = list("r.")
        return """
            CREATE TABLE hearth_report_zones (
                zone          text        PRIMARY KEY,
                -- the first local day whose rows are whole (earlier days are read through the rollups)
                since         date        NOT NULL,
                registered_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE orders_zone_1d (
                zone text NOT NULL,
                day date NOT NULL,
                city text NOT NULL,
                currency text NOT NULL,
                shard smallint NOT NULL DEFAULT 0,
                \(columns),
                PRIMARY KEY (zone, city, day, currency, shard)
            ) PARTITION BY RANGE (day);

            CREATE OR REPLACE FUNCTION hearth_partitioned_tables() RETURNS text[]
                LANGUAGE sql IMMUTABLE AS $$
                SELECT ARRAY['orders_15m', 'order_mix_15m', 'orders_city_15m', 'orders_city_1h', 'orders_city_1d', 'item_orders_daily',
                             'orders_zone_1d']
            $$;
            -- A local day is up to 14 hours either side of its UTC day: the zone days' month partitions
            -- are made for the neighbouring days too.
            CREATE OR REPLACE FUNCTION hearth_ensure_partitions(times timestamptz[]) RETURNS void
                LANGUAGE sql AS $$
                SELECT hearth_month_partition(t.name, m.month)
                FROM unnest(hearth_partitioned_tables()) AS t(name),
                     LATERAL (SELECT DISTINCT date_trunc('month', (x + s) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
                              FROM unnest(times) AS x,
                                   unnest(CASE WHEN t.name = 'orders_zone_1d' THEN ARRAY[interval '-1 day', interval '0', interval '1 day']
                                               ELSE ARRAY[interval '0'] END) AS s) AS m
            $$;

            -- Registers `z` (an IANA zone): its day rows filled from the 15-minute level. SHARE on the city
            -- quarter hours waits for the writers' transactions in flight (each writes its quarter hours
            -- before its zone days) and holds new ones until this commits, when they see the zone.
            CREATE FUNCTION hearth_register_report_zone(z text) RETURNS boolean
                LANGUAGE plpgsql AS $$
                DECLARE
                    first timestamptz;
                    since_day date;
                    m timestamptz;
                BEGIN
                    PERFORM now() AT TIME ZONE z;   -- an unknown zone fails here
                    LOCK TABLE orders_city_15m IN SHARE MODE;
                    LOCK TABLE orders_zone_1d IN EXCLUSIVE MODE;
                    IF EXISTS (SELECT 1 FROM hearth_report_zones WHERE zone = z) THEN RETURN false; END IF;
                    DELETE FROM orders_zone_1d WHERE zone = z;
                    SELECT min(bucket) INTO first FROM orders_city_15m;
                    IF first IS NULL AND NOT EXISTS (SELECT 1 FROM orders_city_1h) THEN
                        since_day := '-infinity';
                    ELSE
                        first := coalesce(first, now());
                        since_day := (first AT TIME ZONE z)::date
                                     + CASE WHEN (first AT TIME ZONE z)::time = '00:00' THEN 0 ELSE 1 END;
                        FOR m IN SELECT DISTINCT date_trunc('month', bucket AT TIME ZONE z) AT TIME ZONE 'UTC'
                                 FROM orders_city_15m WHERE (bucket AT TIME ZONE z)::date >= since_day LOOP
                            PERFORM hearth_month_partition('orders_zone_1d', m);
                        END LOOP;
                        INSERT INTO orders_zone_1d (zone, day, city, currency, shard, \(list("")))
                        SELECT z, (bucket AT TIME ZONE z)::date, city, currency, 0, \(sums)
                        FROM orders_city_15m WHERE (bucket AT TIME ZONE z)::date >= since_day
                        GROUP BY 2, city, currency;
                    END IF;
                    INSERT INTO hearth_report_zones (zone, since) VALUES (z, since_day);
                    RETURN true;
                END
            $$;
            CREATE FUNCTION hearth_unregister_report_zone(z text) RETURNS boolean
                LANGUAGE plpgsql AS $$
                BEGIN
                    LOCK TABLE orders_city_15m IN SHARE MODE;
                    LOCK TABLE orders_zone_1d IN EXCLUSIVE MODE;
                    DELETE FROM orders_zone_1d WHERE zone = z;
                    DELETE FROM hearth_report_zones WHERE zone = z;
                    RETURN FOUND;
                END
            $$;

            -- `hearth_cut` without sketches: the same rows, but the local days of a registered zone wholly
            -- inside the range (from its `since` on, by day, week, month or in total, not for one restaurant)
            -- come from `orders_zone_1d`; the rest of the range (`bounds`: the edges before and after those
            -- days, or all of it) is cut through the rollups as `hearth_cut` does.
            CREATE FUNCTION hearth_cut_totals(p_from text, p_to text, p_zone text, p_granularity text,
                                              p_restaurant text, p_city text, p_currency text)
                RETURNS TABLE (start timestamptz, restaurant_id text, city text, currency text,
                               \(measures.map { "\($0) bigint" }.joined(separator: ", ")))
                LANGUAGE sql STABLE AS $$
                WITH range AS (
                    SELECT hearth_range_start(p_from, p_zone) AS lo, hearth_range_end(p_to, p_zone) AS hi
                ), whole AS (
                    SELECT greatest(z.since, (g.lo AT TIME ZONE p_zone)::date
                                             + CASE WHEN (g.lo AT TIME ZONE p_zone)::time = '00:00' THEN 0 ELSE 1 END) AS dlo,
                           (g.hi AT TIME ZONE p_zone)::date AS dhi
                    FROM range g, hearth_report_zones z
                    WHERE z.zone = p_zone AND p_restaurant IS NULL AND p_granularity IN ('day', 'week', 'month', 'total')
                ), middle AS (
                    SELECT w.dlo, w.dhi, w.dlo::timestamp AT TIME ZONE p_zone AS lo, w.dhi::timestamp AT TIME ZONE p_zone AS hi
                    FROM whole w WHERE w.dlo < w.dhi
                ), bounds AS (
                    SELECT g.lo AS lo, coalesce(m.lo, g.hi) AS hi, g.lo AS first FROM range g LEFT JOIN middle m ON true
                    UNION ALL
                    SELECT m.hi, g.hi, g.lo FROM range g, middle m
                ), edges AS (
                    SELECT * FROM bounds WHERE lo < hi
                ), boundaries AS (
                    SELECT b.lo AS t FROM edges b
                    UNION ALL SELECT b.hi FROM edges b
                    UNION ALL
                    SELECT s AT TIME ZONE p_zone
                    FROM edges b, generate_series(date_trunc(p_granularity, b.lo, p_zone) AT TIME ZONE p_zone, b.hi AT TIME ZONE p_zone,
                                                  CASE WHEN p_granularity IN ('day', 'week', 'month') THEN ('1 ' || p_granularity)::interval
                                                       ELSE interval '1 day' END) AS s
                    WHERE p_granularity IN ('day', 'week', 'month')
                    UNION ALL
                    SELECT q FROM edges b, generate_series(date_trunc('hour', b.lo, 'UTC'), b.hi, interval '15 minutes') AS q
                    WHERE p_granularity = 'hour' AND date_trunc('hour', q, p_zone) = q
                ), broken_days AS (
                    SELECT DISTINCT date_trunc('day', t, 'UTC') AS t FROM boundaries WHERE t <> date_trunc('day', t, 'UTC')
                ), broken_hours AS (
                    SELECT DISTINCT date_trunc('hour', t, 'UTC') AS t FROM boundaries WHERE t <> date_trunc('hour', t, 'UTC')
                )
                SELECT hearth_cut_start(r.day::timestamp AT TIME ZONE p_zone, p_granularity, p_zone, g.lo), NULL, r.city, r.currency, \(measured)
                FROM range g, middle m, orders_zone_1d r
                WHERE r.zone = p_zone AND r.day >= m.dlo AND r.day < m.dhi
                  AND (p_city IS NULL OR r.city = p_city) AND (p_currency IS NULL OR r.currency = p_currency)
                UNION ALL
                SELECT hearth_cut_start(r.bucket, p_granularity, p_zone, b.first), r.restaurant_id, r.city, r.currency, \(measured)
                FROM edges b, LATERAL (SELECT * FROM orders_15m x
                                       WHERE x.restaurant_id = p_restaurant AND x.bucket >= b.lo AND x.bucket < b.hi
                                         AND (p_city IS NULL OR x.city = p_city) AND (p_currency IS NULL OR x.currency = p_currency)
                                       OFFSET 0) r
                WHERE p_restaurant IS NOT NULL
                UNION ALL
                SELECT hearth_cut_start(r.bucket, p_granularity, p_zone, b.first), NULL, r.city, r.currency, \(measured)
                FROM edges b, LATERAL (SELECT * FROM orders_city_1d x
                                       WHERE x.bucket >= b.lo AND x.bucket < b.hi AND x.bucket NOT IN (SELECT t FROM broken_days)
                                         AND (p_city IS NULL OR x.city = p_city) AND (p_currency IS NULL OR x.currency = p_currency)
                                       OFFSET 0) r
                WHERE p_restaurant IS NULL AND p_granularity <> '15m'
                UNION ALL
                -- The hours of broken days, per edge: one index range scan from its first broken day to its last.
                SELECT hearth_cut_start(r.bucket, p_granularity, p_zone, b.first), NULL, r.city, r.currency, \(measured)
                FROM edges b,
                     LATERAL (SELECT min(t) AS first, max(t) + interval '1 day' AS last,
                                     count(*) = extract(day FROM max(t) - min(t)) + 1 AS every_day
                              FROM broken_days WHERE t >= date_trunc('day', b.lo, 'UTC') AND t < b.hi) e,
                     LATERAL (SELECT * FROM orders_city_1h x
                              WHERE x.bucket >= e.first AND x.bucket < e.last AND x.bucket >= b.lo AND x.bucket < b.hi
                                AND (e.every_day OR date_trunc('day', x.bucket, 'UTC') IN (SELECT t FROM broken_days))
                                AND x.bucket NOT IN (SELECT t FROM broken_hours)
                                AND (p_city IS NULL OR x.city = p_city) AND (p_currency IS NULL OR x.currency = p_currency)
                              OFFSET 0) r
                WHERE p_restaurant IS NULL AND p_granularity <> '15m'
                UNION ALL
                -- The quarter hours of broken hours: one index range scan per broken hour.
                SELECT hearth_cut_start(r.bucket, p_granularity, p_zone, b.first), NULL, r.city, r.currency, \(measured)
                FROM edges b, broken_hours p,
                     LATERAL (SELECT * FROM orders_city_15m x
                              WHERE x.bucket >= p.t AND x.bucket < p.t + interval '1 hour' AND x.bucket >= b.lo AND x.bucket < b.hi
                                AND (p_city IS NULL OR x.city = p_city) AND (p_currency IS NULL OR x.currency = p_currency)
                              OFFSET 0) r
                WHERE p_restaurant IS NULL AND p_granularity <> '15m'
                UNION ALL
                SELECT r.bucket, NULL, r.city, r.currency, \(measured)
                FROM edges b, orders_city_15m r
                WHERE p_restaurant IS NULL AND p_granularity = '15m' AND r.bucket >= b.lo AND r.bucket < b.hi
                  AND (p_city IS NULL OR r.city = p_city) AND (p_currency IS NULL OR r.currency = p_currency)
            $$;
            """
    }
}
