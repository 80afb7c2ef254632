/*---
name: payment_mix
description: "Orders and revenue by payment method (or by channel) over a range, per currency, with each one's share of the currency's orders and, for payment methods, payments succeeded and failed."
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  tz: {type: zone, default: UTC, description: "IANA time zone dates are read in"}
  by: {type: enum, values: [payment_method, channel], default: payment_method}
  restaurant_id: {type: id}
  city: {type: text}
  currency: {type: currency}
range: {from: from, to: to, max_days: 1830}
columns:
  currency: text
  value: text
  orders: int
  share_of_orders: number
  gross_revenue_minor: int
  payments_succeeded: int
  payments_failed: int
  failure_rate: number
---*/
WITH bounds AS (
  SELECT hearth_range_start(:from, :tz) AS lo, hearth_range_end(:to, :tz) AS hi
), mix AS (
  SELECT m.currency, m.value, sum(m.orders) AS orders, sum(m.gross_revenue_minor) AS revenue,
         sum(m.payments_succeeded) AS succeeded, sum(m.payments_failed) AS failed
  FROM order_mix_15m m, bounds
  WHERE m.bucket >= bounds.lo AND m.bucket < bounds.hi AND m.dimension = :by
    AND (:restaurant_id::text IS NULL OR m.restaurant_id = :restaurant_id)
    AND (:city::text IS NULL OR m.city = :city)
    AND (:currency::text IS NULL OR m.currency = :currency)
  GROUP BY m.currency, m.value
)
SELECT currency, value, orders::bigint,
       CASE WHEN sum(orders) OVER w > 0 THEN round(orders::numeric / sum(orders) OVER w, 4) END AS share_of_orders,
       revenue::bigint AS gross_revenue_minor, succeeded::bigint AS payments_succeeded, failed::bigint AS payments_failed,
       CASE WHEN succeeded + failed > 0 THEN round(failed::numeric / (succeeded + failed), 4) END AS failure_rate
FROM mix
WINDOW w AS (PARTITION BY currency)
ORDER BY currency, orders DESC, value
