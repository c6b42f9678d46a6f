"""A synthetic fabric & quilting shop: a deterministic order history with planted customer types.

`generate_store(spec)` returns the canonical order lines as a DataFrame plus the truth per
customer; `write_store(spec, out)` writes the canonical CSV (gzip when the name ends in `.gz`)
and the truth side file `<out without .csv/.csv.gz>.truth.csv`. The truth (planted type, alive
at the end, dropout date, acquisition date, lifecycle state at the end: new / established /
lapsed) is for tests and benchmarks only: it is never loaded into the database.

Purchase process (buy-till-you-die, BG/NBD-like): each customer makes a first purchase on their
acquisition date, then purchases as a Poisson process with their own rate (gamma-distributed
within their type's frequency band) while alive, and after each repeat purchase drops out with their own
probability (beta-distributed within their type). Time runs on a warped clock whose speed is the
day's weight (seasonality: holiday peak Nov-Dec, Black Friday week, spring bump, weekends), so
the process is exactly BG/NBD in "shopping time". One-time buyers never come back (a planted
extension). Each type may have its own clock (seasonal buyers shop almost only in Nov-Dec,
weekend crafters mostly on Saturdays and Sundays). Regular types drop out rarely (p ~ 0.5 % per
purchase, ~0.1 % for hobbyists who buy five times as often: about 5 % a year either way),
lapsing customers often (p ~ 33 %: a few purchases, then gone). Regular types are
acquired until 80 % of the period (late May of the last year), so each has at least seven
months of history at the end; the newcomers of the last months are gift and one-time buyers.
Without that, a regular acquired in the autumn looks like a gift buyer (most of their orders
fall in Nov-Dec) and like a newcomer.

Planted types and the axis (of discovery's eight: frequency, value, exploration,
price_sensitivity, cadence, maturity, repurchase, returns) on which each is meant to show,
everyone else staying ordinary there:

Frequency is planted in bands (FREQUENCY_BANDS, mean orders a year while alive, ±20 % spread
within a band): frequent ~52 (hobbyists), regular ~10 (discount hunters, premium loyalists,
weekend crafters, serial returners, lapsing while active), occasional ~1.5 (seasonal gift
buyers), one_time (one-time buyers). Maturity's truth is not a type but each customer's lifecycle
state at the end (`lifecycle_at_end`): new (first order in the last NEW_CUSTOMER_DAYS days),
established (alive) or lapsed (dropped out).

- frequent_hobbyist   frequency (frequent band) and exploration
- seasonal_gift_buyer cadence (~98 % of orders in Nov-Dec; gift cards, kits, precuts)
- discount_hunter     price_sensitivity (a code on ~92 % of orders vs <= ~10 %; cheapest SKUs)
- premium_loyalist    value (large orders of the dearest SKUs), exploration (one category),
                      repurchase (~80 % of lines from a personal basket of six SKUs)
- weekend_crafter     cadence (~80 % of orders on Sat/Sun, weekday orders in the evening)
- lapsing             maturity (first order in the first nine months, regular buying, then
                      dropout after a few purchases: long recency against a long tenure)
- one_time_buyer      frequency (exactly one order); maturity (recency equals tenure)
- serial_returner     returns (~70 % of orders partly returned, vs ~1.5 % for everyone else)

Returns are separate orders `R<original id>` a few days after the sale, with negative
quantities and the net unit price actually paid (line_discount 0). About 2 % of sale orders are
guest orders (empty customer_id). Names, emails (RFC 2606 domains) and phones (fictional ranges:
555-01xx, Ofcom's 020 7946 0xxx, ACMA's 02 5550 xxxx) are synthetic but look real, so privacy
tests have something to catch. Everything is whole-array NumPy: no loop per customer or order.
"""
from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from discovery.catalogue import CATEGORIES, CATEGORY_INDEX, build_catalogue, store_category_mix

CANONICAL_COLUMNS = (
    "order_id", "ordered_at", "customer_id", "email", "name", "phone", "country",
    "sku", "product_title", "category", "quantity", "unit_price", "line_discount", "discount_code",
)
TRUTH_COLUMNS = ("customer_id", "planted_type", "alive_at_end", "dropout_at", "acquired_at", "lifecycle_at_end")

DEFAULT_START = date(2022, 1, 1)
DEFAULT_END = date(2024, 12, 31)
FIRST_ORDER_NUMBER = 100_001
FIRST_CUSTOMER_NUMBER = 2_000_001
# A customer whose first order falls in the period's last this-many days is "new" at the end.
NEW_CUSTOMER_DAYS = 90

ProgressFn = Callable[..., None]


