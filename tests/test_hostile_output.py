"""CSV injection and private file modes in every file the product writes (hostile-input issue, 2 and 10)."""
from __future__ import annotations

import csv
import io
import os
import stat
from types import SimpleNamespace

import pandas as pd

from discovery import export
from discovery.importer import import_file
from sql.safe_files import safe_cell, safe_frame
from tests.analytics_fixture import analytics_db, loaded  # noqa: F401
from tests.test_import import HEADER, canonical_rows, write_csv

HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+cmd@example.com", "@SUM(1+1)",
           "-2+3", "\tTAB", "\r=1"]


def test_safe_cell_prefixes_formula_text_and_leaves_numbers():
    for value in HOSTILE:
        assert safe_cell(value) == "'" + value
    for value in ["-1", "+3.5", "-0.25", "1e5", "Ann", "", 12, -3.5, None]:
        assert safe_cell(value) == value
    frame = safe_frame(pd.DataFrame({"a": ["=1", "x"], "n": [-1.5, 2.0]}))
    assert frame["a"].tolist() == ["'=1", "x"] and frame["n"].dtype.kind == "f"


def test_rejected_side_file_neutralises_formulas(fresh_db, tmp_path):
    rows = canonical_rows()
    rows[0][4] = HOSTILE[0]
    rows[0][3] = HOSTILE[1]
    rows[0][10] = "x"          # makes row 1 bad: it goes to the side file with its hostile cells
    rows[5][11] = "y"          # and the return line (quantity -1)
    summary = import_file(fresh_db, write_csv(tmp_path / "orders.csv", HEADER, rows), skip_bad_rows=True)
    with open(summary.rejected_file, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert "'" + HOSTILE[0] in cells and "'" + HOSTILE[1] in cells
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    assert "-1" in cells  # the return line's quantity stays a number


def test_export_profiles_neutralises_formulas(loaded, tmp_path, monkeypatch):  # noqa: F811
    db, _fx = loaded
    hostile = pd.DataFrame({"store_customer_id": HOSTILE[:3], "churn_probability": [0.5, -0.25, 0.1],
                            "segment_value": ["@SUM(A1)", "high", "-x"]})
    monkeypatch.setattr(export, "_copy_frame", lambda *a, **k: hostile.copy())
    path = tmp_path / "profiles.csv"
    export.export_profiles(db, path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["store_customer_id"] for r in rows] == ["'" + v for v in HOSTILE[:3]]
    assert [r["segment_value"] for r in rows] == ["'@SUM(A1)", "high", "'-x"]
    assert rows[1]["churn_probability"] == "-0.25"


def test_campaign_export_neutralises_formulas(tmp_path):
    from analytics.tools.target_campaign import EXPORT_COLUMNS, write_export

    row = {c: "ok" for c in EXPORT_COLUMNS} | {"email": HOSTILE[1], "name": HOSTILE[0], "orders": 3,
                                                "churn_probability": -0.5}
    path = write_export(SimpleNamespace(data_dir=tmp_path), "vip", 1, [row])
    record = next(csv.DictReader(path.open(newline="", encoding="utf-8")))
    assert record["email"] == "'" + HOSTILE[1] and record["name"] == "'" + HOSTILE[0]
    assert record["churn_probability"] == "-0.5"


def test_slack_csv_export_neutralises_formulas():
    from bot.views.export import _write

    text = _write(["name", "value"], [[HOSTILE[2], -4]]).decode()
    assert text.splitlines()[1] == "'@SUM(1+1),-4"


# --- 10. private modes ----------------------------------------------------------------------------------

def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_rejected_rows_file_is_owner_only(fresh_db, tmp_path):
    rows = canonical_rows()
    rows[0][10] = "x"
    old_umask = os.umask(0o022)
    try:
        summary = import_file(fresh_db, write_csv(tmp_path / "orders.csv", HEADER, rows), skip_bad_rows=True)
        # a second run rewrites an existing side file: still 0600
        os.chmod(summary.rejected_file, 0o644)
        summary = import_file(fresh_db, write_csv(tmp_path / "orders.csv", HEADER, rows), skip_bad_rows=True)
    finally:
        os.umask(old_umask)
    assert _mode(summary.rejected_file) == 0o600


def test_profile_export_is_owner_only(loaded, tmp_path, monkeypatch):  # noqa: F811
    db, _fx = loaded
    monkeypatch.setattr(export, "_copy_frame", lambda *a, **k: pd.DataFrame({"store_customer_id": ["C1"]}))
    path = tmp_path / "profiles.csv"
    export.export_profiles(db, path)
    assert _mode(path) == 0o600


def test_campaign_exports_folder_and_data_dir_are_owner_only(tmp_path):
    from analytics.tools.target_campaign import write_export

    data_dir = tmp_path / "data"
    path = write_export(SimpleNamespace(data_dir=data_dir), "vip", 1, [])
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700 and _mode(data_dir) == 0o700


def test_private_dir_tightens_an_existing_folder(tmp_path):
    from sql.safe_files import private_dir

    folder = tmp_path / "exports"
    folder.mkdir(mode=0o755)
    private_dir(folder)
    assert _mode(folder) == 0o700
    private_dir(folder, traversable=True)
    assert _mode(folder) == 0o711
