/*---
name: sales
description: "Orders, gross revenue, cancellations and average order value per bucket of local time and per currency (amounts in different currencies are never added), and how many of the bucket's events arrived late (more than a minute after the 15-minute bucket of their event time had ended; they count all the same)."
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
  late_events: int
---*/
SELECT hearth_local_iso(start, :tz) AS bucket,
       currency,
       sum(orders)::bigint AS orders,
       sum(gross_revenue_minor)::bigint AS gross_revenue_minor,
       sum(cancellations)::bigint AS cancellations,
       CASE WHEN sum(orders) > 0 THEN round(sum(gross_revenue_minor)::numeric / sum(orders))::bigint END AS average_order_value_minor,
       sum(late_events)::bigint AS late_events
FROM hearth_cut_totals(:from, :to, :tz, :granularity, :restaurant_id, :city, :currency)
GROUP BY start, currency
ORDER BY start, currency
