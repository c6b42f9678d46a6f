"""Order import: validate canonical order lines, classify them, and load them into PostgreSQL.

`import_file` reads an export (discovery.formats), `import_frame` takes canonical lines already in
memory (the synthetic store). Either way the rows are checked as whole columns, staged with COPY
and merged with set-based SQL (sql/queries/import.sql) in one transaction: a bad file commits
nothing, and orders the store already has are left alone, so re-importing changes nothing.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import BaseModel

from discovery.formats import (
    CANONICAL_COLUMNS, ImportFailed, Mapped, RawTable, map_to_canonical, read_table,
)
from discovery.progress import Progress, no_progress
from observability import metrics
from sql import query
from sql.safe_files import write_private_csv

__all__ = ["ImportFailed", "ImportSummary", "import_file", "import_frame", "prepare_lines"]

KINDS = ("sale", "return", "adjustment")
_TEXT_COLUMNS = ["order_id", "customer_id", "email", "name", "phone", "country", "sku",
                 "product_title", "category", "discount_code", "kind"]
_MAX_INT32 = 2**31 - 1
_MAX_MONEY = 1e10  # numeric(12, 2)
_MAX_TOTAL = 1e12  # numeric(14, 2)
_COPY_BLOCK = 8 << 20
# Order dates outside [EARLIEST_ORDER_DATE, the import's clock + FUTURE_SLACK] are data errors: a
# 9999-12-31 row overflows date arithmetic downstream, a 2099 row would become discovery's "today".
EARLIEST_ORDER_DATE = "1990-01-01"
FUTURE_SLACK = pd.Timedelta(days=1)
# Control characters: stripped from free text (names, titles), a bad row in keys and contact fields,
# where silently changing the value would change whom or what it names.
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_FREE_TEXT_COLUMNS = ["name", "product_title", "category"]
MAX_CELL_CHARS = 2000


class ImportSummary(BaseModel):
    """What an import read, loaded, rejected and added. Row counts are over the file's rows;
    `orders`/`customers`/`products` are the distinct ones its loaded rows hold."""
    source: str
    format: str
    encoding: str | None = None
    date_order: str | None = None          # iso | day-first | month-first, as inferred for the column
    rows_read: int = 0
    rows_loaded: int = 0                   # order lines stored or already in the store
    rows_rejected: int = 0
    rows_without_customer: int = 0         # guest rows (accepted), loaded with no customer
    cancellation_rows: int = 0             # rows of return / cancellation orders
    sale_rows: int = 0
    return_rows: int = 0
    adjustment_rows: int = 0
    ignored_rows: int = 0                  # valid rows that carry no sale (zero quantity, UCI zero price)
    orders_in_file: int = 0                # distinct order ids among accepted rows
    orders: int = 0                        # distinct orders with loaded rows
    customers: int = 0
    products: int = 0
    new_orders: int = 0
    existing_orders: int = 0               # already in the store: left unchanged (replaced when changed, in a sync)
    new_return_orders: int = 0             # of new_orders, those that are returns
    changed_orders: int = 0                # with replace_changed: stored orders rewritten because the source changed
    new_customers: int = 0
    updated_customers: int = 0
    new_products: int = 0
    first_order_at: str | None = None
    last_order_at: str | None = None
    rejected_file: str | None = None
    notes: list[str] = []
    seconds: float = 0.0

    def describe(self) -> str:
        """A readable multi-line summary for the terminal."""
        lines = [
            f"Imported {self.source} ({self.format} format"
            + (f", {self.encoding}" if self.encoding and self.encoding != "utf-8" else "")
            + (f", dates {self.date_order}" if self.date_order else "") + f") in {self.seconds:.1f} s",
            f"  rows read       {self.rows_read:>10,}",
            f"  rows loaded     {self.rows_loaded:>10,}   sale {self.sale_rows:,} · return {self.return_rows:,}"
            f" · adjustment {self.adjustment_rows:,}",
            f"  rows ignored    {self.ignored_rows:>10,}   (valid but no sale: zero quantity or zero-price write-offs)",
            f"  rows rejected   {self.rows_rejected:>10,}"
            + (f"   -> {self.rejected_file}" if self.rejected_file else ""),
            f"  guest rows      {self.rows_without_customer:>10,}   (no customer id; loaded as guest orders)",
            f"  cancellations   {self.cancellation_rows:>10,}   rows of return/cancellation orders",
            f"  orders          {self.orders:>10,}   new {self.new_orders:,}, already present {self.existing_orders:,}",
            f"  customers       {self.customers:>10,}   new {self.new_customers:,}",
            f"  products        {self.products:>10,}   new {self.new_products:,}",
        ]
        if self.first_order_at:
            lines.append(f"  orders from {self.first_order_at[:10]} to {(self.last_order_at or '')[:10]}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class PreparedLines:
    """Validated, classified lines ready to stage, plus what was rejected and why."""
    lines: pd.DataFrame                 # loaded rows (not ignored): typed, line_no, kind, order/product positions
    rejected: pd.DataFrame              # index = row number, column `reason`
    summary: ImportSummary
    orders: pd.DataFrame = field(default_factory=pd.DataFrame)
    customers: pd.DataFrame = field(default_factory=pd.DataFrame)
    products: pd.DataFrame = field(default_factory=pd.DataFrame)


# --- column parsing ----------------------------------------------------------------------------------

def _as_text(series: pd.Series) -> pd.Series:
    """Any column as stripped text, missing as ''. (Text columns come stripped from discovery.formats.)"""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("")
    if series.dtype == object:
        out = series.fillna("").astype("str")
    else:  # typed (Parquet, a frame from code): integers print without '.0', missing becomes ''
        if series.dtype.kind == "f" and series.dropna().mod(1).eq(0).all():
            series = series.astype("Int64")
        out = series.astype(object).where(series.notna(), "").astype("str")
    return out.str.strip()


def _clean_id(text: pd.Series) -> pd.Series:
    # Excel and pandas turn numeric ids into floats: 17850.0 is customer 17850.
    if not text.str.endswith(".0").any():
        return text
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


def _as_number(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(float values, empty mask). Unparseable text becomes NaN with empty False."""
    if series.dtype.kind in "iuf" or (series.dtype.kind == "b"):
        values = series.astype("float64")
        return values, values.isna()
    text = _as_text(series)
    empty = text.eq("")
    try:  # fast path: Arrow parses a clean column in one go
        values = pd.Series(pa.array(text.where(~empty), from_pandas=True, type=pa.string())
                           .cast(pa.float64()).to_numpy(zero_copy_only=False), index=text.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        values = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
    return values, empty


_DMY = (r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})"
        r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp][Mm])?)?$")


