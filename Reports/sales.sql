/*---
name: sales
description: Orders, gross revenue, cancellations and average order value per bucket of local time and per currency (amounts in different currencies are never added).
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  granularity: {type: enum, values: [15m, hour, day, week, month], default: day}
  tz: {type: zone, default: UTC, description: "IANA time zone the buckets are cut in"}
  restaurant_id: {type: id}
  city: {type: text}
  currency: {type: currency}
range: {from: from, to: to, max_days: 1830, granularity: granularity, max_buckets: 5000}
columns:
  bucket: text
  currency: text
  orders: int
  gross_revenue_minor: int
  cancellations: int
  average_order_value_minor: int
---*/
WITH bounds AS (
  SELECT hearth_range_start(:from, :tz) AS lo, hearth_range_end(:to, :tz) AS hi
), cut AS (
  SELECT CASE :granularity WHEN '15m' THEN o.bucket
                           ELSE date_trunc(:granularity, o.bucket, :tz) END AS start,
         o.currency, o.orders, o.gross_revenue_minor, o.cancellations
  FROM orders_15m o, bounds
  WHERE o.bucket >= bounds.lo AND o.bucket < bounds.hi
    AND (:restaurant_id::text IS NULL OR o.restaurant_id = :restaurant_id)
    AND (:city::text IS NULL OR o.city = :city)
    AND (:currency::text IS NULL OR o.currency = :currency)
)
SELECT hearth_local_iso(start, :tz) AS bucket,
       currency,
       sum(orders)::bigint AS orders,
       sum(gross_revenue_minor)::bigint AS gross_revenue_minor,
       sum(cancellations)::bigint AS cancellations,
       CASE WHEN sum(orders) > 0 THEN round(sum(gross_revenue_minor)::numeric / sum(orders))::bigint END AS average_order_value_minor
FROM cut
GROUP BY start, currency
ORDER BY start, currency
