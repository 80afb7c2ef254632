/*---
name: delivery_distribution
description: "How many deliveries took how long over a range: the delivery-time histogram, one row per non-empty bin (bins grow by 5%; the last one holds everything from about 467 minutes)."
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  tz: {type: zone, default: UTC, description: "IANA time zone dates are read in"}
  restaurant_id: {type: id}
  city: {type: text}
range: {from: from, to: to, max_days: 1830}
columns:
  from_minutes: number
  to_minutes: number
  deliveries: int
---*/
WITH merged AS (
  SELECT hearth_hist_sum(delivery_hist) AS hist
  FROM hearth_cut(:from, :to, :tz, 'total', :restaurant_id, :city, NULL)
  WHERE deliveries > 0
)
SELECT CASE WHEN b.i = 1 THEN 0 ELSE round((1.05 ^ (b.i - 2))::numeric, 2) END AS from_minutes,
       CASE WHEN b.i = 128 THEN NULL ELSE round((1.05 ^ (b.i - 1))::numeric, 2) END AS to_minutes,
       b.n::bigint AS deliveries
FROM merged, unnest(merged.hist) WITH ORDINALITY AS b(n, i)
WHERE b.n > 0
ORDER BY b.i
