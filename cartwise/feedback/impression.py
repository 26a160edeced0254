"""One answer as the shopper saw it: an impression.

Every answer Cartwise gives carries a ``request_id``; the impression records the items in
the order shown, where they were shown (the placement: ``search``, ``recommend``,
``similar`` or a front end's own name), the model version that chose them, the query of a
search and the experiment variant. Events that name the ``request_id`` (and position) are
attributed to it; see :mod:`cartwise.feedback.attribution`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from cartwise.store.frames import IMPRESSION_ITEM_SCHEMA, IMPRESSION_SCHEMA

# Placements are names a dashboard groups by: short, lower-case, no spaces.
PLACEMENT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
ENGINE_PLACEMENTS = ("search", "recommend", "similar")


def new_request_id() -> str:
    """A random 16-hex-digit request id (64 bits: no collision in any store's lifetime
    of answers worth worrying about, and short enough to carry in a link)."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class ShownItem:
    item_id: str
    stage: str | None = None
    score: float | None = None
    lexical_score: float | None = None
    semantic_score: float | None = None
    team: str | None = None
    """In an interleaved answer, the variant whose ranking put the item there."""


@dataclass(frozen=True, slots=True)
class Impression:
    """An answer shown: `items` in order, position 1 first."""

    request_id: str
    ts: int
    placement: str
    items: Sequence[ShownItem] = field(default_factory=tuple)
    user_id: str | None = None
    model_version: str | None = None
    query: str | None = None
    variant: str | None = None
    source: str = "engine"


def to_frames(impressions: Iterable[Impression]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The store's two layouts (IMPRESSION_SCHEMA, IMPRESSION_ITEM_SCHEMA) of `impressions`."""
    heads: list[tuple[object, ...]] = []
    shown: list[tuple[object, ...]] = []
    for imp in impressions:
        heads.append(
            (imp.request_id, imp.ts, imp.placement, imp.user_id, imp.model_version, imp.query, imp.variant, imp.source)
        )
        shown.extend(
            (imp.request_id, position, item.item_id, item.stage, item.score, item.lexical_score, item.semantic_score,
             item.team)
            for position, item in enumerate(imp.items, start=1)
        )
    return (
        pl.DataFrame(heads, schema=IMPRESSION_SCHEMA, orient="row"),
        pl.DataFrame(shown, schema=IMPRESSION_ITEM_SCHEMA, orient="row"),
    )


__all__ = ["ENGINE_PLACEMENTS", "PLACEMENT_PATTERN", "Impression", "ShownItem", "new_request_id", "to_frames"]
