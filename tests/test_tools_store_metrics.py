"""store_metrics against an independent pandas computation, on the synthetic store (with a
discovery run, for segment and archetype breakdowns) and on UCI Online Retail II: totals for several
periods, time / country / category / product / segment breakdowns, and both comparisons.

The oracle works from the source rows (the generator's frame, the parquet file), never from the
database the tool reads: sales are sale orders, line value = quantity × price − discount, returns
are return orders dated when returned, AOV = gross / orders, new = first sale order ever in scope."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from analytics.core import ToolContext, ToolError, current_run
from analytics.privacy import SMALL_GROUP_LABEL
from analytics.tools.registry import run_tool
from discovery.importer import import_file
from sql import Database
from tests.synthetic_stores import loaded_store

FIGURES = ("net_revenue", "gross_sales", "returns", "discounts", "orders", "units", "average_order_value",
           "active_customers", "new_customers", "returning_customers", "return_rate", "repeat_customer_share",
           "guest_orders")
LINE_FIGURES = ("net_revenue", "gross_sales", "returns", "discounts", "orders", "units", "active_customers",
                "guest_orders", "return_rate")


# --- the oracle ------------------------------------------------------------------------------------

def orders_frame(lines: pd.DataFrame) -> pd.DataFrame:
    """Line-level rows (order, at, customer, kind, value, discount, quantity, country, category, sku)
    → one row per order with the order's figures."""
    lines = lines.assign(value=lines["quantity"] * lines["price"] - lines["discount"])
    grouped = lines.groupby("order", sort=False)
    orders = pd.DataFrame({
        "at": grouped["at"].min(), "customer": grouped["customer"].first(), "kind": grouped["kind"].first(),
        "total": grouped["value"].sum(), "discounts": grouped["discount"].sum(), "units": grouped["quantity"].sum(),
        "country": grouped["country"].first(),
    })
    sales = orders[orders["kind"] == "sale"].sort_values(["at"], kind="stable")
    first = sales.dropna(subset=["customer"]).groupby("customer").head(1)
    orders["is_first"] = orders.index.isin(first.index)
    return orders


def within(frame: pd.DataFrame, start, end) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame["at"] >= pd.Timestamp(start)
    if end is not None:
        keep &= frame["at"] < pd.Timestamp(end)
    return frame[keep]


def figures_of(orders: pd.DataFrame) -> dict:
    sales, returns = orders[orders["kind"] == "sale"], orders[orders["kind"] == "return"]
    gross, returned = float(sales["total"].sum()), float(-returns["total"].sum())
    customers = sales.dropna(subset=["customer"])
    active = customers["customer"].nunique()
    new = int(customers["is_first"].sum())
    repeaters = int((customers.groupby("customer").size() >= 2).sum())
    n = len(sales)
    return {"net_revenue": gross - returned, "gross_sales": gross, "returns": returned,
            "discounts": float(sales["discounts"].sum()), "orders": n, "units": int(sales["units"].sum()),
            "average_order_value": gross / n if n else None, "active_customers": active, "new_customers": new,
            "returning_customers": active - new, "return_rate": returned / gross if gross > 0 else None,
            "repeat_customer_share": repeaters / active if active else None,
            "guest_orders": int(sales["customer"].isna().sum())}


def line_figures_of(lines: pd.DataFrame) -> dict:
    lines = lines.assign(value=lines["quantity"] * lines["price"] - lines["discount"])
    sales, returns = lines[lines["kind"] == "sale"], lines[lines["kind"] == "return"]
    gross, returned = float(sales["value"].sum()), float(-returns["value"].sum())
    return {"net_revenue": gross - returned, "gross_sales": gross, "returns": returned,
            "discounts": float(sales["discount"].sum()), "orders": sales["order"].nunique(),
            "units": int(sales["quantity"].sum()), "active_customers": sales["customer"].dropna().nunique(),
            "guest_orders": sales.loc[sales["customer"].isna(), "order"].nunique(),
            "return_rate": returned / gross if gross > 0 else None}


