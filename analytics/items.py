"""What a question names when it names something sold: a category (by its name, or a part of it:
'pre-cuts' for 'Pre-cuts & Fat Quarters'), else one product by SKU or title words."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from analytics.core import ToolContext, ToolError
from sql import query

_GENERIC = {"bundle", "bundles", "set", "sets", "pack", "packs", "supplies", "collection", "items", "products"}


@dataclass(frozen=True)
class Item:
    kind: Literal["category", "product"]
    name: str                 # the category's name, or the product's title (SKU when untitled)
    product_ids: tuple[int, ...]
    described: str            # how an answer names it


def _words(text: str) -> list[str]:
    return [w.rstrip("s") for w in re.findall(r"[a-z0-9]+", text.lower())]


def category_parts(name: str) -> list[str]:
    """The ways people name a category: the whole name, each part of 'A & B' / 'A, B', and a part
    without a trailing generic word ('pre-cut bundles' → 'pre-cut')."""
    parts = [name] + [p.strip() for p in re.split(r"\s*(?:&|,|\band\b|/)\s*", name) if p.strip()]
    shorter = []
    for part in parts:
        words = part.split()
        if len(words) > 1 and words[-1].lower() in _GENERIC:
            shorter.append(" ".join(words[:-1]))
    return list(dict.fromkeys(parts + shorter))


def known_categories(ctx: ToolContext) -> list[str]:
    """The catalogue's categories, the largest first ('uncategorized' for products without one)."""
    with ctx.db.cursor() as cur:
        cur.execute(query("items.categories"))
        return [row["category"] for row in cur.fetchall()]


def resolve_item(ctx: ToolContext, text: str) -> Item:
    categories = known_categories(ctx)
    with ctx.db.cursor() as cur:
        wanted = _words(text)
        for name in categories:
            if any(_words(part) == wanted for part in category_parts(name)):
                cur.execute(query("items.category_products"), {"category": name})
                ids = tuple(row["product_id"] for row in cur.fetchall())
                return Item("category", name, ids, f"category '{name}'")
        words = [w for w in re.split(r"\s+", text.strip()) if w]
        cur.execute(query("items.find_product"), {"text": text.strip(), "words": words})
        found = cur.fetchone()
    if found is None:
        shown = ", ".join(f"'{name}'" for name in categories[:12]) or "none (no products imported yet)"
        raise ToolError(f"No product or category matches {text!r}: give a SKU, words from the product title, "
                        f"or a category ({shown}).")
    described = f"{found['title'] or found['sku']} (SKU {found['sku']})"
    if found["matches"] > 1:
        described += f"; the best seller of {found['matches']} products matching '{text}'"
    return Item("product", found["title"] or found["sku"], (found["product_id"],), described)
