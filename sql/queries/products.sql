-- Product and category performance for the analyze_products tool.
--
-- Every query takes the same scope parameters:
--   %(start)s, %(end)s            timestamptz or NULL: orders with start <= ordered_at < end
--   %(run_id)s                    the current discovery run (NULL when no customer filter is used)
--   %(segment)s                   jsonb like {"frequency": "frequent"} or NULL: dominant segment filter
--   %(archetype_id)s              text or NULL
--   %(category)s                  text or NULL: only lines of this category (case-insensitive)
-- Money is line value after line discounts. Returns (negative quantities) are netted into revenue
-- in the period they were booked; orders, customers and repeat purchase count sales only;
-- adjustments (bookkeeping rows) are never counted.
-- The answers read the rollups of migration 008 (written by product_rollup.sql, from
-- analytics.product_rollup.refresh_product_rollup): per (order, product) / (order, category) rows for
-- periods, per-customer rows for segments over all history, and product_group_facts, the stored
-- all-history answer for everyone. The last two are derived after the order grains (migration 017);
-- until they are, the all-history questions read the order grains like a period does.

-- name: tuning
-- For the rest of the transaction: a big fold is priced high enough to trigger JIT compilation —
-- seconds of compiling for a query that runs in one pass; hash aggregates fit in 64 MB instead of
-- spilling to disk; and the rollup is read from memory, where an index lookup per anchor order costs
-- about what a sequential page does (the default price, 4x, makes the planner scan all 1M rows).
SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true),
       set_config('random_page_cost', '1.1', true);

-- name: data_version
-- Cheap (two index lookups and a hash of the ~thousands of products' categories): the reference date
-- for periods, a fingerprint for cache keys, and what the rollup was last built from.
SELECT max(ordered_at) AS latest_order_at, coalesce(max(order_id), 0) AS last_order_id,
       (SELECT md5(coalesce(string_agg(product_id || ':' || coalesce(category, ''), ',' ORDER BY product_id), ''))
        FROM products) AS products_version,
       (SELECT last_order_id FROM product_rollup_state) AS rollup_order_id,
       (SELECT products_version FROM product_rollup_state) AS rollup_products_version,
       (SELECT derived_order_id FROM product_rollup_state) AS derived_order_id
FROM orders;

-- name: summary_members
-- `summary` for a segment / archetype over all history, from its members' per-customer rows: the
-- same columns, groups numbered the same way (a product's id, its category's rank by name, -1 for
-- lines without a product). Totals come from the members' 'all' rows, or with a category filter
-- from their rows of that category. With %(everyone)s true the members are every customer and the
-- guests (customer 0, never counted as a buyer): that is how refresh stores the all-history answers.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE NOT %(everyone)s AND run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
    UNION ALL
    SELECT customer_id FROM product_customer_rollup WHERE %(everyone)s AND group_by = 'all'
), category_groups AS (
    SELECT category, dense_rank() OVER (ORDER BY category) AS group_no
    FROM (SELECT DISTINCT coalesce(category, 'uncategorized') AS category FROM products) c
), picked AS (
    SELECT CASE WHEN r.group_by = 'product' THEN nullif(r.item::bigint, 0) ELSE cg.group_no END AS group_no,
           r.customer_id, r.sale_orders, r.amount, r.sale_amount, r.units
    FROM product_customer_rollup r
    JOIN members m ON m.customer_id = r.customer_id
    LEFT JOIN category_groups cg ON r.group_by = 'category' AND cg.category = r.item
    -- (the cast only where item is a product id: a join may compute its key before any filter)
    LEFT JOIN products p ON p.product_id = CASE WHEN r.group_by = 'product' THEN r.item::bigint END
    WHERE r.group_by = %(group_by)s
      AND (%(category)s::text IS NULL
           OR lower(CASE WHEN %(group_by)s = 'product' THEN coalesce(p.category, 'uncategorized')
                         ELSE r.item END) = lower(%(category)s))
      AND (%(category)s::text IS NULL OR r.item NOT IN ('0', '(no product)'))
), groups AS (
    SELECT coalesce(group_no, -1) AS group_no,
           sum(amount) AS revenue, sum(sale_amount) AS gross_sales, sum(sale_amount - amount) AS returns,
           sum(units) AS units, sum(sale_orders) AS orders,
           count(*) FILTER (WHERE sale_orders >= 1 AND customer_id <> 0) AS customers,
           count(*) FILTER (WHERE sale_orders >= 2 AND customer_id <> 0) AS repeat_customers
    FROM picked
    GROUP BY 1
), ranked AS (
    SELECT g.*, g.repeat_customers::double precision / nullif(g.customers, 0) AS repeat_rate,
           row_number() OVER (ORDER BY CASE %(sort_by)s
                                           WHEN 'orders' THEN g.orders::numeric
                                           WHEN 'customers' THEN g.customers::numeric
                                           WHEN 'repeat_rate' THEN (g.repeat_customers::double precision
                                                                    / nullif(g.customers, 0))::numeric
                                           ELSE g.revenue END DESC NULLS LAST,
                                       g.revenue DESC, g.group_no) AS position
    FROM groups g
), by_buyer AS (
    SELECT r.customer_id, r.sale_orders
    FROM product_customer_rollup r
    JOIN members m ON m.customer_id = r.customer_id
    WHERE (%(category)s::text IS NULL AND r.group_by = 'all')
       OR (%(category)s::text IS NOT NULL AND r.group_by = 'category' AND lower(r.item) = lower(%(category)s))
)
SELECT 'total' AS row_type, 0::bigint AS position, NULL::text AS group_key, NULL::text AS sku, NULL::text AS title,
       NULL::text AS product_category,
       (SELECT coalesce(sum(revenue), 0) FROM groups) AS revenue,
       (SELECT coalesce(sum(gross_sales), 0) FROM groups) AS gross_sales,
       (SELECT coalesce(sum(returns), 0) FROM groups) AS returns,
       (SELECT coalesce(sum(units), 0) FROM groups) AS units,
       (SELECT coalesce(sum(sale_orders), 0) FROM by_buyer) AS orders,
       (SELECT count(*) FROM by_buyer WHERE sale_orders >= 1 AND customer_id <> 0) AS customers,
       (SELECT count(*) FROM by_buyer WHERE sale_orders >= 2 AND customer_id <> 0) AS repeat_customers,
       NULL::double precision AS repeat_rate,
       (SELECT count(*) FROM groups) AS groups, NULL::bigint AS group_no
