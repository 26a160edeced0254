"""The relation graph as features of the ranking stage.

:class:`GraphSignals` implements :class:`cartwise.rank.relations.RelationSignals` over a
:class:`~cartwise.graph.graph.RelationGraph`: for each candidate, its strongest relations
to the shopper's recent items (co-bought count and lift, co-viewed count and lift,
bought-after count, complement, substitute, variant), and the relation an explanation can
cite. :class:`GraphRelations` builds one from training events, which is how the fused
ranker learns on relations that do not hold the items it is trained to find.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.graph import kinds
from cartwise.graph.cooccurrence import PairTable
from cartwise.graph.graph import RelationGraph
from cartwise.rank.relations import RELATION_FEATURES, Relation
from cartwise.vectors import VectorIndex

# Recent items whose relations are kept in memory (each a few hundred related items at most).
CACHE_ITEMS = 20_000
_COLUMN = {name: i for i, name in enumerate(RELATION_FEATURES)}
# Which relation an explanation cites when a candidate has several, strongest first.
_CITED = ("complement", "co_bought", "bought_after", "variant", "substitute", "co_viewed")

class Profile:
    """Every item related to one item: ``values[at[other]]`` is one row of
    :data:`RELATION_FEATURES` for the pair."""

    __slots__ = ("at", "values")

    def __init__(self, at: dict[str, int], values: NDArray[np.float32]) -> None:
        self.at = at
        self.values = values

    def get(self, item_id: str) -> NDArray[np.float32] | None:
        row = self.at.get(item_id)
        return None if row is None else self.values[row]


_EMPTY = Profile({}, np.zeros((0, len(RELATION_FEATURES)), dtype=np.float32))


class GraphSignals:
    """Relation features of candidates against a shopper's recent items, read from `graph`
    (a built graph, or one with live counts: :meth:`RelationGraph.with_counts`). Each
    recent item's relations are gathered once and kept (:data:`CACHE_ITEMS` items)."""

    def __init__(self, *, graph: RelationGraph) -> None:
        graph._check_fitted()
        self.graph = graph
        self._profiles: OrderedDict[str, Profile] = OrderedDict()

    def features(self, recent: Sequence[Sequence[str]], candidates: Sequence[Sequence[str]]) -> NDArray[np.float32]:
        if len(recent) != len(candidates):
            raise ValueError(f"{len(recent)} shoppers' recent items for {len(candidates)} candidate lists")
        total = sum(len(c) for c in candidates)
        out = np.zeros((total, len(RELATION_FEATURES)), dtype=np.float32)
        start = 0
        for mine, items in zip(recent, candidates, strict=True):
            block = out[start : start + len(items)]
            for item in mine:
                profile = self._profile(item)
                if not profile.at:
                    continue
                rows = np.fromiter((profile.at.get(c, -1) for c in items), dtype=np.int64, count=len(items))
                hit = rows >= 0
                if hit.any():
                    block[hit] = np.maximum(block[hit], profile.values[rows[hit]])
            start += len(items)
        return out

    def cite(self, recent: Sequence[str], item_id: str) -> Relation | None:
        """The strongest kind of relation (:data:`_CITED` order) with any recent item; of
        recent items related alike, the one with the strongest evidence (lift, then count),
        the newest on ties."""
        best: tuple[int, float, Relation] | None = None
        for other in recent:
            values = self._profile(other).get(item_id)
            if values is None:
                continue
            for rank, kind in enumerate(_CITED):
                reason = _reason(kind, other, values)
                if reason is None:
                    continue
                strength = _strength(kind, values)
                if best is None or (rank, -strength) < (best[0], -best[1]):
                    best = (rank, strength, Relation(kind=kind, item_id=other, reason=reason))
                break
        return best[2] if best is not None else None

    def _profile(self, item_id: str) -> Profile:
        profile = self._profiles.get(item_id)
        if profile is not None:
            self._profiles.move_to_end(item_id)
            return profile
        profile = _relations_of(self.graph, item_id) if item_id in self.graph else _EMPTY
        self._profiles[item_id] = profile
        if len(self._profiles) > CACHE_ITEMS:
            self._profiles.popitem(last=False)
        return profile


