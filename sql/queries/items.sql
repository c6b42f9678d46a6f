-- What a question names when it names something sold: a category, or a product by SKU or title words.

-- name: categories
SELECT coalesce(category, 'uncategorized') AS category, count(*) AS products
FROM products
GROUP BY 1
ORDER BY products DESC, category;

-- name: category_products
SELECT product_id FROM products WHERE coalesce(category, 'uncategorized') = %(category)s ORDER BY product_id;

-- name: find_product
-- A product named by SKU (exact, any case) or by words that all occur in its title; the best
-- seller wins when several match. `matches` says how many did.
WITH candidates AS (
    SELECT p.product_id, p.sku, p.title, p.category,
           (lower(p.sku) = lower(%(text)s)) AS sku_match
    FROM products p
    WHERE lower(p.sku) = lower(%(text)s)
       OR (cardinality(%(words)s::text[]) > 0
           AND NOT EXISTS (SELECT 1 FROM unnest(%(words)s::text[]) AS w(word)
                           WHERE p.title NOT ILIKE '%%' || w.word || '%%'))
), sold AS (
    SELECT l.product_id, count(*) AS lines
    FROM order_lines l
    WHERE l.product_id IN (SELECT product_id FROM candidates) AND l.kind = 'sale'
    GROUP BY l.product_id
)
SELECT c.product_id, c.sku, c.title, c.category, count(*) OVER () AS matches
FROM candidates c
LEFT JOIN sold s USING (product_id)
ORDER BY c.sku_match DESC, coalesce(s.lines, 0) DESC, c.sku
LIMIT 1;
