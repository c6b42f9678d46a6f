"""Property-based fuzzing (hypothesis) of everything that reads input from strangers: the three
import formats, both webhook parsers and the offline router. The only allowed outcomes are a
result or the module's own clear error; a rejected file commits nothing. Bounded examples keep the
suite fast."""
from __future__ import annotations

import csv
import io
import json

from hypothesis import HealthCheck, given, settings, strategies as st

from analytics.router.offline import OfflineRouter
from discovery.importer import ImportFailed, import_file
from gorgias.payload import PayloadError, parse_event
from sql.safe_input import BadBody
from tests.router_questions import VOCAB
from tests.test_import import snapshot

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Cells: mostly plausible values, sometimes hostile text (controls, formulas, huge numbers, odd dates).
hostile_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
plausible_date = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.sampled_from(["2024-01-05 10:00:00", "12/1/2010 8:26", "31/12/2010 23:59", "9999-12-31", "0001-01-01",
                     "2099-01-01 00:00:00", "not a date", ""]),
    hostile_text)
number = st.one_of(st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True).map(str),
                   st.sampled_from(["1", "-1", "0", "2.50", "1e400", "", "NaN", "=1+1"]), hostile_text)
ident = st.one_of(st.sampled_from(["1001", "1002", "R1001", "C1", "", "C 2", "17850.0"]), hostile_text)


def _csv_bytes(header: list[str], rows: list[list[str]], encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding, errors="replace")


def _check_import(db, tmp_path, header, rows, encoding, skip_bad_rows):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(_csv_bytes(header, rows, encoding))
    before = snapshot(db)
    try:
        import_file(db, path, skip_bad_rows=skip_bad_rows)
    except ImportFailed as exc:
        assert str(exc) and "Traceback" not in str(exc)
        assert snapshot(db) == before, "a rejected file changed the store"


CANONICAL = ["order_id", "ordered_at", "customer_id", "email", "name", "phone", "country", "sku",
             "product_title", "category", "quantity", "unit_price", "line_discount", "discount_code"]
canonical_row = st.tuples(ident, plausible_date, ident, hostile_text, hostile_text, hostile_text, hostile_text,
                          ident, hostile_text, hostile_text, number, number, number, hostile_text).map(list)


@FUZZ
@given(rows=st.lists(canonical_row, min_size=1, max_size=6), encoding=st.sampled_from(["utf-8", "cp1252"]),
       skip=st.booleans())
def test_fuzz_canonical_import(fresh_db, tmp_path, rows, encoding, skip):
    _check_import(fresh_db, tmp_path, CANONICAL, rows, encoding, skip)


SHOPIFY = ["Name", "Email", "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku",
           "Discount Code", "Discount Amount", "Billing Name", "Billing Country"]
shopify_row = st.tuples(ident, hostile_text, plausible_date, number, hostile_text, number, ident, hostile_text,
                        number, hostile_text, hostile_text).map(list)


@FUZZ
@given(rows=st.lists(shopify_row, min_size=1, max_size=6), skip=st.booleans())
def test_fuzz_shopify_import(fresh_db, tmp_path, rows, skip):
    _check_import(fresh_db, tmp_path, SHOPIFY, rows, "utf-8", skip)


UCI = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
uci_row = st.tuples(ident, ident, hostile_text, number, plausible_date, number, ident, hostile_text).map(list)


@FUZZ
@given(rows=st.lists(uci_row, min_size=1, max_size=6), skip=st.booleans())
def test_fuzz_uci_import(fresh_db, tmp_path, rows, skip):
    _check_import(fresh_db, tmp_path, UCI, rows, "utf-8", skip)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_fuzz_raw_bytes_import(fresh_db, tmp_path, raw):
    path = tmp_path / "raw.csv"
    path.write_bytes(raw)
    try:
        import_file(fresh_db, path)
    except ImportFailed:
        pass
    assert snapshot(fresh_db)[2] == []


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(allow_nan=False), hostile_text),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)),
    max_leaves=20)
ticket_like = st.fixed_dictionaries({
    "ticket": st.fixed_dictionaries({"id": st.one_of(st.integers(-2**70, 2**70), hostile_text), "tags": json_values,
                                     "customer": json_values, "status": json_values}),
    "message": st.fixed_dictionaries({"id": st.one_of(st.integers(-2**70, 2**70), hostile_text),
                                      "body_text": json_values, "sender": json_values, "source": json_values}),
})


@FUZZ
@given(body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), ticket_like.map(lambda v: json.dumps(v).encode()),
                      st.binary(max_size=200)))
def test_fuzz_gorgias_payload(body):
    try:
        event = parse_event(body)
    except PayloadError as exc:
        assert exc.status in (400, 422)
        return
    assert -2**63 <= event.ticket_id < 2**63 and -2**63 <= event.message_id < 2**63
    assert "\x00" not in event.model_dump_json()


@FUZZ
@given(body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200),
                      json_values.map(lambda v: b"payload=" + json.dumps(v).encode())),
       content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]))
def test_fuzz_slack_body_shape(body, content_type):
    from bot.http import _check_shape

    try:
        _check_shape(body, content_type)
    except BadBody:
        pass


_ROUTER = OfflineRouter(VOCAB)


@FUZZ
@given(question=st.one_of(hostile_text, st.text(max_size=300),
                          st.lists(st.sampled_from(["churn", "top", "10", "customers", "C-1A2B3C4D", "since",
                                                    "2024-13-45", "last", "quarter", "£1e400", "-5", "rows 3-1",
                                                    "segment", "revenue", "forecast", "\x00", "=cmd"]),
                                   max_size=12).map(" ".join)))
def test_fuzz_offline_router(question):
    decision = _ROUTER.route(question)
    assert decision is not None