@dataclass(frozen=True)
class StoreSpec:
    """What to generate. The same spec always gives the same store, byte for byte."""

    customers: int = 27_000
    seed: int = 7
    start: date = DEFAULT_START
    end: date = DEFAULT_END
    guest_order_share: float = 0.02

    def __post_init__(self) -> None:
        if not isinstance(self.customers, (int, np.integer)) or self.customers < 1:
            raise ValueError(f"customers must be a whole number of at least 1, got {self.customers!r}")
        if self.customers > 5_000_000:
            raise ValueError(f"customers must be at most 5,000,000, got {self.customers:,}")
        if not (self.start < self.end):
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        if not (0 <= self.guest_order_share < 0.5):
            raise ValueError(f"guest_order_share must be in [0, 0.5), got {self.guest_order_share}")


@dataclass(frozen=True)
class TypeProfile:
    """How one planted type shops. Rates are per year of (warped) shopping time."""

    share: float                        # of customers
    frequency_band: str                 # key of FREQUENCY_BANDS: the Poisson rate while alive
    dropout_beta: tuple[float, float]   # Beta(a, b) of the dropout probability after each repeat
    lines_mean: float                   # lines per order = 1 + Poisson(lines_mean)
    extra_quantity: float               # added Poisson quantity per line (bulk buyers)
    discount_rate: float                # probability an order carries a discount code
    price_tier: tuple[float, float]     # Beta(a, b) of the price position inside a category
    repeat_share: float                 # probability a line is from the personal basket
    return_rate: float                  # probability a sale order is partly returned
    category_focus: float               # Dirichlet concentration around the category mix
    holiday_only: bool = False          # shops (almost) only in Nov-Dec
    weekend_boost: float = 1.0          # Sat/Sun weight multiplier
    evening: bool = False               # weekday orders in the evening
    acquired_until: float = 1.0         # acquisition window, as a fraction of the period
    one_time: bool = False              # never comes back


REGULARS_ACQUIRED_UNTIL = 0.8

# Purchase frequency is planted in bands, not per type: (mean orders a year while alive, gamma
# shape of the rate within the band). Shape 12 spreads rates by ~±30 % inside a band (the middle
# 95 % of regulars order 5 to 16 times a year) while neighbouring bands stay about 3× apart.
FREQUENCY_BANDS: dict[str, tuple[float, float]] = {
    "frequent": (52.0, 25.0),
    "regular": (10.0, 25.0),
    "occasional": (1.5, 25.0),
    "one_time": (0.0, 1.0),
}

PLANTED_TYPES: dict[str, TypeProfile] = {
    "frequent_hobbyist": TypeProfile(0.13, "frequent", (1.5, 1500.0), 0.6, 0.0, 0.08, (1.3, 1.3), 0.10, 0.015, 60.0,
                                     acquired_until=REGULARS_ACQUIRED_UNTIL),
    "seasonal_gift_buyer": TypeProfile(0.12, "occasional", (2.0, 30.0), 0.9, 0.0, 0.10, (1.3, 1.3), 0.05, 0.015, 3.0,
                                       holiday_only=True),
    "discount_hunter": TypeProfile(0.13, "regular", (1.5, 300.0), 1.2, 0.0, 0.92, (0.9, 4.0), 0.10, 0.015, 6.0,
                                   acquired_until=REGULARS_ACQUIRED_UNTIL),
    "premium_loyalist": TypeProfile(0.10, "regular", (1.5, 300.0), 2.0, 5.0, 0.04, (6.0, 1.2), 0.80, 0.015, 0.0,
                                    acquired_until=REGULARS_ACQUIRED_UNTIL),
    "weekend_crafter": TypeProfile(0.13, "regular", (1.5, 300.0), 1.35, 0.0, 0.08, (1.3, 1.3), 0.10, 0.015, 6.0,
                                   weekend_boost=10.0, evening=True, acquired_until=REGULARS_ACQUIRED_UNTIL),
    "lapsing": TypeProfile(0.12, "regular", (6.0, 12.0), 2.6, 0.0, 0.08, (1.3, 1.3), 0.10, 0.015, 6.0,
                           acquired_until=0.25),
    "one_time_buyer": TypeProfile(0.14, "one_time", (1.0, 1.0), 1.6, 0.0, 0.08, (1.3, 1.3), 0.0, 0.015, 6.0,
                                  one_time=True),
    "serial_returner": TypeProfile(0.13, "regular", (1.5, 300.0), 1.55, 0.0, 0.08, (1.3, 1.3), 0.10, 0.70, 6.0,
                                   acquired_until=REGULARS_ACQUIRED_UNTIL),
}
TYPE_NAMES = tuple(PLANTED_TYPES)

