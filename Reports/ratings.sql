/*---
name: ratings
description: "Ratings per restaurant over a range: how many, the average, and how many of each number of stars."
params:
  from: {type: timestamp, required: true, description: "a date (midnight in tz) or an ISO 8601 timestamp with offset; inclusive"}
  to: {type: timestamp, required: true, description: "a date (through the end of that day in tz) or an ISO 8601 timestamp; exclusive"}
  tz: {type: zone, default: UTC, description: "IANA time zone dates are read in"}
  restaurant_id: {type: id}
  city: {type: text}
  limit: {type: int, default: "100", min: 1, max: 10000}
range: {from: from, to: to, max_days: 1830}
columns:
  restaurant_id: text
  city: text
  ratings: int
  average_rating: number
  stars_1: int
  stars_2: int
  stars_3: int
  stars_4: int
  stars_5: int
---*/
WITH bounds AS (
  SELECT hearth_range_start(:from, :tz) AS lo, hearth_range_end(:to, :tz) AS hi
)
SELECT o.restaurant_id, max(o.city) AS city,
       sum(o.ratings)::bigint AS ratings,
       round(sum(o.ratings_sum)::numeric / sum(o.ratings), 2) AS average_rating,
       sum(o.ratings_1)::bigint AS stars_1, sum(o.ratings_2)::bigint AS stars_2, sum(o.ratings_3)::bigint AS stars_3,
       sum(o.ratings_4)::bigint AS stars_4, sum(o.ratings_5)::bigint AS stars_5
FROM orders_15m o, bounds
WHERE o.bucket >= bounds.lo AND o.bucket < bounds.hi AND o.ratings > 0
  AND (:restaurant_id::text IS NULL OR o.restaurant_id = :restaurant_id)
  AND (:city::text IS NULL OR o.city = :city)
GROUP BY o.restaurant_id
ORDER BY ratings DESC, o.restaurant_id
LIMIT :limit::int