UNION ALL
SELECT 'group', r.position,
       CASE WHEN %(group_by)s = 'product' THEN r.group_no::text
            ELSE coalesce((SELECT min(cg.category) FROM category_groups cg WHERE cg.group_no = r.group_no),
                          '(no product)') END,
       p.sku, p.title,
       CASE WHEN %(group_by)s = 'product' THEN coalesce(p.category, 'uncategorized') END,
       r.revenue, r.gross_sales, r.returns, r.units, r.orders, r.customers, r.repeat_customers,
       r.repeat_rate, NULL, r.group_no
FROM ranked r
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id = r.group_no
WHERE r.position <= %(limit)s
ORDER BY position;

-- name: facts_has_period
-- Whether the answer for everyone over [%(start)s, %(end)s) is stored (NULL bounds: all history).
SELECT EXISTS (SELECT 1 FROM product_group_facts
               WHERE group_by = %(group_by)s
                 AND period_start = coalesce(%(start)s::timestamptz, '-infinity')
                 AND period_end = coalesce(%(end)s::timestamptz, 'infinity')
                 AND row_type = 'total') AS stored;

-- name: summary_facts
-- `summary` for all customers over all history or a stored period (facts_has_period), from its stored
-- output: the groups of %(group_by)s
-- (only %(category)s's when given) ranked by %(sort_by)s, and the total row — with a category filter
-- that category's own row, whose orders, buyers and repeat buyers are exactly the filtered totals.
WITH picked AS (
    SELECT f.*
    FROM product_group_facts f
    WHERE f.group_by = %(group_by)s AND f.row_type = 'group'
      AND f.period_start = coalesce(%(start)s::timestamptz, '-infinity')
      AND f.period_end = coalesce(%(end)s::timestamptz, 'infinity')
      AND (%(category)s::text IS NULL
           OR (lower(CASE WHEN f.group_by = 'product' THEN f.product_category ELSE f.group_key END)
               = lower(%(category)s)
               AND f.group_no <> -1))  -- lines without a product belong to no category
), ranked AS (
    SELECT p.*, p.repeat_customers::double precision / nullif(p.customers, 0) AS repeat_rate,
           row_number() OVER (ORDER BY CASE %(sort_by)s
                                           WHEN 'orders' THEN p.orders::numeric
                                           WHEN 'customers' THEN p.customers::numeric
                                           WHEN 'repeat_rate' THEN (p.repeat_customers::double precision
                                                                    / nullif(p.customers, 0))::numeric
                                           ELSE p.revenue END DESC NULLS LAST,
                                       p.revenue DESC, p.group_no) AS position
    FROM picked p
), total AS (
    SELECT t.*
    FROM product_group_facts t
    WHERE t.period_start = coalesce(%(start)s::timestamptz, '-infinity')
      AND t.period_end = coalesce(%(end)s::timestamptz, 'infinity')
      AND ((%(category)s::text IS NULL AND t.group_by = %(group_by)s AND t.row_type = 'total')
           OR (%(category)s::text IS NOT NULL AND t.group_by = 'category' AND t.row_type = 'group'
               AND lower(t.group_key) = lower(%(category)s)))
)
SELECT 'total' AS row_type, 0::bigint AS position, NULL::text AS group_key, NULL::text AS sku, NULL::text AS title,
       NULL::text AS product_category,
       coalesce(t.revenue, 0) AS revenue, coalesce(t.gross_sales, 0) AS gross_sales,
       coalesce(t.returns, 0) AS returns, coalesce(t.units, 0) AS units, coalesce(t.orders, 0) AS orders,
       coalesce(t.customers, 0) AS customers, coalesce(t.repeat_customers, 0) AS repeat_customers,
       NULL::double precision AS repeat_rate, (SELECT count(*) FROM picked) AS groups
FROM (SELECT 1) one
LEFT JOIN total t ON true
UNION ALL
SELECT 'group', r.position, r.group_key, p.sku, p.title, r.product_category,
       r.revenue, r.gross_sales, r.returns, r.units, r.orders, r.customers, r.repeat_customers, r.repeat_rate, NULL
FROM ranked r
LEFT JOIN products p ON r.group_by = 'product' AND p.product_id = r.group_no
WHERE r.position <= %(limit)s
ORDER BY position;

-- name: scope_customers
-- How many customers the segment / archetype filter selects (for the small-group rule).
SELECT count(*) AS customers
FROM customer_profiles
WHERE run_id = %(run_id)s
  AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
  AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s);

