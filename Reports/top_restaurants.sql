/*---
name: top_restaurants
description: The restaurants with the most orders over a range, per currency, with revenue, cancellations, ratings and delivery times.
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  tz: {type: zone, default: UTC, description: "IANA time zone dates are read in"}
  city: {type: text}
  currency: {type: currency}
  limit: {type: int, default: "20", min: 1, max: 1000}
range: {from: from, to: to, max_days: 1830}
columns:
  restaurant_id: text
  city: text
  currency: text
  orders: int
  gross_revenue_minor: int
  cancellations: int
  average_order_value_minor: int
  ratings: int
  average_rating: number
  deliveries: int
  average_delivery_minutes: number
---*/
WITH bounds AS (
  SELECT hearth_range_start(:from, :tz) AS lo, hearth_range_end(:to, :tz) AS hi
)
SELECT o.restaurant_id, max(o.city) AS city, o.currency,
       sum(o.orders)::bigint AS orders,
       sum(o.gross_revenue_minor)::bigint AS gross_revenue_minor,
       sum(o.cancellations)::bigint AS cancellations,
       CASE WHEN sum(o.orders) > 0 THEN round(sum(o.gross_revenue_minor)::numeric / sum(o.orders))::bigint END AS average_order_value_minor,
       sum(o.ratings)::bigint AS ratings,
       CASE WHEN sum(o.ratings) > 0 THEN round(sum(o.ratings_sum)::numeric / sum(o.ratings), 2) END AS average_rating,
       sum(o.deliveries)::bigint AS deliveries,
       CASE WHEN sum(o.deliveries) > 0 THEN round(sum(o.delivery_seconds)::numeric / sum(o.deliveries) / 60, 1) END AS average_delivery_minutes
FROM orders_15m o, bounds
WHERE o.bucket >= bounds.lo AND o.bucket < bounds.hi
  AND (:city::text IS NULL OR o.city = :city)
  AND (:currency::text IS NULL OR o.currency = :currency)
GROUP BY o.restaurant_id, o.currency
ORDER BY orders DESC, gross_revenue_minor DESC, o.restaurant_id
LIMIT :limit::int
