"""What follows every arrival of orders (an import, a Shopify sync or webhook): the new customers'
pseudonymous ids and the product rollup."""
from __future__ import annotations

from settings import Settings


def fold_imported_orders(db, settings: Settings, later: bool = False) -> str:
    """The write side after orders arrive: pseudonymous ids, then the product rollup, its answers for
    the standard periods and its sums per segment of the current run (later: only the order grains; the
    caller stores the rest with analytics.product_rollup.store_later_answers). Returns what it did,
    for a progress line."""
    from analytics.product_rollup import orders_to_fold, refresh_product_rollup
    from analytics.pseudonyms import assign_public_ids

    assign_public_ids(db, settings)
    pending = orders_to_fold(db)
    if not refresh_product_rollup(db, later=later):
        return "up to date"
    return f"{pending:,} orders folded" if pending else "regrouped"
