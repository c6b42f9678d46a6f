"""The synthetic fabric & quilting shop's product catalogue (~1,500 SKUs), fixed and deterministic.

The catalogue is the shop, not the sample: it is built from its own constant seed, so every
synthetic store (whatever its seed) sells the same products at the same prices. Within each
category SKUs are sorted by price, so a position in the category is a price tier: the generator
draws cheap SKUs for bargain hunters and dear ones for premium buyers by position alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# (key, display name, SKU prefix, number of SKUs, lowest price, highest price, share of the
# store's lines). Prices are per unit as sold: fabric per half yard, precuts per bundle.
CATEGORIES: tuple[tuple[str, str, str, int, float, float, float], ...] = (
    ("quilting_cotton", "Quilting Cotton", "QC", 560, 9.0, 16.5, 0.36),
    ("wide_backing", "Wide Backing", "WB", 40, 21.0, 40.0, 0.03),
    ("precuts", "Pre-cuts & Fat Quarters", "PC", 160, 10.0, 65.0, 0.12),
    ("batting", "Batting", "BT", 40, 9.0, 95.0, 0.05),
    ("thread", "Thread", "TH", 220, 3.5, 16.0, 0.13),
    ("notions", "Notions", "NO", 160, 2.5, 20.0, 0.11),
    ("patterns", "Patterns", "PT", 150, 8.0, 16.0, 0.07),
    ("kits", "Kits", "KT", 70, 49.0, 229.0, 0.03),
    ("tools", "Tools", "TL", 70, 9.0, 129.0, 0.04),
    ("wool_felt", "Wool & Felt", "WF", 90, 4.0, 32.0, 0.04),
    ("gift_cards", "Gift Cards", "GC", 6, 25.0, 200.0, 0.02),
)
CATEGORY_KEYS = tuple(c[0] for c in CATEGORIES)
CATEGORY_INDEX = {key: i for i, key in enumerate(CATEGORY_KEYS)}
GIFT_CARD_PRICES = (25.0, 50.0, 75.0, 100.0, 150.0, 200.0)

_COLLECTIONS = ("Meadow Lane", "Harbor Mist", "Prairie Rose", "Winter Cabin", "Garden Party",
                "Blue Ridge", "Sunday Best", "Orchard Row", "Tidewater", "Hearthstone",
                "Wildflower", "Canyon Dusk", "Kitchen Table", "Old Mill", "Sea Glass", "Fox Hollow")
_MOTIFS = ("Ditsy Floral", "Gingham", "Tonal Dot", "Stripe", "Paisley", "Leaf Toss", "Plaid",
           "Geometric", "Crosshatch", "Feathers", "Starburst", "Berries", "Blender", "Text Print")
_COLOURS = ("Navy", "Cream", "Rust", "Sage", "Charcoal", "Blush", "Mustard", "Teal", "Red",
            "Lavender", "Ochre", "Aqua", "Plum", "Ivory", "Forest", "Coral", "Slate", "Gold")
_PRECUTS = ("Fat Quarter Bundle 12pc", "Fat Quarter Bundle 24pc", "Jelly Roll 40 Strips",
            "Charm Pack 42 Squares", "Layer Cake 42 Squares", "Fat Eighth Bundle 16pc")
_BATTING = ("Cotton Batting", "Wool Batting", "Bamboo Blend Batting", "Poly Batting",
            "Cotton Poly 80/20 Batting")
_BATTING_SIZES = ("Crib 45x60", "Throw 60x60", "Twin 72x90", "Queen 90x108", "King 120x120",
                  "By the Yard 96in")
_THREAD = ("50wt Cotton Thread", "40wt Quilting Thread", "Polyester All-Purpose Thread",
           "Silk Finish Cotton Thread", "Hand Quilting Thread", "Variegated Thread")
_NOTIONS = ("Flower Head Pins", "Wonder Clips 50pc", "Hand Needles Assorted", "Marking Pen",
            "Seam Ripper", "Thimble", "Bias Tape Maker", "Basting Spray", "Fabric Glue Pen",
            "Safety Pins 100pc", "Needle Threader", "Chalk Pencil Set")
_PATTERN_ADJ = ("Modern", "Scrappy", "Log Cabin", "Flying Geese", "Star", "Nine Patch",
                "Churn Dash", "Hexie", "Baby", "Table Runner", "Sampler", "Mini")
_PATTERN_NOUN = ("Quilt Pattern", "Quilt Pattern (PDF)", "Block of the Month Pattern",
                 "Wall Hanging Pattern", "Runner Pattern")
_KITS = ("Quilt Kit", "Throw Quilt Kit", "Table Runner Kit", "Baby Quilt Kit",
         "Mystery Quilt Kit", "Pillow Kit")
_TOOLS = ("Rotary Cutter 45mm", "Rotary Cutter 60mm", "Quilting Ruler 6x24",
          "Square Ruler 12.5in", "Self-Healing Mat 18x24", "Self-Healing Mat 24x36",
          "Fabric Shears 8in", "Thread Snips", "Mini Iron", "Wool Pressing Mat")
_WOOL = ("Wool Felt Sheet 9x12", "Hand-Dyed Wool Fat Quarter", "Wool Felt Bundle 10pc",
         "Felt Roll 36in", "Wool Applique Pack")


@dataclass(frozen=True)
class Catalogue:
    """Parallel arrays, one entry per SKU, grouped by category and sorted by price inside it."""

    sku: np.ndarray            # object: "QC-0001"
    title: np.ndarray          # object
    category: np.ndarray       # int: index into CATEGORIES
    price_cents: np.ndarray    # int64
    category_start: np.ndarray  # first SKU index of each category
    category_size: np.ndarray   # SKUs per category

    @property
    def category_names(self) -> np.ndarray:
        return np.array([c[1] for c in CATEGORIES], dtype=object)

    def __len__(self) -> int:
        return len(self.sku)


def _pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(words, dtype=object)[rng.integers(0, len(words), n)]


def _titles(key: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Plausible titles; never containing commas or quotes so the CSV needs no quoting."""
    if key == "quilting_cotton":
        return _pick(rng, _COLLECTIONS, n) + " " + _pick(rng, _MOTIFS, n) + " " + _pick(rng, _COLOURS, n) + " (1/2 yd)"
    if key == "wide_backing":
        return "108in Wide Backing " + _pick(rng, _MOTIFS, n) + " " + _pick(rng, _COLOURS, n) + " (1/2 yd)"
    if key == "precuts":
        return _pick(rng, _COLLECTIONS, n) + " " + _pick(rng, _PRECUTS, n)
    if key == "batting":
        return _pick(rng, _BATTING, n) + " " + _pick(rng, _BATTING_SIZES, n)
    if key == "thread":
        return _pick(rng, _THREAD, n) + " " + _pick(rng, _COLOURS, n)
    if key == "notions":
        return _pick(rng, _NOTIONS, n)
    if key == "patterns":
        return _pick(rng, _PATTERN_ADJ, n) + " " + _pick(rng, _PATTERN_NOUN, n)
    if key == "kits":
        return _pick(rng, _COLLECTIONS, n) + " " + _pick(rng, _KITS, n)
    if key == "tools":
        return _pick(rng, _TOOLS, n)
    if key == "wool_felt":
        return _pick(rng, _WOOL, n) + " " + _pick(rng, _COLOURS, n)
    if key == "gift_cards":
        return np.array([f"Gift Card ${p:.0f}" for p in GIFT_CARD_PRICES], dtype=object)
    raise ValueError(f"unknown category {key!r}")


