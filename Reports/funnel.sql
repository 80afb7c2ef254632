/*---
name: funnel
description: "How far orders got: orders placed, paid, accepted, prepared, ready, assigned a rider, picked up, out for delivery, delivered and cancelled over a range, each with its share of orders placed (the cancelled row's share is the cancellation rate)."
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  tz: {type: zone, default: UTC, description: "IANA time zone dates are read in"}
  restaurant_id: {type: id}
  city: {type: text}
range: {from: from, to: to, max_days: 1830}
columns:
  stage: text
  orders: int
  share_of_placed: number
---*/
WITH totals AS (
  SELECT coalesce(sum(orders), 0) AS placed, coalesce(sum(payments_succeeded), 0) AS paid,
         coalesce(sum(status_accepted), 0) AS accepted, coalesce(sum(status_preparing), 0) AS preparing,
         coalesce(sum(status_ready), 0) AS ready, coalesce(sum(status_assigned), 0) AS assigned,
         coalesce(sum(status_picked), 0) AS picked, coalesce(sum(status_out_for_delivery), 0) AS out_for_delivery,
         coalesce(sum(deliveries), 0) AS delivered, coalesce(sum(cancellations), 0) AS cancelled
  FROM hearth_cut_totals(:from, :to, :tz, 'total', :restaurant_id, :city, NULL)
)
SELECT s.stage, s.n::bigint AS orders,
       CASE WHEN t.placed > 0 THEN round(s.n::numeric / t.placed, 4) END AS share_of_placed
FROM totals t,
     LATERAL (VALUES (1, 'placed', t.placed), (2, 'paid', t.paid), (3, 'accepted', t.accepted),
                     (4, 'preparing', t.preparing), (5, 'ready', t.ready), (6, 'assigned', t.assigned),
                     (7, 'picked', t.picked), (8, 'out_for_delivery', t.out_for_delivery),
                     (9, 'delivered', t.delivered), (10, 'cancelled', t.cancelled)) AS s(position, stage, n)
ORDER BY s.position
