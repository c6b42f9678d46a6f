"""The synthetic store: determinism, the canonical CSV contract, and the planted structure."""
from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discovery.catalogue import build_catalogue
from discovery.synthetic import (CANONICAL_COLUMNS, PLANTED_AXES, TYPE_NAMES, StoreSpec, axis_labels,
                                 generate_store, read_truth, truth_path_for, write_store)

REPO = Path(__file__).resolve().parents[1]
HEADER = ("order_id,ordered_at,customer_id,email,name,phone,country,sku,product_title,category,"
          "quantity,unit_price,line_discount,discount_code")


@pytest.fixture(scope="module")
def store():
    """A 2,000-customer store and per-customer behaviour computed independently from its lines."""
    orders, truth = generate_store(StoreSpec(customers=2_000, seed=11))
    lines = orders.assign(is_return=orders["order_id"].str.startswith("R"),
                          value=orders["quantity"] * orders["unit_price"] - orders["line_discount"])
    sales = lines[~lines["is_return"] & lines["customer_id"].notna()]
    per_order = sales.groupby("order_id").agg(
        customer_id=("customer_id", "first"), ordered_at=("ordered_at", "first"),
        value=("value", "sum"), code=("discount_code", "first"))
    returned_ids = set(lines.loc[lines["is_return"], "order_id"].str[1:])
    per_order["returned"] = per_order.index.isin(returned_ids)
    per_order["coded"] = per_order["code"].notna()
    per_order["holiday"] = per_order["ordered_at"].dt.month >= 11
    per_order["weekend"] = per_order["ordered_at"].dt.day_of_week >= 5
    per_customer = per_order.groupby("customer_id").agg(
        orders=("value", "size"), order_value=("value", "mean"), coded=("coded", "mean"),
        holiday=("holiday", "mean"), weekend=("weekend", "mean"), returned=("returned", "mean"),
        first_at=("ordered_at", "min"), last_at=("ordered_at", "max"))
    top_category = (sales.groupby(["customer_id", "category"]).size()
                    .groupby("customer_id").agg(lambda s: s.max() / s.sum()))
    per_customer["top_category_share"] = top_category
    per_customer["categories"] = sales.groupby("customer_id")["category"].nunique()
    per_customer["repeat_share"] = 1 - (sales.groupby("customer_id")["sku"].nunique()
                                        / sales.groupby("customer_id").size())
    per_customer = per_customer.join(truth.set_index("customer_id"), how="right")
    return orders, truth, per_customer, lines


def _by_type(per_customer: pd.DataFrame, column: str, min_orders: int = 1) -> pd.Series:
    eligible = per_customer[per_customer["orders"] >= min_orders]
    return eligible.groupby("planted_type")[column].mean()


def test_same_seed_same_bytes_and_different_seed_different(tmp_path):
    spec = StoreSpec(customers=300, seed=5)
    first = write_store(spec, tmp_path / "a.csv.gz")
    second = write_store(spec, tmp_path / "b.csv.gz")
    assert (tmp_path / "a.csv.gz").read_bytes() == (tmp_path / "b.csv.gz").read_bytes()
    assert first.read_bytes() == second.read_bytes()
    write_store(StoreSpec(customers=300, seed=6), tmp_path / "c.csv.gz")
    assert (tmp_path / "c.csv.gz").read_bytes() != (tmp_path / "a.csv.gz").read_bytes()
    # The plain file holds exactly the gzip file's content.
    write_store(spec, tmp_path / "plain.csv")
    assert gzip.decompress((tmp_path / "a.csv.gz").read_bytes()) == (tmp_path / "plain.csv").read_bytes()


