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
SELECT hearth_local_iso(start, :tz) AS bucket,
       round(hll_cardinality(hll_union_agg(customers)))::bigint AS customers
FROM hearth_cut(:from, :to, :tz, :granularity, :restaurant_id, :city, NULL)
WHERE customers IS NOT NULL
GROUP BY start
ORDER BY start
