"""Reading order exports (CSV, CSV.gz, Parquet, XLSX), telling their format from the header, and
mapping each format's columns onto the canonical order-line columns the importer validates.

Everything here is whole-column pandas work; nothing loops over rows.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

# The contract with the synthetic store and with anyone writing a file by hand (README: Importing orders).
CANONICAL_COLUMNS = [
    "order_id", "ordered_at", "customer_id", "email", "name", "phone", "country", "sku",
    "product_title", "category", "quantity", "unit_price", "line_discount", "discount_code",
]
CANONICAL_REQUIRED = ["order_id", "ordered_at", "sku", "quantity", "unit_price"]
FORMATS = ("canonical", "shopify", "uci")


class ImportFailed(Exception):
    """A problem with the user's file; the message names the file and, where it can, row and column."""


@dataclass
class RawTable:
    """A file as read: every column as text (or typed, for Parquet), rows numbered from 1 after the header."""
    frame: pd.DataFrame
    source: str
    encoding: str | None = None
    # Rows that could not be split into the header's columns: row number -> reason. They are not in
    # `frame`; the importer rejects them (or fails on them) like any other bad row.
    malformed: pd.Series = field(default_factory=lambda: pd.Series([], dtype=object))
    # A ';' or tab separated file may write 6,95 for 6.95.
    decimal_comma: bool = False


@dataclass
class Mapped:
    """A raw table mapped onto canonical columns.

    `source_columns` maps a canonical column to the file's own column name, so that error messages
    speak the file's language ("column 'Price'", not "unit_price").
    """
    frame: pd.DataFrame
    fmt: str
    source_columns: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # UCI writes stock write-offs (damaged, missing, '?') as zero-price lines: no money, no sale.
    zero_price_ignored: bool = False


# --- reading --------------------------------------------------------------------------------------