def test_csv_header_and_value_formats(tmp_path):
    out = tmp_path / "shop.csv"
    truth_path = write_store(StoreSpec(customers=400, seed=2), out)
    text = out.read_text(encoding="utf-8").splitlines()
    assert text[0] == HEADER
    assert truth_path == tmp_path / "shop.truth.csv"
    assert truth_path.read_text().splitlines()[0] == ("customer_id,planted_type,alive_at_end,dropout_at,"
                                                      "acquired_at,lifecycle_at_end")
    raw = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert tuple(raw.columns) == CANONICAL_COLUMNS
    assert raw["ordered_at"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert raw["unit_price"].str.fullmatch(r"\d+\.\d\d").all()
    assert raw["line_discount"].str.fullmatch(r"\d+\.\d\d").all()
    assert raw["quantity"].str.fullmatch(r"-?[1-9]\d*").all()
    # Order-level fields are the same on every line of an order.
    for column in ("ordered_at", "customer_id", "email", "name", "phone", "country", "discount_code"):
        assert (raw.groupby("order_id")[column].nunique() == 1).all(), column
    assert len(pd.read_csv(truth_path)) == 400


def test_truth_path_naming():
    assert truth_path_for(Path("/x/shop.csv.gz")) == Path("/x/shop.truth.csv")
    assert truth_path_for(Path("shop.csv")) == Path("shop.truth.csv")
    assert truth_path_for(Path("shop.data")) == Path("shop.data.truth.csv")


def test_returns_are_separate_negative_orders_after_their_sale(store):
    orders, _truth, _per_customer, lines = store
    returns = lines[lines["is_return"]]
    assert len(returns) > 0
    assert (returns["quantity"] < 0).all() and (lines.loc[~lines["is_return"], "quantity"] > 0).all()
    assert (returns["line_discount"] == 0).all() and returns["discount_code"].isna().all()
    sale_at = lines[~lines["is_return"]].groupby("order_id")[["ordered_at", "customer_id"]].first()
    back = returns.groupby("order_id")[["ordered_at", "customer_id"]].first()
    original = sale_at.loc[back.index.str[1:]]
    assert (back["ordered_at"].to_numpy() > original["ordered_at"].to_numpy()).all()
    assert (back["customer_id"].to_numpy() == original["customer_id"].to_numpy()).all()
    # A return never gives back more items of a SKU than its sale had.
    sold = lines[~lines["is_return"]].groupby(["order_id", "sku"])["quantity"].sum()
    given_back = returns.assign(order_id=returns["order_id"].str[1:]).groupby(["order_id", "sku"])["quantity"].sum()
    assert (given_back.abs() <= sold.loc[given_back.index]).all()


def test_guests_and_synthetic_contact_details(store):
    orders, truth, _per_customer, _lines = store
    guests = orders[orders["customer_id"].isna()]
    share = guests["order_id"].nunique() / orders["order_id"].nunique()
    assert 0.005 < share < 0.05
    assert guests["email"].isna().all() and guests["name"].isna().all()
    known = orders.dropna(subset=["customer_id"]).drop_duplicates("customer_id")
    assert known["email"].str.fullmatch(r"[a-z.]+\d+@(mail\.)?example\.(com|org|net)").all()
    fictional = r"\+1 \(\d{3}\) 555-01\d\d|\+44 20 7946 0\d{3}|\+61 2 5550 \d{4}"
    assert known["phone"].str.fullmatch(fictional).all()
    assert known["name"].str.fullmatch(r"[A-Z][a-z]+ [A-Z][A-Za-z']+").all()
    assert set(known["customer_id"]) <= set(truth["customer_id"])


def test_catalogue_is_a_quilt_shop():
    catalogue = build_catalogue()
    assert 1_400 <= len(catalogue) <= 1_700
    assert len(set(catalogue.sku)) == len(catalogue)
    assert set(catalogue.category_names) >= {"Quilting Cotton", "Batting", "Thread", "Notions", "Patterns",
                                             "Pre-cuts & Fat Quarters", "Kits", "Tools", "Wool & Felt", "Gift Cards"}
    dollars = catalogue.price_cents / 100
    assert dollars.min() >= 2 and dollars.max() <= 250
    # Within a category SKUs go from cheap to dear: the generator's price tiers rely on it.
    for start, size in zip(catalogue.category_start, catalogue.category_size):
        assert (np.diff(catalogue.price_cents[start:start + size]) >= 0).all()


def test_every_planted_type_is_present_in_sensible_shares(store):
    _orders, truth, _per_customer, _lines = store
    shares = truth["planted_type"].value_counts(normalize=True)
    assert set(shares.index) == set(TYPE_NAMES)
    assert shares.min() > 0.05 and shares.max() < 0.25


def test_axis_labels_cover_every_axis_and_type(store):
    _orders, truth, _per_customer, _lines = store
    planted = {t for mapping in PLANTED_AXES.values() for t in mapping}
    assert planted == set(TYPE_NAMES)  # every planted type shows on some axis
    labels = axis_labels(truth, "cadence")
    assert set(labels) == {"holiday", "weekend", "ordinary"}
    assert (labels[truth["planted_type"] == "weekend_crafter"] == "weekend").all()
    with pytest.raises(KeyError, match="'loyalty'"):
        axis_labels(truth, "loyalty")


def test_frequency_is_planted_in_bands(store):
    _orders, truth, per_customer, _lines = store
    bands = axis_labels(truth, "frequency")
    assert set(bands) == {"frequent", "regular", "occasional", "one_time"}
    # Measured from the lines: repeat orders per year of tenure, customers of a year or more.
    per_customer = per_customer.assign(band=bands.to_numpy())
    years = (pd.Timestamp("2024-12-31") - per_customer["first_at"]).dt.days / 365.25
    settled = per_customer[(years >= 1) & (per_customer["alive_at_end"] == 1)]
    rate = ((settled["orders"] - 1) / years[settled.index]).groupby(settled["band"]).median()
    assert rate["frequent"] > 3 * rate["regular"] > 3 * 3 * rate["occasional"]
    assert (per_customer.loc[per_customer["band"] == "one_time", "orders"] == 1).all()


def test_maturity_truth_is_the_lifecycle_at_the_end(store):
    _orders, truth, per_customer, _lines = store
    stage = axis_labels(truth, "maturity")
    assert set(stage) == {"new", "established", "lapsed"}
    first = pd.to_datetime(truth["acquired_at"])
    assert (first.dt.normalize().to_numpy() == per_customer.loc[truth["customer_id"], "first_at"].dt.normalize().to_numpy()).all()
    new = first >= pd.Timestamp("2024-12-31") - pd.Timedelta(days=89)
    assert (stage[new] == "new").all() and (stage[~new & (truth["alive_at_end"] == 1)] == "established").all()
    assert (stage[~new & (truth["alive_at_end"] == 0)] == "lapsed").all()
    assert (stage[truth["planted_type"] == "lapsing"] == "lapsed").mean() > 0.95


def test_discount_hunters_use_codes_and_buy_cheap(store):
    _orders, _truth, per_customer, lines = store
    coded = _by_type(per_customer, "coded", min_orders=3)
    assert coded["discount_hunter"] > 0.8
    assert coded.drop("discount_hunter").max() < 0.25
    sales = lines[~lines["is_return"] & lines["customer_id"].notna()]
    price = sales.merge(per_customer[["planted_type"]], left_on="customer_id", right_index=True)
    median_price = price.groupby("planted_type")["unit_price"].median()
    assert median_price["discount_hunter"] < 0.8 * median_price.drop(["discount_hunter"]).min()


def test_seasonal_buyers_shop_in_november_and_december(store):
    _orders, _truth, per_customer, _lines = store
    holiday = _by_type(per_customer, "holiday")
    assert holiday["seasonal_gift_buyer"] > 0.9
    assert holiday.drop("seasonal_gift_buyer").max() < 0.5


def test_weekend_crafters_shop_at_weekends(store):
    _orders, _truth, per_customer, _lines = store
    weekend = _by_type(per_customer, "weekend", min_orders=3)
    assert weekend["weekend_crafter"] > 0.7
    assert weekend.drop("weekend_crafter").max() < 0.45


def test_serial_returners_return_much_more(store):
    _orders, _truth, per_customer, _lines = store
    returned = _by_type(per_customer, "returned", min_orders=3)
    assert returned["serial_returner"] > 0.3
    assert returned.drop("serial_returner").max() < 0.08


def test_premium_loyalists_spend_more_in_one_category_on_the_same_products(store):
    _orders, _truth, per_customer, _lines = store
    repeaters = per_customer[per_customer["orders"] >= 3]
    median = repeaters.groupby("planted_type")[["order_value", "top_category_share", "repeat_share"]].median()
    others = median.drop("premium_loyalist")
    assert median.loc["premium_loyalist", "order_value"] > 2 * others["order_value"].max()
    assert median.loc["premium_loyalist", "top_category_share"] > 0.9
    assert others["top_category_share"].max() < 0.7
    assert median.loc["premium_loyalist", "repeat_share"] > 0.4
    assert others["repeat_share"].max() < 0.2


def test_hobbyists_buy_often_across_categories(store):
    _orders, _truth, per_customer, _lines = store
    span_years = ((pd.Timestamp("2024-12-31") - per_customer["first_at"]).dt.days + 1) / 365
    per_customer = per_customer.assign(orders_per_year=per_customer["orders"] / span_years)
    settled = per_customer[span_years > 0.5]
    rate = settled.groupby("planted_type")["orders_per_year"].median()
    assert rate["frequent_hobbyist"] > 2 * rate.drop(["frequent_hobbyist", "lapsing"]).max()
    categories = _by_type(per_customer, "categories", min_orders=5)
    assert categories["frequent_hobbyist"] > 7
    assert categories.drop("frequent_hobbyist").max() < 6.5


def test_one_time_buyers_buy_once(store):
    _orders, _truth, per_customer, _lines = store
    one_time = per_customer[per_customer["planted_type"] == "one_time_buyer"]
    assert (one_time["orders"] == 1).all()
    assert (one_time["alive_at_end"] == 0).all()


def test_dropouts_never_buy_after_their_dropout_date(store):
    _orders, _truth, per_customer, _lines = store
    assert per_customer["orders"].notna().all(), "every customer has a first order"
    dead = per_customer[per_customer["alive_at_end"] == 0]
    alive = per_customer[per_customer["alive_at_end"] == 1]
    assert len(dead) > 0 and len(alive) > 0
    dropout = pd.to_datetime(dead["dropout_at"])
    assert (dead["last_at"].dt.normalize() <= dropout).all()
    assert (dead["last_at"].dt.normalize() == dropout).all(), "dropout is the day of the last purchase"
    assert alive["dropout_at"].isna().all()
    lapsing = per_customer[per_customer["planted_type"] == "lapsing"]
    assert (lapsing["alive_at_end"] == 0).mean() > 0.95
    assert (lapsing["first_at"] < pd.Timestamp("2022-10-02")).all()  # a quarter of the period
    assert (pd.to_datetime(lapsing["dropout_at"]) < pd.Timestamp("2023-09-01")).mean() > 0.9
    # Everyone else mostly survives to the end: the lapsing signal is theirs.
    steady = per_customer[~per_customer["planted_type"].isin(["lapsing", "one_time_buyer"])]
    assert steady.groupby("planted_type")["alive_at_end"].mean().min() > 0.5


def test_seasonality_holiday_peak_and_spring_bump(store):
    orders, _truth, _per_customer, lines = store
    regular = lines[~lines["is_return"]].drop_duplicates("order_id")
    by_month = regular["ordered_at"].dt.month.value_counts().sort_index()
    assert by_month[[11, 12]].min() > 1.3 * by_month[[1, 2, 6, 7, 8]].max()
    assert by_month[[3, 4]].mean() > by_month[[6, 7, 8]].mean()


def test_line_count_scales_at_about_44_per_customer():
    small, _ = generate_store(StoreSpec(customers=1_000, seed=3))
    large, _ = generate_store(StoreSpec(customers=4_000, seed=3))
    assert 38 <= len(small) / 1_000 <= 50
    assert 38 <= len(large) / 4_000 <= 50
    assert 3.4 < len(large) / len(small) < 4.6


@pytest.mark.parametrize("customers", [1, 3])
def test_tiny_stores_work(customers):
    orders, truth = generate_store(StoreSpec(customers=customers, seed=1, guest_order_share=0))
    assert len(truth) == customers
    assert orders["customer_id"].nunique() == customers and orders["customer_id"].notna().all()


def test_spec_errors_name_the_value():
    with pytest.raises(ValueError, match="-5"):
        StoreSpec(customers=-5)
    with pytest.raises(ValueError, match="2025-01-01"):
        from datetime import date
        StoreSpec(start=date(2025, 1, 1), end=date(2024, 1, 1))


def test_missing_output_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        write_store(StoreSpec(customers=10), tmp_path / "nowhere" / "x.csv")


def test_generated_frame_imports_cleanly(fresh_db):
    from discovery.importer import import_frame

    orders, truth = generate_store(StoreSpec(customers=150, seed=4))
    summary = import_frame(fresh_db, orders, "synthetic")
    assert summary.rows_rejected == 0
    assert summary.rows_loaded == len(orders)
    assert summary.orders == orders["order_id"].nunique()
    assert summary.customers == orders["customer_id"].nunique()
    assert summary.return_rows == orders["order_id"].str.startswith("R").sum()
    assert summary.rows_without_customer == orders["customer_id"].isna().sum()
    with fresh_db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM orders WHERE kind = 'return'")
        assert cur.fetchone()["n"] == orders.loc[orders["order_id"].str.startswith("R"), "order_id"].nunique()
    # The truth never reaches the database.
    with fresh_db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM information_schema.columns WHERE column_name = 'planted_type'")
        assert cur.fetchone()["n"] == 0


def test_written_file_imports_like_the_frame(fresh_db, tmp_path):
    from discovery.importer import import_file

    spec = StoreSpec(customers=150, seed=4)
    out = tmp_path / "shop.csv.gz"
    write_store(spec, out)
    orders, _truth = generate_store(spec)
    summary = import_file(fresh_db, out)
    assert summary.format == "canonical"
    assert summary.rows_rejected == 0 and summary.rows_loaded == len(orders)
    assert summary.orders == orders["order_id"].nunique()
    assert summary.rows_without_customer == orders["customer_id"].isna().sum()
    with fresh_db.cursor() as cur:
        cur.execute("SELECT sum(total) AS net FROM orders")
        net = float(cur.fetchone()["net"])
    expected = float((orders["quantity"] * orders["unit_price"] - orders["line_discount"]).sum())
    assert net == pytest.approx(expected, abs=0.01)


def test_generate_cli_writes_both_files(tmp_path):
    out = tmp_path / "cli.csv.gz"
    result = subprocess.run([sys.executable, "app.py", "generate", "--customers", "120", "--seed", "9",
                             "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.exists() and (tmp_path / "cli.truth.csv").exists()
    truth = read_truth(tmp_path / "cli.truth.csv")
    assert len(truth) == 120 and set(truth["alive_at_end"]) <= {0, 1}
    with gzip.open(out, "rt") as handle:
        assert handle.readline().strip() == HEADER
    assert re.search(r"cli\.truth\.csv", result.stdout)
