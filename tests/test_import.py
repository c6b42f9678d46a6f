"""Order import: each format with exact counts, idempotence, overlap, bad files, side file, encodings,
dates, Parquet/XLSX round trips and the CLI. Small files built here; the full UCI year is in
test_import_uci.py."""
from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from discovery import importer
from discovery.importer import ImportFailed, import_file, import_frame
from sql import query

REPO = Path(__file__).resolve().parents[1]
HEADER = ["order_id", "ordered_at", "customer_id", "email", "name", "phone", "country", "sku",
          "product_title", "category", "quantity", "unit_price", "line_discount", "discount_code"]


def canonical_rows() -> list[list[str]]:
    """Four orders: a two-line sale with a code, a later sale by the same customer, a guest order,
    and a return of part of the first order."""
    return [
        ["1001", "2024-01-05 10:00:00", "C1", "ann@example.com", "Ann A", "555-0101", "US", "FAB-1",
         "Blue cotton", "fabric", "2", "10.50", "2.10", "SEW15"],
        ["1001", "2024-01-05 10:00:00", "C1", "ann@example.com", "Ann A", "555-0101", "US", "PAT-9",
         "Star quilt pattern", "patterns", "1", "8.00", "0", "SEW15"],
        ["1002", "2024-02-10 09:30:00+01:00", "C2", "bob@example.com", "Bob B", "", "CA", "FAB-1",
         "Blue cotton", "fabric", "3", "10.50", "", ""],
        ["1003", "2024-03-01 12:00:00", "", "", "", "", "GB", "KIT-2", "Starter kit", "kits", "1",
         "45.00", "0", ""],
        ["1004", "2024-03-15 08:00:00", "C1", "ann@example.com", "Ann A", "555-0101", "US", "KIT-2",
         "Starter kit", "kits", "1", "45.00", "0", ""],
        ["R1001", "2024-01-20 15:00:00", "C1", "ann@example.com", "Ann A", "555-0101", "US", "PAT-9",
         "Star quilt pattern", "patterns", "-1", "8.00", "0", ""],
    ]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def store_counts(db) -> dict:
    with db.cursor() as cur:
        cur.execute(query("import.store_counts"))
        return dict(cur.fetchone())


def fetch(db, sql: str, params=None) -> list[dict]:
    with db.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def snapshot(db) -> tuple:
    """Everything an import writes, in a comparable form (imported_at excluded)."""
    return (
        fetch(db, "SELECT store_customer_id, email, phone, name, country, first_seen_at FROM customers ORDER BY 1"),
        fetch(db, "SELECT sku, title, category, unit_price FROM products ORDER BY 1"),
        fetch(db, "SELECT store_order_id, customer_id, ordered_at, kind, discount_code, country, subtotal,"
                  " discount_total, total FROM orders ORDER BY 1"),
        fetch(db, "SELECT o.store_order_id, l.line_no, p.sku, l.quantity, l.unit_price, l.discount, l.kind"
                  " FROM order_lines l JOIN orders o USING (order_id) JOIN products p USING (product_id) ORDER BY 1, 2"),
    )


# --- canonical ---------------------------------------------------------------------------------

def test_canonical_csv_exact_counts_and_totals(fresh_db, tmp_path):
    path = write_csv(tmp_path / "orders.csv", HEADER, canonical_rows())
    summary = import_file(fresh_db, path)

    assert summary.format == "canonical"
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (6, 6, 0)
    assert summary.rows_without_customer == 1
    assert summary.cancellation_rows == 1 and summary.return_rows == 1 and summary.sale_rows == 5
    assert (summary.orders, summary.new_orders, summary.customers, summary.new_customers) == (5, 5, 2, 2)
    assert summary.products == summary.new_products == 3
    assert store_counts(fresh_db) == {"customers": 2, "products": 3, "orders": 5, "order_lines": 6}

    orders = {row["store_order_id"]: row for row in fetch(fresh_db, "SELECT * FROM orders")}
    assert orders["1001"]["subtotal"] == Decimal("29.00")      # 2 x 10.50 + 8.00
    assert orders["1001"]["discount_total"] == Decimal("2.10")
    assert orders["1001"]["total"] == Decimal("26.90")
    assert orders["1001"]["discount_code"] == "SEW15"
    assert orders["R1001"]["kind"] == "return" and orders["R1001"]["total"] == Decimal("-8.00")
    assert orders["1003"]["customer_id"] is None               # guest order
    assert orders["1002"]["ordered_at"].isoformat() == "2024-02-10T08:30:00+00:00"  # offset honoured

    first_seen = {row["store_customer_id"]: row["first_seen_at"].isoformat()
                  for row in fetch(fresh_db, "SELECT * FROM customers")}
    assert first_seen == {"C1": "2024-01-05T10:00:00+00:00", "C2": "2024-02-10T08:30:00+00:00"}
    assert "orders" in summary.describe() and "rows read" in summary.describe()