def assert_figures(got: dict, expected: dict, names=FIGURES, where: str = "") -> None:
    for name in names:
        want, have = expected[name], got[name]
        if want is None:
            assert have is None, (where, name, have)
        elif isinstance(want, float) and name in ("average_order_value", "return_rate", "repeat_customer_share"):
            assert have == pytest.approx(want, abs=1e-4 if "rate" in name or "share" in name else 0.006), (where, name)
        elif isinstance(want, float):
            assert have == pytest.approx(want, abs=0.011), (where, name, have, want)
        else:
            assert have == want, (where, name, have, want)


def utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


# --- the synthetic store ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=700, seed=21, discovery_min_customers=50) as loaded:
        frame = loaded.frame
        lines = pd.DataFrame({
            "order": frame["order_id"], "at": pd.to_datetime(frame["ordered_at"]).dt.tz_localize("UTC"),
            "customer": frame["customer_id"].where(frame["customer_id"].notna() & (frame["customer_id"] != ""), None),
            "quantity": frame["quantity"].astype(int), "price": frame["unit_price"].astype(float),
            "discount": frame["line_discount"].fillna(0).astype(float), "country": frame["country"],
            "category": frame["category"], "sku": frame["sku"],
        })
        lines["kind"] = lines.groupby("order")["quantity"].transform(lambda q: "return" if (q < 0).all() else "sale")
        yield loaded.ctx, lines, orders_frame(lines)


def ask(ctx, **arguments) -> dict:
    return run_tool(ctx, "store_metrics", arguments).model_dump()


@pytest.mark.parametrize("period, start, end", [
    (None, None, None),
    ("2024", "2024-01-01", "2025-01-01"),
    ("2024-11", "2024-11-01", "2024-12-01"),
    ("last_quarter", "2024-07-01", "2024-10-01"),
    ("last_90_days", "2024-10-03", "2025-01-01"),
    ("2023-Q2", "2023-04-01", "2023-07-01"),
])
def test_totals_for_periods_match_pandas(synthetic, period, start, end):
    ctx, _, orders = synthetic
    result = ask(ctx, **({"period": period} if period else {}))
    expected = figures_of(within(orders, start and utc(start), end and utc(end)))
    assert_figures(result["totals"], expected, where=period)


