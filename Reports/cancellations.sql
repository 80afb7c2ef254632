/*---
name: cancellations
description: "Cancellations by reason over a range, per currency: how many, their share of the range's cancellations and of its orders placed."
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  tz: {type: zone, default: UTC, description: "IANA time zone dates are read in"}
  restaurant_id: {type: id}
  city: {type: text}
  currency: {type: currency}
range: {from: from, to: to, max_days: 1830}
columns:
  currency: text
  reason: text
  cancellations: int
  share_of_cancellations: number
  share_of_orders: number
---*/
WITH totals AS (
  SELECT currency, sum(orders) AS orders, sum(cancellations) AS cancellations,
         sum(cancelled_customer) AS customer, sum(cancelled_restaurant_rejected) AS restaurant_rejected,
         sum(cancelled_payment_failed) AS payment_failed, sum(cancelled_no_rider) AS no_rider, sum(cancelled_other) AS other
  FROM hearth_cut_totals(:from, :to, :tz, 'total', :restaurant_id, :city, :currency)
  GROUP BY currency
)
SELECT t.currency, r.reason, r.n::bigint AS cancellations,
       CASE WHEN t.cancellations > 0 THEN round(r.n::numeric / t.cancellations, 4) END AS share_of_cancellations,
       CASE WHEN t.orders > 0 THEN round(r.n::numeric / t.orders, 4) END AS share_of_orders
FROM totals t,
     LATERAL (VALUES (1, 'customer', t.customer), (2, 'restaurant_rejected', t.restaurant_rejected),
                     (3, 'payment_failed', t.payment_failed), (4, 'no_rider', t.no_rider), (5, 'other', t.other)) AS r(position, reason, n)
ORDER BY t.currency, r.position