-- name: summary
-- One pass over the matching rollup rows: a 'total' row for the whole matching set, then one page of
-- 'group' rows (category or product, %(group_by)s) ranked by %(sort_by)s. The rollups hold one row per
-- (group, order), so orders and repeat buyers are plain counts instead of DISTINCTs; a buyer repeats
-- when two or more of their sale orders hold the group. Groups are numbered (a product's own id, or
-- its category's rank by name, -1 for lines without a product) so the folds group integers, not text.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
), product_groups AS (
    SELECT product_id, coalesce(category, 'uncategorized') AS category,
           CASE WHEN %(group_by)s = 'product' THEN product_id
                ELSE dense_rank() OVER (ORDER BY coalesce(category, 'uncategorized')) END AS group_no
    FROM products
    UNION ALL
    SELECT 0, NULL, -1  -- lines without a product (kept in the money, shown as '(no product)')
), category_groups AS (
    SELECT category, dense_rank() OVER (ORDER BY category) AS group_no
    FROM (SELECT DISTINCT coalesce(category, 'uncategorized') AS category FROM products) c
), per_order AS MATERIALIZED (
    -- The rollups already hold one row per (order, group): by product, or by category.
    SELECT CASE WHEN r.product_id = 0 THEN -1 ELSE r.product_id END AS group_no, r.order_id, r.customer_id,
           r.is_sale, r.amount, r.sale_amount, r.units
    FROM product_order_rollup r
    WHERE %(group_by)s = 'product'
      AND (%(start)s::timestamptz IS NULL OR r.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR r.ordered_at < %(end)s)
      AND (%(category)s::text IS NULL
           OR r.product_id IN (SELECT product_id FROM product_groups WHERE lower(category) = lower(%(category)s)))
      AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
           OR r.customer_id IN (SELECT customer_id FROM members))
    UNION ALL
    SELECT coalesce(cg.group_no, -1), r.order_id, r.customer_id, r.is_sale, r.amount, r.sale_amount, r.units
    FROM category_order_rollup r
    LEFT JOIN category_groups cg ON cg.category = r.category
    WHERE %(group_by)s = 'category'
      AND (%(start)s::timestamptz IS NULL OR r.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR r.ordered_at < %(end)s)
      AND (%(category)s::text IS NULL OR lower(r.category) = lower(%(category)s))
      AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
           OR r.customer_id IN (SELECT customer_id FROM members))
), groups AS (
    SELECT group_no,
           sum(amount) AS revenue, sum(sale_amount) AS gross_sales, sum(sale_amount - amount) AS returns,
           sum(units) AS units, count(*) FILTER (WHERE is_sale) AS orders
    FROM per_order
    GROUP BY group_no
), buyers AS (
    SELECT group_no, count(*) AS customers, count(*) FILTER (WHERE orders >= 2) AS repeat_customers
    FROM (SELECT group_no, customer_id, count(*) AS orders
          FROM per_order
          WHERE is_sale AND customer_id IS NOT NULL
          GROUP BY group_no, customer_id) per_buyer
    GROUP BY group_no
), ranked AS (
    SELECT g.group_no, g.revenue, g.gross_sales, g.returns, g.units, g.orders,
           coalesce(b.customers, 0) AS customers, coalesce(b.repeat_customers, 0) AS repeat_customers,
           b.repeat_customers::double precision / nullif(b.customers, 0) AS repeat_rate,
           row_number() OVER (ORDER BY CASE %(sort_by)s
                                           WHEN 'orders' THEN g.orders::numeric
                                           WHEN 'customers' THEN b.customers::numeric
                                           WHEN 'repeat_rate' THEN (b.repeat_customers::double precision
                                                                    / nullif(b.customers, 0))::numeric
                                           ELSE g.revenue END DESC NULLS LAST,
                                       g.revenue DESC, g.group_no) AS position
    FROM groups g
    LEFT JOIN buyers b USING (group_no)
), by_order AS (
    SELECT order_id, min(customer_id) AS customer_id, bool_or(is_sale) AS is_sale FROM per_order GROUP BY order_id
), by_buyer AS (
    SELECT customer_id, count(*) AS orders FROM by_order
    WHERE is_sale AND customer_id IS NOT NULL GROUP BY customer_id
)
SELECT 'total' AS row_type, 0::bigint AS position, NULL::text AS group_key, NULL::text AS sku, NULL::text AS title,
       NULL::text AS product_category,
       (SELECT coalesce(sum(revenue), 0) FROM groups) AS revenue,
       (SELECT coalesce(sum(gross_sales), 0) FROM groups) AS gross_sales,
       (SELECT coalesce(sum(returns), 0) FROM groups) AS returns,
       (SELECT coalesce(sum(units), 0) FROM groups) AS units,
       (SELECT count(*) FROM by_order WHERE is_sale) AS orders,
       (SELECT count(*) FROM by_buyer) AS customers,
       (SELECT count(*) FROM by_buyer WHERE orders >= 2) AS repeat_customers,
       NULL::double precision AS repeat_rate,
       (SELECT count(*) FROM groups) AS groups, NULL::bigint AS group_no