@pytest.mark.parametrize("period, by, start, end, freq", [
    ("2024", "month", "2024-01-01", "2025-01-01", "%Y-%m"),
    ("2024-Q4", "week", "2024-10-01", "2025-01-01", "week"),
    (None, "quarter", None, None, "quarter"),
    (None, "year", None, None, "%Y"),
    ("2024-12", "day", "2024-12-01", "2025-01-01", "%Y-%m-%d"),
])
def test_time_breakdowns_match_pandas(synthetic, period, by, start, end, freq):
    ctx, _, orders = synthetic
    result = ask(ctx, breakdown=by, **({"period": period} if period else {}))
    scoped = within(orders, start and utc(start), end and utc(end))
    at = scoped["at"].dt.tz_convert("UTC").dt.tz_localize(None)
    if freq == "week":
        labels = (at - pd.to_timedelta(at.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    elif freq == "quarter":
        labels = at.dt.year.astype(str) + "-Q" + at.dt.quarter.astype(str)
    else:
        labels = at.dt.strftime(freq)
    rows = {r["label"]: r for r in result["rows"]}
    assert set(rows) == set(labels.unique())
    for label, part in scoped.groupby(labels):
        assert_figures(rows[label], figures_of(part), where=f"{by} {label}")
    # the parts add up to the whole where figures add up
    for name in ("net_revenue", "orders", "units", "new_customers", "guest_orders"):
        assert sum(r[name] for r in result["rows"]) == pytest.approx(result["totals"][name], abs=0.05)


def test_country_breakdown_folds_small_groups_like_pandas(synthetic):
    ctx, _, orders = synthetic
    result = ask(ctx, breakdown="country", limit=100)
    rows = {r["label"]: r for r in result["rows"]}
    small = []
    for country, part in orders.groupby("country"):
        expected = figures_of(part)
        if 0 < expected["active_customers"] < ctx.settings.min_group_size:
            small.append(part)
        else:
            assert_figures(rows[country], expected, where=country)
    if small:
        part = pd.concat(small)
        assert rows[SMALL_GROUP_LABEL]["net_revenue"] == pytest.approx(figures_of(part)["net_revenue"], abs=0.02)


@pytest.mark.parametrize("by, key, period, start, end", [
    ("category", "category", "2024", "2024-01-01", "2025-01-01"),
    ("product", "sku", None, None, None),
])
def test_category_and_product_breakdowns_match_pandas(synthetic, by, key, period, start, end):
    ctx, lines, _ = synthetic
    result = ask(ctx, breakdown=by, limit=10, **({"period": period} if period else {}))
    scoped = within(lines, start and utc(start), end and utc(end))
    expected = {label: line_figures_of(part) for label, part in scoped.groupby(key)}
    top = sorted(expected, key=lambda k: (-round(expected[k]["net_revenue"], 2), k))[:10]
    assert [r["label"] for r in result["rows"]] == top
    for row in result["rows"]:
        assert_figures(row, expected[row["label"]], LINE_FIGURES, where=row["label"])
        assert row["new_customers"] is None and row["average_order_value"] is None


def test_segment_breakdown_matches_pandas_on_the_runs_groups(synthetic):
    ctx, _, orders = synthetic
    with ctx.db.cursor() as cur:
        cur.execute("""SELECT c.store_customer_id, p.dominant_segments ->> 'value' AS segment
                       FROM customer_profiles p JOIN customers c USING (customer_id)
                       WHERE p.run_id = %s""", (current_run(ctx).run_id,))
        segment_of = {r["store_customer_id"]: r["segment"] for r in cur.fetchall()}
    result = ask(ctx, breakdown="segment", axis="value", period="2024", limit=100)
    scoped = within(orders, utc("2024-01-01"), utc("2025-01-01"))
    labels = scoped["customer"].map(lambda c: "guest orders" if c is None else segment_of.get(c, "not scored yet"))
    rows = {r["label"]: r for r in result["rows"]}
    checked = 0
    for label, part in scoped.groupby(labels):
        expected = figures_of(part)
        if label in rows and label != SMALL_GROUP_LABEL:
            assert_figures(rows[label], expected, where=label)
            checked += 1
    assert checked >= 3 and "guest orders" in rows


@pytest.mark.parametrize("period, compare, start, end, prev_start, prev_end", [
    ("2024", "last_year", "2024-01-01", "2025-01-01", "2023-01-01", "2024-01-01"),
    ("2024-11", "previous_period", "2024-11-01", "2024-12-01", "2024-10-02", "2024-11-01"),
    ("2024-Q4", "last_year", "2024-10-01", "2025-01-01", "2023-10-01", "2024-01-01"),
])
def test_comparisons_match_pandas(synthetic, period, compare, start, end, prev_start, prev_end):
    ctx, _, orders = synthetic
    result = ask(ctx, period=period, compare=compare)
    now = figures_of(within(orders, utc(start), utc(end)))
    before = figures_of(within(orders, utc(prev_start), utc(prev_end)))
    changes = {c["figure"]: c for c in result["comparison"]}
    for name in ("net_revenue", "orders", "average_order_value", "new_customers", "return_rate"):
        assert changes[name]["current"] == pytest.approx(now[name], abs=0.011)
        assert changes[name]["previous"] == pytest.approx(before[name], abs=0.011)
        assert changes[name]["change"] == pytest.approx(now[name] - before[name], abs=0.02)
        if before[name]:
            assert changes[name]["change_pct"] == pytest.approx((now[name] - before[name]) / before[name], abs=1e-3)
    assert "a year earlier" in result["summary"] or "previous period" in result["summary"]


def test_bad_requests_say_what_is_wrong(synthetic):
    ctx, _, _ = synthetic
    with pytest.raises(ToolError, match="comparison needs a period"):
        ask(ctx, compare="last_year")
    with pytest.raises(ToolError, match="too many"):
        ask(ctx, breakdown="day")
    with pytest.raises(ToolError):
        ask(ctx, period="next tuesday")


# --- UCI Online Retail II ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def online_retail(migrated_template, settings, shared_data):
    from tests.conftest import create_database, drop_database

    url = create_database(migrated_template)
    db = Database(url, migrate=False)
    path = shared_data / "online_retail_ii" / "online_retail_II_2009_2010.parquet"
    import_file(db, path)
    raw = pd.read_parquet(path)
    raw = raw[~raw["Invoice"].astype(str).str.startswith("A")]          # bad-debt adjustments: not sales
    raw = raw[raw["Price"].round(2) != 0]                                # stock write-offs: ignored
    raw = raw[raw["Quantity"] != 0]
    customer = raw["Customer ID"].map(lambda v: None if pd.isna(v) else str(int(v)))
    lines = pd.DataFrame({
        "order": raw["Invoice"].astype(str), "at": pd.to_datetime(raw["InvoiceDate"]).dt.tz_localize("UTC"),
        "customer": customer, "quantity": raw["Quantity"].astype(int), "price": raw["Price"].astype(float),
        "discount": 0.0, "country": raw["Country"], "category": "uncategorized", "sku": raw["StockCode"].astype(str),
    })
    lines["kind"] = np.where(lines["order"].str.startswith("C"), "return", "sale")
    yield ToolContext(db=db, settings=settings.model_copy(update={"database_url": url})), lines, orders_frame(lines)
    db.close()
    drop_database(url)


@pytest.mark.parametrize("period, start, end", [
    (None, None, None),
    ("2010", "2010-01-01", "2011-01-01"),
    ("2010-Q3", "2010-07-01", "2010-10-01"),
    ("last_30_days", "2010-11-10", "2010-12-10"),
])
def test_online_retail_totals_match_pandas(online_retail, period, start, end):
    ctx, _, orders = online_retail
    result = ask(ctx, **({"period": period} if period else {}))
    assert_figures(result["totals"], figures_of(within(orders, start and utc(start), end and utc(end))), where=period)


def test_online_retail_by_month_and_year_on_year(online_retail):
    ctx, _, orders = online_retail
    result = ask(ctx, period="2010", breakdown="month")
    scoped = within(orders, utc("2010-01-01"), utc("2011-01-01"))
    labels = scoped["at"].dt.strftime("%Y-%m")
    rows = {r["label"]: r for r in result["rows"]}
    assert len(rows) == 12
    for label, part in scoped.groupby(labels):
        assert_figures(rows[label], figures_of(part), where=label)
    compared = ask(ctx, period="2010-12", compare="last_year")
    changes = {c["figure"]: c for c in compared["comparison"]}
    before = figures_of(within(orders, utc("2009-12-01"), utc("2010-01-01")))
    assert changes["net_revenue"]["previous"] == pytest.approx(before["net_revenue"], abs=0.011)
    assert changes["orders"]["previous"] == before["orders"]


def test_online_retail_by_country_and_product(online_retail):
    ctx, lines, orders = online_retail
    by_country = {r["label"]: r for r in ask(ctx, breakdown="country", period="2010", limit=100)["rows"]}
    scoped = within(orders, utc("2010-01-01"), utc("2011-01-01"))
    uk = figures_of(scoped[scoped["country"] == "United Kingdom"])
    assert_figures(by_country["United Kingdom"], uk, where="United Kingdom")
    products = ask(ctx, breakdown="product", limit=5)["rows"]
    expected = {sku: line_figures_of(part) for sku, part in lines.groupby("sku")}
    top = sorted(expected, key=lambda k: (-round(expected[k]["net_revenue"], 2), k))[:5]
    assert [r["label"] for r in products] == top
    for row in products:
        assert_figures(row, expected[row["label"]], LINE_FIGURES, where=row["label"])


def test_slack_card_has_the_chart_the_table_and_the_comparison(synthetic):
    from bot.render_text import blocks_to_text
    from bot.views import blocks as bk
    from bot.views.answer import tool_result_pages

    ctx, _, _ = synthetic
    monthly = run_tool(ctx, "store_metrics", {"period": "2024", "breakdown": "month"})
    page, = tool_result_pages("store_metrics", {"period": "2024", "breakdown": "month"}, monthly)
    assert bk.check_message_limits(page) == []
    chart = next(b for b in page if b["type"] == "data_visualization")
    assert chart["chart"]["type"] == "bar" and len(chart["chart"]["axis_config"]["categories"]) == 12
    assert bk.check_chart(chart) == []
    table = next(b for b in page if b["type"] == "table")
    assert len(table["rows"]) == 13 and table["rows"][0][0]["text"] == "Month"
    compared = run_tool(ctx, "store_metrics", {"period": "2024", "compare": "last_year"})
    page, = tool_result_pages("store_metrics", {"period": "2024", "compare": "last_year"}, compared)
    table = next(b for b in page if b["type"] == "table")
    assert [c["text"] for c in table["rows"][0]] == ["Figure", "This period", "Compared with", "Change", "% change"]
    text = blocks_to_text(page)
    assert "Net revenue" in text and "%" in text and f"{compared.totals.net_revenue:,.2f}" in text


@pytest.mark.parametrize("bought, category, period, start, end", [
    ("pre-cuts", "Pre-cuts & Fat Quarters", "2024", "2024-01-01", "2025-01-01"),
    ("kits", "Kits", None, None, None),
    ("batting", "Batting", "last_quarter", "2024-07-01", "2024-10-01"),
])
def test_customers_by_what_they_bought_match_pandas(synthetic, bought, category, period, start, end):
    """'how many customers bought pre-cuts in 2024', 'who bought the most kits': the count, the spend
    and the ranking against the generator's rows (customers of the current run)."""
    ctx, lines, _ = synthetic
    arguments = {"bought": bought, "sort_by": "bought", "limit": 5, **({"period": period} if period else {})}
    result = run_tool(ctx, "analyze_customers", arguments)
    scoped = within(lines, start and utc(start), end and utc(end))
    bought_lines = scoped[(scoped["kind"] == "sale") & (scoped["category"] == category) & scoped["customer"].notna()]
    spend = (bought_lines["quantity"] * bought_lines["price"] - bought_lines["discount"]).groupby(bought_lines["customer"]).sum()
    with ctx.db.cursor() as cur:
        cur.execute("""SELECT c.store_customer_id, c.public_id FROM customer_profiles p JOIN customers c USING (customer_id)
                       WHERE p.run_id = %s""", (current_run(ctx).run_id,))
        profiled = {r["store_customer_id"]: r["public_id"] for r in cur.fetchall()}
    spend = spend[spend.index.isin(list(profiled))]
    assert result.totals.customers == len(spend) > 0
    assert result.totals.bought_spend == pytest.approx(spend.sum(), abs=0.05)
    top = spend.sort_values(ascending=False).head(5)
    assert [r.public_id for r in result.rows] == [profiled[c] for c in top.index]
    assert [r.bought_spend for r in result.rows] == pytest.approx(list(top.round(2)), abs=0.011)
    assert f"{len(spend):,} customers bought category '{category}'" in result.summary
