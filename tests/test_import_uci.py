"""The full Online Retail II year (2009-2010) imported, with every figure recomputed here from the
raw file with plain pandas, independently of the importer's code path."""
from __future__ import annotations

import pandas as pd

from discovery.importer import import_file
from sql import query


def expected_figures(path) -> dict:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    price = raw["Price"].astype(float)
    quantity = raw["Quantity"].astype(int)
    customer = raw["Customer ID"].str.replace(r"\.0$", "", regex=True)
    # UCI zero-price lines are stock write-offs: valid rows, not loaded (zero quantity likewise).
    # Money is kept in cents, so the 0.001 "PADS" lines count as zero-price too.
    loaded = (price.round(2) != 0) & (quantity != 0)
    return {
        "rows_read": len(raw),
        "orders_in_file": raw["Invoice"].nunique(),
        "rows_without_customer": int((customer == "").sum()),
        "cancellation_rows": int(raw["Invoice"].str.startswith("C").sum()),
        "adjustment_rows": int(raw["Invoice"].str.startswith("A").sum()),
        "ignored_rows": int((~loaded).sum()),
        "rows_loaded": int(loaded.sum()),
        "orders": raw.loc[loaded, "Invoice"].nunique(),
        "customers": customer[loaded & (customer != "")].nunique(),
        "products": raw.loc[loaded, "StockCode"].str.strip().nunique(),
        "revenue": round(float((quantity[loaded] * price[loaded].round(2)).sum()), 2),
        "guest_lines": int((loaded & (customer == "")).sum()),
    }


def test_online_retail_ii_year(fresh_db, shared_data):
    path = shared_data / "online_retail_ii" / "online_retail_II_2009_2010.csv.gz"
    expected = expected_figures(path)
    # The figures published for this file, as a check on the check.
    assert (expected["rows_read"], expected["orders_in_file"], expected["rows_without_customer"],
            expected["cancellation_rows"]) == (525_461, 28_816, 107_927, 10_206)

    summary = import_file(fresh_db, path)

    assert summary.format == "uci" and summary.rows_rejected == 0
    for name, value in expected.items():
        if name not in ("revenue", "guest_lines"):
            assert getattr(summary, name) == value, name
    assert summary.new_orders == expected["orders"] and summary.new_customers == expected["customers"]
    with fresh_db.cursor() as cur:
        counts = dict(cur.execute(query("import.store_counts")).fetchone())
        revenue = cur.execute("SELECT sum(total) AS total FROM orders").fetchone()["total"]
        guests = cur.execute("SELECT count(*) AS n FROM order_lines JOIN orders USING (order_id)"
                             " WHERE customer_id IS NULL").fetchone()["n"]
    assert counts == {"customers": expected["customers"], "products": expected["products"],
                      "orders": expected["orders"], "order_lines": expected["rows_loaded"]}
    assert float(revenue) == expected["revenue"]
    assert guests == expected["guest_lines"]

    again = import_file(fresh_db, shared_data / "online_retail_ii" / "online_retail_II_2009_2010.parquet")
    assert (again.rows_read, again.new_orders, again.new_customers) == (expected["rows_read"], 0, 0)