UNION ALL
SELECT 'group', r.position,
       CASE WHEN %(group_by)s = 'product' THEN r.group_no::text
            ELSE coalesce((SELECT min(pg.category) FROM product_groups pg WHERE pg.group_no = r.group_no),
                          '(no product)') END,
       p.sku, p.title,
       CASE WHEN %(group_by)s = 'product' THEN coalesce(p.category, 'uncategorized') END,
       r.revenue, r.gross_sales, r.returns, r.units, r.orders, r.customers, r.repeat_customers,
       r.repeat_rate, NULL, r.group_no  -- the number ranks ties; refresh stores it with summary_facts
FROM ranked r
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id = r.group_no
WHERE r.position <= %(limit)s
ORDER BY position;

-- name: bought_together_from_anchor
-- `bought_together` without folding every order in scope: the pairs come from the anchor's own orders
-- (found by product), and each item's orders from counts: over all history the stored ones (the
-- facts, or the members' per-customer rows), within a period (or with %(count_rows)s: the derived
-- tables are being built) the rollup rows of the period, which already hold one row per (order, group). An item's orders are those where something other than the
-- anchor was bought in its group, so the orders where the group held only anchor products are taken
-- off its count.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
), scoped AS (
    SELECT NOT (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL))
           AS by_members,
           (%(start)s::timestamptz IS NOT NULL OR %(end)s::timestamptz IS NOT NULL OR %(count_rows)s::boolean)
           AS in_period
), category_groups AS (
    SELECT category, dense_rank() OVER (ORDER BY category) AS group_no
    FROM (SELECT DISTINCT coalesce(category, 'uncategorized') AS category FROM products) c
), product_groups AS (
    SELECT product_id, category,
           CASE WHEN %(group_by)s = 'product' THEN product_id
                ELSE dense_rank() OVER (ORDER BY coalesce(category, 'uncategorized')) END AS group_no,
           (product_id = ANY (%(anchor_ids)s::bigint[])
            OR coalesce(lower(category) = lower(%(anchor_category)s::text), false)) AS is_anchor
    FROM products
    UNION ALL
    SELECT 0, NULL, -1, false
), basket AS MATERIALIZED (
    -- The anchor's rows by product (index), then their orders' other rows (primary key). An order
    -- with several anchor products is met several times; the grouping folds it back to one.
    SELECT r.order_id, pg.group_no, bool_or(NOT pg.is_anchor) AS has_other
    FROM product_order_rollup a
    JOIN product_order_rollup r ON r.order_id = a.order_id AND r.sold
    JOIN product_groups pg ON pg.product_id = r.product_id
    WHERE a.sold
      AND a.product_id = ANY ((SELECT array_agg(product_id) FROM product_groups WHERE is_anchor)::bigint[])
      AND (%(start)s::timestamptz IS NULL OR a.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR a.ordered_at < %(end)s)
      AND (NOT (SELECT by_members FROM scoped) OR a.customer_id IN (SELECT customer_id FROM members))
    GROUP BY r.order_id, pg.group_no
), in_baskets AS (
    SELECT group_no, count(*) FILTER (WHERE has_other) AS orders_together,
           count(*) FILTER (WHERE NOT has_other) AS anchor_only
    FROM basket
    GROUP BY group_no
), floor AS (  -- pairs in fewer of the anchor's orders are ranked by count, not lift (see the ORDER BY)
    SELECT greatest(3, ceil(0.01 * count(DISTINCT order_id))) AS orders FROM basket
), cut AS (  -- the count a pair below the floor needs to make the page (ties included)
    SELECT min(orders_together) AS orders
    FROM (SELECT orders_together FROM in_baskets
          WHERE orders_together > 0 AND orders_together < (SELECT orders FROM floor)
          ORDER BY orders_together DESC LIMIT %(limit)s) best
), candidates AS (  -- the only groups whose item counts the answer can need
    SELECT group_no FROM in_baskets
    WHERE orders_together >= least((SELECT orders FROM floor), coalesce((SELECT orders FROM cut), 0))
      AND orders_together > 0
), candidate_rows AS MATERIALIZED (
    -- By product, a segment's item counts come from the candidate products' rows only, found by the
    -- product index first (summing every product's per-customer rows reads most of a million rows).
    SELECT r.product_id, r.customer_id
    FROM product_order_rollup r
    WHERE NOT (SELECT in_period FROM scoped) AND (SELECT by_members FROM scoped) AND %(group_by)s = 'product'
      AND %(scope_facts)s::text IS NULL AND r.sold
      AND r.product_id = ANY ((SELECT array_agg(CASE WHEN group_no = -1 THEN 0 ELSE group_no END)
                               FROM candidates)::bigint[])
), period_rows AS (  -- the period's rows at the grain of %(group_by)s, empty over all history
    SELECT CASE WHEN r.product_id = 0 THEN -1 ELSE r.product_id END AS group_no, r.order_id
    FROM product_order_rollup r
    WHERE (SELECT in_period FROM scoped) AND %(group_by)s = 'product' AND r.sold
      AND (%(start)s::timestamptz IS NULL OR r.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR r.ordered_at < %(end)s)
      AND (NOT (SELECT by_members FROM scoped) OR r.customer_id IN (SELECT customer_id FROM members))
    UNION ALL
    SELECT coalesce(cg.group_no, -1), r.order_id
    FROM category_order_rollup r
    LEFT JOIN category_groups cg ON cg.category = r.category
    WHERE (SELECT in_period FROM scoped) AND %(group_by)s = 'category' AND r.sold
      AND (%(start)s::timestamptz IS NULL OR r.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR r.ordered_at < %(end)s)
      AND (NOT (SELECT by_members FROM scoped) OR r.customer_id IN (SELECT customer_id FROM members))
), item_base AS (
    SELECT group_no, count(*) AS sold_orders
    FROM period_rows
    GROUP BY group_no
    UNION ALL
    SELECT f.group_no, f.sold_orders
    FROM product_group_facts f
    WHERE NOT (SELECT in_period FROM scoped) AND NOT (SELECT by_members FROM scoped)
      AND f.group_by = %(group_by)s AND f.row_type = 'group'
      AND f.period_start = '-infinity' AND f.period_end = 'infinity'
    UNION ALL
    SELECT coalesce(CASE WHEN r.group_by = 'product' THEN nullif(r.item::bigint, 0) ELSE cg.group_no END, -1),
           sum(r.sold_orders)
    FROM product_customer_rollup r
    JOIN members m ON m.customer_id = r.customer_id
    LEFT JOIN category_groups cg ON r.group_by = 'category' AND cg.category = r.item
    WHERE NOT (SELECT in_period FROM scoped) AND (SELECT by_members FROM scoped) AND %(group_by)s = 'category'
      AND %(scope_facts)s::text IS NULL AND r.group_by = 'category'
    GROUP BY 1
    UNION ALL
    -- One segment / archetype with stored sums: each item's orders are one row of them.
    SELECT coalesce(CASE WHEN f.group_by = 'product' THEN nullif(f.item::bigint, 0) ELSE cg.group_no END, -1),
           f.sold_orders
    FROM product_segment_facts f
    LEFT JOIN category_groups cg ON f.group_by = 'category' AND cg.category = f.item
    WHERE NOT (SELECT in_period FROM scoped) AND f.run_id = %(run_id)s AND f.scope = %(scope_facts)s
      AND f.period_start = '-infinity' AND f.period_end = 'infinity' AND f.group_by = %(group_by)s
    UNION ALL
    SELECT CASE WHEN c.product_id = 0 THEN -1 ELSE c.product_id END, count(*)
    FROM candidate_rows c
    WHERE c.customer_id IN (SELECT customer_id FROM members)
    GROUP BY 1
), counts AS MATERIALIZED (  -- once, not once per place the ORDER BY uses it
    SELECT (SELECT count(DISTINCT order_id) FROM basket) AS anchor_orders,
           CASE WHEN (SELECT in_period FROM scoped) THEN (SELECT count(DISTINCT order_id) FROM period_rows)
                WHEN %(scope_facts)s::text IS NOT NULL
                THEN (SELECT f.sold_orders FROM product_segment_facts f
                      WHERE f.run_id = %(run_id)s AND f.scope = %(scope_facts)s AND f.group_by = 'all'
                        AND f.period_start = '-infinity' AND f.period_end = 'infinity')
                WHEN (SELECT by_members FROM scoped)
                THEN (SELECT sum(r.sold_orders) FROM product_customer_rollup r
                      JOIN members m ON m.customer_id = r.customer_id WHERE r.group_by = 'all')
                ELSE (SELECT sold_orders FROM product_group_facts WHERE group_by = %(group_by)s AND row_type = 'total'
                      AND period_start = '-infinity' AND period_end = 'infinity')
           END AS all_orders
), together AS (
    SELECT b.group_no, b.orders_together, ib.sold_orders - b.anchor_only AS orders_with_item
    FROM in_baskets b
    JOIN item_base ib USING (group_no)
    WHERE b.orders_together > 0
)
SELECT CASE WHEN %(group_by)s = 'product' THEN t.group_no::text
            ELSE coalesce((SELECT min(coalesce(pg.category, 'uncategorized')) FROM product_groups pg
                           WHERE pg.group_no = t.group_no AND pg.product_id <> 0), '(no product)') END AS group_key,
       t.orders_together, t.orders_with_item AS orders_with_item, c.anchor_orders, c.all_orders,
       t.orders_together::double precision / c.all_orders AS support,
       t.orders_together::double precision / c.anchor_orders AS confidence,
       (t.orders_together::double precision / c.anchor_orders)
         / (t.orders_with_item::double precision / c.all_orders) AS lift,
       p.sku, p.title, coalesce(p.category, 'uncategorized') AS product_category
FROM together t
CROSS JOIN counts c
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id = t.group_no
-- Ranked as in bought_together.
ORDER BY (t.orders_together >= greatest(3, ceil(0.01 * c.anchor_orders))) DESC,
         CASE WHEN t.orders_together >= greatest(3, ceil(0.01 * c.anchor_orders))
              THEN t.orders_together::double precision * c.all_orders / (c.anchor_orders * t.orders_with_item)
         END DESC,
         t.orders_together DESC, lift DESC, t.group_no
LIMIT %(limit)s;

-- name: anchor_orders
-- How many sale orders in scope hold the anchor (reported even when nothing else was bought with it).
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
)
SELECT count(DISTINCT r.order_id) AS anchor_orders
FROM product_order_rollup r
LEFT JOIN products p ON p.product_id = r.product_id
WHERE r.sold
  AND (r.product_id = ANY (%(anchor_ids)s::bigint[]) OR lower(p.category) = lower(%(anchor_category)s::text))
  AND (%(start)s::timestamptz IS NULL OR r.ordered_at >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR r.ordered_at < %(end)s)
  AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
       OR r.customer_id IN (SELECT customer_id FROM members));

