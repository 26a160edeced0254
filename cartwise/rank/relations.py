"""Relation signals between a shopper's recent items and a candidate, for the ranking stage.

The product relation graph lives in a higher layer (:mod:`cartwise.graph`), so the ranking
stage does not read it directly: it asks a :class:`RelationSignals` for one row of
:data:`RELATION_FEATURES` per candidate, and the graph package implements that protocol
over its :class:`~cartwise.graph.graph.RelationGraph` (:mod:`cartwise.graph.signals`).
Whoever holds the graph injects it: :meth:`FusedRecommender.fit` fits a
:class:`RelationSource` on its training events, and a loaded model is attached to the
version's graph (:meth:`FusedRecommender.attach_relations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl
from numpy.typing import NDArray

# One column each, in this order. Every value is a maximum over the shopper's recent items
# (0 where no recent item is related to the candidate).
RELATION_FEATURES = (
    "graph_co_bought",  # orders holding both the candidate and a recent item
    "graph_co_bought_lift",  # lift of that pair, where it is a relation (min count, lift above 1)
    "graph_co_viewed",  # sessions viewing both
    "graph_co_viewed_lift",
    "graph_bought_after",  # times the candidate was bought in the next order after a recent item
    "graph_complement",  # 1: bought with a recent item and of another kind
    "graph_substitute",  # 1: described like a recent item, rarely bought with it
    "graph_variant",  # 1: a size or colour variant of a recent item
)


@dataclass(frozen=True, slots=True)
class Relation:
    """Why a candidate is related to one of the shopper's recent items, for an explanation."""

    kind: str
    """One of "complement", "co_bought", "bought_after", "co_viewed", "variant", "substitute"."""
    item_id: str
    """The recent item it is related to."""
    reason: str
    """A sentence naming that item by id, as members' reasons do."""


@runtime_checkable
class RelationSignals(Protocol):
    """Relations between shoppers' recent items and their candidates."""

    def features(
        self, recent: Sequence[Sequence[str]], candidates: Sequence[Sequence[str]]
    ) -> NDArray[np.float32]:
        """For each shopper ``u`` (recent items ``recent[u]``, newest first) and each of their
        candidates ``candidates[u]``, one row of :data:`RELATION_FEATURES`; rows of all
        shoppers stacked in order."""
        ...

    def cite(self, recent: Sequence[str], item_id: str) -> Relation | None:
        """The strongest relation between `item_id` and one of the `recent` items, or None."""
        ...


class RelationSource(Protocol):
    """Builds :class:`RelationSignals` from training events (and the catalog)."""

    def fit(self, events: pl.DataFrame, items: pl.DataFrame | None = None) -> RelationSignals: ...


__all__ = ["RELATION_FEATURES", "Relation", "RelationSignals", "RelationSource"]