_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _decode(raw: bytes, source: str = "file") -> tuple[bytes, str]:
    """UTF-8 bytes for pyarrow, plus the encoding the file was really in.

    One encoding for the whole file only when the whole file decodes with it. Excel on Windows
    saves CSV as cp1252; a few bytes cp1252 leaves undefined only exist in Latin-1. A file that is
    not UTF-8 as a whole but holds UTF-8 sequences (rows pasted from elsewhere) is decoded row by
    row, so 'Renée' stays 'Renée' and never becomes 'RenÃ©e'.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        raw.decode("utf-8")
        return raw, "utf-8"
    except UnicodeDecodeError:
        pass
    if _UTF8_MULTIBYTE.search(raw):
        return _decode_by_row(raw, source), "mixed (utf-8 and cp1252 by row)"
    try:
        return raw.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1").encode("utf-8"), "latin-1"


def _decode_by_row(raw: bytes, source: str) -> bytes:
    lines = raw.split(b"\n")
    for number, line in enumerate(lines):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            continue
        except UnicodeDecodeError:
            pass
        if _UTF8_MULTIBYTE.search(line):
            where = "the header" if number == 0 else f"row {number}"
            raise ImportFailed(f"{source}: {where} mixes UTF-8 and another encoding in one line, so its "
                               "text cannot be read reliably; save the file as UTF-8. Nothing was imported")
        try:
            lines[number] = line.decode("cp1252").encode("utf-8")
        except UnicodeDecodeError:
            lines[number] = line.decode("latin-1").encode("utf-8")
    return b"\n".join(lines)


def _read_csv_bytes(raw: bytes, source: str) -> RawTable:
    data, encoding = _decode(raw, source)
    if not data.strip():
        raise ImportFailed(f"{source}: the file is empty (no header row)")
    first_line = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    # Excel in continental locales separates with ';' (and writes decimal commas); tabs happen too.
    delimiter = max([",", ";", "\t"], key=first_line.count)
    # The csv module reads the header so quoted names with commas work; pyarrow then reads every
    # column as text, so '017' stays '017' and '17850.0' can be cleaned up deliberately.
    try:
        names = next(csv.reader([first_line], delimiter=delimiter))
    except csv.Error as exc:
        raise ImportFailed(f"{source}: the header row is not readable CSV ({exc})") from None
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ImportFailed(f"{source}: the header repeats column(s) {dupes}")
    ragged: list[str] = []

    def skip_ragged(row) -> str:
        ragged.append(row.text)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(block_size=16 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             invalid_row_handler=skip_ragged),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):  # pyarrow's words for a cell larger than its read block
            raise ImportFailed(_huge_field_message(data, delimiter, source)) from None
        raise ImportFailed(f"{source}: not a readable CSV file: {exc}") from None
    frame = _numbered(table.to_pandas())
    decimal_comma = delimiter != ","
    if not ragged:
        return RawTable(frame, source, encoding, decimal_comma=decimal_comma)
    # pyarrow does not say where the ragged rows were; the csv module (slow, but only on this path)
    # finds their row numbers so that messages and the side file point at the right rows.
    malformed: dict[int, str] = {}
    good: list[int] = []
    records = (r for r in csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter) if r)
    try:
        next(records)
        for number, record in enumerate(records, start=1):
            if len(record) == len(names):
                good.append(number)
            else:
                text = ",".join(record)
                malformed[number] = f"has {len(record)} fields where the header has {len(names)}: {text[:300]!r}"
    except csv.Error as exc:
        raise ImportFailed(f"{source}: not a readable CSV file ({len(ragged)} row(s) with the wrong number "
                           f"of fields; {exc})") from None
    if len(good) != len(frame):  # the two readers disagree: say so rather than guess row numbers
        raise ImportFailed(f"{source}: not a readable CSV file ({len(ragged)} row(s) with the wrong number "
                           f"of fields, first: {ragged[0][:80]!r})")
    frame.index = pd.Index(good, name="row")
    return RawTable(frame, source, encoding, pd.Series(malformed, dtype=object), decimal_comma=decimal_comma)


MAX_FIELD_BYTES = 16 << 20  # pyarrow's read block: no single cell may be larger


def _huge_field_message(data: bytes, delimiter: str, source: str) -> str:
    """Name the row of the first cell larger than MAX_FIELD_BYTES (csv module: slow, but only on
    this path)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_FIELD_BYTES)
    where = ""
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter)
        row = 0
        try:
            for row, _record in enumerate(reader):  # row 0 is the header
                pass
        except csv.Error:
            where = f" row {row + 1}:" if row else " the header:"
    finally:
        csv.field_size_limit(limit)
    return (f"{source}:{where} a cell is larger than {MAX_FIELD_BYTES >> 20} MB, the most one cell may hold; "
            "nothing was imported")


def _numbered(frame: pd.DataFrame) -> pd.DataFrame:
    # Row numbers as people count them in a spreadsheet's data area: the first row after the header is 1.
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


# Decompression bombs: a 1 MB gzip can expand to gigabytes. Real order exports are a few hundred
# MB at most and compress 5-20x; past _RATIO_CHECK_FROM, an expansion over MAX_COMPRESSION_RATIO is
# refused too, so a bomb fails at ~64 MB instead of at the size cap.
MAX_DECOMPRESSED_BYTES = 2 << 30
MAX_COMPRESSION_RATIO = 100
_RATIO_CHECK_FROM = 64 << 20
_INFLATE_CHUNK = 4 << 20


def _too_big(source: str, size: int, compressed: int) -> ImportFailed:
    return ImportFailed(
        f"{source}: decompresses to more than {size / (1 << 20):,.0f} MB from {compressed / (1 << 20):,.1f} MB "
        f"(the limit is {MAX_DECOMPRESSED_BYTES >> 20:,} MB, or {MAX_COMPRESSION_RATIO}x the compressed size); "
        "nothing was imported")


def _check_expansion(source: str, size: int, compressed: int) -> None:
    if size > MAX_DECOMPRESSED_BYTES or (size > _RATIO_CHECK_FROM
                                         and size > MAX_COMPRESSION_RATIO * max(compressed, 1)):
        raise _too_big(source, size, compressed)