def parse_datetimes(series: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    """(UTC timestamps, empty mask, the date order used). Unparseable values are NaT, not empty.

    Slash dates (12/1/2010 8:26) are read day-first or month-first for the whole column: day-first
    if any first number exceeds 12, else month-first (which is also what an ambiguous column gets).
    """
    if series.dtype.kind == "M":
        values = pd.to_datetime(series)
        values = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        return values, values.isna(), "typed"
    text = _as_text(series)
    empty = text.eq("")
    slashed = text.str.match(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}(?:\D|$)")
    if slashed.sum() * 2 <= (~empty).sum():
        values = pd.to_datetime(text.where(~empty), format="ISO8601", utc=True, errors="coerce")
        return values, empty, "iso"
    parts = text.str.extract(_DMY).apply(pd.to_numeric, errors="coerce")
    first, second, year = parts[0], parts[1], parts[2]
    day_first = bool((first > 12).any())
    day, month = (first, second) if day_first else (second, first)
    year = year.where(year >= 100, np.where(year < 70, 2000 + year, 1900 + year))
    hour = parts[3].fillna(0)
    meridiem = text.str.extract(r"([AaPp][Mm])\s*$")[0].str.upper()
    hour = hour.where(meridiem.isna(), hour % 12 + np.where(meridiem == "PM", 12, 0))
    values = pd.to_datetime(
        pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour,
                      "minute": parts[4].fillna(0), "second": parts[5].fillna(0)}),
        errors="coerce",
    ).dt.tz_localize("UTC")
    return values, empty, "day-first" if day_first else "month-first"


# --- validation and classification ---------------------------------------------------------------

class _Problems:
    """Row problems collected column by column: row number -> first reason found."""

    def __init__(self, source_columns: dict[str, str]) -> None:
        self.columns = source_columns
        self.parts: list[pd.Series] = []

    def add(self, mask: pd.Series, column: str, problem: str, values: pd.Series | None = None) -> None:
        if not mask.any():
            return
        label = self.columns.get(column, column)
        reason = pd.Series(f"column '{label}': {problem}", index=mask.index[mask.to_numpy()], dtype=object)
        if values is not None:
            reason = reason + " (" + values[mask].astype(str).map(repr) + ")"
        self.parts.append(reason)

    def add_reasons(self, column: str, reasons: pd.Series) -> None:
        """Reasons that differ row by row (a Series of text indexed by row number)."""
        self.parts.append(f"column '{self.columns.get(column, column)}': " + reasons)

    def reasons(self) -> pd.Series:
        if not self.parts:
            return pd.Series([], dtype=object, index=pd.Index([], name="row"))
        everything = pd.concat(self.parts)
        return everything[~everything.index.duplicated(keep="first")].sort_index()


