-- The product rollup is folded in two steps: the order grains (product_order_rollup,
-- category_order_rollup), which every period answer reads, and what is derived from them
-- (product_customer_rollup, product_pair_facts and the all-history product_group_facts), which only
-- speeds up the all-history questions. The demo opens its chat after the first step and derives the
-- rest in the background; until then those questions read the order grains (the same answers, slower).
-- derived_order_id: the last order the derived tables hold (NULL: to be built from nothing).
ALTER TABLE product_rollup_state ADD COLUMN derived_order_id bigint;
-- Rollups built before this migration had both steps done in one transaction.
UPDATE product_rollup_state SET derived_order_id = last_order_id;