-- name: segment_state
SELECT s.run_id, s.last_order_id, s.products_version,
       (SELECT last_order_id FROM product_rollup_state) AS rollup_order_id,
       (SELECT products_version FROM product_rollup_state) AS rollup_products_version,
       (SELECT derived_order_id FROM product_rollup_state) AS derived_order_id
FROM (SELECT 1) one
LEFT JOIN product_segment_state s ON true;

-- name: summary_scope_facts
-- `summary_members` for one segment or archetype (%(scope_facts)s, as in product_segment_facts) over all
-- history, or `summary` for it over a stored period, from its stored sums: the same columns, groups
-- numbered and ranked the same way.
WITH category_groups AS (
    SELECT category, dense_rank() OVER (ORDER BY category) AS group_no
    FROM (SELECT DISTINCT coalesce(category, 'uncategorized') AS category FROM products) c
), picked AS (
    SELECT CASE WHEN f.group_by = 'product' THEN nullif(f.item::bigint, 0) ELSE cg.group_no END AS group_no, f.*
    FROM product_segment_facts f
    LEFT JOIN category_groups cg ON f.group_by = 'category' AND cg.category = f.item
    LEFT JOIN products p ON p.product_id = CASE WHEN f.group_by = 'product' THEN f.item::bigint END
    WHERE f.run_id = %(run_id)s AND f.scope = %(scope_facts)s AND f.group_by = %(group_by)s
      AND f.period_start = coalesce(%(start)s::timestamptz, '-infinity')
      AND f.period_end = coalesce(%(end)s::timestamptz, 'infinity')
      AND (%(category)s::text IS NULL
           OR lower(CASE WHEN %(group_by)s = 'product' THEN coalesce(p.category, 'uncategorized')
                         ELSE f.item END) = lower(%(category)s))
      AND (%(category)s::text IS NULL OR f.item NOT IN ('0', '(no product)'))
), groups AS (
    SELECT coalesce(group_no, -1) AS group_no,
           sum(amount) AS revenue, sum(sale_amount) AS gross_sales, sum(sale_amount - amount) AS returns,
           sum(units) AS units, sum(sale_orders) AS orders, sum(customers) AS customers,
           sum(repeat_customers) AS repeat_customers
    FROM picked
    GROUP BY 1
), ranked AS (
    SELECT g.*, g.repeat_customers::double precision / nullif(g.customers, 0) AS repeat_rate,
           row_number() OVER (ORDER BY CASE %(sort_by)s
                                           WHEN 'orders' THEN g.orders::numeric
                                           WHEN 'customers' THEN g.customers::numeric
                                           WHEN 'repeat_rate' THEN (g.repeat_customers::double precision
                                                                    / nullif(g.customers, 0))::numeric
                                           ELSE g.revenue END DESC NULLS LAST,
                                       g.revenue DESC, g.group_no) AS position
    FROM groups g
), total AS (  -- the members' 'all' row, or with a category filter their row of that category
    SELECT f.sale_orders, f.customers, f.repeat_customers
    FROM product_segment_facts f
    WHERE f.run_id = %(run_id)s AND f.scope = %(scope_facts)s
      AND f.period_start = coalesce(%(start)s::timestamptz, '-infinity')
      AND f.period_end = coalesce(%(end)s::timestamptz, 'infinity')
      AND ((%(category)s::text IS NULL AND f.group_by = 'all')
           OR (%(category)s::text IS NOT NULL AND f.group_by = 'category' AND lower(f.item) = lower(%(category)s)))
)
SELECT 'total' AS row_type, 0::bigint AS position, NULL::text AS group_key, NULL::text AS sku, NULL::text AS title,
       NULL::text AS product_category,
       (SELECT coalesce(sum(revenue), 0) FROM groups) AS revenue,
       (SELECT coalesce(sum(gross_sales), 0) FROM groups) AS gross_sales,
       (SELECT coalesce(sum(returns), 0) FROM groups) AS returns,
       (SELECT coalesce(sum(units), 0) FROM groups) AS units,
       (SELECT coalesce(sum(sale_orders), 0) FROM total) AS orders,
       (SELECT coalesce(sum(customers), 0) FROM total) AS customers,
       (SELECT coalesce(sum(repeat_customers), 0) FROM total) AS repeat_customers,
       NULL::double precision AS repeat_rate,
       (SELECT count(*) FROM groups) AS groups, NULL::bigint AS group_no
