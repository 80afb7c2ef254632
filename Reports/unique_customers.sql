/*---
name: unique_customers
description: "Distinct customers who placed orders, per bucket of local time (or over the whole range), estimated with HyperLogLog (2^14 registers, about 0.8% standard error)."
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  granularity: {type: enum, values: [15m, hour, day, week, month, all], default: day}
  tz: {type: zone, default: UTC, description: "IANA time zone the buckets are cut in"}
  restaurant_id: {type: id}
  city: {type: text}
range: {from: from, to: to, max_days: 1830, granularity: granularity, max_buckets: 5000}
columns:
  bucket: text
  customers: int
---*/
WITH bounds AS (
  SELECT hearth_range_start(:from, :tz) AS lo, hearth_range_end(:to, :tz) AS hi
), cut AS (
  SELECT CASE :granularity WHEN 'all' THEN bounds.lo
                           WHEN '15m' THEN o.bucket
                           ELSE date_trunc(:granularity, o.bucket, :tz) END AS start,
         o.customers
  FROM orders_15m o, bounds
  WHERE o.bucket >= bounds.lo AND o.bucket < bounds.hi AND o.customers IS NOT NULL
    AND (:restaurant_id::text IS NULL OR o.restaurant_id = :restaurant_id)
    AND (:city::text IS NULL OR o.city = :city)
)
SELECT hearth_local_iso(start, :tz) AS bucket,
       round(hll_cardinality(hll_union_agg(customers)))::bigint AS customers
FROM cut
GROUP BY start
ORDER BY start