def _date_bounds(allow_dates_from, now) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(earliest, latest) order instant an import accepts; `allow_dates_from` lowers the earliest."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    try:
        earliest = pd.Timestamp(allow_dates_from or EARLIEST_ORDER_DATE)
    except (ValueError, TypeError, OverflowError):
        raise ImportFailed(f"--allow-dates-from {allow_dates_from!r} is not a date (YYYY-MM-DD)") from None
    earliest = earliest.tz_localize("UTC") if earliest.tzinfo is None else earliest.tz_convert("UTC")
    return earliest, now + FUTURE_SLACK


def prepare_lines(mapped: Mapped, source: str, *, skip_bad_rows: bool = False,
                  encoding: str | None = None, malformed: pd.Series | None = None,
                  progress: Progress = no_progress, allow_dates_from=None, now=None) -> PreparedLines:
    """Check and type every canonical column, classify the rows, and build the staging frames.

    Order dates must fall between 1990-01-01 (or `allow_dates_from`) and `now` (the import's clock,
    default the current time) plus a day.

    Raises ImportFailed naming the first bad row and column unless `skip_bad_rows`, in which case
    bad rows, and the other lines of their orders (a half order would have the wrong total), are
    returned in `rejected` with a reason each.
    """
    frame = mapped.frame
    malformed = malformed if malformed is not None else pd.Series([], dtype=object)
    summary = ImportSummary(source=source, format=mapped.fmt, encoding=encoding,
                            rows_read=len(frame) + len(malformed), notes=list(mapped.notes))
    problems = _Problems(mapped.source_columns)
    for column in CANONICAL_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    text = {c: _as_text(frame[c]) for c in _TEXT_COLUMNS if c in frame.columns}
    if "kind" not in text:
        text["kind"] = pd.Series("", index=frame.index, dtype="str")
    for column in _FREE_TEXT_COLUMNS:
        if text[column].str.contains(r"[\x00-\x1f\x7f]", regex=True).any():
            text[column] = (text[column].str.replace(r"[\t\r\n]+", " ", regex=True)
                            .str.replace(r"[\x00-\x1f\x7f]", "", regex=True).str.strip())
    for column, values in text.items():
        problems.add(values.str.len().gt(MAX_CELL_CHARS), column, f"longer than {MAX_CELL_CHARS:,} characters")
        if column not in _FREE_TEXT_COLUMNS:
            problems.add(values.str.contains(_CONTROL, regex=True), column,
                         "holds a control character such as NUL", values.str.slice(0, 60))
    order_id = _clean_id(text["order_id"])
    customer = _clean_id(text["customer_id"])
    sku = text["sku"]
    kind = text["kind"].str.lower()

    problems.add(order_id.eq(""), "order_id", "empty; every line needs its order id")
    ordered_at, empty_date, date_order = parse_datetimes(frame["ordered_at"])
    summary.date_order = None if date_order in ("iso", "typed") else date_order
    problems.add(empty_date, "ordered_at", "empty; every line needs its order date")
    problems.add(ordered_at.isna() & ~empty_date, "ordered_at",
                 "not a date" + (f" (the column reads {date_order})" if summary.date_order else ""),
                 frame["ordered_at"])
    earliest, latest = _date_bounds(allow_dates_from, now)
    problems.add(ordered_at.gt(latest), "ordered_at",
                 f"in the future (after {latest:%Y-%m-%d %H:%M} UTC, the import's clock plus a day)",
                 frame["ordered_at"])
    problems.add(ordered_at.lt(earliest), "ordered_at",
                 f"before {earliest:%Y-%m-%d}" + ("" if allow_dates_from else
                                                  " (--allow-dates-from accepts older orders)"),
                 frame["ordered_at"])
    problems.add(sku.eq(""), "sku", "empty; every line needs a product code")

    progress(22, 100, "checking numbers")
    quantity, empty_qty = _as_number(frame["quantity"])
    problems.add(empty_qty, "quantity", "empty")
    problems.add(quantity.isna() & ~empty_qty, "quantity", "not a number", frame["quantity"])
    problems.add(quantity.notna() & quantity.mod(1).ne(0), "quantity", "not a whole number", frame["quantity"])
    problems.add(quantity.abs().gt(_MAX_INT32), "quantity", "out of range", frame["quantity"])

    price, empty_price = _as_number(frame["unit_price"])
    problems.add(empty_price, "unit_price", "empty")
    problems.add(price.isna() & ~empty_price, "unit_price", "not a number", frame["unit_price"])
    problems.add(price.abs().ge(_MAX_MONEY), "unit_price", "out of range", frame["unit_price"])
    # Only adjustments (UCI bad-debt write-offs) carry negative prices; a refund is a negative quantity.
    problems.add(price.lt(0) & kind.ne("adjustment"), "unit_price",
                 "negative price (returns are negative quantities)", frame["unit_price"])

    discount, empty_discount = _as_number(frame["line_discount"])
    problems.add(discount.isna() & ~empty_discount, "line_discount", "not a number", frame["line_discount"])
    problems.add(discount.lt(0), "line_discount", "negative discount", frame["line_discount"])
    problems.add(discount.abs().ge(_MAX_MONEY), "line_discount", "out of range", frame["line_discount"])
    discount = discount.fillna(0.0)
    # Order totals are numeric(14, 2): a single line worth more than that cannot be stored.
    problems.add((quantity * price).abs().ge(_MAX_TOTAL), "quantity", "line value (quantity x price) out of range",
                 frame["quantity"])
    problems.add(kind.ne("") & ~kind.isin(KINDS), "kind", "not one of sale, return, adjustment", kind)

    progress(28, 100, "checking orders")
    # One order, one customer: a later line naming someone else is a data error, not a second order.
    reasons = problems.reasons()
    clean = ~frame.index.isin(reasons.index)
    named = clean & customer.ne("")
    order_customer = customer[named].groupby(order_id[named], sort=False).transform("first")
    first_row = pd.Series(frame.index[named], index=frame.index[named]).groupby(
        order_id[named], sort=False).transform("first")
    conflict = pd.Series(False, index=frame.index)
    conflict[named] = customer[named].ne(order_customer)
    if conflict.any():
        rows = conflict.index[conflict.to_numpy()]
        problems.add_reasons("customer_id", "the order's first line (row " + first_row.loc[rows].astype(str)
                             + ") names another customer")
        reasons = problems.reasons()

    if len(malformed):
        reasons = pd.concat([reasons, malformed]).sort_index()
    if len(reasons) and not skip_bad_rows:
        row = int(reasons.index[0])
        more = len(reasons) - 1
        raise ImportFailed(
            f"{source}: row {row}, {reasons.iloc[0]}"
            + (f"; {more:,} more row(s) have problems" if more else "")
            + ". Nothing was imported; --skip-bad-rows loads the good rows and lists the rest."
        )

    # Keep orders whole: the siblings of a rejected line go too, so a corrected re-import adds them.
    bad_orders = order_id.reindex(reasons.index).fillna("")
    sibling = order_id.isin(set(bad_orders[bad_orders.ne("")])) & ~frame.index.isin(reasons.index)
    if sibling.any():
        first_bad = pd.Series(reasons.index, index=bad_orders.to_numpy()).groupby(level=0).min()
        reasons = pd.concat([reasons, "another line of this order was rejected (row "
                             + order_id[sibling].map(first_bad).astype(str) + ")"]).sort_index()
    rejected = pd.DataFrame({"reason": reasons})
    lines = pd.DataFrame({
        "order_key": order_id, "ordered_at": ordered_at, "customer_key": customer,
        "email": text["email"], "name": text["name"], "phone": text["phone"],
        "country": text["country"], "sku": sku, "title": text["product_title"],
        "category": text["category"], "discount_code": text["discount_code"],
        # Rejected rows may hold NaN or huge values: zero them so the integer casts cannot fail.
        "quantity": quantity.where(quantity.abs() <= _MAX_INT32, 0).fillna(0).astype("int64"),
        # Money as whole cents from here on, so order totals are exact sums.
        "price_cents": (price.where(price.abs() < _MAX_MONEY, 0).fillna(0) * 100).round().astype("int64"),
        "discount_cents": (discount.where(discount.abs() < _MAX_MONEY, 0) * 100).round().astype("int64"),
        "explicit_kind": kind,
    })
    if len(reasons):  # selecting rows copies every column: only when something was rejected
        lines = lines[~frame.index.isin(reasons.index)]
    # A line's kind: the file's own word (kind column, UCI invoice prefix), else its sign.
    lines["kind"] = lines["explicit_kind"].where(
        lines["explicit_kind"].ne(""), np.where(lines["quantity"] < 0, "return", "sale"))
    ignored = lines["quantity"].eq(0)
    if mapped.zero_price_ignored:
        ignored |= lines["price_cents"].eq(0) & lines["kind"].ne("adjustment")

    summary.rows_rejected = len(rejected)
    summary.rows_without_customer = int(lines["customer_key"].eq("").sum())
    summary.cancellation_rows = int(lines["kind"].eq("return").sum())
    summary.orders_in_file = int(lines["order_key"].nunique())
    summary.ignored_rows = int(ignored.sum())
    if ignored.any():
        lines = lines[~ignored.to_numpy()]
    counts = lines["kind"].value_counts()
    summary.sale_rows = int(counts.get("sale", 0))
    summary.return_rows = int(counts.get("return", 0))
    summary.adjustment_rows = int(counts.get("adjustment", 0))
    summary.rows_loaded = len(lines)
    # Integer codes once, in order of first appearance; every grouping below uses them.
    order_pos, order_keys = pd.factorize(lines["order_key"], sort=False)
    lines["order_pos"] = order_pos
    lines["line_no"] = lines.groupby("order_pos", sort=False).cumcount() + 1

    prepared = PreparedLines(lines=lines, rejected=rejected, summary=summary)
    progress(32, 100, "orders, customers, products")
    _build_entities(prepared, pd.Index(order_keys))
    return prepared


