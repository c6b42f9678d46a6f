-- Product rollups for analyze_products: the order lines folded once per (order, product), per
-- (order, category) and per (customer, product / category), so a question reads rows already at its
-- grain instead of joining orders to order_lines and folding them again; plus the all-history
-- answers per group, so the most common questions read a few hundred rows. Extended as orders are
-- appended (analyze_products.refresh_product_rollup, via sql/queries/products.sql: the only writer).

-- One row per (order, product) of the sale / return lines of sale / return orders (adjustments are
-- never counted). Appended in order_id order as orders are imported (they only ever are appended).
CREATE TABLE product_order_rollup (
    order_id     bigint NOT NULL,
    product_id   bigint NOT NULL,             -- 0: lines without a product
    customer_id  bigint,                      -- NULL: guest order
    ordered_at   timestamptz NOT NULL,
    is_sale      boolean NOT NULL,            -- the order is a sale (not a return)
    sold         boolean NOT NULL,            -- a sale line with quantity > 0 in a sale order (basket basis)
    amount       double precision NOT NULL,   -- net line value (quantity * unit_price - discount)
    sale_amount  double precision NOT NULL,   -- the same, sale lines only
    units        bigint NOT NULL,
    PRIMARY KEY (order_id, product_id) INCLUDE (sold)   -- an anchor's orders' items, from the index alone
);
-- Periods read a date range; segment / archetype filters read their members' rows; bought-together
-- finds the anchor's orders by product, from the index alone (an anchor's rows are spread over the
-- whole table; refresh_product_rollup vacuums it so the visibility map lets index-only scans skip it).
CREATE INDEX product_order_rollup_at_idx ON product_order_rollup (ordered_at);
CREATE INDEX product_order_rollup_customer_idx ON product_order_rollup (customer_id);
CREATE INDEX product_order_rollup_product_idx ON product_order_rollup (product_id)
    INCLUDE (order_id, sold, ordered_at, customer_id);

-- The same per (order, category): a period's category answer reads these rows as they are. category
-- is 'uncategorized' for products without one and NULL for lines without a product. Rebuilt from
-- product_order_rollup when product categories change.
CREATE TABLE category_order_rollup (
    order_id     bigint NOT NULL,
    category     text,
    customer_id  bigint,
    ordered_at   timestamptz NOT NULL,
    is_sale      boolean NOT NULL,
    sold         boolean NOT NULL,
    amount       double precision NOT NULL,
    sale_amount  double precision NOT NULL,
    units        bigint NOT NULL
);
CREATE INDEX category_order_rollup_at_idx ON category_order_rollup (ordered_at);
CREATE INDEX category_order_rollup_order_idx ON category_order_rollup (order_id);

-- The same folded once more per customer, for segment / archetype questions over all history (a
-- segment's answer sums its members' rows: ~5 per customer by category instead of ~40 order rows).
-- group_by 'product': item is the product id as text ('0': lines without a product); 'category':
-- the category ('uncategorized' for none, '(no product)' for lines without a product); 'all': one
-- row per customer (item ''), the filter-free totals. sale_orders counts the customer's sale orders
-- holding the item, sold_orders those where it was bought (a sale line, quantity > 0: the basket
-- basis of bought-together). Guests (no customer) are customer 0, a member of no segment.
CREATE TABLE product_customer_rollup (
    group_by     text NOT NULL CHECK (group_by IN ('category', 'product', 'all')),
    customer_id  bigint NOT NULL,
    item         text NOT NULL,
    sale_orders  integer NOT NULL,
    sold_orders  integer NOT NULL,
    amount       double precision NOT NULL,
    sale_amount  double precision NOT NULL,
    units        bigint NOT NULL,
    PRIMARY KEY (group_by, customer_id, item)
);

