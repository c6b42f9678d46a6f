"""Typo tolerance for the offline router: chat shorthand expanded, misspelt question words
corrected to the nearest word of the store's domain, ordinary words left alone."""
from __future__ import annotations

from typing import Iterable

# Words the intent phrases are built from; a misspelt question word is corrected to the nearest.
DOMAIN_WORDS = """
customer customers client clients buyer buyers shopper shoppers people folks accounts
churn churning churned churners risk risky riskiest leaving lapsing lapsed losing slipping
value valuable spenders spender spent spend spending lifetime revenue sales turnover income
orders order ordered ordering purchases purchase purchased bought buying frequent frequency often
recency recent inactive dormant stopped
segment segments segmentation cluster clusters axis axes dimension groups group
archetype archetypes persona personas types kinds profile profiles
compare comparison versus difference between against changed changes change grown growth
shrunk shrinking trend trends detail details breakdown depth
product products item items category categories catalogue catalog bestsellers bestseller
selling sells sold together basket repeat reorder inventory fabric fabrics kits
forecast forecasts forecasting predict prediction projection projected outlook expect expected
estimate next coming quarter month months week weeks year years days ahead average
campaign campaigns target targeting promo promotion newsletter outreach mailing retention
winback reactivate reengage upsell crosssell seasonal holiday christmas loyalty reward rewards
moved switched migrated shifted behaviour behavior declining decline dropping slowing engagement
discount discounts coupon coupons dependent dependency hunters bargain deals single once
recommend recommendation recommendations suggest suggestion actions action strategy advice
compensation offer offers retain keep save treat handle approach
whale whales vips critical medium high regular show list give top biggest largest highest
most best worst lowest many much who which what where when how look lookup check
overview summary tell about explain describe info information quarterly monthly weekly
""".split()
# Ordinary words that must never be 'corrected' into a domain word.
COMMON_WORDS = """
the and for with from that this these those them they their there what which who whom whose
have has had haven't hasn't does did doing done will would could should shall about into over
under some any all each every more less than then only just also very really still much many
same other another again back been being were was are is isn't aren't wasn't can't don't won't
your yours ours our mine here when where why how make made get got give gave take took want need
like love hate know think said says tell told show shown find found come came went gone going
long last first good well time times ever never always often soon later today yesterday tomorrow
bring sell sells sold buys year years month months week weeks days please thanks thank hello
instead whole part parts half number numbers amount total totals left right down around
black white green blue blast fast past ages while since after before first second third night
friday monday tuesday wednesday thursday saturday sunday spring summer autumn winter fall
football weather joke story world money people person thing things stuff great little small
""".split()


# Chat shorthand, expanded before spelling correction (too short for it to guess).
SHORTHAND = {
    "nxt": "next", "abt": "about", "r": "are", "u": "you", "ur": "your", "pls": "please", "plz": "please",
    "cust": "customer", "custs": "customers", "rev": "revenue", "qtr": "quarter", "wk": "week", "wks": "weeks",
    "yr": "year", "yrs": "years", "mo": "month", "mos": "months", "rsk": "risk", "prod": "product",
    "prods": "products", "cat": "category", "cats": "categories", "seg": "segment", "segs": "segments",
    "w/": "with", "b4": "before", "thx": "thanks", "ppl": "people", "avg": "average", "amt": "amount",
    "tho": "though", "wat": "what", "wut": "what", "hw": "how", "whos": "who's", "hows": "how's",
}


class TypoCorrector:
    """Corrects misspelt words to known ones by symmetric deletion (one delete on each side covers
    a substitution, insertion, deletion or transposition), so lookups stay O(word length)."""

    def __init__(self, targets: Iterable[str], known: Iterable[str] = ()) -> None:
        targets = {w for w in targets if w}
        # Known words are left alone but never corrected *into* ('black' must not become 'back').
        self.known = targets | {w for w in known if w}
        self.deletes: dict[str, set[str]] = {}
        for word in targets:
            if len(word) >= 4 and word.isalpha():
                for variant in self._variants(word):
                    self.deletes.setdefault(variant, set()).add(word)
        self._memo: dict[str, str] = {}

    @staticmethod
    def _variants(word: str) -> set[str]:
        return {word} | {word[:i] + word[i + 1:] for i in range(len(word))}

    def correct(self, token: str) -> str:
        # Four-letter words are too easily 'corrected' into another word ('ages' -> 'axes').
        if token in self.known or len(token) < 5 or not token.isalpha():
            return token
        hit = self._memo.get(token)
        if hit is not None:
            return hit
        candidates: set[str] = set()
        for variant in self._variants(token):
            candidates |= self.deletes.get(variant, set())
        best = token
        if candidates:
            # Closest first; then the candidate sharing the first letter; then alphabetical (deterministic).
            best = min(candidates, key=lambda c: (_distance(token, c), c[0] != token[0], abs(len(c) - len(token)), c))
            if _distance(token, best) > (1 if len(token) <= 5 else 2):
                best = token
        if len(self._memo) < 50_000:
            self._memo[token] = best
        return best


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