def test_reimport_changes_nothing(fresh_db, tmp_path):
    path = write_csv(tmp_path / "orders.csv.gz", HEADER, canonical_rows())
    import_file(fresh_db, path)
    before = snapshot(fresh_db)

    again = import_file(fresh_db, path)

    assert (again.new_orders, again.new_customers, again.new_products, again.updated_customers) == (0, 0, 0, 0)
    assert again.existing_orders == again.orders == 5
    assert snapshot(fresh_db) == before


def test_overlapping_newer_export_adds_only_new_orders(fresh_db, tmp_path):
    rows = canonical_rows()
    older = write_csv(tmp_path / "jan_feb.csv", HEADER, [r for r in rows if r[0] in ("1001", "R1001", "1002")])
    import_file(fresh_db, older)
    lines_1001 = fetch(fresh_db, "SELECT count(*) AS n FROM order_lines JOIN orders USING (order_id)"
                                 " WHERE store_order_id = '1001'")[0]["n"]
    # The newer export repeats 1002, adds 1003/1004, and gives customer C2 a phone number.
    newer_rows = [r for r in rows if r[0] in ("1002", "1003", "1004")]
    newer_rows[0][5] = "555-0202"
    newer = write_csv(tmp_path / "feb_mar.csv", HEADER, newer_rows)

    summary = import_file(fresh_db, newer)

    assert (summary.orders, summary.new_orders, summary.existing_orders) == (3, 2, 1)
    assert summary.new_customers == 0 and summary.updated_customers == 1
    assert store_counts(fresh_db) == {"customers": 2, "products": 3, "orders": 5, "order_lines": 6}
    assert fetch(fresh_db, "SELECT phone FROM customers WHERE store_customer_id = 'C2'")[0]["phone"] == "555-0202"
    assert lines_1001 == 2


def test_explicit_kind_column_and_unknown_columns(fresh_db, tmp_path):
    header = HEADER + ["kind", "warehouse"]
    rows = [r + ["", "north"] for r in canonical_rows()]
    rows[3][-2] = "adjustment"   # the guest order 1003, declared a bookkeeping adjustment
    summary = import_file(fresh_db, write_csv(tmp_path / "k.csv", header, rows))
    assert summary.adjustment_rows == 1 and summary.sale_rows == 4
    kinds = {r["store_order_id"]: r["kind"] for r in fetch(fresh_db, "SELECT store_order_id, kind FROM orders")}
    assert kinds["1003"] == "adjustment" and kinds["R1001"] == "return" and kinds["1001"] == "sale"


# --- bad files ---------------------------------------------------------------------------------

def _corrupt(rows, row_index, column, value):
    rows = [list(r) for r in rows]
    rows[row_index][HEADER.index(column)] = value
    return rows


@pytest.mark.parametrize("column, value, expected", [
    ("ordered_at", "2024-13-45 10:00", "column 'ordered_at': not a date"),
    ("quantity", "two", "column 'quantity': not a number"),
    ("quantity", "1.5", "column 'quantity': not a whole number"),
    ("unit_price", "12,5x", "column 'unit_price': not a number"),
    ("unit_price", "-3.00", "column 'unit_price': negative price"),
    ("order_id", "", "column 'order_id': empty"),
    ("customer_id", "C9", "column 'customer_id': the order's first line (row 1) names another customer"),
])
def test_bad_value_names_file_row_column_and_commits_nothing(fresh_db, tmp_path, column, value, expected):
    import_file(fresh_db, write_csv(tmp_path / "good.csv", HEADER, canonical_rows()[:1]))
    before = snapshot(fresh_db)
    path = write_csv(tmp_path / "bad.csv", HEADER, _corrupt(canonical_rows(), 1, column, value))

    with pytest.raises(ImportFailed) as failure:
        import_file(fresh_db, path)

    message = str(failure.value)
    assert str(path) in message and "row 2" in message and expected in message
    assert snapshot(fresh_db) == before