def _first_nonempty(values: pd.Series, codes: np.ndarray, size: int, last: bool = False) -> np.ndarray:
    """Per group code 0..size-1: the first (or last) non-empty value, NaN where there is none."""
    grouped = values.replace("", np.nan).groupby(codes, sort=True)
    picked = grouped.last() if last else grouped.first()
    if len(picked) != size:  # every code present (the usual case) means the index is already 0..size-1
        picked = picked.reindex(range(size))
    return picked.to_numpy(dtype=object)


def _build_entities(prepared: PreparedLines, order_keys: pd.Index) -> None:
    """Orders, customers and products as one row each, from the loaded lines."""
    lines, summary = prepared.lines, prepared.summary
    pos = lines["order_pos"].to_numpy()
    n_orders = len(order_keys)
    named = lines["customer_key"].ne("").to_numpy()
    cust_codes, cust_keys = pd.factorize(lines["customer_key"].where(named), sort=False)
    by_order = lines.groupby(pos, sort=True)
    first_at, last_at = by_order["ordered_at"].min(), by_order["ordered_at"].max()
    explicit = _first_nonempty(lines["explicit_kind"], pos, n_orders)
    all_negative = by_order["quantity"].max().to_numpy() < 0
    inferred = np.where(all_negative, "return", "sale")
    value_cents = (lines["quantity"] * lines["price_cents"]).groupby(pos, sort=True).sum().to_numpy()
    discount_cents = lines["discount_cents"].groupby(pos, sort=True).sum().to_numpy()
    orders = pd.DataFrame({
        "order_key": order_keys,
        "order_pos": np.arange(n_orders),
        "ordered_at": first_at.reset_index(drop=True),
        # The order's customer: its first line that names one (all that do agree, see prepare_lines).
        "customer_pos": pd.Series(cust_codes).where(cust_codes >= 0).groupby(pos, sort=True).first()
                          .reindex(range(n_orders)).fillna(-1).astype("int64").to_numpy(),
        "kind": np.where(pd.isna(explicit), inferred, explicit),
        "discount_code": _first_nonempty(lines["discount_code"], pos, n_orders),
        "country": _first_nonempty(lines["country"], pos, n_orders),
        "subtotal": value_cents / 100,
        "discount_total": discount_cents / 100,
        "total": (value_cents - discount_cents) / 100,
    })
    spread = int((first_at != last_at).sum())
    if spread:
        summary.notes.append(f"{spread:,} order(s) had lines at different times; each order takes its earliest time")
    prepared.orders = orders
    summary.orders = n_orders
    if n_orders:
        summary.first_order_at = orders["ordered_at"].min().isoformat()
        summary.last_order_at = orders["ordered_at"].max().isoformat()

    # Customers: first seen at their first order; contact details from their last line in the file
    # that has them (exports run oldest to newest).
    c_rows = cust_codes >= 0
    n_customers = len(cust_keys)
    customers = pd.DataFrame({"customer_key": pd.Index(cust_keys).astype("str"),
                              "customer_pos": np.arange(n_customers)})
    for column in ("email", "phone", "name", "country"):
        customers[column] = _first_nonempty(lines[column][c_rows], cust_codes[c_rows], n_customers, last=True)
    customers["first_seen_at"] = (lines["ordered_at"][c_rows].groupby(cust_codes[c_rows], sort=True).min()
                                  .reindex(range(n_customers)).reset_index(drop=True))
    prepared.customers = customers
    summary.customers = n_customers

    # Products: the title most lines use (UCI re-describes codes); the last positive sale price.
    sku_codes, skus = pd.factorize(lines["sku"], sort=False)
    lines["product_pos"] = sku_codes
    n_products = len(skus)
    title_codes, titles = pd.factorize(lines["title"].where(lines["title"].ne("")), sort=False)
    pairs = pd.DataFrame({"sku": sku_codes, "title": title_codes})[title_codes >= 0]
    best = pairs.value_counts(sort=True).reset_index().drop_duplicates("sku").set_index("sku")["title"]
    title_for = np.full(n_products, -1)
    title_for[best.index.to_numpy()] = best.to_numpy()
    priced = ((lines["price_cents"] > 0) & lines["kind"].eq("sale")).to_numpy()
    price = lines["price_cents"][priced].groupby(sku_codes[priced], sort=True).last().reindex(range(n_products))
    products = pd.DataFrame({
        "sku": pd.Index(skus).astype("str"),
        "product_pos": np.arange(n_products),
        "title": np.where(title_for >= 0, np.asarray(titles, dtype=object)[np.maximum(title_for, 0)], None)
        if len(titles) else None,
        "category": _first_nonempty(lines["category"], sku_codes, n_products),
        "unit_price": price.to_numpy() / 100,
    })
    prepared.products = products
    summary.products = n_products