# Which planted types each discovery axis is meant to separate from everyone else ("ordinary"):
# the expected grouping for recovery checks (adjusted Rand index of dominant segments vs these).
PLANTED_AXES: dict[str, dict[str, str]] = {
    # Every type is in a frequency band (FREQUENCY_BANDS), so there is no "ordinary" here.
    "frequency": {name: profile.frequency_band for name, profile in PLANTED_TYPES.items()},
    "value": {"premium_loyalist": "premium"},
    "exploration": {"frequent_hobbyist": "explorer", "premium_loyalist": "single_category"},
    "price_sensitivity": {"discount_hunter": "deal_seeker"},
    "cadence": {"seasonal_gift_buyer": "holiday", "weekend_crafter": "weekend"},
    "repurchase": {"premium_loyalist": "replenisher"},
    "returns": {"serial_returner": "serial_returner"},
}
# Axes whose truth is a state each customer is in at the end of the history, not a planted type:
# maturity is the lifecycle (new / established / lapsed), which every type passes through.
STATE_AXES: dict[str, str] = {"maturity": "lifecycle_at_end"}


def axis_labels(truth: pd.DataFrame, axis: str) -> pd.Series:
    """Each customer's expected group on `axis` (indexed like `truth`): the customer's state for a
    state axis (maturity), else their planted type's label on that axis or 'ordinary'."""
    if axis in STATE_AXES:
        return truth[STATE_AXES[axis]].rename(axis)
    if axis not in PLANTED_AXES:
        raise KeyError(f"unknown axis {axis!r}; the axes are {', '.join([*PLANTED_AXES, *STATE_AXES])}")
    return truth["planted_type"].map(PLANTED_AXES[axis]).fillna("ordinary").rename(axis)


# Guests get the store's average behaviour; they are the extra profile after the planted ones.
_GUEST = TypeProfile(0.0, "one_time", (1.0, 1.0), 1.5, 0.0, 0.0, (1.3, 1.3), 0.0, 0.0, 6.0)
_PROFILES = tuple(PLANTED_TYPES.values()) + (_GUEST,)

# Premium loyalists each stick to one of the categories where a dear product exists.
_PREMIUM_CATEGORIES = np.array([CATEGORY_INDEX[k] for k in (
    "quilting_cotton", "wide_backing", "precuts", "batting", "tools", "wool_felt")])
_SEASONAL_MIX = {"gift_cards": 0.32, "kits": 0.22, "precuts": 0.22, "patterns": 0.10,
                 "tools": 0.06, "notions": 0.04, "quilting_cotton": 0.04}

_MONTH_WEIGHT = np.array([0.9, 0.9, 1.15, 1.2, 1.05, 0.85, 0.8, 0.85, 1.0, 1.05, 1.1, 1.1])
_WEEKDAY_WEIGHT = np.array([1.0, 0.97, 0.97, 1.0, 0.95, 1.05, 1.0])  # Monday first
_HOURS_DAY = np.array([1, .5, .3, .2, .2, .3, .8, 1.5, 2.5, 3.5, 4, 4.2, 4.5, 4.2, 4, 3.8, 3.5, 3.5,
                       3.8, 4.2, 4.3, 3.5, 2.5, 1.5])
_HOURS_EVENING = np.array([1.5, .6, .2, .1, .1, .1, .2, .3, .4, .4, .4, .4, .5, .4, .4, .4, .5, 1.5,
                           5, 7, 8, 7, 5, 3])

# (code, percent off). Codes are chosen by date: Black Friday week, spring sale, or a generic one.
DISCOUNT_CODES = (("WELCOME10", 0.10), ("BFCM25", 0.25), ("SPRING15", 0.15), ("SEW15", 0.15),
                  ("NEWSLETTER10", 0.10), ("QUILTALONG20", 0.20), ("FLASH30", 0.30))
_GENERIC_CODES = np.array([3, 4, 5, 6])
_GENERIC_CODE_WEIGHTS = np.array([0.3, 0.3, 0.2, 0.2])

_FIRST_NAMES = ("Mary", "Linda", "Susan", "Karen", "Nancy", "Donna", "Carol", "Sandra", "Sharon",
                "Deborah", "Judy", "Janet", "Diane", "Joyce", "Ruth", "Cheryl", "Emma", "Olivia",
                "Ava", "Sophia", "Grace", "Chloe", "Hannah", "Megan", "Laura", "Rachel", "Amy",
                "Heather", "Molly", "Ellen", "Rosa", "Priya", "Mei", "Aiko", "Fatima", "Ingrid",
                "James", "Robert", "David", "Michael", "Thomas", "Daniel", "Paul", "Mark",
                "Samuel", "Noah", "Liam", "Ethan")
_LAST_NAMES = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
               "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White",
               "Harris", "Clark", "Lewis", "Walker", "Hall", "Allen", "Young", "King", "Wright",
               "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell",
               "Roberts", "Carter", "Phillips", "Evans", "Turner", "Parker", "Collins", "Murphy",
               "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Nguyen",
               "Patel", "Kowalski", "Lindqvist", "O'Brien", "Okafor", "Tanaka", "Garcia")
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
_COUNTRIES = ("US", "CA", "GB", "AU")
_COUNTRY_WEIGHTS = np.array([0.78, 0.09, 0.08, 0.05])
_NANP_AREA_CODES = {"US": ("212", "312", "415", "503", "617", "720", "206", "404", "612", "919"),
                    "CA": ("416", "604", "613", "403", "902")}


