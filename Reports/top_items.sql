/*---
name: top_items
description: "The menu items ordered most over a range of days (UTC), per currency, with units sold and revenue; each item shown with its latest city and dish name. Ties in orders and units fall to the item id."
params:
  from: {type: date, required: true, description: "first day, inclusive"}
  to: {type: date, required: true, description: "last day, inclusive"}
  city: {type: text, description: only restaurants in this city}
  restaurant_id: {type: id, description: only this restaurant}
  currency: {type: currency, description: only this currency}
  limit: {type: int, default: "20", min: 1, max: 1000, description: how many items}
range: {from: from, to: to, max_days: 400}
columns:
  item_id: text
  name: text
  restaurant_id: text
  city: text
  currency: text
  orders: int
  quantity: int
  revenue_minor: int
---*/
-- Sums per item key (an integer: hashing a month of rows by it is about twice as fast as by item, restaurant
-- and currency text), then only the items ranked up to the last one shown, ties included, meet their ids.
-- An item's orders and units on one day fit in 32 bits, and their sums then come as 64-bit integers, not
-- as numerics (which cost a third of the report).
WITH totals AS MATERIALIZED (
  SELECT d.item_key, sum(d.orders::int) AS orders, sum(d.quantity::int) AS quantity, sum(d.revenue_minor)::bigint AS revenue_minor
  FROM item_orders_daily d
  WHERE d.day BETWEEN :from::date AND :to::date
    AND (:city::text IS NULL AND :restaurant_id::text IS NULL AND :currency::text IS NULL
         OR d.item_key IN (SELECT k.item_key FROM menu_item_keys k
                           WHERE (:city::text IS NULL OR k.city = :city) AND (:restaurant_id::text IS NULL OR k.restaurant_id = :restaurant_id)
                             AND (:currency::text IS NULL OR k.currency = :currency)))
  GROUP BY d.item_key
), last_shown AS (
  SELECT orders, quantity FROM totals ORDER BY orders DESC, quantity DESC OFFSET :limit::int - 1 LIMIT 1
)
SELECT k.item_id, k.name, k.restaurant_id, k.city, k.currency, t.orders, t.quantity, t.revenue_minor
FROM totals t,
     -- (a look-up by key per item ranked that high: OFFSET 0 keeps it from becoming a hash of every item)
     LATERAL (SELECT * FROM menu_item_keys k WHERE k.item_key = t.item_key OFFSET 0) k
WHERE NOT EXISTS (SELECT 1 FROM last_shown l WHERE (t.orders, t.quantity) < (l.orders, l.quantity))
ORDER BY t.orders DESC, t.quantity DESC, k.item_id
LIMIT :limit::int