# --- loading -------------------------------------------------------------------------------------

def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as CSV for COPY: empty text and NaN become NULL (unquoted empty field)."""
    columns = {}
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "OSUT" or isinstance(series.dtype, pd.StringDtype):
            series = series.replace("", None)
        columns[name] = pa.array(series, from_pandas=True)
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table(columns), buffer)
    return buffer.getvalue()


def _copy(cur, sql_text: str, data: bytes, progress, done: int, share: int, total: int) -> None:
    with cur.copy(sql_text) as copy:
        for start in range(0, len(data), _COPY_BLOCK):
            copy.write(data[start:start + _COPY_BLOCK])
            progress(done + share * min(start + _COPY_BLOCK, len(data)) // max(len(data), 1), total,
                     "loading")


def _try(conn, cur, statement: str) -> bool:
    """Run a statement that may be refused (privileges) without spoiling the transaction."""
    try:
        with conn.transaction():
            cur.execute(statement)
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def load_prepared(db, prepared: PreparedLines, progress: Progress = no_progress,
                  replace_changed: bool = False) -> ImportSummary:
    """Merge customers and products through staging tables, then COPY the new orders and their lines
    straight into orders and order_lines with ids resolved in NumPy: one transaction.

    replace_changed (a sync from a live store, where an order can be edited after it was stored):
    orders already stored are compared with these lines and rewritten in place when they differ."""
    try:
        summary = _load(db, prepared, progress, replace_changed)
    except psycopg.errors.DataError as exc:  # e.g. an order total beyond numeric(14, 2): nothing committed
        raise ImportFailed(f"{prepared.summary.source}: the database refused a value "
                           f"({str(exc).splitlines()[0]}); nothing was imported") from None
    count_rows(summary)
    return summary


def count_rows(summary: ImportSummary) -> None:
    """Add a committed import's rows by class to cib_import_rows."""
    for row_class, rows in (("sale", summary.sale_rows), ("return", summary.return_rows),
                            ("adjustment", summary.adjustment_rows), ("ignored", summary.ignored_rows),
                            ("rejected", summary.rows_rejected), ("without_customer", summary.rows_without_customer)):
        metrics.IMPORT_ROWS.labels(row_class).inc(rows)


