/*---
name: live
description: "The last 60 minutes by minute of event time, per currency: orders, gross revenue, cancellations and deliveries (minutes without orders included, as zeros)."
params:
  tz: {type: zone, default: UTC, description: "IANA time zone the minutes are shown in"}
  city: {type: text}
  currency: {type: currency}
columns:
  minute: text
  currency: text
  orders: int
  gross_revenue_minor: int
  cancellations: int
  deliveries: int
---*/
WITH minutes AS (
  SELECT generate_series(date_trunc('minute', now()) - interval '59 minutes', date_trunc('minute', now()), interval '1 minute') AS minute
), recent AS (
  SELECT l.minute, l.currency, sum(l.orders) AS orders, sum(l.gross_revenue_minor) AS revenue,
         sum(l.cancellations) AS cancellations, sum(l.deliveries) AS deliveries
  FROM orders_live_1m l
  WHERE l.minute >= date_trunc('minute', now()) - interval '59 minutes'
    AND (:city::text IS NULL OR l.city = :city)
    AND (:currency::text IS NULL OR l.currency = :currency)
  GROUP BY l.minute, l.currency
), currencies AS (
  SELECT DISTINCT currency FROM recent
)
SELECT hearth_local_iso(m.minute, :tz) AS minute, c.currency,
       coalesce(r.orders, 0)::bigint AS orders, coalesce(r.revenue, 0)::bigint AS gross_revenue_minor,
       coalesce(r.cancellations, 0)::bigint AS cancellations, coalesce(r.deliveries, 0)::bigint AS deliveries
FROM minutes m CROSS JOIN currencies c
LEFT JOIN recent r ON r.minute = m.minute AND r.currency = c.currency
ORDER BY m.minute, c.currency