def test_missing_required_column_and_unknown_format(fresh_db, tmp_path):
    no_price = write_csv(tmp_path / "no_price.csv", [h for h in HEADER if h != "unit_price"],
                         [r[:11] + r[12:] for r in canonical_rows()])
    with pytest.raises(ImportFailed, match=r"no_price\.csv.*unit_price"):
        import_file(fresh_db, no_price, fmt="canonical")
    with pytest.raises(ImportFailed, match=r"no_price\.csv: cannot tell the format"):
        import_file(fresh_db, no_price)
    other = write_csv(tmp_path / "other.csv", ["a", "b"], [["1", "2"]])
    with pytest.raises(ImportFailed, match=r"other\.csv: cannot tell the format.*columns: a, b"):
        import_file(fresh_db, other)
    with pytest.raises(ImportFailed, match="no such file"):
        import_file(fresh_db, tmp_path / "absent.csv")
    assert store_counts(fresh_db) == {"customers": 0, "products": 0, "orders": 0, "order_lines": 0}


def test_failure_inside_the_database_step_rolls_everything_back(fresh_db, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full while building order lines")

    monkeypatch.setattr(importer, "_new_lines", broken)
    with pytest.raises(RuntimeError):
        import_file(fresh_db, write_csv(tmp_path / "orders.csv", HEADER, canonical_rows()))
    assert store_counts(fresh_db) == {"customers": 0, "products": 0, "orders": 0, "order_lines": 0}


def test_skip_bad_rows_loads_the_rest_and_writes_side_file(fresh_db, tmp_path):
    rows = _corrupt(canonical_rows(), 1, "quantity", "lots")          # second line of order 1001
    rows = _corrupt(rows, 3, "ordered_at", "yesterday")               # guest order 1003
    path = write_csv(tmp_path / "mixed.csv", HEADER, rows)

    summary = import_file(fresh_db, path, skip_bad_rows=True)

    # Order 1001 goes whole (its first line too), so a corrected file can add it later.
    assert (summary.rows_read, summary.rows_rejected, summary.rows_loaded) == (6, 3, 3)
    assert summary.rejected_file == str(tmp_path / "mixed.csv.rejected.csv")
    side = pd.read_csv(summary.rejected_file, dtype=str, keep_default_na=False)
    assert side["row"].tolist() == ["1", "2", "4"]
    assert side["order_id"].tolist() == ["1001", "1001", "1003"]
    assert side["quantity"].tolist()[1] == "lots"                      # the original value, untouched
    reasons = side["reason"].tolist()
    assert reasons[0] == "another line of this order was rejected (row 2)"
    assert reasons[1] == "column 'quantity': not a number ('lots')"
    assert reasons[2].startswith("column 'ordered_at': not a date")
    assert sorted(r["store_order_id"] for r in fetch(fresh_db, "SELECT store_order_id FROM orders")) == \
        ["1002", "1004", "R1001"]

    fixed = write_csv(tmp_path / "fixed.csv", HEADER, canonical_rows())
    again = import_file(fresh_db, fixed)
    assert again.new_orders == 2 and store_counts(fresh_db)["order_lines"] == 6


# --- encodings and dates -------------------------------------------------------------------------

def test_cp1252_excel_csv(fresh_db, tmp_path):
    rows = canonical_rows()
    for row in rows:
        if row[2] == "C1":
            row[4] = "Zoë Müller"
        if row[7] == "FAB-1":
            row[8] = "Café “Liberty” lawn – 1m"   # curly quotes and the en dash exist in cp1252 only
    path = write_csv(tmp_path / "excel.csv", HEADER, rows, encoding="cp1252")
    summary = import_file(fresh_db, path)
    assert summary.encoding == "cp1252" and summary.rows_loaded == 6
    assert fetch(fresh_db, "SELECT name FROM customers WHERE store_customer_id = 'C1'")[0]["name"] == "Zoë Müller"
    assert fetch(fresh_db, "SELECT title FROM products WHERE sku = 'FAB-1'")[0]["title"] == "Café “Liberty” lawn – 1m"


def test_latin1_bytes_cp1252_cannot_decode(fresh_db, tmp_path):
    rows = canonical_rows()
    rows[0][4] = "Ann\x81"   # 0x81 is undefined in cp1252 but a control character in Latin-1
    path = tmp_path / "latin1.csv"
    write_csv(path, HEADER, rows, encoding="latin-1")
    assert import_file(fresh_db, path).encoding == "latin-1"


UCI_HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def test_us_dates_month_first_inferred_from_the_column(fresh_db, tmp_path):
    rows = [
        ["536365", "85123A", "WHITE HANGING HEART", "6", "12/1/2010 8:26", "2.55", "17850.0", "United Kingdom"],
        ["536366", "22633", "HAND WARMER UNION JACK", "6", "12/13/2010 8:28", "1.85", "17850.0", "United Kingdom"],
        ["536367", "84879", "ASSORTED BIRD ORNAMENT", "32", "1/2/2011 3:05 PM", "1.69", "13047", "United Kingdom"],
    ]
    summary = import_file(fresh_db, write_csv(tmp_path / "us.csv", UCI_HEADER, rows))
    assert summary.format == "uci" and summary.date_order == "month-first"
    dates = {r["store_order_id"]: r["ordered_at"].isoformat()
             for r in fetch(fresh_db, "SELECT store_order_id, ordered_at FROM orders")}
    assert dates == {"536365": "2010-12-01T08:26:00+00:00", "536366": "2010-12-13T08:28:00+00:00",
                     "536367": "2011-01-02T15:05:00+00:00"}
    ids = sorted(r["store_customer_id"] for r in fetch(fresh_db, "SELECT store_customer_id FROM customers"))
    assert ids == ["13047", "17850"]                     # 17850.0 read as 17850


def test_day_first_dates_and_a_row_that_breaks_the_column_order(fresh_db, tmp_path):
    rows = [
        ["1", "2010-01-01", "13/01/2011 09:00", "A", "", "", "", "", "S1", "t", "c", "1", "1.00", "0", ""],
        ["2", "2010-01-01", "02/03/2011 09:00", "A", "", "", "", "", "S1", "t", "c", "1", "1.00", "0", ""],
    ]
    header = ["order_id", "note", "ordered_at", "customer_id", "email", "name", "phone", "country", "sku",
              "product_title", "category", "quantity", "unit_price", "line_discount", "discount_code"]
    import_file(fresh_db, write_csv(tmp_path / "eu.csv", header, rows))
    dates = {r["store_order_id"]: r["ordered_at"].date().isoformat()
             for r in fetch(fresh_db, "SELECT store_order_id, ordered_at FROM orders")}
    assert dates == {"1": "2011-01-13", "2": "2011-03-02"}   # day-first for the whole column

    rows[1][0], rows[1][2] = "3", "02/30/2011 09:00"        # day-first column: month 30 does not exist
    with pytest.raises(ImportFailed, match=r"eu2\.csv: row 2, column 'ordered_at': not a date \(the column reads day-first\)"):
        import_file(fresh_db, write_csv(tmp_path / "eu2.csv", header, rows))


# --- UCI and Shopify ------------------------------------------------------------------------------

def test_uci_classes_cancellations_adjustments_zero_price_and_guests(fresh_db, tmp_path):
    header = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
    rows = [
        ["489434", "85048", "GLASS BALL", "12", "2009-12-01 07:45:00", "6.95", "13085", "United Kingdom"],
        ["489434", "79323P", "PINK CHERRY LIGHTS", "12", "2009-12-01 07:45:00", "6.75", "13085", "United Kingdom"],
        ["489435", "22350", "CAT BOWL", "12", "2009-12-01 07:46:00", "2.55", "", "United Kingdom"],
        ["C489449", "22087", "PAPER BUNTING", "-12", "2009-12-01 10:33:00", "2.95", "16321", "Australia"],
        ["489450", "21754", "damaged", "-10", "2009-12-01 10:40:00", "0", "", "United Kingdom"],
        ["A506401", "B", "Adjust bad debt", "1", "2010-04-29 13:36:00", "-53594.36", "", "United Kingdom"],
    ]
    summary = import_file(fresh_db, write_csv(tmp_path / "uci.csv", header, rows))
    assert summary.format == "uci"
    assert (summary.rows_read, summary.rows_loaded, summary.ignored_rows) == (6, 5, 1)
    assert (summary.sale_rows, summary.return_rows, summary.adjustment_rows) == (3, 1, 1)
    assert summary.cancellation_rows == 1 and summary.rows_without_customer == 3
    assert (summary.orders_in_file, summary.orders, summary.customers) == (5, 4, 2)
    kinds = {r["store_order_id"]: (r["kind"], str(r["total"]))
             for r in fetch(fresh_db, "SELECT store_order_id, kind, total FROM orders")}
    assert kinds == {"489434": ("sale", "164.40"), "489435": ("sale", "30.60"),
                     "C489449": ("return", "-35.40"), "A506401": ("adjustment", "-53594.36")}


def test_shopify_export_forward_fills_order_fields(fresh_db, tmp_path):
    header = ["Name", "Email", "Financial Status", "Created at", "Lineitem quantity", "Lineitem name",
              "Lineitem price", "Lineitem sku", "Lineitem discount", "Discount Code", "Discount Amount",
              "Billing Name", "Billing Phone", "Billing Country", "Vendor", "Phone"]
    rows = [
        ["#1001", "Ann@Example.com", "paid", "2024-03-05 14:22:10 -0500", "2", "Blue cotton", "10.00",
         "FAB-1", "0", "SPRING15", "4.50", "Ann A", "555-0101", "US", "Moda", ""],
        ["#1001", "", "", "2024-03-05 14:22:10 -0500", "1", "Star pattern", "10.00", "PAT-9", "0", "", "",
         "", "", "", "Moda", ""],
        ["#1002", "ann@example.com", "paid", "2024-04-01 09:00:00 -0400", "1", "Gift card", "25.00", "",
         "", "", "0", "Ann A", "", "US", "Shop", ""],
        ["#1003", "", "paid", "2024-04-02 09:00:00 +0100", "1", "Blue cotton", "10.00", "FAB-1", "2.00",
         "", "2.00", "Guest G", "", "GB", "Moda", ""],
    ]
    summary = import_file(fresh_db, write_csv(tmp_path / "orders_export.csv", header, rows))

    assert summary.format == "shopify"
    assert (summary.rows_read, summary.rows_loaded, summary.orders, summary.customers) == (4, 4, 3, 1)
    assert summary.rows_without_customer == 1
    orders = {r["store_order_id"]: r for r in fetch(fresh_db, "SELECT * FROM orders")}
    # The order discount is spread over the lines by value: 4.50 over 20.00 + 10.00.
    assert (orders["#1001"]["subtotal"], orders["#1001"]["discount_total"], orders["#1001"]["total"]) == \
        (Decimal("30.00"), Decimal("4.50"), Decimal("25.50"))
    assert orders["#1001"]["discount_code"] == "SPRING15" and orders["#1001"]["country"] == "US"
    assert orders["#1001"]["ordered_at"].isoformat() == "2024-03-05T19:22:10+00:00"
    assert orders["#1003"]["customer_id"] is None and orders["#1003"]["total"] == Decimal("8.00")
    lines = fetch(fresh_db, "SELECT l.discount FROM order_lines l JOIN orders o USING (order_id)"
                            " WHERE store_order_id = '#1001' ORDER BY line_no")
    assert [r["discount"] for r in lines] == [Decimal("3.00"), Decimal("1.50")]
    customer = fetch(fresh_db, "SELECT * FROM customers")[0]
    assert customer["store_customer_id"] == "ann@example.com" and customer["phone"] == "555-0101"
    categories = {r["sku"]: r["category"] for r in fetch(fresh_db, "SELECT sku, category FROM products")}
    assert categories == {"FAB-1": "Moda", "PAT-9": "Moda", "title:Gift card": "Shop"}


# --- Parquet, XLSX, frames, CLI ----------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["parquet", "xlsx"])
def test_parquet_and_xlsx_round_trip_match_csv(fresh_database_url, tmp_path, suffix):
    from sql.database import Database

    csv_path = write_csv(tmp_path / "orders.csv", HEADER, canonical_rows())
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    frame["quantity"] = frame["quantity"].astype(int)      # typed columns, as a spreadsheet holds them
    frame["unit_price"] = frame["unit_price"].astype(float)
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True, format="ISO8601").dt.tz_localize(None)
    other = tmp_path / f"orders.{suffix}"
    frame.to_parquet(other) if suffix == "parquet" else frame.to_excel(other, index=False)

    snapshots = []
    for path in (csv_path, other):
        db = Database(fresh_database_url())
        try:
            summary = import_file(db, path)
            assert (summary.rows_loaded, summary.orders, summary.customers) == (6, 5, 2)
            snapshots.append(snapshot(db)[1:])               # customer ids differ only by identity
        finally:
            db.close()
    assert snapshots[0] == snapshots[1]


