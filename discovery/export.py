"""`python app.py export profiles --out FILE`: the current run's customer profiles as CSV for the
store owner (real store customer ids, on purpose: it is their own data)."""
from __future__ import annotations

from pathlib import Path

from discovery.features import _copy_frame
from sql import query
from sql.safe_files import write_private_csv

AXIS_COLUMNS = ["segment_frequency", "segment_value", "segment_exploration", "segment_price_sensitivity",
                "segment_cadence", "segment_maturity", "segment_repurchase", "segment_returns"]


class ExportError(Exception):
    """Nothing to export, or the file cannot be written; the message says which."""


def export_profiles(db, path: Path) -> int:
    """Write one row per customer of the current run; returns the number of rows written."""
    path = Path(path)
    if not path.parent.exists():
        raise ExportError(f"cannot write {path}: folder {path.parent} does not exist")
    with db.cursor() as cur:
        cur.execute(query("discovery.current_run"))
        if cur.fetchone() is None:
            raise ExportError("no discovery run yet — run `python app.py discover` first")
    with db.connection() as conn:
        frame = _copy_frame(conn, query("discovery.export_profiles"), {}, dtype={"store_customer_id": str})
    write_private_csv(frame, path, index=False, float_format="%.6g", lineterminator="\n")
    return len(frame)
