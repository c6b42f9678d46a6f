"""A small, hand-checkable store for the analytics tests: 10 customers, 5 products, their orders and
two hand-written discovery runs (28 days apart) with segments, archetypes and profiles.

Tests compute expected answers from the Python data below, independently of the tools' SQL.
Use the `analytics_db` fixture (a private database per test module) or `load_fixture(db)`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from sql.database import Database

AS_OF = datetime(2024, 6, 30, 12, 0, tzinfo=timezone.utc)           # the current run
OLD_AS_OF = AS_OF - timedelta(days=28)                                # the earlier run

PRODUCTS = {  # sku: (title, category, price)
    "F1": ("Blue calico cotton", "fabric", 10.00),
    "F2": ("Linen blend", "fabric", 12.50),
    "N1": ("Pins and needles", "notions", 4.00),
    "P1": ("Star quilt pattern", "patterns", 15.00),
    "K1": ("Deluxe quilt kit", "kits", 80.00),
}

# store id: (name, email, phone, country)
CUSTOMERS = {
    "S001": ("Margaret Whitfield", "margaret.whitfield@example.com", "+1 (555) 010-0001", "US"),
    "S002": ("Oliver Brandt", "oliver.brandt@example.com", "+1 555 010 0002", "US"),
    "S003": ("Priya Raman", "priya.raman@example.com", "555-010-0003", "GB"),
    "S004": ("Tomasz Kowal", "tomasz.kowal@example.com", "5550100004", "PL"),
    "S005": ("Helene Dubois", "helene.dubois@example.com", "+33 5 55 01 00 05", "FR"),
    "S006": ("Kenji Sato", "kenji.sato@example.com", "+81 555 010 006", "JP"),
    "S007": ("Amara Okafor", "amara.okafor@example.com", "+234 555 010 0007", "NG"),
    "S008": ("Lucia Ferreira", "lucia.ferreira@example.com", "+351 555 010 008", "PT"),
    "S009": ("Sven Lindqvist", "sven.lindqvist@example.com", "+46 555 010 009", "SE"),
    "S010": ("Grace Mbeki", "grace.mbeki@example.com", "+27 555 010 010", "ZA"),
}


def _d(days_before_as_of: int) -> datetime:
    return AS_OF - timedelta(days=days_before_as_of)


# (store customer id, days before AS_OF, kind, [(sku, quantity)], discount on the order)
ORDERS: list[tuple[str, int, str, list[tuple[str, int]], float]] = [
    *[("S001", d, "sale", [("K1", 25)], 0.0) for d in (350, 250, 200, 150, 100, 20)],   # 6 x 2000; the first in July
    *[("S002", d, "sale", [("K1", 3), ("N1", 15)], 0.0) for d in (200, 150, 90, 40)],   # 4 x 300
    ("S003", 120, "sale", [("P1", 10), ("F1", 5)], 0.0),                                 # 200
    ("S003", 60, "sale", [("P1", 10), ("F1", 5)], 0.0),
    ("S003", 15, "sale", [("P1", 10), ("F1", 5)], 0.0),
    ("S004", 160, "sale", [("F1", 5)], 10.0),                                            # 40
    ("S004", 110, "sale", [("F1", 5)], 10.0),
    ("S004", 70, "sale", [("F1", 5)], 0.0),                                              # 50
    ("S004", 30, "sale", [("F1", 5)], 10.0),
    ("S005", 200, "sale", [("F2", 2), ("N1", 5)], 0.0),                                  # 45
    ("S006", 150, "sale", [("P1", 2)], 0.0),                                             # 30
    ("S007", 180, "sale", [("F2", 4), ("P1", 2)], 0.0),                                  # 80
    ("S007", 150, "sale", [("F2", 4), ("P1", 2)], 0.0),
    ("S007", 120, "sale", [("F2", 4), ("P1", 2)], 0.0),
    ("S007", 50, "return", [("P1", -2)], 0.0),                                           # -30
    *[("S008", d, "sale", [("F1", 3), ("N1", 5)], 0.0) for d in (130, 100, 70, 40, 10)],  # 5 x 50
    ("S009", 10, "sale", [("F2", 4)], 0.0),                                              # 50
    ("S010", 140, "sale", [("N1", 10)], 0.0),                                            # 40
    ("S010", 95, "sale", [("F1", 4), ("N1", 5)], 5.0),                                   # 55
]

SEGMENTS = {  # axis: {name: interpretation}
    "frequency": {"frequent": "orders often", "occasional": "orders now and then",
                  "one-time": "a single order so far"},
    "value": {"big spenders": "large baskets", "modest spenders": "small baskets"},
}

ARCHETYPES = {  # id: (name, description, signature)
    "A-aaa111": ("Loyal big spenders", "frequent buyers of kits", {"frequency": "frequent", "value": "big spenders"}),
    "A-bbb222": ("Steady regulars", "modest repeat buyers", {"frequency": "frequent", "value": "modest spenders"}),
    "A-ccc333": ("One-and-done", "single-order customers", {"frequency": "one-time", "value": "modest spenders"}),
}


@dataclass
class Profile:
    frequency: str
    value: str
    archetype: str
    churn: float
    risk: str
    tier: str
    clv12: float
    exp30: float
    exp90: float


# The current run (as of AS_OF). Value figures (orders, revenue, dates) are derived from ORDERS.
CURRENT = {
    "S001": Profile("frequent", "big spenders", "A-aaa111", 0.05, "low", "whale", 9000, 0.4, 1.1),
    "S002": Profile("frequent", "big spenders", "A-aaa111", 0.10, "low", "vip", 1100, 0.3, 0.9),
    "S003": Profile("frequent", "big spenders", "A-aaa111", 0.30, "medium", "high", 700, 0.3, 0.8),
    "S004": Profile("frequent", "modest spenders", "A-bbb222", 0.45, "medium", "regular", 120, 0.2, 0.6),
    "S005": Profile("one-time", "modest spenders", "A-ccc333", 0.85, "critical", "regular", 5, 0.01, 0.03),
    "S006": Profile("one-time", "modest spenders", "A-ccc333", 0.75, "high", "regular", 8, 0.02, 0.05),
    "S007": Profile("occasional", "modest spenders", "A-bbb222", 0.70, "high", "regular", 60, 0.05, 0.2),
    "S008": Profile("frequent", "modest spenders", "A-bbb222", 0.15, "low", "regular", 220, 0.4, 1.2),
    "S009": Profile("one-time", "modest spenders", "A-ccc333", 0.40, "medium", "new", 40, 0.1, 0.3),
    "S010": Profile("occasional", "modest spenders", "A-bbb222", 0.55, "high", "regular", 50, 0.05, 0.2),
}
# The run 28 days earlier: S007 was frequent, S003 modest, S009 not a customer yet.
OLD = {
    "S001": Profile("frequent", "big spenders", "A-aaa111", 0.04, "low", "whale", 9500, 0.4, 1.2),
    "S002": Profile("frequent", "big spenders", "A-aaa111", 0.08, "low", "vip", 1000, 0.3, 0.9),
    "S003": Profile("frequent", "modest spenders", "A-bbb222", 0.25, "medium", "high", 600, 0.3, 0.8),
    "S004": Profile("frequent", "modest spenders", "A-bbb222", 0.40, "medium", "regular", 130, 0.2, 0.6),
    "S005": Profile("one-time", "modest spenders", "A-ccc333", 0.80, "critical", "regular", 6, 0.01, 0.03),
    "S006": Profile("one-time", "modest spenders", "A-ccc333", 0.70, "high", "regular", 9, 0.02, 0.05),
    "S007": Profile("frequent", "modest spenders", "A-bbb222", 0.35, "medium", "regular", 90, 0.2, 0.5),
    "S008": Profile("frequent", "modest spenders", "A-bbb222", 0.12, "low", "regular", 230, 0.4, 1.2),
    "S010": Profile("occasional", "modest spenders", "A-bbb222", 0.50, "high", "regular", 55, 0.05, 0.2),
}

DOMINANT_MEMBERSHIP = 0.8   # the dominant segment's share; the rest is spread evenly


def order_total(lines: list[tuple[str, int]], discount: float) -> float:
    return round(sum(PRODUCTS[sku][2] * qty for sku, qty in lines) - discount, 2)


def value_figures(store_id: str, as_of: datetime) -> dict:
    """orders, revenue (net of returns), first/last order, average order, recency, tenure up to as_of."""
    mine = [o for o in ORDERS if o[0] == store_id and _d(o[1]) <= as_of]
    sales = [o for o in mine if o[2] == "sale"]
    revenue = round(sum(order_total(o[3], o[4]) for o in mine), 2)
    first, last = _d(max(o[1] for o in sales)), _d(min(o[1] for o in sales))
    return {"orders": len(sales), "revenue": revenue, "first_order_at": first, "last_order_at": last,
            "avg_order_value": round(revenue / len(sales), 2), "recency_days": (as_of - last).days,
            "tenure_days": (as_of - first).days}


@dataclass
class Fixture:
    customer_ids: dict[str, int] = field(default_factory=dict)   # store id -> internal id
    public_ids: dict[str, str] = field(default_factory=dict)     # store id -> C-XXXXXXXX
    current_run: int = 0
    old_run: int = 0

    def store_id_of(self, public_id: str) -> str:
        return next(s for s, p in self.public_ids.items() if p == public_id)


def _memberships(profile: Profile) -> dict:
    result = {}
    for axis, dominant in (("frequency", profile.frequency), ("value", profile.value)):
        names = list(SEGMENTS[axis])
        rest = (1 - DOMINANT_MEMBERSHIP) / (len(names) - 1)
        result[axis] = {n: (DOMINANT_MEMBERSHIP if n == dominant else rest) for n in names}
    return result


def _insert_run(cur, fx: Fixture, as_of: datetime, profiles: dict[str, Profile], current: bool) -> int:
    cur.execute("INSERT INTO discovery_runs (status, is_current, as_of, started_at, finished_at) "
                "VALUES ('published', %s, %s, %s, %s) RETURNING run_id",
                (current, as_of, as_of, as_of + timedelta(minutes=3)))
    run_id = cur.fetchone()[0]
    for axis, names in SEGMENTS.items():
        cur.execute("INSERT INTO discovery_axes (run_id, axis, k, silhouette, features) VALUES (%s,%s,%s,0.5,%s)",
                    (run_id, axis, len(names), ["orders_per_month"] if axis == "frequency" else ["avg_order_value"]))
        for name, meaning in names.items():
            members = sum(1 for p in profiles.values() if getattr(p, axis) == name)
            cur.execute("INSERT INTO segments (run_id, axis, name, interpretation, centroid, members) "
                        "VALUES (%s,%s,%s,%s,%s,%s)", (run_id, axis, name, meaning, json.dumps({"x": 1.0}), members))
    for archetype_id, (name, description, signature) in ARCHETYPES.items():
        mine = [s for s, p in profiles.items() if p.archetype == archetype_id]
        if not mine:
            continue
        revenues = [value_figures(s, as_of)["revenue"] for s in mine]
        orders = [value_figures(s, as_of)["orders"] for s in mine]
        cur.execute("INSERT INTO archetypes (run_id, archetype_id, name, description, signature, members, share, "
                    "avg_clv, total_clv, avg_orders) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    (run_id, archetype_id, name, description, json.dumps(signature), len(mine),
                     len(mine) / len(profiles), round(sum(revenues) / len(mine), 2), sum(revenues),
                     sum(orders) / len(mine)))
    for store_id, p in profiles.items():
        v = value_figures(store_id, as_of)
        cur.execute(
            "INSERT INTO customer_profiles (run_id, customer_id, orders, revenue, first_order_at, last_order_at, "
            "avg_order_value, recency_days, tenure_days, history, features, memberships, dominant_segments, "
            "segment_strengths, archetype_id, probability_alive, churn_probability, risk_level, churn_reasons, "
            "expected_purchases_30d, expected_purchases_90d, predicted_clv_12m, value_tier) VALUES "
            "(%s,%s,%s,%s,%s,%s,%s,%s,%s,'full',%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (run_id, fx.customer_ids[store_id], v["orders"], v["revenue"], v["first_order_at"], v["last_order_at"],
             v["avg_order_value"], v["recency_days"], v["tenure_days"], json.dumps({"orders": v["orders"]}),
             json.dumps(_memberships(p)), json.dumps({"frequency": p.frequency, "value": p.value}),
             json.dumps({"frequency": "strong", "value": "balanced"}), p.archetype, 1 - p.churn, p.churn, p.risk,
             [f"{v['recency_days']} days since the last order"] if p.churn >= 0.5 else [],
             p.exp30, p.exp90, p.clv12, p.tier))
    return run_id


def load_fixture(db: Database, settings=None, fold: bool = True) -> Fixture:
    """Insert the fixture store and both runs into an empty migrated database; fold: then build the
    product rollup as an import and a discovery run would (analyze_products only reads it)."""
    fx = Fixture()
    with db.connection() as conn, conn.cursor() as cur:
        product_ids = {}
        for sku, (title, category, price) in PRODUCTS.items():
            cur.execute("INSERT INTO products (sku, title, category, unit_price) VALUES (%s,%s,%s,%s) "
                        "RETURNING product_id", (sku, title, category, price))
            product_ids[sku] = cur.fetchone()[0]
        for store_id, (name, email, phone, country) in CUSTOMERS.items():
            cur.execute("INSERT INTO customers (store_customer_id, email, phone, name, country) "
                        "VALUES (%s,%s,%s,%s,%s) RETURNING customer_id", (store_id, email, phone, name, country))
            fx.customer_ids[store_id] = cur.fetchone()[0]
        for number, (store_id, days, kind, lines, discount) in enumerate(ORDERS, start=1):
            subtotal = sum(PRODUCTS[sku][2] * qty for sku, qty in lines)
            cur.execute("INSERT INTO orders (store_order_id, customer_id, ordered_at, kind, discount_code, country, "
                        "subtotal, discount_total, total) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING order_id",
                        (f"O{number:04d}", fx.customer_ids[store_id], _d(days), kind,
                         "SAVE10" if discount else None, CUSTOMERS[store_id][3], subtotal, discount,
                         order_total(lines, discount)))
            order_id = cur.fetchone()[0]
            for line_no, (sku, qty) in enumerate(lines, start=1):
                cur.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount, "
                            "kind) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                            (order_id, line_no, product_ids[sku], qty, PRODUCTS[sku][2],
                             discount if line_no == 1 else 0, kind))
        fx.old_run = _insert_run(cur, fx, OLD_AS_OF, OLD, current=False)
        fx.current_run = _insert_run(cur, fx, AS_OF, CURRENT, current=True)
    if settings is not None:
        from analytics.pseudonyms import assign_public_ids

        assign_public_ids(db, settings)
        with db.cursor() as cur:
            cur.execute("SELECT store_customer_id, public_id FROM customers")
            fx.public_ids = {r["store_customer_id"]: r["public_id"] for r in cur.fetchall()}
    if fold:
        from analytics.product_rollup import refresh_product_rollup

        refresh_product_rollup(db)
    return fx


def publish_new_run(db: Database, fx: Fixture, profiles: dict[str, Profile], as_of: datetime = AS_OF) -> int:
    """Publish another run (for cache-invalidation tests): the new one becomes current atomically."""
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("UPDATE discovery_runs SET is_current = false WHERE is_current")
        run_id = _insert_run(cur, fx, as_of, profiles, current=True)
    return run_id


def pii_strings() -> list[str]:
    """Every name, email, phone (as written and as digits) and name part of the fixture customers."""
    found = []
    for name, email, phone, _ in CUSTOMERS.values():
        found += [name, email, email.split("@")[0], phone, "".join(ch for ch in phone if ch.isdigit())]
        found += [part for part in name.split() if len(part) > 3]
    return found


@pytest.fixture(scope="module")
def analytics_db(migrated_template):
    """A private migrated database holding the fixture store, for one test module."""
    from tests.conftest import create_database, drop_database

    url = create_database(migrated_template)
    database = Database(url, migrate=False)
    yield database
    database.close()
    drop_database(url)


@pytest.fixture(scope="module")
def loaded(analytics_db, settings):
    """(database, Fixture): the fixture store loaded once per module, public ids assigned."""
    return analytics_db, load_fixture(analytics_db, settings)


@pytest.fixture
def ctx(loaded, settings):
    """A ToolContext on the fixture store with a fresh in-process cache and min_group_size 1
    (so every group can be checked); privacy tests build their own with the default size."""
    from analytics.cache import Cache
    from analytics.core import ToolContext

    db, _ = loaded
    return ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 1}), cache=Cache(None))
