"""Reference answers the product tests compare the tool against: computed the slow, obvious way
from the order rollup, never used by the product itself."""
from __future__ import annotations

from analytics.core import ToolContext
from sql import query

# The definition of the pairs, by folding every order in scope: the tool reads the same answer from
# products.bought_together_from_anchor and the stored facts, and the tests check that they agree.
BOUGHT_TOGETHER = """
-- Co-occurrence with an anchor (products %(anchor_ids)s, or the category %(anchor_category)s) in the
-- same sale order: support = share of all orders in scope holding both, confidence = share of the
-- anchor's orders holding the other item, lift = confidence / the other item's own order share.
-- Lines are folded to one row per (order, group) first, integers only, as in `summary`.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
), product_groups AS (
    SELECT product_id, category,
           CASE WHEN %(group_by)s = 'product' THEN product_id
                ELSE dense_rank() OVER (ORDER BY coalesce(category, 'uncategorized')) END AS group_no,
           (product_id = ANY (%(anchor_ids)s::bigint[])
            OR coalesce(lower(category) = lower(%(anchor_category)s::text), false)) AS is_anchor
    FROM products
    UNION ALL
    SELECT 0, NULL, -1, false
), sold AS MATERIALIZED (
    SELECT r.order_id, pg.group_no, bool_or(pg.is_anchor) AS has_anchor, bool_or(NOT pg.is_anchor) AS has_other
    FROM product_order_rollup r
    JOIN product_groups pg ON pg.product_id = r.product_id
    WHERE r.sold
      AND (%(start)s::timestamptz IS NULL OR r.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR r.ordered_at < %(end)s)
      AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
           OR r.customer_id IN (SELECT customer_id FROM members))
    GROUP BY r.order_id, pg.group_no
), per_order AS (
    SELECT order_id, bool_or(has_anchor) AS has_anchor FROM sold GROUP BY order_id
), counts AS (
    SELECT count(*) AS all_orders, count(*) FILTER (WHERE has_anchor) AS anchor_orders FROM per_order
), item_orders AS (
    SELECT group_no, count(*) AS orders_with_item FROM sold WHERE has_other GROUP BY group_no
), together AS (
    SELECT s.group_no, count(*) AS orders_together
    FROM sold s
    JOIN per_order a ON a.order_id = s.order_id AND a.has_anchor
    WHERE s.has_other
    GROUP BY s.group_no
)
SELECT CASE WHEN %(group_by)s = 'product' THEN t.group_no::text
            ELSE coalesce((SELECT min(coalesce(pg.category, 'uncategorized')) FROM product_groups pg
                           WHERE pg.group_no = t.group_no AND pg.product_id <> 0), '(no product)') END AS group_key,
       t.orders_together, io.orders_with_item, c.anchor_orders, c.all_orders,
       t.orders_together::double precision / c.all_orders AS support,
       t.orders_together::double precision / c.anchor_orders AS confidence,
       (t.orders_together::double precision / c.anchor_orders)
         / (io.orders_with_item::double precision / c.all_orders) AS lift,
       p.sku, p.title, coalesce(p.category, 'uncategorized') AS product_category
FROM together t
JOIN item_orders io USING (group_no)
CROSS JOIN counts c
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id = t.group_no
-- Items common enough to matter (in 1 percent of the anchor's orders, at least 3) by lift; a pair seen
-- a handful of times can have any lift, so the rest follow by how often they were bought together.
ORDER BY (t.orders_together >= greatest(3, ceil(0.01 * c.anchor_orders))) DESC,
         CASE WHEN t.orders_together >= greatest(3, ceil(0.01 * c.anchor_orders))
              THEN t.orders_together::double precision * c.all_orders / (c.anchor_orders * io.orders_with_item)
         END DESC,
         t.orders_together DESC, lift DESC, t.group_no
LIMIT %(limit)s
"""


def bought_together(ctx: ToolContext, params: dict) -> list[dict]:
    with ctx.db.cursor() as cur:
        cur.execute(query("products.tuning"))
        cur.execute(BOUGHT_TOGETHER, params)
        return [dict(row) for row in cur.fetchall()]
