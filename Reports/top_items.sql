/*---
name: top_items
description: The menu items ordered most over a range of days (UTC), per currency, with units sold and revenue.
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
SELECT item_id, max(name) AS name, restaurant_id, max(city) AS city, currency,
       sum(orders)::bigint AS orders, sum(quantity)::bigint AS quantity, sum(revenue_minor)::bigint AS revenue_minor
FROM item_orders_daily
WHERE day BETWEEN :from::date AND :to::date
  AND (:city::text IS NULL OR city = :city)
  AND (:restaurant_id::text IS NULL OR restaurant_id = :restaurant_id)
  AND (:currency::text IS NULL OR currency = :currency)
GROUP BY item_id, restaurant_id, currency
ORDER BY orders DESC, quantity DESC, item_id
LIMIT :limit::int
