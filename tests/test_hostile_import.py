"""Hostile import files: out-of-range dates, control characters, huge fields, mixed encodings,
decompression bombs and private file modes. Each test is a regression for the hostile-input issue."""
from __future__ import annotations

import zlib
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


# --- 9. NUL and other control characters, huge cells --------------------------------------------------

def test_nul_in_a_key_cell_is_a_bad_row_named_by_row_and_column(fresh_db, tmp_path):
    rows = canonical_rows()
    rows[2][0] = "10\x0002"  # order id of row 3
    path = write_csv(tmp_path / "nul.csv", HEADER, rows)
    with pytest.raises(ImportFailed) as caught:
        import_file(fresh_db, path)
    assert "row 3" in str(caught.value) and "'order_id'" in str(caught.value) and "control character" in str(caught.value)
    assert store_counts(fresh_db)["orders"] == 0
    summary = import_file(fresh_db, path, skip_bad_rows=True)
    assert summary.rows_rejected == 1 and summary.new_orders == 4


def test_nul_in_names_and_titles_is_stripped(fresh_db, tmp_path):
    rows = canonical_rows()
    for row in rows[:2]:
        row[4] = "Ann\x00 A"
        row[8] = "Blue\x07 cotton\n1m" if row[7] == "FAB-1" else row[8]
    rows[2][8] = "Blue\x07 cotton\n1m"
    import_file(fresh_db, write_csv(tmp_path / "names.csv", HEADER, rows))
    assert fetch(fresh_db, "SELECT name FROM customers WHERE store_customer_id = 'C1'")[0]["name"] == "Ann A"
    assert fetch(fresh_db, "SELECT title FROM products WHERE sku = 'FAB-1'")[0]["title"] == "Blue cotton 1m"


def test_overlong_cell_is_a_bad_row(fresh_db, tmp_path):
    rows = canonical_rows()
    rows[1][8] = "x" * 5000
    with pytest.raises(ImportFailed, match=r"row 2, column 'product_title': longer than 2,000 characters"):
        import_file(fresh_db, write_csv(tmp_path / "long.csv", HEADER, rows))


def test_a_cell_larger_than_the_read_block_is_a_clear_error(fresh_db, tmp_path):
    from discovery import formats

    rows = canonical_rows()
    rows[3][8] = "y" * (3 * formats.MAX_FIELD_BYTES)  # 48 MB: pyarrow said "straddling object"
    with pytest.raises(ImportFailed) as caught:
        import_file(fresh_db, write_csv(tmp_path / "huge.csv", HEADER, rows))
    message = str(caught.value)
    assert "row 4" in message and "larger than 16 MB" in message and "straddl" not in message
    assert store_counts(fresh_db)["orders"] == 0


# --- 6. mixed encodings -------------------------------------------------------------------------------

def _encoded_csv(path: Path, rows_with_encodings: list[tuple[list[str], str]]) -> Path:
    import csv as _csv
    import io

    def line(cells):
        buffer = io.StringIO()
        _csv.writer(buffer, lineterminator="\n").writerow(cells)
        return buffer.getvalue()

    data = line(HEADER).encode("ascii") + b"".join(line(r).encode(enc) for r, enc in rows_with_encodings)
    path.write_bytes(data)
    return path


def test_a_utf8_row_in_a_cp1252_file_keeps_its_name(fresh_db, tmp_path):
    rows = canonical_rows()
    for row in rows:
        if row[2] == "C1":
            row[4] = "Renée Zoë"
    import_file(fresh_db, write_csv(tmp_path / "first.csv", HEADER, rows[:1]))
    later = canonical_rows()
    later[5][4] = "Renée Zoë"               # row 6, C1's last line (contact details come from it): UTF-8
    later[2][8] = "Café lawn – 1m"          # the rest written by Excel in cp1252
    later[3][8] = "Café lawn – 1m"
    path = _encoded_csv(tmp_path / "mixed.csv", [(r, "utf-8" if i == 5 else "cp1252") for i, r in enumerate(later)])
    summary = import_file(fresh_db, path)
    assert "mixed" in summary.encoding
    assert fetch(fresh_db, "SELECT name FROM customers WHERE store_customer_id = 'C1'")[0]["name"] == "Renée Zoë"
    assert fetch(fresh_db, "SELECT title FROM products WHERE sku = 'KIT-2'")[0]["title"] == "Café lawn – 1m"


def test_a_row_mixing_encodings_is_rejected_naming_it(fresh_db, tmp_path):
    rows = canonical_rows()
    path = tmp_path / "mixed_row.csv"
    _encoded_csv(path, [(r, "cp1252") for r in rows])
    data = path.read_bytes().split(b"\n")
    data[3] = data[3].replace(b"Bob B", "Bob é".encode("utf-8") + "ë".encode("cp1252"))
    path.write_bytes(b"\n".join(data))
    with pytest.raises(ImportFailed, match="row 3 mixes UTF-8"):
        import_file(fresh_db, path)
    assert store_counts(fresh_db)["orders"] == 0


# --- 7. decompression bombs -------------------------------------------------------------------------

def _gzip_bomb(path: Path, megabytes: int) -> Path:
    header = (",".join(HEADER) + "\n").encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * (1 << 20)
    with path.open("wb") as handle:
        handle.write(packer.compress(header))
        for _ in range(megabytes):
            handle.write(packer.compress(block))
        handle.write(packer.flush())
    return path


def test_gzip_bomb_fails_early_with_a_clear_message(fresh_db, tmp_path):
    import tracemalloc

    path = _gzip_bomb(tmp_path / "bomb.csv.gz", 400)
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ImportFailed, match="decompresses to more than"):
            import_file(fresh_db, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 << 20, f"peak {peak >> 20} MB"
    assert store_counts(fresh_db)["orders"] == 0


def test_size_cap_applies_to_gzip_and_xlsx(fresh_db, tmp_path, monkeypatch):
    from discovery import formats

    monkeypatch.setattr(formats, "MAX_DECOMPRESSED_BYTES", 200)
    gz = write_csv(tmp_path / "orders.csv.gz", HEADER, canonical_rows())
    with pytest.raises(ImportFailed, match="decompresses to more than"):
        import_file(fresh_db, gz)
    xlsx = tmp_path / "orders.xlsx"
    import pandas as pd
    pd.DataFrame(canonical_rows(), columns=HEADER).to_excel(xlsx, index=False)
    with pytest.raises(ImportFailed, match="decompresses to more than"):
        import_file(fresh_db, xlsx)
    monkeypatch.setattr(formats, "MAX_DECOMPRESSED_BYTES", 1 << 30)
    assert import_file(fresh_db, gz).new_orders == 5


def test_a_file_of_guest_orders_only_imports(fresh_db, tmp_path):
    # Found by the fuzz test: no customer in the file left nothing to look customers up in.
    rows = [r for r in canonical_rows() if r[2] == ""]
    summary = import_file(fresh_db, write_csv(tmp_path / "guests.csv", HEADER, rows))
    assert summary.new_orders == 1 and summary.rows_without_customer == 1
    assert fetch(fresh_db, "SELECT customer_id FROM orders")[0]["customer_id"] is None