@dataclass
class _Store:
    """Everything generated, as parallel arrays; turned into a frame or a CSV at the end."""

    # one entry per line, already in output order
    order_number: np.ndarray
    is_return: np.ndarray
    ordered_at: np.ndarray      # datetime64[s]
    customer: np.ndarray        # index into the customer arrays; `customers` for guests
    sku: np.ndarray             # index into the catalogue
    quantity: np.ndarray
    unit_price_cents: np.ndarray
    line_discount_cents: np.ndarray
    code: np.ndarray            # index into DISCOUNT_CODES, -1 for none
    order_country: np.ndarray   # index into _COUNTRIES (guests have one too)
    # one entry per customer
    customer_id: np.ndarray
    email: np.ndarray
    name: np.ndarray
    phone: np.ndarray
    country: np.ndarray
    planted_type: np.ndarray
    alive_at_end: np.ndarray
    dropout_at: np.ndarray      # datetime64[D], NaT while alive
    acquired_at: np.ndarray     # datetime64[D], the first order's day
    lifecycle_at_end: np.ndarray  # "new", "established" or "lapsed"


def _noop(done: int, total: int | None = None, note: str = "") -> None:
    return None


def _days(spec: StoreSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every day of the period with its month (1-12), weekday (Mon=0) and day of month."""
    days = np.arange(np.datetime64(spec.start, "D"), np.datetime64(spec.end, "D") + 1)
    months = days.astype("datetime64[M]")
    month = months.astype(np.int64) % 12 + 1
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    day_of_month = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return days, month, weekday, day_of_month


def _day_weights(month: np.ndarray, weekday: np.ndarray, day_of_month: np.ndarray) -> np.ndarray:
    """Per profile, each day's shopping intensity, normalised to mean 1 (so rates are per day)."""
    black_friday_week = ((month == 11) & (day_of_month >= 22)) | ((month == 12) & (day_of_month <= 2))
    store = _MONTH_WEIGHT[month - 1] * _WEEKDAY_WEIGHT[weekday] * np.where(black_friday_week, 1.4, 1.0)
    weights = np.empty((len(_PROFILES), len(month)))
    for row, profile in enumerate(_PROFILES):  # one row per profile (nine), not per customer
        w = store * np.where(weekday >= 5, profile.weekend_boost, 1.0)
        if profile.holiday_only:
            w = w * np.where(month >= 11, 1.0, 0.004)
        weights[row] = w / w.mean()
    return weights


def _profile_array(field: str) -> np.ndarray:
    return np.array([getattr(p, field) for p in _PROFILES], dtype=float)


def _group_positions(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., n-1 for each group of the given sizes, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _zero_padded(numbers: np.ndarray, width: int) -> np.ndarray:
    """Whole numbers as zero-padded text (object array); empty in, empty out."""
    return pd.Series(numbers, dtype="int64").astype(str).str.zfill(width).to_numpy(dtype=object)


def _customer_identities(rng: np.random.Generator, n: int):
    """Ids, names, emails, phones and countries: synthetic, in reserved/fictional ranges."""
    number = np.arange(FIRST_CUSTOMER_NUMBER, FIRST_CUSTOMER_NUMBER + n)
    first = np.array(_FIRST_NAMES, dtype=object)[rng.integers(0, len(_FIRST_NAMES), n)]
    last = np.array(_LAST_NAMES, dtype=object)[rng.integers(0, len(_LAST_NAMES), n)]
    name = first + " " + last
    local = (pd.Series(first).str.lower() + "." + pd.Series(last).str.lower().str.replace("'", "", regex=False)
             + (number - FIRST_CUSTOMER_NUMBER + 1).astype(str).astype(object)).to_numpy(dtype=object)
    domain = np.array(_EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(_EMAIL_DOMAINS), n)]
    email = local + "@" + domain
    country = rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_WEIGHTS)
    phone = np.empty(n, dtype=object)
    for code, areas in _NANP_AREA_CODES.items():  # per country (four), not per customer
        mask = country == _COUNTRIES.index(code)
        area = np.array(areas, dtype=object)[rng.integers(0, len(areas), mask.sum())]
        line = _zero_padded(rng.integers(0, 100, mask.sum()), 2)
        phone[mask] = "+1 (" + area + ") 555-01" + line
    gb = country == _COUNTRIES.index("GB")
    phone[gb] = "+44 20 7946 0" + _zero_padded(rng.integers(0, 1000, gb.sum()), 3)
    au = country == _COUNTRIES.index("AU")
    phone[au] = "+61 2 5550 " + _zero_padded(rng.integers(0, 10_000, au.sum()), 4)
    return number.astype(str).astype(object), email, name, phone, country


