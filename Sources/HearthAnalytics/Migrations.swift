import HearthPostgres
import Logging

/// Versioned schema migrations, applied in order on start and by `hearth migrate`.
/// A migration is never edited once released: add a new one.
public enum Migrations {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String
    }

    public static let all: [Migration] = [
        Migration(version: 1, name: "positions and order buckets", sql: """
            CREATE TABLE hearth_positions (
                sink        text   NOT NULL,
                pipeline    text   NOT NULL,
                topic       text   NOT NULL,
                partition   int    NOT NULL,
                next_offset bigint NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (sink, pipeline, topic, partition)
            );
            CREATE TABLE analytics_seen_events (
                event_id text        NOT NULL PRIMARY KEY,
                seen_at  timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX analytics_seen_events_seen_at ON analytics_seen_events (seen_at);
            CREATE TABLE orders_15m (
                bucket              timestamptz NOT NULL,
                restaurant_id       text        NOT NULL,
                currency            text        NOT NULL,
                orders              bigint      NOT NULL DEFAULT 0,
                gross_revenue_minor bigint      NOT NULL DEFAULT 0,
                PRIMARY KEY (bucket, restaurant_id, currency)
            );
            """),
        // Each writer connection owns a shard of the bucket rows, so that batches of different
        // partitions never wait for one another's row locks (popular restaurants are in every
        // partition's batch). Readers sum over shards. The dedup horizon's index is a BRIN: ids are
        // inserted in time order, and a B-tree on `seen_at` cost as much as the primary key.
        Migration(version: 2, name: "writer shards for buckets, BRIN for the dedup horizon", sql: """
            ALTER TABLE orders_15m ADD COLUMN shard smallint NOT NULL DEFAULT 0;
            ALTER TABLE orders_15m DROP CONSTRAINT orders_15m_pkey;
            ALTER TABLE orders_15m ADD PRIMARY KEY (bucket, restaurant_id, currency, shard);
            DROP INDEX analytics_seen_events_seen_at;
            CREATE INDEX analytics_seen_events_seen_at ON analytics_seen_events USING brin (seen_at);
            """),
        // Orders per menu item and UTC day: search ranks by the last 30 days of them, and the
        // top-items report reads them. Sharded per writer like the order buckets.
        Migration(version: 3, name: "menu item orders per day", sql: """
            CREATE TABLE item_orders_daily (
                day           date     NOT NULL,
                item_id       text     NOT NULL,
                currency      text     NOT NULL,
                shard         smallint NOT NULL,
                restaurant_id text     NOT NULL,
                city          text     NOT NULL,
                name          text     NOT NULL,
                orders        bigint   NOT NULL DEFAULT 0,
                quantity      bigint   NOT NULL DEFAULT 0,
                revenue_minor bigint   NOT NULL DEFAULT 0,
                PRIMARY KEY (day, item_id, currency, shard)
            );
            """),
        // The rest of an order's life per bucket: discounts, fees, items, cancellations and refunds,
        // payments, deliveries (time in whole seconds), ratings; and the restaurant's city.
        Migration(version: 4, name: "order lifecycle measures per bucket", sql: """
            ALTER TABLE orders_15m
                ADD COLUMN city text NOT NULL DEFAULT '',
                ADD COLUMN discounts_minor bigint NOT NULL DEFAULT 0,
                ADD COLUMN delivery_fees_minor bigint NOT NULL DEFAULT 0,
                ADD COLUMN items_sold bigint NOT NULL DEFAULT 0,
                ADD COLUMN cancellations bigint NOT NULL DEFAULT 0,
                ADD COLUMN refunds_minor bigint NOT NULL DEFAULT 0,
                ADD COLUMN payments_succeeded bigint NOT NULL DEFAULT 0,
                ADD COLUMN payments_failed bigint NOT NULL DEFAULT 0,
                ADD COLUMN deliveries bigint NOT NULL DEFAULT 0,
                ADD COLUMN delivery_seconds bigint NOT NULL DEFAULT 0,
                ADD COLUMN ratings bigint NOT NULL DEFAULT 0,
                ADD COLUMN ratings_sum bigint NOT NULL DEFAULT 0;
            """),
        // How reports read a range bound: a date is midnight in the zone (an end date: the midnight
        // after it, so that the day is included); anything else is an ISO 8601 timestamp.
        Migration(version: 5, name: "range bounds for reports", sql: """
            CREATE FUNCTION hearth_range_start(bound text, zone text) RETURNS timestamptz
                LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT CASE WHEN length(bound) = 10 THEN bound::date::timestamp AT TIME ZONE zone ELSE bound::timestamptz END
            $$;
            CREATE FUNCTION hearth_range_end(bound text, zone text) RETURNS timestamptz
                LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT CASE WHEN length(bound) = 10 THEN (bound::date + 1)::timestamp AT TIME ZONE zone ELSE bound::timestamptz END
            $$;
            """),
        // Unique customers per bucket: a HyperLogLog (the hll extension; 2^14 registers of 5 bits, about
        // 0.8% standard error, sparse while small), merged by union on upsert
        // and across buckets in reports, so any range and grouping is counted without the events.
        Migration(version: 6, name: "unique customers per bucket", sql: """
            CREATE EXTENSION IF NOT EXISTS hll;
            ALTER TABLE orders_15m ADD COLUMN customers hll;
            """),
        // How reports show a bucket: its start as ISO 8601 local time in the zone, with the zone's
        // offset at that moment (+05:45, -04:00).
        Migration(version: 7, name: "local ISO 8601 times for reports", sql: """
            CREATE FUNCTION hearth_local_iso(t timestamptz, zone text) RETURNS text
                LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT to_char(t AT TIME ZONE zone, 'YYYY-MM-DD"T"HH24:MI:SS')
                    || CASE WHEN (t AT TIME ZONE zone) - (t AT TIME ZONE 'UTC') < interval '0' THEN '-' ELSE '+' END
                    || to_char(abs(extract(epoch FROM (t AT TIME ZONE zone) - (t AT TIME ZONE 'UTC'))) * interval '1 second', 'HH24:MI')
            $$;
            """),
        // The distribution of ratings: how many of each number of stars.
        Migration(version: 8, name: "ratings by stars", sql: """
            ALTER TABLE orders_15m
                ADD COLUMN ratings_1 bigint NOT NULL DEFAULT 0,
                ADD COLUMN ratings_2 bigint NOT NULL DEFAULT 0,
                ADD COLUMN ratings_3 bigint NOT NULL DEFAULT 0,
                ADD COLUMN ratings_4 bigint NOT NULL DEFAULT 0,
                ADD COLUMN ratings_5 bigint NOT NULL DEFAULT 0;
            """),
        // The order funnel (status changes per bucket), the delivery-time distribution as a
        // mergeable histogram (`DeliveryHistogram`: bins growing by 5%, added element by element),
        // and orders and payments by channel and by payment method.
        Migration(version: 9, name: "funnel, delivery-time distribution, channel and payment mix", sql: """
            ALTER TABLE orders_15m
                ADD COLUMN status_accepted bigint NOT NULL DEFAULT 0,
                ADD COLUMN status_preparing bigint NOT NULL DEFAULT 0,
                ADD COLUMN status_ready bigint NOT NULL DEFAULT 0,
                ADD COLUMN status_assigned bigint NOT NULL DEFAULT 0,
                ADD COLUMN status_picked bigint NOT NULL DEFAULT 0,
                ADD COLUMN status_out_for_delivery bigint NOT NULL DEFAULT 0,
                ADD COLUMN delivery_hist bigint[];
            CREATE FUNCTION hearth_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
                LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a ELSE
                    ARRAY(SELECT coalesce(a[i], 0) + coalesce(b[i], 0)
                            FROM generate_series(1, greatest(cardinality(a), cardinality(b))) AS i) END
            $$;
            CREATE AGGREGATE hearth_hist_sum(bigint[]) (
                SFUNC = hearth_hist_add, STYPE = bigint[], COMBINEFUNC = hearth_hist_add, PARALLEL = SAFE);
            -- The nearest-rank q-quantile, as the geometric middle of its bin (minutes).
            CREATE FUNCTION hearth_hist_quantile(h bigint[], q float8) RETURNS float8
                LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
                DECLARE
                    total bigint;
                    wanted bigint;
                    running bigint := 0;
                BEGIN
                    SELECT sum(x) INTO total FROM unnest(h) AS x;
                    IF total IS NULL OR total = 0 THEN RETURN NULL; END IF;
                    wanted := greatest(1, ceil(q * total));
                    FOR i IN 1 .. cardinality(h) LOOP
                        running := running + coalesce(h[i], 0);
                        IF running >= wanted THEN
                            RETURN CASE WHEN i = 1 THEN 0.5 ELSE round((1.05 ^ (i - 2) * sqrt(1.05))::numeric, 2)::float8 END;
                        END IF;
                    END LOOP;
                    RETURN NULL;
                END
            $$;
            CREATE TABLE order_mix_15m (
                bucket              timestamptz NOT NULL,
                restaurant_id       text        NOT NULL,
                currency            text        NOT NULL,
                dimension           text        NOT NULL,
                value               text        NOT NULL,
                shard               smallint    NOT NULL DEFAULT 0,
                city                text        NOT NULL DEFAULT '',
                orders              bigint      NOT NULL DEFAULT 0,
                gross_revenue_minor bigint      NOT NULL DEFAULT 0,
                payments_succeeded  bigint      NOT NULL DEFAULT 0,
                payments_failed     bigint      NOT NULL DEFAULT 0,
                PRIMARY KEY (bucket, restaurant_id, currency, dimension, value, shard)
            );
            """),
        // Orders per minute for the live view; rows older than two days are deleted.
        Migration(version: 10, name: "orders per minute for the live view", sql: """
            CREATE TABLE orders_live_1m (
                minute              timestamptz NOT NULL,
                city                text        NOT NULL,
                currency            text        NOT NULL,
                shard               smallint    NOT NULL DEFAULT 0,
                orders              bigint      NOT NULL DEFAULT 0,
                gross_revenue_minor bigint      NOT NULL DEFAULT 0,
                cancellations       bigint      NOT NULL DEFAULT 0,
                deliveries          bigint      NOT NULL DEFAULT 0,
                PRIMARY KEY (minute, city, currency, shard)
            );
            """),
        // How many of a bucket's events reached Kafka after it had closed (they count all the same).
        Migration(version: 11, name: "late events per bucket", sql: """
            ALTER TABLE orders_15m ADD COLUMN late_events bigint NOT NULL DEFAULT 0;
            """),
        Migration(version: 12, name: "cancellations by reason", sql: """
            ALTER TABLE orders_15m
                ADD COLUMN cancelled_customer bigint NOT NULL DEFAULT 0,
                ADD COLUMN cancelled_restaurant_rejected bigint NOT NULL DEFAULT 0,
                ADD COLUMN cancelled_payment_failed bigint NOT NULL DEFAULT 0,
                ADD COLUMN cancelled_no_rider bigint NOT NULL DEFAULT 0,
                ADD COLUMN cancelled_other bigint NOT NULL DEFAULT 0;
            """),
        Migration(version: 13, name: "city rollups per 15 minutes, hour and day; monthly partitions; retention", sql: RollupMigration.sql),
        // Adding histograms element by element in PL/pgSQL: the SQL version (a sub-select, so never
        // inlined) cost about 30 µs a call, on every bucket upsert that met an existing row and on every
        // row a report merges; this one costs about 4.
        Migration(version: 14, name: "faster histogram addition", sql: """
            CREATE OR REPLACE FUNCTION hearth_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
                LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
                DECLARE
                    r bigint[];
                BEGIN
                    IF a IS NULL THEN RETURN b; END IF;
                    IF b IS NULL THEN RETURN a; END IF;
                    r := a;
                    FOR i IN 1 .. cardinality(b) LOOP
                        r[i] := coalesce(r[i], 0) + b[i];
                    END LOOP;
                    RETURN r;
                END
            $$;
            """),
        // The same selection as hearth_drop_expired, without dropping: each expiring partition is first
        // written to the archive, then dropped by name.
        Migration(version: 15, name: "expiring partitions listed before they are dropped", sql: """
            CREATE FUNCTION hearth_expired_partitions(quarter_days int, rollup_days int) RETURNS TABLE (part text, parent text)
                LANGUAGE sql STABLE AS $$
                    SELECT c.relname::text, p.relname::text
                    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                    WHERE p.relname = ANY (hearth_partitioned_tables()) AND c.relname ~ '_p[0-9]{6}$'
                      AND (to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                          <= now() - make_interval(days => CASE WHEN p.relname IN ('orders_15m', 'order_mix_15m', 'orders_city_15m')
                                                                THEN quarter_days ELSE rollup_days END)
                    ORDER BY 1
                $$;
            """),
        Migration(version: 16, name: "measures per local day of the report zones", sql: ZoneDayMigration.sql),
        Migration(version: 17, name: "integer keys for menu items", sql: ItemKeysMigration.sql),
        // A unique index probe and insert per event id was half of PostgreSQL's time during ingest: the
        // ids are now checked in memory per partition and kept as one row of digests per batch (`SeenEvents`).
        Migration(version: 18, name: "event ids kept per partition, one row of digests per batch", sql: SeenEvents.migrationSQL),
        // Aggregate rows are updated by batch after batch; with room left on each page (70% filled by inserts)
        // most updates stay on their page and add no index entries (HOT updates).
        Migration(version: 19, name: "room on aggregate pages for updates in place", sql: """
            CREATE OR REPLACE FUNCTION hearth_month_partition(parent text, t timestamptz) RETURNS void
                LANGUAGE plpgsql AS $$
                DECLARE
                    m timestamp := date_trunc('month', t AT TIME ZONE 'UTC');
                    name text := parent || '_p' || to_char(m, 'YYYYMM');
                BEGIN
                    IF to_regclass(name) IS NOT NULL THEN RETURN; END IF;
                    PERFORM pg_advisory_xact_lock(7261002);
                    IF to_regclass(name) IS NOT NULL THEN RETURN; END IF;
                    BEGIN
                        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L) WITH (fillfactor = 70)',
                                       name, parent, to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
                                       to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
                    EXCEPTION WHEN duplicate_table OR unique_violation THEN
                        NULL;
                    END;
                END
            $$;
            ALTER TABLE orders_live_1m SET (fillfactor = 70);
            DO $$
            DECLARE r record;
            BEGIN
                FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                         WHERE p.relname = ANY (hearth_partitioned_tables()) LOOP
                    EXECUTE format('ALTER TABLE %I SET (fillfactor = 70)', r.relname);
                END LOOP;
            END
            $$;
            """),
    ]

    /// Applies every migration not yet applied, each in its own transaction, under an advisory lock
    /// so that several instances starting together apply each once. Returns the versions applied.
    @discardableResult
    public static func apply(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        try await connection.withSession { session in
            try session.execute("""
                CREATE TABLE IF NOT EXISTS hearth_schema_migrations (
                    version    int PRIMARY KEY,
                    name       text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            try session.execute("SELECT pg_advisory_lock(7261001)")
            defer { try? session.execute("SELECT pg_advisory_unlock(7261001)") }
            let done = Set(try session.query("SELECT version FROM hearth_schema_migrations").compactMap { $0[0].flatMap(Int.init) })
            var applied: [Int] = []
            for m in all where !done.contains(m.version) {
                try session.execute("BEGIN")
                do {
                    try session.execute(m.sql)
                    try session.query("INSERT INTO hearth_schema_migrations (version, name) VALUES (\(m.version), \(m.name))")
                    try session.execute("COMMIT")
                } catch {
                    try? session.execute("ROLLBACK")
                    throw error
                }
                logger.info("Applied migration.", metadata: ["version": "\(m.version)", "name": "\(m.name)"])
                applied.append(m.version)
            }
            return applied
        }
    }
}