UNION ALL
SELECT 'group', r.position,
       CASE WHEN %(group_by)s = 'product' THEN r.group_no::text
            ELSE coalesce((SELECT min(cg.category) FROM category_groups cg WHERE cg.group_no = r.group_no),
                          '(no product)') END,
       p.sku, p.title,
       CASE WHEN %(group_by)s = 'product' THEN coalesce(p.category, 'uncategorized') END,
       r.revenue, r.gross_sales, r.returns, r.units, r.orders, r.customers, r.repeat_customers,
       r.repeat_rate, NULL, r.group_no
FROM ranked r
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id = r.group_no
WHERE r.position <= %(limit)s
ORDER BY position;

-- name: bought_together_category_facts
-- `bought_together_from_anchor` for a category anchor (%(anchor_category)s, not 'uncategorized') over
-- all history for everyone, from stored counts: the pairs from product_pair_facts, each item's orders
-- and all orders from the all-history product_group_facts. The same columns and ranking. (No item's
-- group holds an anchor product, so no order is taken off its count.)
WITH category_groups AS (
    SELECT category, dense_rank() OVER (ORDER BY category) AS group_no
    FROM (SELECT DISTINCT coalesce(category, 'uncategorized') AS category FROM products) c
), pairs AS (
    SELECT CASE WHEN f.group_by = 'product' THEN coalesce(nullif(f.item::bigint, 0), -1)
                ELSE coalesce(cg.group_no, -1) END AS group_no,
           f.orders_together
    FROM product_pair_facts f
    LEFT JOIN category_groups cg ON f.group_by = 'category' AND cg.category = f.item
    WHERE f.anchor = lower(%(anchor_category)s) AND f.group_by = %(group_by)s
), counts AS MATERIALIZED (
    SELECT (SELECT orders_together FROM product_pair_facts
            WHERE anchor = lower(%(anchor_category)s) AND group_by = 'anchor') AS anchor_orders,
           (SELECT sold_orders FROM product_group_facts
            WHERE group_by = %(group_by)s AND row_type = 'total'
              AND period_start = '-infinity' AND period_end = 'infinity') AS all_orders
), together AS (
    SELECT p.group_no, p.orders_together, f.sold_orders AS orders_with_item
    FROM pairs p
    JOIN product_group_facts f ON f.group_by = %(group_by)s AND f.row_type = 'group'
                               AND f.period_start = '-infinity' AND f.period_end = 'infinity'
                               AND f.group_no = p.group_no
    WHERE p.orders_together > 0
)
SELECT CASE WHEN %(group_by)s = 'product' THEN t.group_no::text
            ELSE coalesce((SELECT min(cg.category) FROM category_groups cg WHERE cg.group_no = t.group_no),
                          '(no product)') END AS group_key,
       t.orders_together, t.orders_with_item AS orders_with_item, c.anchor_orders, c.all_orders,
       t.orders_together::double precision / c.all_orders AS support,
       t.orders_together::double precision / c.anchor_orders AS confidence,
       (t.orders_together::double precision / c.anchor_orders)
         / (t.orders_with_item::double precision / c.all_orders) AS lift,
       p.sku, p.title, coalesce(p.category, 'uncategorized') AS product_category