def _shop_prices(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """Log-uniform prices ending in .49 or .99, as a shop prices them; in cents."""
    dollars = np.exp(rng.uniform(np.log(low), np.log(high), n))
    half_dollars = np.maximum(np.round(dollars * 2), 2)
    return (half_dollars * 50 - 1).astype(np.int64)


@lru_cache(maxsize=1)
def build_catalogue() -> Catalogue:
    """The shop's catalogue; the same arrays every call (and in every process)."""
    rng = np.random.default_rng(20_220_101)
    skus, titles, cats, prices = [], [], [], []
    for index, (key, _name, prefix, count, low, high, _share) in enumerate(CATEGORIES):
        if key == "gift_cards":
            cents = (np.array(GIFT_CARD_PRICES) * 100).astype(np.int64)
        else:
            cents = _shop_prices(rng, low, high, count)
        title = _titles(key, rng, count)
        order = np.argsort(cents, kind="stable")
        skus.append(np.array([f"{prefix}-{i:04d}" for i in range(1, count + 1)], dtype=object))
        titles.append(title[order])
        prices.append(cents[order])
        cats.append(np.full(count, index, dtype=np.int64))
    sizes = np.array([c[3] for c in CATEGORIES], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return Catalogue(
        sku=np.concatenate(skus), title=np.concatenate(titles), category=np.concatenate(cats),
        price_cents=np.concatenate(prices), category_start=starts, category_size=sizes,
    )


def store_category_mix() -> np.ndarray:
    """The share of the store's lines in each category (sums to 1)."""
    mix = np.array([c[6] for c in CATEGORIES], dtype=float)
    return mix / mix.sum()