def _load(db, prepared: PreparedLines, progress: Progress, replace_changed: bool = False) -> ImportSummary:
    summary = prepared.summary
    total = 100
    orders = prepared.orders
    customers = prepared.customers[["customer_key", "customer_pos", "email", "phone", "name", "country",
                                    "first_seen_at"]]
    products = prepared.products[["sku", "product_pos", "title", "category", "unit_price"]]
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(query("import.lock"))
        cur.execute(query("import.bulk_settings"))
        fast = _try(conn, cur, query("import.skip_fk_triggers"))
        cur.execute(query("import.create_staging"))
        _copy(cur, query("import.copy_customers"), _csv_bytes(customers), progress, 40, 2, total)
        _copy(cur, query("import.copy_products"), _csv_bytes(products), progress, 42, 2, total)
        _copy(cur, query("import.copy_order_keys"), _csv_bytes(orders[["order_key", "order_pos"]]),
              progress, 44, 4, total)
        cur.execute(query("import.analyze_staging"))
        progress(48, total, "customers")
        new_customers, updated = cur.execute(query("import.upsert_customers")).fetchone()
        customer_ids = _id_map(cur, query("import.customer_ids"), len(customers))
        progress(50, total, "products")
        (new_products,) = cur.execute(query("import.upsert_products")).fetchone()
        product_ids = _id_map(cur, query("import.product_ids"), len(products))
        progress(52, total, "orders")
        existing = np.array([row[0] for row in cur.execute(query("import.existing_orders"))], dtype=np.int64)
        is_new = np.ones(len(orders), dtype=bool)
        is_new[existing] = False
        order_ids = np.full(len(orders), -1, dtype=np.int64)
        n_new = int(is_new.sum())
        if n_new:
            cur.execute(query("import.lock_orders"))
            (last_id,) = cur.execute(query("import.reserve_order_ids"), {"count": n_new}).fetchone()
            order_ids[is_new] = np.arange(last_id - n_new + 1, last_id + 1)
            _copy(cur, query("import.copy_orders"), _csv_bytes(_new_orders(orders, is_new, order_ids, customer_ids)),
                  progress, 54, 10, total)
            progress(64, total, "order lines")
            lines = _new_lines(prepared.lines, order_ids, product_ids)
            _copy(cur, query("import.copy_order_lines"), _csv_bytes(lines), progress, 64, 34, total)
        changed = 0
        if replace_changed and len(existing):
            changed = _replace_changed(cur, prepared, ~is_new, customer_ids, product_ids)
        if fast:
            cur.execute(query("import.restore_fk_triggers"))
        progress(98, total, "committing")
    summary.new_customers = int(new_customers)
    summary.updated_customers = int(updated)
    summary.new_products = int(new_products)
    summary.new_orders = n_new
    summary.existing_orders = summary.orders - n_new
    summary.changed_orders = changed
    summary.new_return_orders = int((orders["kind"].to_numpy()[is_new] == "return").sum())
    return summary