FROM together t
CROSS JOIN counts c
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id = t.group_no
-- Ranked as in bought_together.
ORDER BY (t.orders_together >= greatest(3, ceil(0.01 * c.anchor_orders))) DESC,
         CASE WHEN t.orders_together >= greatest(3, ceil(0.01 * c.anchor_orders))
              THEN t.orders_together::double precision * c.all_orders / (c.anchor_orders * t.orders_with_item)
         END DESC,
         t.orders_together DESC, lift DESC, t.group_no
LIMIT %(limit)s;

-- name: rollup_coverage
-- How current the rollup is, for the note on an answer read while it is behind: when it was last
-- folded, the latest order in it, and how many orders were imported after %(after)s (its last order).
SELECT (SELECT refreshed_at FROM product_rollup_state) AS refreshed_at,
       (SELECT max(ordered_at) FROM product_order_rollup) AS folded_until,
       (SELECT count(*) FROM orders WHERE order_id > %(after)s) AS orders_since;

-- name: top_pairs
-- The store's pairs of categories bought together more often than chance, in the period
-- [%(start)s, %(end)s): for categories A and B, support = share of sale orders holding both,
-- confidence = share of A's (or B's) orders holding the other, lift = support / (share with A ×
-- share with B). Kept when bought together in at least %(min_orders)s orders and a share
-- %(min_support)s of all orders, with lift above 1; strongest lift first.
WITH sold AS MATERIALIZED (
    SELECT DISTINCT order_id, category
    FROM category_order_rollup
    WHERE sold AND category IS NOT NULL
      AND (%(start)s::timestamptz IS NULL OR ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR ordered_at < %(end)s)
), orders AS (
    SELECT count(DISTINCT order_id)::float8 AS n FROM sold
), single AS (
    SELECT category, count(*)::float8 AS orders FROM sold GROUP BY category
), pairs AS (
    SELECT a.category AS first, b.category AS second, count(*) AS together
    FROM sold a
    JOIN sold b ON b.order_id = a.order_id AND a.category < b.category
    GROUP BY 1, 2
)
SELECT p.first, p.second, p.together, p.together / o.n AS support,
       p.together / sa.orders AS confidence_first, p.together / sb.orders AS confidence_second,
       p.together * o.n / (sa.orders * sb.orders) AS lift
FROM pairs p
JOIN single sa ON sa.category = p.first
JOIN single sb ON sb.category = p.second
CROSS JOIN orders o
WHERE p.together >= greatest(%(min_orders)s, ceil(%(min_support)s * o.n))
  AND p.together * o.n / (sa.orders * sb.orders) > 1
ORDER BY lift DESC, p.together DESC, p.first, p.second
LIMIT %(limit)s;