def _relations_of(graph: RelationGraph, item_id: str) -> Profile:
    """Every item related to `item_id` in the graph, with one row of features each."""
    bought = graph.co_bought.table(item_id)
    viewed = graph.co_viewed.table(item_id)
    after = graph.bought_after_.table(item_id)
    substitutes = [edge.item_id for edge in kinds.substitutes(graph, item_id, graph.text_neighbours)]
    family = [str(o) for o in graph.groups_.members("family", item_id).tolist() if str(o) != item_id]
    ids = list(dict.fromkeys([*bought.ids.tolist(), *viewed.ids.tolist(), *after.ids.tolist(), *substitutes,
                              *family]))
    at = dict(zip(ids, range(len(ids))))
    values = np.zeros((len(ids), len(RELATION_FEATURES)), dtype=np.float32)

    def fill(table: PairTable, count: str, lift: str | None) -> NDArray[np.bool_]:
        if not len(table):
            return np.zeros(0, dtype=bool)
        rows = np.fromiter((at[o] for o in table.ids.tolist()), dtype=np.int64, count=len(table))
        values[rows, _COLUMN[count]] = table.counts
        related = table.related(min_count=graph.min_count, min_lift=graph.min_lift)
        if lift is not None:
            values[rows[related], _COLUMN[lift]] = table.lift[related]
        return related

    related = fill(bought, "graph_co_bought", "graph_co_bought_lift")
    fill(viewed, "graph_co_viewed", "graph_co_viewed_lift")
    fill(after, "graph_bought_after", None)
    if related.any():
        other_kind = kinds.complement_test(graph, item_id)
        for other in bought.ids[related].tolist():
            if other_kind(str(other)):
                values[at[other], _COLUMN["graph_complement"]] = 1.0
    for other in substitutes:
        values[at[other], _COLUMN["graph_substitute"]] = 1.0
    for other in family:
        values[at[other], _COLUMN["graph_variant"]] = 1.0
    return Profile(at, values)


def _strength(kind: str, values: NDArray[np.float32]) -> float:
    """How strong the evidence of a `kind` relation is, to choose among recent items."""
    if kind in ("complement", "co_bought"):
        return float(values[_COLUMN["graph_co_bought_lift"]]) * 1e6 + float(values[_COLUMN["graph_co_bought"]])
    if kind == "bought_after":
        return float(values[_COLUMN["graph_bought_after"]])
    if kind == "co_viewed":
        return float(values[_COLUMN["graph_co_viewed_lift"]]) * 1e6 + float(values[_COLUMN["graph_co_viewed"]])
    return 0.0


def _reason(kind: str, other: str, values: NDArray[np.float32]) -> str | None:
    """The sentence citing `kind` when the candidate has that relation with `other`."""
    value = {name: values[i] for name, i in _COLUMN.items()}
    orders, lift = int(value["graph_co_bought"]), value["graph_co_bought_lift"]
    if kind == "complement" and value["graph_complement"] > 0:
        return f"often bought with '{other}' ({orders} orders, {lift:.1f}x chance) and goes with it"
    if kind == "co_bought" and lift > 0:
        return f"often bought with '{other}' ({orders} orders, {lift:.1f}x chance)"
    if kind == "bought_after" and value["graph_bought_after"] > 0:
        return f"often bought in the order after '{other}' ({int(value['graph_bought_after'])} times)"
    if kind == "variant" and value["graph_variant"] > 0:
        return f"another variant of '{other}'"
    if kind == "substitute" and value["graph_substitute"] > 0:
        return f"an alternative to '{other}'"
    if kind == "co_viewed" and value["graph_co_viewed_lift"] > 0:
        return f"often viewed with '{other}' ({int(value['graph_co_viewed'])} sessions)"
    return None


class GraphRelations:
    """Builds :class:`GraphSignals` from events: the relation source of the fused ranker
    (:class:`cartwise.rank.relations.RelationSource`).

    settings: :class:`RelationGraph` parameters (its defaults otherwise).
    vectors: the items' text embeddings (substitutes and variants; TF-IDF of titles
    without them).
    titles: item id -> title, for catalogs given without a ``title`` column.
    """

    def __init__(
        self, *, settings: Mapping[str, Any] | None = None, vectors: VectorIndex | None = None,
        titles: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = dict(settings or {})
        self.vectors = vectors
        self.titles = dict(titles or {})

    def fit(self, events: pl.DataFrame, items: pl.DataFrame | None = None) -> GraphSignals:
        """A graph of `events` (``user_id``, ``item_id``, ``event_type``, ``ts``) and the
        catalog `items` (``item_id``, optional ``title``, ``brand``, ``category``, ...)."""
        if items is None:
            items = pl.DataFrame({"item_id": events["item_id"].cast(pl.Utf8).drop_nulls().unique().sort()})
        if "title" not in items.columns:
            ids = items["item_id"].cast(pl.Utf8).to_list()
            items = items.with_columns(pl.Series("title", [self.titles.get(i, i) for i in ids], dtype=pl.Utf8))
        graph = RelationGraph(**self.settings).fit(events, items, vectors=self.vectors)
        return GraphSignals(graph=graph)


__all__ = ["GraphRelations", "GraphSignals"]