def _category_preferences(rng: np.random.Generator, types: np.ndarray) -> np.ndarray:
    """Each customer's share of lines per category (rows sum to 1); guests last, at the store mix."""
    mix = store_category_mix()
    n, n_categories = len(types), len(mix)
    focus = _profile_array("category_focus")[types]
    alpha = np.broadcast_to(mix, (n, n_categories)) * focus[:, None]
    seasonal_mix = np.zeros(n_categories)
    for key, share in _SEASONAL_MIX.items():
        seasonal_mix[CATEGORY_INDEX[key]] = share
    seasonal = types == TYPE_NAMES.index("seasonal_gift_buyer")
    alpha = np.where(seasonal[:, None], seasonal_mix * 12.0 + 1e-3, alpha)
    hunters = types == TYPE_NAMES.index("discount_hunter")  # gift cards and kits are never cheap
    alpha = np.where(hunters[:, None] & (np.isin(np.arange(n_categories),
                     [CATEGORY_INDEX["gift_cards"], CATEGORY_INDEX["kits"]])), 1e-3, alpha)
    draws = rng.gamma(np.maximum(alpha, 1e-3)) + 1e-12
    prefs = draws / draws.sum(axis=1, keepdims=True)
    premium = types == TYPE_NAMES.index("premium_loyalist")
    favourite = _PREMIUM_CATEGORIES[rng.integers(0, len(_PREMIUM_CATEGORIES), n)]
    one_category = np.full((n, n_categories), 0.02 / (n_categories - 1))
    one_category[np.arange(n), favourite] = 0.98
    prefs = np.where(premium[:, None], one_category, prefs)
    return np.vstack([prefs, mix])


def _draw_skus(rng: np.random.Generator, cumulative_prefs: np.ndarray, rows: np.ndarray,
               tier_a: np.ndarray, tier_b: np.ndarray) -> np.ndarray:
    """One SKU per entry of `rows` (a preference row): category from the row, price tier from Beta."""
    catalogue = build_catalogue()
    n_categories = cumulative_prefs.shape[1]
    # Rows live in [0, 1]; shifting row r by 2r makes one sorted array, so one searchsorted
    # finds every entry's category at once.
    flat = (cumulative_prefs + 2.0 * np.arange(len(cumulative_prefs))[:, None]).ravel()
    u = rng.random(len(rows))
    category = np.searchsorted(flat, u + 2.0 * rows, side="right") - rows * n_categories
    category = np.clip(category, 0, n_categories - 1)
    position = rng.beta(tier_a, tier_b)
    size = catalogue.category_size[category]
    return catalogue.category_start[category] + np.minimum((position * size).astype(np.int64), size - 1)