def test_import_frame_loads_the_synthetic_store(fresh_db):
    from discovery import synthetic

    frame, _truth = synthetic.generate_store(synthetic.StoreSpec(customers=300, seed=3))

    summary = import_frame(fresh_db, frame, "synthetic store")

    assert summary.rows_loaded == len(frame) and summary.rows_rejected == 0
    assert summary.orders == frame["order_id"].nunique()
    assert summary.customers == frame["customer_id"].dropna().nunique()
    assert summary.rows_without_customer == int(frame["customer_id"].isna().sum())
    assert summary.cancellation_rows == int((frame["quantity"] < 0).sum())
    counts = store_counts(fresh_db)
    assert (counts["orders"], counts["order_lines"]) == (summary.orders, len(frame))
    revenue = fetch(fresh_db, "SELECT sum(total) AS total FROM orders")[0]["total"]
    expected = (frame["quantity"] * frame["unit_price"] - frame["line_discount"]).sum()
    assert float(revenue) == pytest.approx(expected, abs=0.01)
    assert import_frame(fresh_db, frame, "synthetic store").new_orders == 0


def test_cli_ingest_json(fresh_database_url, tmp_path):
    url = fresh_database_url()
    path = write_csv(tmp_path / "orders.csv", HEADER, canonical_rows())
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "PSEUDONYM_SECRET": "cli-test"}
    env.pop("REDIS_URL")
    result = subprocess.run([sys.executable, "app.py", "ingest", str(path), "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)                     # one JSON object and nothing else
    for key in ("rows_read", "rows_loaded", "rows_rejected", "rows_without_customer", "cancellation_rows",
                "orders", "customers", "new_orders", "new_customers"):
        assert key in summary
    assert (summary["rows_read"], summary["new_orders"], summary["new_customers"]) == (6, 5, 2)

    bad = write_csv(tmp_path / "bad.csv", HEADER, _corrupt(canonical_rows(), 4, "unit_price", "abc"))
    result = subprocess.run([sys.executable, "app.py", "ingest", str(bad)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"{bad}: row 5, column 'unit_price': not a number ('abc')" in result.stderr


def test_progress_reports_stages_up_to_done(fresh_db, tmp_path):
    calls = []
    import_file(fresh_db, write_csv(tmp_path / "orders.csv", HEADER, canonical_rows()),
                progress=lambda done, total=None, note="": calls.append((done, total, note)))
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1] == (100, 100, "done")
    assert {"reading", "loading", "order lines", "committing"} <= {c[2] for c in calls}


def test_import_without_superuser_keeps_foreign_key_checks(fresh_database_url, tmp_path):
    """The importer skips per-row foreign-key checks only where it may (superuser); a plain role
    imports the same data with the checks on."""
    import uuid

    import psycopg

    from sql.database import Database

    url = fresh_database_url()
    role = f"cib_importer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    try:
        db = Database(url.replace("postgresql://postgres@", f"postgresql://{role}@"), migrate=False)
        try:
            summary = import_file(db, write_csv(tmp_path / "orders.csv", HEADER, canonical_rows()))
            assert (summary.new_orders, summary.rows_loaded) == (5, 6)
            assert store_counts(db) == {"customers": 2, "products": 3, "orders": 5, "order_lines": 6}
        finally:
            db.close()
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_row_with_the_wrong_number_of_fields(fresh_db, tmp_path):
    path = tmp_path / "ragged.csv"
    write_csv(path, HEADER, canonical_rows())
    lines = path.read_text().splitlines()
    lines[3] = lines[3] + ",surplus"                        # data row 3: order 1002
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(ImportFailed, match=r"ragged\.csv: row 3, has 15 fields where the header has 14"):
        import_file(fresh_db, path)
    assert store_counts(fresh_db)["orders"] == 0

    summary = import_file(fresh_db, path, skip_bad_rows=True)
    assert (summary.rows_read, summary.rows_rejected, summary.new_orders) == (6, 1, 4)
    side = pd.read_csv(summary.rejected_file, dtype=str, keep_default_na=False)
    assert side["row"].tolist() == ["3"] and "surplus" in side["reason"][0]


def test_semicolon_separated_with_decimal_commas(fresh_db, tmp_path):
    rows = [[cell.replace(".", ",") if i in (11, 12) else cell for i, cell in enumerate(r)] for r in canonical_rows()]
    path = tmp_path / "excel_eu.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    summary = import_file(fresh_db, path)
    assert summary.rows_loaded == 6
    total = fetch(fresh_db, "SELECT total FROM orders WHERE store_order_id = '1001'")[0]["total"]
    assert total == Decimal("26.90")


def test_header_only_file_imports_nothing(fresh_db, tmp_path):
    summary = import_file(fresh_db, write_csv(tmp_path / "empty.csv", HEADER, []))
    assert (summary.rows_read, summary.orders, summary.new_orders) == (0, 0, 0)
    with pytest.raises(ImportFailed, match="empty"):
        (tmp_path / "nothing.csv").write_text("")
        import_file(fresh_db, tmp_path / "nothing.csv")


def test_skip_bad_rows_survives_infinite_and_huge_values(fresh_db, tmp_path):
    rows = _corrupt(canonical_rows(), 2, "unit_price", "inf")            # order 1002
    rows = _corrupt(rows, 3, "quantity", "1e20")                         # order 1003
    rows = _corrupt(rows, 4, "line_discount", "nan")                     # order 1004
    summary = import_file(fresh_db, write_csv(tmp_path / "huge.csv", HEADER, rows), skip_bad_rows=True)
    assert (summary.rows_rejected, summary.new_orders) == (3, 2)
    side = pd.read_csv(summary.rejected_file, dtype=str, keep_default_na=False)
    assert side["reason"].tolist() == ["column 'unit_price': out of range ('inf')",
                                       "column 'quantity': out of range ('1e20')",
                                       "column 'line_discount': not a number ('nan')"]


def test_forced_format(fresh_db, tmp_path):
    header = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
    path = write_csv(tmp_path / "export.csv", header,
                     [["489434", "85048", "GLASS BALL", "12", "2009-12-01 07:45:00", "6.95", "13085", "United Kingdom"]])
    with pytest.raises(ImportFailed, match=r"export\.csv: missing required columns 'Name', 'Created at', "
                                           r"'Lineitem quantity', 'Lineitem price' for the shopify format"):
        import_file(fresh_db, path, fmt="shopify")
    with pytest.raises(ImportFailed, match=r"unknown format 'csv'"):
        import_file(fresh_db, path, fmt="csv")
    assert import_file(fresh_db, path, fmt="uci").new_orders == 1


def test_order_total_beyond_the_database_range_fails_cleanly(fresh_db, tmp_path):
    # Each line fits, the order's total (3 x 9e11) does not fit numeric(14, 2).
    rows = [["9001", "2024-01-01 10:00:00", "C1", "", "", "", "", f"BIG-{i}", "", "", "1", "900000000.00", "0", ""]
            for i in range(3)]
    rows = [r[:10] + ["1000"] + r[11:] for r in rows]
    with pytest.raises(ImportFailed, match=r"big\.csv: the database refused a value .*nothing was imported"):
        import_file(fresh_db, write_csv(tmp_path / "big.csv", HEADER, rows))
    assert store_counts(fresh_db) == {"customers": 0, "products": 0, "orders": 0, "order_lines": 0}
    rows[0][10] = "2000"
    with pytest.raises(ImportFailed, match=r"row 1, column 'quantity': line value \(quantity x price\) out of range"):
        import_file(fresh_db, write_csv(tmp_path / "bigger.csv", HEADER, rows))
