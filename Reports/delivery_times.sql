/*---
name: delivery_times
description: "Delivery times (minutes from placement to hand-over) per bucket of local time, or over the whole range: how many, the average, and the 50th, 90th and 99th percentiles. Percentiles come from a mergeable histogram whose bins grow by 5%: each is within 2.5% of the exact value (0.5 minute below 1 minute)."
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  granularity: {type: enum, values: [total, hour, day, week, month], default: total, description: "total: one row for the whole range"}
  tz: {type: zone, default: UTC, description: "IANA time zone the buckets are cut in"}
  restaurant_id: {type: id}
  city: {type: text}
range: {from: from, to: to, max_days: 1830, granularity: granularity, max_buckets: 5000}
columns:
  bucket: text
  deliveries: int
  average_minutes: number
  p50_minutes: number
  p90_minutes: number
  p99_minutes: number
---*/
WITH merged AS (
  SELECT start, sum(deliveries) AS deliveries, sum(delivery_seconds) AS seconds, hearth_hist_sum(delivery_hist) AS hist
  FROM hearth_cut(:from, :to, :tz, :granularity, :restaurant_id, :city, NULL)
  WHERE deliveries > 0
  GROUP BY start
)
SELECT hearth_local_iso(start, :tz) AS bucket,
       deliveries::bigint,
       round(seconds::numeric / 60 / deliveries, 2) AS average_minutes,
       hearth_hist_quantile(hist, 0.5) AS p50_minutes,
       hearth_hist_quantile(hist, 0.9) AS p90_minutes,
       hearth_hist_quantile(hist, 0.99) AS p99_minutes
FROM merged
ORDER BY start