def _simulate(spec: StoreSpec, progress: ProgressFn) -> _Store:
    rng = np.random.default_rng(spec.seed)
    catalogue = build_catalogue()
    n = spec.customers
    days, month, weekday, day_of_month = _days(spec)
    n_days = len(days)
    weights = _day_weights(month, weekday, day_of_month)
    cumulative = np.cumsum(weights, axis=1)
    n_profiles = len(_PROFILES)
    guest_profile = n_profiles - 1

    # --- customers: type, rate, dropout probability, acquisition --------------------------
    shares = np.array([p.share for p in PLANTED_TYPES.values()])
    types = rng.choice(len(TYPE_NAMES), size=n, p=shares / shares.sum())
    band_rate, band_shape = np.array([FREQUENCY_BANDS[p.frequency_band] for p in PLANTED_TYPES.values()]).T
    shape = band_shape[types]
    rate = rng.gamma(shape, band_rate[types] / shape) / 365.0
    beta_ab = np.array([p.dropout_beta for p in _PROFILES])
    dropout = rng.beta(beta_ab[types, 0], beta_ab[types, 1])
    one_time = _profile_array("one_time")[types].astype(bool)
    repeats_until_dropout = np.where(one_time, 0, rng.geometric(np.clip(dropout, 1e-6, 1.0)))

    growth = 1.0 + 0.3 * np.arange(n_days) / n_days  # the shop acquires more customers each year
    window = np.arange(n_days)[None, :] < (_profile_array("acquired_until")[:, None] * n_days)
    acquisition = np.cumsum(weights * growth * window, axis=1)
    birth_day = _searchsorted_rows(acquisition, types, rng.random(n) * acquisition[types, -1])
    birth_clock = cumulative[types, birth_day] - weights[types, birth_day] * rng.random(n)
    progress(1, 6, "customers")

    # --- repeat purchases: gaps are exponential in shopping time -----------------------------
    horizon = float(n_days)  # each profile's clock runs from 0 to n_days (weights have mean 1)
    expected = rate * (horizon - birth_clock)
    bound = np.ceil(expected + 6.0 * np.sqrt(expected) + 6.0).astype(np.int64)
    slots = np.minimum(repeats_until_dropout, bound)
    owner = np.repeat(np.arange(n), slots)
    gaps = rng.exponential(size=len(owner)) / rate[owner]
    running = np.cumsum(gaps)
    group_start = np.cumsum(slots) - slots
    before_group = np.repeat(running[group_start[slots > 0]] - gaps[group_start[slots > 0]], slots[slots > 0])
    repeat_clock = birth_clock[owner] + (running - before_group)
    kept = repeat_clock < horizon
    owner, repeat_clock = owner[kept], repeat_clock[kept]
    repeats_seen = np.bincount(owner, minlength=n)
    alive = repeats_seen < repeats_until_dropout
    progress(2, 6, "purchases")

    # --- sale orders: customers' and guests' -------------------------------------------------
    order_customer = np.concatenate([np.arange(n), owner])
    order_clock = np.concatenate([birth_clock, repeat_clock])
    order_first = np.concatenate([np.ones(n, bool), np.zeros(len(owner), bool)])
    order_profile = types[order_customer]
    order_day = _searchsorted_rows(cumulative, order_profile, order_clock)
    last_sale_day = np.full(n, -1)
    np.maximum.at(last_sale_day, order_customer, order_day)
    n_guest = int(round(spec.guest_order_share * len(order_customer)))
    guest_day = _searchsorted_rows(cumulative, np.full(n_guest, guest_profile), rng.random(n_guest) * horizon)
    order_customer = np.concatenate([order_customer, np.full(n_guest, n)])
    order_profile = np.concatenate([order_profile, np.full(n_guest, guest_profile)])
    order_day = np.concatenate([order_day, guest_day])
    order_first = np.concatenate([order_first, np.zeros(n_guest, bool)])
    n_orders = len(order_customer)

    # Hour of day: evening shoppers' weekday orders follow the evening curve.
    evening = _profile_array("evening")[order_profile].astype(bool) & (weekday[order_day] < 5)
    hour_tables = np.cumsum(np.vstack([_HOURS_DAY / _HOURS_DAY.sum(), _HOURS_EVENING / _HOURS_EVENING.sum()]), axis=1)
    hour = _searchsorted_rows(hour_tables, evening.astype(np.int64), rng.random(n_orders) * hour_tables[0, -1])
    seconds = (order_day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n_orders)).astype(np.int64)

    # Order numbers follow time, as a shop's do.
    chronological = np.argsort(seconds, kind="stable")
    order_number = np.empty(n_orders, dtype=np.int64)
    order_number[chronological] = FIRST_ORDER_NUMBER + np.arange(n_orders)

    uses_code = rng.random(n_orders) < _profile_array("discount_rate")[order_profile]
    welcome = order_first & ~uses_code & (rng.random(n_orders) < 0.10)
    code = _GENERIC_CODES[rng.choice(len(_GENERIC_CODES), size=n_orders, p=_GENERIC_CODE_WEIGHTS)]
    o_month, o_dom = month[order_day], day_of_month[order_day]
    code = np.where(((o_month == 11) & (o_dom >= 22)) | ((o_month == 12) & (o_dom <= 2)), 1, code)
    code = np.where(((o_month == 3) & (o_dom >= 15)) | (o_month == 4), 2, code)
    code = np.where(welcome, 0, np.where(uses_code, code, -1))
    percent_off = np.concatenate([[p for _, p in DISCOUNT_CODES], [0.0]])[code]
    progress(3, 6, "orders")

    # --- sale lines ------------------------------------------------------------------------
    lines_per_order = 1 + rng.poisson(_profile_array("lines_mean")[order_profile])
    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    line_profile = order_profile[line_order]
    line_customer = order_customer[line_order]
    prefs = np.cumsum(_category_preferences(rng, types), axis=1)
    prefs[:, -1] = 1.0
    tier = np.array([p.price_tier for p in _PROFILES])
    line_sku = _draw_skus(rng, prefs, line_customer, tier[line_profile, 0], tier[line_profile, 1])

    basket_size = 6
    basket_rows = np.repeat(np.arange(n), basket_size)
    basket = _draw_skus(rng, prefs, basket_rows, tier[types[basket_rows], 0],
                        tier[types[basket_rows], 1]).reshape(n, basket_size)
    from_basket = (rng.random(len(line_sku)) < _profile_array("repeat_share")[line_profile]) & (line_customer < n)
    pick = rng.integers(0, basket_size, len(line_sku))
    line_sku = np.where(from_basket, basket[np.minimum(line_customer, n - 1), pick], line_sku)

    line_category = catalogue.category[line_sku]
    fabric = np.isin(line_category, [CATEGORY_INDEX[k] for k in ("quilting_cotton", "wide_backing", "wool_felt")])
    gift_card = line_category == CATEGORY_INDEX["gift_cards"]
    # Bulk buyers buy more yardage, not more rotary cutters.
    extra = np.where(fabric, _profile_array("extra_quantity")[line_profile], 0.0)
    quantity = 1 + rng.poisson(np.where(fabric, 1.3, 0.25)) + rng.poisson(extra)
    quantity = np.where(gift_card, 1, quantity).astype(np.int64)
    unit_price = catalogue.price_cents[line_sku]
    # Codes never apply to gift cards, as in most shops.
    line_discount = np.where(gift_card, 0, np.round(quantity * unit_price * percent_off[line_order])).astype(np.int64)
    progress(4, 6, "lines")

    # --- returns: a later order R<id> with some of the lines, at the net price paid ---------------
    returned = (rng.random(n_orders) < _profile_array("return_rate")[order_profile]) & (order_customer < n)
    return_seconds = seconds + rng.integers(2 * 86_400, 30 * 86_400, n_orders)
    returned &= return_seconds < n_days * 86_400
    line_returned = returned[line_order] & (rng.random(len(line_order)) < 0.7)
    # at least one line of each returned order comes back
    first_line = _group_positions(lines_per_order) == 0
    any_back = np.zeros(n_orders, bool)
    any_back[line_order[line_returned]] = True
    line_returned |= first_line & returned[line_order] & ~any_back[line_order]
    r = np.flatnonzero(line_returned)
    partial = (rng.random(len(r)) < 0.2) & (quantity[r] > 1)
    returned_quantity = np.where(partial, rng.integers(1, np.maximum(quantity[r], 2)), quantity[r])
    net_unit = np.round((quantity[r] * unit_price[r] - line_discount[r]) / quantity[r]).astype(np.int64)
    progress(5, 6, "returns")

    # --- all lines in output order: by time, sale before its return, line order kept ----------
    sale_seconds = seconds[line_order]
    all_seconds = np.concatenate([sale_seconds, return_seconds[line_order[r]]])
    all_return = np.concatenate([np.zeros(len(line_order), bool), np.ones(len(r), bool)])
    all_number = np.concatenate([order_number[line_order], order_number[line_order[r]]])
    position = np.concatenate([np.arange(len(line_order)), r])
    output = np.lexsort((position, all_return, all_number, all_seconds))
    all_order = np.concatenate([line_order, line_order[r]])[output]

    customer_id, email, name, phone, country = _customer_identities(rng, n)
    guest_country = rng.choice(len(_COUNTRIES), size=n_orders, p=_COUNTRY_WEIGHTS)
    order_country = np.where(order_customer < n, np.append(country, 0)[order_customer], guest_country)

    dropout_at = np.where(alive, np.datetime64("NaT", "D"),
                          days[np.clip(last_sale_day, 0, n_days - 1)])
    # The lifecycle state at the end: recently acquired, else alive (established) or dropped out
    # (lapsed). Dropout is the generator's fact, so a customer who dropped out last week is lapsed
    # here even though the orders cannot show it yet.
    first_sale_day = order_day[:n]
    lifecycle = np.where(first_sale_day >= n_days - NEW_CUSTOMER_DAYS, "new",
                         np.where(alive, "established", "lapsed")).astype(object)
    store = _Store(
        order_number=all_number[output],
        is_return=all_return[output],
        ordered_at=np.datetime64(spec.start, "s") + all_seconds[output].astype("timedelta64[s]"),
        customer=order_customer[all_order],
        sku=np.concatenate([line_sku, line_sku[r]])[output],
        quantity=np.concatenate([quantity, -returned_quantity])[output],
        unit_price_cents=np.concatenate([unit_price, net_unit])[output],
        line_discount_cents=np.concatenate([line_discount, np.zeros(len(r), np.int64)])[output],
        code=np.concatenate([code[line_order], np.full(len(r), -1)])[output],
        order_country=order_country[all_order],
        customer_id=customer_id, email=email, name=name, phone=phone, country=country,
        planted_type=types, alive_at_end=alive, dropout_at=dropout_at,
        acquired_at=days[first_sale_day], lifecycle_at_end=lifecycle,
    )
    progress(6, 6, "done")
    return store