def _replace_changed(cur, prepared: PreparedLines, stored: np.ndarray, customer_ids: np.ndarray,
                     product_ids: np.ndarray) -> int:
    """Stage the already-stored orders as the source has them now, rewrite those that differ (set-based,
    sql/queries/import.sql), and have the product rollup rebuilt when any did. Returns how many."""
    orders = prepared.orders[stored].reset_index(drop=True)
    positions = orders["order_pos"].to_numpy()
    incoming = _new_orders(orders, np.ones(len(orders), dtype=bool), positions, customer_ids)
    incoming = incoming.drop(columns=["order_key"]).rename(columns={"order_id": "order_pos"})
    marks = np.full(len(stored), -1, dtype=np.int64)
    marks[stored] = np.flatnonzero(stored)  # lines of stored orders keep their order's position
    lines = _new_lines(prepared.lines, marks, product_ids).rename(columns={"order_id": "order_pos"})
    cur.execute(query("import.create_incoming"))
    with cur.copy(query("import.copy_orders_incoming")) as copy:
        copy.write(_csv_bytes(incoming[["order_pos", "customer_id", "ordered_at", "kind", "discount_code",
                                        "country", "subtotal", "discount_total", "total"]]))
    with cur.copy(query("import.copy_lines_incoming")) as copy:
        copy.write(_csv_bytes(lines))
    cur.execute(query("import.find_changed_orders"))
    changed = cur.rowcount
    if changed > 0:
        cur.execute(query("import.update_changed_orders"))
        cur.execute(query("import.delete_changed_lines"))
        cur.execute(query("import.insert_changed_lines"))
        cur.execute(query("import.forget_rollup"))
    return max(changed, 0)


def _id_map(cur, statement: str, size: int) -> np.ndarray:
    """Database ids by staged position, from a query returning (id, position) rows."""
    pairs = np.array(cur.execute(statement).fetchall(), dtype=np.int64).reshape(-1, 2)
    ids = np.full(size, -1, dtype=np.int64)
    ids[pairs[:, 1]] = pairs[:, 0]
    return ids


