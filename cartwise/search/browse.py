"""Browsing: the items within some filters, most popular first, for a page with no query
text (an empty box with filters, or a query that was only a price such as "under 50")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from cartwise.search.filters import SearchFilters
from cartwise.search.lexical import LexicalIndex


class ItemScores(Protocol):
    """Anything scoring items by id (the live popularity model)."""

    def score(self, item_ids: Sequence[str]) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class Browsed:
    """Every item within the filters, best first, and their lexical-index rows."""

    ranked: list[tuple[str, float]]
    """(item id, popularity), most popular first, ties by id."""
    rows: NDArray[np.int64]
    """Lexical-index rows of all of them (totals, facets)."""


def browse(lexical: LexicalIndex, popularity: ItemScores, filters: SearchFilters) -> Browsed:
    """The indexed items within `filters`, ordered by `popularity`."""
    rows = np.flatnonzero(lexical.allowed(filters))
    ids = lexical.item_ids_[rows].tolist()
    scores = popularity.score(ids)
    return Browsed(ranked=sorted(zip(ids, scores, strict=True), key=lambda pair: (-pair[1], pair[0])), rows=rows)


__all__ = ["Browsed", "ItemScores", "browse"]
