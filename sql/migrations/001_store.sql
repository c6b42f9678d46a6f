-- The store's order history, as imported. One place knows each table: discovery/importer writes
-- these, everything else reads them.

CREATE TABLE customers (
    customer_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_customer_id text NOT NULL UNIQUE,          -- the store's own id (or email for Shopify)
    public_id         text UNIQUE,                   -- pseudonymous C-XXXXXXXX, filled by analytics
    email             text,
    phone             text,
    phone_digits      text GENERATED ALWAYS AS (nullif(regexp_replace(phone, '\D', '', 'g'), '')) STORED,
    name              text,
    country           text,
    first_seen_at     timestamptz,
    imported_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_email_idx ON customers (lower(email));
CREATE INDEX customers_phone_digits_idx ON customers (phone_digits);

CREATE TABLE products (
    product_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    title       text,
    category    text,
    unit_price  numeric(12, 2)
);

-- kind: sale (ordinary order), return (a cancellation / refund invoice, negative quantities),
-- adjustment (bookkeeping rows such as UCI bad-debt adjustments; kept, never counted as sales).
CREATE TABLE orders (
    order_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_order_id  text NOT NULL UNIQUE,
    customer_id     bigint REFERENCES customers (customer_id),   -- NULL: guest / unknown customer
    ordered_at      timestamptz NOT NULL,
    kind            text NOT NULL DEFAULT 'sale' CHECK (kind IN ('sale', 'return', 'adjustment')),
    discount_code   text,
    country         text,
    subtotal        numeric(14, 2) NOT NULL DEFAULT 0,   -- sum of quantity * unit_price
    discount_total  numeric(14, 2) NOT NULL DEFAULT 0,   -- sum of line discounts
    total           numeric(14, 2) NOT NULL DEFAULT 0,   -- subtotal - discount_total
    imported_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id, ordered_at);
CREATE INDEX orders_ordered_at_idx ON orders (ordered_at);

CREATE TABLE order_lines (
    order_id    bigint NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no     integer NOT NULL,
    product_id  bigint REFERENCES products (product_id),
    quantity    integer NOT NULL,                  -- negative on returns
    unit_price  numeric(12, 2) NOT NULL,
    discount    numeric(12, 2) NOT NULL DEFAULT 0, -- money off this line
    kind        text NOT NULL DEFAULT 'sale' CHECK (kind IN ('sale', 'return', 'adjustment')),
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

-- Small key/value facts the app keeps about itself (e.g. the generated pseudonym key).
CREATE TABLE app_meta (
    key         text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