def _gunzip_bounded(raw: bytes, source: str) -> bytes:
    """gzip.decompress with a bound on the output, checked while inflating (multi-member files too)."""
    parts: list[bytes] = []
    size, data = 0, raw
    while data[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(wbits=31)
        while True:
            try:
                chunk = inflater.decompress(data, _INFLATE_CHUNK)
            except zlib.error as exc:
                raise ImportFailed(f"{source}: not a readable gzip file ({exc})") from None
            size += len(chunk)
            _check_expansion(source, size, len(raw))
            parts.append(chunk)
            if inflater.eof:
                data = inflater.unused_data
                break
            data = inflater.unconsumed_tail
            if not data and not chunk:
                raise ImportFailed(f"{source}: the gzip file is truncated")
    return b"".join(parts)


def _check_zip_size(path: Path, source: str) -> None:
    """An XLSX is a zip: refuse one whose members declare a bomb's size before openpyxl inflates them."""
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile:
        return  # openpyxl reports it
    _check_expansion(source, declared, path.stat().st_size)


def read_table(path: Path) -> RawTable:
    """Read CSV (plain or gzip), Parquet or XLSX into a frame; the source name is the path as given."""
    source = str(path)
    if not path.exists():
        raise ImportFailed(f"{source}: no such file")
    if path.is_dir():
        raise ImportFailed(f"{source}: is a directory, not an order export")
    with path.open("rb") as handle:
        head = handle.read(4)
    suffixes = "".join(path.suffixes).lower()
    try:
        if head[:4] == b"PAR1" or suffixes.endswith(".parquet"):
            frame = pd.read_parquet(path)
            return RawTable(_numbered(frame), source)
        if head[:2] == b"PK" or suffixes.endswith((".xlsx", ".xlsm")):
            _check_zip_size(path, source)
            # dtype=str keeps ids as written; dates come out as ISO text.
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
            return RawTable(_numbered(frame), source)
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = _gunzip_bounded(raw, source)
    except ImportFailed:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise ImportFailed(f"{source}: cannot read the file: {exc}") from None
    except Exception as exc:  # openpyxl/pyarrow raise their own types for corrupt files
        raise ImportFailed(f"{source}: cannot read the file ({type(exc).__name__}: {exc})") from None
    return _read_csv_bytes(raw, source)


# --- format detection -----------------------------------------------------------------------------

def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def _lookup(frame: pd.DataFrame) -> dict[str, str]:
    return {_key(c): c for c in frame.columns}


_SIGNATURES = {
    "canonical": [("orderid",), ("orderedat",), ("sku",), ("quantity",), ("unitprice",)],
    "shopify": [("name",), ("createdat",), ("lineitemquantity",), ("lineitemprice",)],
    "uci": [("invoiceno", "invoice"), ("stockcode",), ("quantity",), ("invoicedate",), ("unitprice", "price")],
}


def detect_format(frame: pd.DataFrame, source: str) -> str:
    """The format whose required columns the header has; canonical wins ties (it is the strictest)."""
    keys = _lookup(frame)
    for fmt in ("canonical", "shopify", "uci"):
        if all(any(alt in keys for alt in alts) for alts in _SIGNATURES[fmt]):
            return fmt
    shown = ", ".join(map(str, frame.columns[:12])) + (" ..." if len(frame.columns) > 12 else "")
    raise ImportFailed(
        f"{source}: cannot tell the format from the header (columns: {shown}). Expected the canonical "
        "order CSV (order_id, ordered_at, sku, quantity, unit_price, ...), a Shopify orders export "
        "(Name, Created at, Lineitem quantity, Lineitem price, ...) or UCI Online Retail "
        "(Invoice, StockCode, Quantity, InvoiceDate, Price, Customer ID, ...); or pass --format."
    )


def _require(frame: pd.DataFrame, source: str, fmt: str, wanted: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """canonical name -> the file's column for it (first spelling found); `_missing` checks the result."""
    keys = _lookup(frame)
    found: dict[str, str] = {}
    for canonical, alternatives in wanted.items():
        for alt in alternatives:
            if alt in keys:
                found[canonical] = keys[alt]
                break
    return found


def _missing(found: dict[str, str], required: dict[str, str], source: str, fmt: str) -> None:
    absent = [label for canonical, label in required.items() if canonical not in found]
    if absent:
        raise ImportFailed(
            f"{source}: missing required column{'s' if len(absent) > 1 else ''} "
            + ", ".join(repr(a) for a in absent) + f" for the {fmt} format"
        )


def _text(frame: pd.DataFrame, column: str | None, n: int) -> pd.Series:
    if column is None:
        return pd.Series([""] * n, index=frame.index, dtype="str")
    series = frame[column]
    if series.dtype.kind in "OSUT" or isinstance(series.dtype, pd.StringDtype):
        return series.fillna("").astype("str").str.strip()
    return series  # typed column (Parquet): the importer parses it as it is


# --- per-format mapping ---------------------------------------------------------------------------

def map_canonical(raw: RawTable) -> Mapped:
    frame = raw.frame
    wanted = {c: (_key(c),) for c in CANONICAL_COLUMNS + ["kind"]}
    found = _require(frame, raw.source, "canonical", wanted)
    _missing(found, {c: c for c in CANONICAL_REQUIRED}, raw.source, "canonical")
    n = len(frame)
    out = pd.DataFrame({c: _text(frame, found.get(c), n) for c in CANONICAL_COLUMNS}, index=frame.index)
    if "kind" in found:
        out["kind"] = _text(frame, found["kind"], n).str.lower()
    return Mapped(out, "canonical", {c: found.get(c, c) for c in CANONICAL_COLUMNS + ["kind"]})


_UCI = {
    "order_id": ("invoiceno", "invoice"),
    "sku": ("stockcode",),
    "product_title": ("description",),
    "quantity": ("quantity",),
    "ordered_at": ("invoicedate",),
    "unit_price": ("unitprice", "price"),
    "customer_id": ("customerid",),
    "country": ("country",),
}


def map_uci(raw: RawTable) -> Mapped:
    """UCI Online Retail (I and II): C-invoices are cancellations, A-invoices bad-debt adjustments,
    zero-price lines stock write-offs (damaged, missing) that carry no money and are ignored."""
    frame = raw.frame
    found = _require(frame, raw.source, "uci", _UCI)
    _missing(found, {"order_id": "Invoice", "sku": "StockCode", "quantity": "Quantity",
                     "ordered_at": "InvoiceDate", "unit_price": "Price"}, raw.source, "uci")
    n = len(frame)
    out = pd.DataFrame({c: _text(frame, found.get(c), n) for c in CANONICAL_COLUMNS}, index=frame.index)
    invoice = out["order_id"].astype("str")
    prefix = invoice.str[:1].str.upper()
    kind = np.where(prefix == "C", "return", np.where(prefix == "A", "adjustment", "sale"))
    out["kind"] = pd.Series(kind, index=frame.index, dtype="str")
    source_columns = {c: found.get(c, c) for c in CANONICAL_COLUMNS} | {"kind": found["order_id"]}
    return Mapped(out, "uci", source_columns, zero_price_ignored=True)


_SHOPIFY = {
    "order_id": ("name",),
    "email": ("email",),
    "ordered_at": ("createdat",),
    "quantity": ("lineitemquantity",),
    "product_title": ("lineitemname",),
    "unit_price": ("lineitemprice",),
    "sku": ("lineitemsku",),
    "line_discount": ("lineitemdiscount",),
    "discount_code": ("discountcode",),
    "discount_amount": ("discountamount",),
    "name": ("billingname", "shippingname"),
    "phone": ("phone", "billingphone", "shippingphone"),
    "country": ("billingcountry", "shippingcountry"),
    "category": ("lineitemproducttype", "producttype", "vendor"),
}
# Shopify writes these only on an order's first row.
_SHOPIFY_ORDER_LEVEL = ["email", "ordered_at", "discount_code", "discount_amount", "name", "phone", "country"]


def map_shopify(raw: RawTable) -> Mapped:
    """Shopify orders export: one row per line item, order fields on the first row of each `Name`."""
    frame = raw.frame
    found = _require(frame, raw.source, "shopify", _SHOPIFY)
    _missing(found, {"order_id": "Name", "ordered_at": "Created at", "quantity": "Lineitem quantity",
                     "unit_price": "Lineitem price"}, raw.source, "shopify")
    n = len(frame)
    columns = list(_SHOPIFY)
    out = pd.DataFrame({c: _text(frame, found.get(c), n) for c in columns}, index=frame.index)
    # Contact fields have several spellings (Phone, Billing Phone, Shipping Phone): take the first
    # one that is filled in on each row.
    keys = _lookup(frame)
    for column in ("name", "phone", "country", "category"):
        for alt in _SHOPIFY[column]:
            if alt in keys and keys[alt] != found.get(column):
                current = out[column].astype("str")
                out[column] = current.where(current != "", _text(frame, keys[alt], n).astype("str"))
    order = out["order_id"].astype("str")
    # Forward-fill order-level fields within each order: the first non-empty value of the order.
    for column in _SHOPIFY_ORDER_LEVEL:
        values = out[column].astype("str").replace("", np.nan)
        out[column] = values.groupby(order, sort=False).transform("first").fillna("").astype("str")
    out["customer_id"] = out["email"].astype("str").str.lower()
    # No SKU (custom items, gift cards): key the product by its title so it still groups.
    sku = out["sku"].astype("str")
    title = out["product_title"].astype("str")
    out["sku"] = sku.where(sku != "", np.where(title != "", "title:" + title, ""))
    notes: list[str] = []
    out = _spread_order_discount(out, notes)
    out = out.drop(columns=["discount_amount"])
    source_columns = {c: found.get(c, c) for c in columns} | {"customer_id": found.get("email", "Email")}
    return Mapped(out[CANONICAL_COLUMNS], "shopify", source_columns, notes)


def _spread_order_discount(out: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Orders whose discount is only given as the order's `Discount Amount` get it spread over their
    lines in proportion to line value (the remainder in cents on the first line), so order totals and
    per-product revenue both stay right."""
    amount = pd.to_numeric(out["discount_amount"], errors="coerce").fillna(0.0)
    line_discount = pd.to_numeric(out["line_discount"], errors="coerce")
    order = out["order_id"].astype("str")
    has_line_discounts = line_discount.fillna(0).gt(0).groupby(order, sort=False).transform("any")
    needs = amount.gt(0) & ~has_line_discounts
    if not needs.any():
        return out
    value = (pd.to_numeric(out["quantity"], errors="coerce") * pd.to_numeric(out["unit_price"], errors="coerce")).fillna(0)
    order_value = value.groupby(order, sort=False).transform("sum")
    share = np.where(order_value > 0, value / order_value.where(order_value > 0, 1), 0.0)
    cents = np.floor(share * amount * 100 + 1e-9)
    spread_cents = pd.Series(cents, index=out.index).groupby(order, sort=False).transform("sum")
    first = ~order.duplicated()
    cents = cents + np.where(first, np.round(amount * 100) - spread_cents, 0)
    spread = pd.Series(cents / 100, index=out.index)
    out.loc[needs, "line_discount"] = spread[needs].map("{:.2f}".format).astype("str")
    notes.append(f"{order[needs].nunique():,} order discount(s) spread over their lines by line value")
    return out


MAPPERS = {"canonical": map_canonical, "shopify": map_shopify, "uci": map_uci}


def map_to_canonical(raw: RawTable, fmt: str = "auto") -> Mapped:
    """Map a raw table to canonical columns (still text where the file was text)."""
    if fmt == "auto":
        fmt = detect_format(raw.frame, raw.source)
    if fmt not in MAPPERS:
        raise ImportFailed(f"{raw.source}: unknown format {fmt!r}; use one of auto, {', '.join(FORMATS)}")
    mapped = MAPPERS[fmt](raw)
    if raw.decimal_comma:
        _decimal_commas(mapped)
    return mapped


def _decimal_commas(mapped: Mapped) -> None:
    """6,95 -> 6.95 in the money and quantity columns, for a column that never uses a decimal point."""
    for column in ("quantity", "unit_price", "line_discount"):
        values = mapped.frame[column]
        if values.dtype.kind in "iuf":
            continue
        text = values.astype("str")
        if text.str.contains(",", regex=False).any() and not text.str.contains(".", regex=False).any():
            mapped.frame[column] = text.str.replace(",", ".", regex=False)
            mapped.notes.append(f"column '{mapped.source_columns.get(column, column)}' uses decimal commas")