-- The all-customer answer of products.summary for each group_by, every group (no page limit) plus
-- the 'total' row, as that query returns them: over all history (period -infinity..infinity) and over
-- the standard periods of the period grammar measured from the latest order (last_quarter,
-- this_year, last_90_days…: analyze_products.STORED_PERIODS), whose distinct customers and repeat
-- buyers cannot be summed from smaller pieces.
CREATE TABLE product_group_facts (
    group_by          text NOT NULL CHECK (group_by IN ('category', 'product')),
    period_start      timestamptz NOT NULL DEFAULT '-infinity',   -- [start, end) as Period.bounds()
    period_end        timestamptz NOT NULL DEFAULT 'infinity',
    row_type          text NOT NULL CHECK (row_type IN ('total', 'group')),
    group_no          bigint,
    group_key         text,
    product_category  text,
    revenue           double precision NOT NULL,
    gross_sales       double precision NOT NULL,
    returns           double precision NOT NULL,
    units             bigint NOT NULL,
    orders            bigint NOT NULL,
    customers         bigint NOT NULL,
    repeat_customers  bigint NOT NULL,
    groups            bigint,
    sold_orders       bigint NOT NULL DEFAULT 0   -- orders where it was bought (bought-together basis)
);
CREATE INDEX product_group_facts_idx ON product_group_facts (group_by, period_start, period_end, row_type);

-- What the rollup and the facts were built from: rebuilt / extended when the orders' max(order_id)
-- or the products change. One row.
CREATE TABLE product_rollup_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_order_id    bigint NOT NULL,
    products_version text NOT NULL,
    refreshed_at     timestamptz NOT NULL DEFAULT now()
);

-- The per-customer rows summed per segment (one axis's dominant segment) and per archetype of the
-- current discovery run, for the all-history questions about one of them. A customer has one dominant
-- segment per axis and one archetype, so buyers and repeat buyers add up across a scope's members.
-- scope is 'segment:AXIS:NAME' or 'archetype:ID'; group_by and item as in product_customer_rollup.
-- Rebuilt for the current run by analyze_products.refresh_segment_facts after a discovery run and
-- whenever the rollup changes; product_segment_state says what from.
CREATE TABLE product_segment_facts (
    run_id            bigint NOT NULL,
    scope             text NOT NULL,
    period_start      timestamptz NOT NULL DEFAULT '-infinity',   -- all history, or one of the standard
    period_end        timestamptz NOT NULL DEFAULT 'infinity',    -- periods up to a quarter long
    group_by          text NOT NULL CHECK (group_by IN ('category', 'product', 'all')),
    item              text NOT NULL,
    sale_orders       bigint NOT NULL,
    sold_orders       bigint NOT NULL,
    amount            double precision NOT NULL,
    sale_amount       double precision NOT NULL,
    units             bigint NOT NULL,
    customers         bigint NOT NULL,   -- members with a sale order holding the item
    repeat_customers  bigint NOT NULL,   -- members with two or more
    PRIMARY KEY (run_id, scope, period_start, period_end, group_by, item)
);

-- One row: the run and the rollup state (product_rollup_state) the segment facts were built from.
CREATE TABLE product_segment_state (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    run_id           bigint NOT NULL,
    last_order_id    bigint NOT NULL,
    products_version text NOT NULL
);

-- What is bought together with each category over all history (every customer and guest): for the
-- bought-with questions about a category, the most expensive to fold (its orders are many). anchor is
-- the category in lower case (categories differing only in case are one anchor, as the question
-- matches them); group_by 'category': item is the other category ('(no product)' for lines without a
-- product), 'product': the other product's id as text, 'anchor': item '' and the anchor's own order
-- count. orders_together counts sale orders where the anchor and the item were both bought. Orders
-- only add to these counts, so they are extended with the new orders like the rollups.
CREATE TABLE product_pair_facts (
    anchor           text NOT NULL,
    group_by         text NOT NULL CHECK (group_by IN ('category', 'product', 'anchor')),
    item             text NOT NULL,
    orders_together  bigint NOT NULL,
    PRIMARY KEY (anchor, group_by, item)
);