def _new_orders(orders: pd.DataFrame, is_new: np.ndarray, order_ids: np.ndarray,
                customer_ids: np.ndarray) -> pd.DataFrame:
    """The orders being added, with their reserved ids and their customers' database ids, for COPY."""
    new = (orders[is_new] if not is_new.all() else orders).reset_index(drop=True)
    customer_pos = new["customer_pos"].to_numpy()
    # A file of guest orders only has no customers at all: nothing to look up.
    known = customer_ids[np.maximum(customer_pos, 0)] if len(customer_ids) else np.zeros(len(new), dtype=np.int64)
    customer_id = pd.array(known, dtype="Int64")
    customer_id[customer_pos < 0] = pd.NA  # guest orders
    out = new[["order_key", "ordered_at", "kind", "discount_code", "country", "subtotal", "discount_total", "total"]]
    out.insert(0, "order_id", order_ids[is_new])
    out.insert(2, "customer_id", customer_id)
    return out


def _new_lines(lines: pd.DataFrame, order_ids: np.ndarray, product_ids: np.ndarray) -> pd.DataFrame:
    """The lines of the orders being added (order id known), with their database ids, for COPY."""
    order_id = order_ids[lines["order_pos"].to_numpy()]
    keep = order_id >= 0
    everything = bool(keep.all())

    def pick(column: str) -> np.ndarray:
        values = lines[column].to_numpy()
        return values if everything else values[keep]

    return pd.DataFrame({
        "order_id": order_id if everything else order_id[keep],
        "line_no": pick("line_no"),
        "product_id": product_ids[pick("product_pos")],
        "quantity": pick("quantity"),
        "unit_price": pick("price_cents") / 100,
        "discount": pick("discount_cents") / 100,
        "kind": pick("kind"),
    })


# --- entry points --------------------------------------------------------------------------------

def _write_rejected(raw: pd.DataFrame, rejected: pd.DataFrame, path: Path) -> None:
    out = raw.reindex(rejected.index)  # malformed rows are not in the frame: their cells stay empty
    out.insert(0, "row", rejected.index)
    out["reason"] = rejected["reason"].to_numpy()
    write_private_csv(out, path, index=False)  # emails and phones: owner-only


def rejected_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".rejected.csv")


def import_file(db, path: Path | str, fmt: str = "auto", skip_bad_rows: bool = False,
                progress: Progress | None = None, rejected_path: Path | None = None,
                allow_dates_from=None, now=None) -> ImportSummary:
    """Import an order export (CSV, CSV.gz, Parquet, XLSX; canonical, Shopify or UCI).

    Raises ImportFailed for a problem with the file (nothing is committed then). With
    `skip_bad_rows`, rejected rows go with a `reason` column to `<file>.rejected.csv`
    (or `rejected_path`).
    """
    started = time.perf_counter()
    progress = progress or no_progress
    path = Path(path)
    progress(0, 100, "reading")
    raw: RawTable = read_table(path)
    progress(15, 100, "checking")
    mapped = map_to_canonical(raw, fmt)
    prepared = prepare_lines(mapped, raw.source, skip_bad_rows=skip_bad_rows, encoding=raw.encoding,
                             malformed=raw.malformed, progress=progress,
                             allow_dates_from=allow_dates_from, now=now)
    if len(prepared.rejected):
        side = rejected_path or rejected_path_for(path)
        try:
            _write_rejected(raw.frame, prepared.rejected, side)
        except OSError:  # read-only folder next to the input: keep the list in the working directory
            side = Path.cwd() / rejected_path_for(path).name
            _write_rejected(raw.frame, prepared.rejected, side)
        prepared.summary.rejected_file = str(side)
    progress(40, 100, "loading")
    summary = load_prepared(db, prepared, progress)
    summary.seconds = round(time.perf_counter() - started, 3)
    progress(100, 100, "done")
    return summary


def import_frame(db, frame: pd.DataFrame, source_name: str, *, skip_bad_rows: bool = False,
                 progress: Progress | None = None, allow_dates_from=None, now=None,
                 replace_changed: bool = False) -> ImportSummary:
    """Import canonical order lines already in memory (columns as in the canonical CSV; text or typed).

    Row numbers in messages count from 1 in the frame's order. Rejected rows (with `skip_bad_rows`)
    are counted in the summary but not written anywhere. replace_changed: see load_prepared.
    """
    started = time.perf_counter()
    progress = progress or no_progress
    frame = frame.reset_index(drop=True)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    mapped = map_to_canonical(RawTable(frame, source_name), "canonical")
    prepared = prepare_lines(mapped, source_name, skip_bad_rows=skip_bad_rows, progress=progress,
                             allow_dates_from=allow_dates_from, now=now)
    progress(40, 100, "loading")
    summary = load_prepared(db, prepared, progress, replace_changed=replace_changed)
    summary.seconds = round(time.perf_counter() - started, 3)
    progress(100, 100, "done")
    return summary
