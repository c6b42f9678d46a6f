"""A question read for the offline router: normalised, typo-corrected, with every slot the
tools take (ids, money, periods, limits, segments, archetypes, tiers, …) pulled out."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from analytics.router import slots
from analytics.router.patterns import P_FORECAST
from analytics.router.typos import COMMON_WORDS, DOMAIN_WORDS, SHORTHAND, TypoCorrector



@dataclass
class Parsed:
    """The question after normalisation and typo correction, with every slot found in it.
    `text` has the store's segment/archetype names blanked out; `full_text` keeps them."""

    text: str
    full_text: str
    customers: list[str]
    segments: list[str]
    archetype: str | None
    categories: list[str]
    bought_with: str | None
    money: float | None
    limit: int | None
    period: str | None
    horizon: tuple[int, str] | None
    metric: str | None
    risk_level: str | None
    value_tier: str | None
    campaign: str | None
    axis: str | None
    days_ago: int | None
    rows: tuple[int, int] | None = None   # (offset, limit) from 'customers 11-20'
    row_ref: int | None = None            # 1-based row of the thread's last list: 'the 3rd one'
    anchor: date | None = None            # the data's latest day, which periods are measured from




class QuestionParser:
    """Reads questions against the store's names (segments, archetypes, categories) and the data's
    latest date, which relative periods are anchored to."""

    def __init__(self, vocabulary: slots.Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary or slots.Vocabulary()
        self.corrector = TypoCorrector(set(DOMAIN_WORDS) | self.vocabulary.words(), COMMON_WORDS)

    def parse(self, question: str) -> Parsed:
        raw = slots.normalise(question)
        # Ids and amounts are read from the raw text: the corrector must never touch them.
        customers = slots.customer_ids(raw)
        text = " ".join(self._correct_words(raw))
        vocab = self.vocabulary
        segment_matches = slots.segment_matches(text, vocab)
        archetype_match = slots.archetype_match(text, vocab)
        spans = [(a, b) for a, b, _ in segment_matches] + ([archetype_match[:2]] if archetype_match else [])
        # Intent words and categorical slots are read with the store's names blanked out.
        intent = slots.mask_names(text, spans)
        return Parsed(
            text=intent, full_text=text, customers=customers, segments=[v for _, _, v in segment_matches],
            archetype=archetype_match[2] if archetype_match else None, categories=slots.categories(text, vocab),
            bought_with=slots.bought_with(text), money=slots.money(raw), limit=slots.limit(text),
            period=slots.period(text, vocab.anchor),
            # 'sales in 2024' (the data's own year) is the past unless the question forecasts.
            horizon=slots.horizon(text, vocab.anchor, current_year=bool(P_FORECAST.search(intent))),
            metric=slots.metric(intent),
            risk_level=slots.risk_level(intent), value_tier=slots.value_tier(intent),
            campaign=slots.campaign(intent), axis=slots.axis(intent), days_ago=slots.days_ago(text),
            rows=slots.row_range(text), row_ref=slots.row_reference(text), anchor=vocab.anchor,
        )

    def _correct_words(self, raw: str) -> list[str]:
        out = []
        for piece in raw.split(" "):
            piece = SHORTHAND.get(piece, piece)
            # Keep punctuation attached to the word ('batting?'), correct only the letters.
            m = re.fullmatch(r"([^a-z0-9]*)([a-z]+)([^a-z0-9]*)", piece)
            if m and m.group(2) in SHORTHAND:
                piece = m.group(1) + SHORTHAND[m.group(2)] + m.group(3)
                m = re.fullmatch(r"([^a-z0-9]*)([a-z]+)([^a-z0-9]*)", piece)
            if m and len(m.group(2)) >= 4:
                out.append(m.group(1) + self.corrector.correct(m.group(2)) + m.group(3))
            else:
                out.append(piece)
        return out