def _searchsorted_rows(cumulative: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each (row, value): the first column whose cumulative weight exceeds value, per row.

    Each row of `cumulative` is increasing from ~0 to its last entry; offsetting row r by r times
    (max + 1) concatenates them into one sorted array, so one searchsorted answers every entry."""
    width = cumulative.shape[1]
    span = float(cumulative[:, -1].max()) + 1.0
    flat = (cumulative + span * np.arange(len(cumulative))[:, None]).ravel()
    column = np.searchsorted(flat, values + span * rows, side="right") - rows * width
    return np.clip(column, 0, width - 1)


# --- output -----------------------------------------------------------------------------------

def _money_text(cents: np.ndarray) -> pa.Array:
    """Cents as `D.CC` text, whole-array (no Python formatting per value)."""
    dollars = pc.cast(pa.array(cents // 100), pa.string())
    rest = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    return pc.binary_join_element_wise(dollars, rest, ".")


def _with_null_last(values: np.ndarray) -> pa.Array:
    """Customer attribute arrays plus a trailing null, so guests (index n) take an empty value."""
    return pa.concat_arrays([pa.array(values, type=pa.string()), pa.nulls(1, pa.string())])


def _orders_table(store: _Store, money_as_text: bool) -> pa.Table:
    catalogue = build_catalogue()
    number_text = pc.cast(pa.array(store.order_number), pa.string())
    order_id = pc.if_else(pa.array(store.is_return),
                          pc.binary_join_element_wise(pa.scalar("R"), number_text, ""), number_text)
    customer = pa.array(store.customer)
    codes = pa.array([c for c, _ in DISCOUNT_CODES] + [None], type=pa.string())
    countries = pa.array(list(_COUNTRIES), type=pa.string())
    category_names = pa.array([c[1] for c in CATEGORIES], type=pa.string())
    sku = pa.array(store.sku)
    if money_as_text:
        unit_price, line_discount = _money_text(store.unit_price_cents), _money_text(store.line_discount_cents)
    else:
        unit_price = pa.array(store.unit_price_cents / 100.0)
        line_discount = pa.array(store.line_discount_cents / 100.0)
    columns = {
        "order_id": order_id,
        "ordered_at": pa.array(store.ordered_at, type=pa.timestamp("s")),
        "customer_id": _with_null_last(store.customer_id).take(customer),
        "email": _with_null_last(store.email).take(customer),
        "name": _with_null_last(store.name).take(customer),
        "phone": _with_null_last(store.phone).take(customer),
        "country": countries.take(pa.array(store.order_country)),
        "sku": pa.array(catalogue.sku, type=pa.string()).take(sku),
        "product_title": pa.array(catalogue.title, type=pa.string()).take(sku),
        "category": category_names.take(pa.array(catalogue.category)).take(sku),
        "quantity": pa.array(store.quantity),
        "unit_price": unit_price,
        "line_discount": line_discount,
        "discount_code": codes.take(pa.array(np.where(store.code < 0, len(DISCOUNT_CODES), store.code))),
    }
    assert tuple(columns) == CANONICAL_COLUMNS
    return pa.table(columns)


def _truth_frame(store: _Store) -> pd.DataFrame:
    dropout = pd.Series(store.dropout_at).dt.strftime("%Y-%m-%d")
    return pd.DataFrame({
        "customer_id": store.customer_id.astype(str),
        "planted_type": np.array(TYPE_NAMES, dtype=object)[store.planted_type],
        "alive_at_end": store.alive_at_end.astype(np.int64),
        "dropout_at": dropout.where(dropout.notna(), None),
        "acquired_at": pd.Series(store.acquired_at).dt.strftime("%Y-%m-%d"),
        "lifecycle_at_end": store.lifecycle_at_end,
    })


def generate_store(spec: StoreSpec, progress: ProgressFn | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store as (canonical order lines, truth per customer), without touching the disk.

    Order lines have the canonical columns: `ordered_at` as naive UTC datetimes, money as floats
    with two decimals, empty customer fields (guests) and absent codes as missing values."""
    store = _simulate(spec, progress or _noop)
    orders = _orders_table(store, money_as_text=False).to_pandas()
    return orders, _truth_frame(store)


def truth_path_for(out: Path) -> Path:
    """`shop.csv.gz` -> `shop.truth.csv`; `shop.csv` -> `shop.truth.csv`."""
    name = out.name
    for suffix in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return out.with_name(name + ".truth.csv")


def write_store(spec: StoreSpec, out: Path, progress: ProgressFn | None = None) -> Path:
    """Write the canonical CSV (gzip if `out` ends in .gz) and the truth file; returns the truth path."""
    out = Path(out)
    if out.parent and not out.parent.exists():
        raise FileNotFoundError(f"cannot write {out}: folder {out.parent} does not exist")
    store = _simulate(spec, progress or _noop)
    table = _orders_table(store, money_as_text=True)
    # mtime=0 and no file name in the gzip header: the same seed gives the same bytes. Level 1:
    # half the time of level 3 for a file only ~7 % bigger (the CSV is very repetitive).
    with open(out, "wb") as raw:
        sink = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0, filename="") \
            if out.name.endswith(".gz") else raw
        try:
            sink.write((",".join(CANONICAL_COLUMNS) + "\n").encode())
            buffer = io.BytesIO()
            # quoting "none" raises if any value held a comma or quote: the catalogue and the
            # names are built without them, and this keeps the file small and fast to write.
            pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="none",
                                                               batch_size=65_536))
            sink.write(buffer.getbuffer())
        finally:
            if sink is not raw:
                sink.close()
    truth = truth_path_for(out)
    _truth_frame(store).to_csv(truth, index=False, lineterminator="\n")
    return truth


def read_truth(path: Path) -> pd.DataFrame:
    """The truth side file, with customer ids as text and dropout/acquisition dates as dates."""
    frame = pd.read_csv(path, dtype={"customer_id": str, "planted_type": str, "lifecycle_at_end": str})
    frame["dropout_at"] = pd.to_datetime(frame["dropout_at"])
    frame["acquired_at"] = pd.to_datetime(frame["acquired_at"])
    return frame
