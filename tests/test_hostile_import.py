"""Hostile import files: out-of-range dates, control characters, huge fields, mixed encodings,
decompression bombs and private file modes. Each test is a regression for the hostile-input issue."""
from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pytest

from discovery.importer import ImportFailed, import_file
from sql import query
from tests.test_import import HEADER, canonical_rows, fetch, snapshot, store_counts, write_csv


def _with_date(row_index: int, value: str) -> list[list[str]]:
    rows = canonical_rows()
    rows[row_index][1] = value
    return rows


# --- 1. dates out of range ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    ("9999-12-31 00:00:00", "in the future"),
    ("2099-01-01 00:00:00", "in the future"),
    ("1985-06-01 00:00:00", "before 1990-01-01"),
])
def test_out_of_range_date_names_row_and_column_and_commits_nothing(fresh_db, tmp_path, value, words):
    import_file(fresh_db, write_csv(tmp_path / "good.csv", HEADER, canonical_rows()[:1]))
    before = snapshot(fresh_db)
    path = write_csv(tmp_path / "bad.csv", HEADER, _with_date(3, value))
    with pytest.raises(ImportFailed) as caught:
        import_file(fresh_db, path)
    message = str(caught.value)
    assert "row 4" in message and "'ordered_at'" in message and words in message, message
    assert snapshot(fresh_db) == before


def test_out_of_range_dates_are_set_aside_with_skip_bad_rows(fresh_db, tmp_path):
    rows = _with_date(3, "9999-12-31 00:00:00")
    rows[4][1] = "2099-01-01 00:00:00"
    summary = import_file(fresh_db, write_csv(tmp_path / "bad.csv", HEADER, rows), skip_bad_rows=True)
    assert summary.rows_rejected == 2
    latest = fetch(fresh_db, "SELECT max(ordered_at) AS m FROM orders")[0]["m"]
    assert latest.year == 2024
    assert "in the future" in Path(summary.rejected_file).read_text()


def test_allow_dates_from_accepts_older_orders_and_the_clock_is_the_imports(fresh_db, tmp_path):
    path = write_csv(tmp_path / "old.csv", HEADER, _with_date(3, "1985-06-01 00:00:00"))
    summary = import_file(fresh_db, path, allow_dates_from="1980-01-01")
    assert summary.first_order_at.startswith("1985-06-01")
    # The import's own clock decides "future": a clock in 2024-02 refuses the March orders.
    with pytest.raises(ImportFailed, match="in the future"):
        import_file(fresh_db, write_csv(tmp_path / "new.csv", HEADER, canonical_rows()), now="2024-02-01")


def test_discovery_default_as_of_is_never_after_now(fresh_db, tmp_path):
    import_file(fresh_db, write_csv(tmp_path / "good.csv", HEADER, canonical_rows()))
    # A row that slipped in before the checks existed (or was written by hand).
    with fresh_db.connection() as conn:
        conn.execute("UPDATE orders SET ordered_at = '2099-01-01' WHERE store_order_id = '1004'")
    with fresh_db.cursor() as cur:
        cur.execute(query("discovery.latest_order_at"))
        latest = cur.fetchone()["latest"]
    assert latest.year == 2024
