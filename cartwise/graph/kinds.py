"""Relation kinds by name: what `related?type=...` and the placements ask the graph for.

Each kind is one function from the graph and an item to its edges, best first, each with
the evidence that made it (counts, lift, support, text similarity, the shared brand or
attribute). A new kind is one :func:`register` call; the API, the CLI and the placements
read this registry, so a name is defined once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.graph.cooccurrence import PairTable
from cartwise.graph.graph import RelationGraph
from cartwise.graph.text import words


@dataclass(frozen=True, slots=True)
class Edge:
    """One related item and why."""

    item_id: str
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


Finder = Callable[[RelationGraph, str, int], list[Edge]]


@dataclass(frozen=True, slots=True)
class RelationKind:
    name: str
    description: str
    source: str
    """Where the relation comes from: "events", "text", "catalog" or a mix."""
    find: Finder
    """(graph, item id, k) -> at most k edges, best first."""


_KINDS: dict[str, RelationKind] = {}


def register(kind: RelationKind) -> RelationKind:
    if kind.name in _KINDS:
        raise ValueError(f"relation kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def names() -> list[str]:
    return list(_KINDS)


def get(name: str) -> RelationKind:
    """The kind called `name`; a ValidationError on the field ``type`` naming the known kinds."""
    kind = _KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValidationError(
            f"unknown relation type {name!r}", field="type", hint=f"choose one of {', '.join(_KINDS)}"
        )
    return kind


def _top(scores: NDArray[np.floating], k: int) -> NDArray[np.int64]:
    """Positions of the k best scores, best first (ties by position, so answers are stable)."""
    order = np.lexsort((np.arange(scores.size), -scores))
    return order[:k]


def related_pairs(graph: RelationGraph, table: PairTable) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Positions in `table` of the pairs that are relations (``min_count`` and ``min_lift``),
    and their scores, best first."""
    if not len(table):
        return np.empty(0, dtype=np.int64), np.empty(0)
    keep = np.flatnonzero(table.related(min_count=graph.min_count, min_lift=graph.min_lift))
    scores = table.scores(graph.beta)[keep]
    order = _top(scores, scores.size)
    return keep[order], scores[order]


def _pair_edges(graph: RelationGraph, table: PairTable, k: int) -> list[Edge]:
    at, scores = related_pairs(graph, table)
    at, scores = at[:k], scores[:k]
    return [Edge(str(table.ids[i]), float(s), evidence)
            for i, s, evidence in zip(at.tolist(), scores.tolist(), table.evidence(at), strict=True)]


def co_viewed(graph: RelationGraph, item_id: str, k: int) -> list[Edge]:
    return _pair_edges(graph, graph.co_viewed.table(item_id), k)


def co_bought(graph: RelationGraph, item_id: str, k: int) -> list[Edge]:
    return _pair_edges(graph, graph.co_bought.table(item_id), k)


def bought_after(graph: RelationGraph, item_id: str, k: int) -> list[Edge]:
    table = graph.bought_after_.table(item_id)
    edges = _pair_edges(graph, table, k)
    for edge in edges:
        # In a sequence, "baskets" are pairs of consecutive orders.
        edge.evidence["transitions"] = edge.evidence.pop("baskets")
    return edges


def _top_category(path: str | None) -> str | None:
    return path.split(">")[0].strip() if path else None


def complement_test(graph: RelationGraph, item_id: str) -> Callable[[str], bool]:
    """Whether an item bought with `item_id` is of another kind: of another category when
    both have one; without categories, neither a variant of it nor described alike."""
    mine = graph.groups_.group_of("category", item_id)
    family = graph.groups_.group_of("family", item_id)
    text_ids, cosines = graph.text_.neighbours_of(item_id)
    alike = set(text_ids[graph.text_.strength(cosines) >= graph.substitute_strength].tolist())

    def other_kind(other: str) -> bool:
        if family is not None and graph.groups_.group_of("family", other) == family:
            return False
        theirs = graph.groups_.group_of("category", other)
        if mine is not None and theirs is not None:
            return mine != theirs
        return other not in alike

    return other_kind


def complements(graph: RelationGraph, item_id: str, k: int) -> list[Edge]:
    """Co-bought items of another kind (:func:`complement_test`)."""
    table = graph.co_bought.table(item_id)
    at, scores = related_pairs(graph, table)
    other_kind = complement_test(graph, item_id)
    keep = [n for n, i in enumerate(at.tolist()) if other_kind(str(table.ids[i]))][:k]
    mine = graph.groups_.group_of("category", item_id)
    return [
        Edge(str(table.ids[i]), float(s), {**evidence, "category": mine,
                                          "other_category": graph.groups_.group_of("category", str(table.ids[i]))})
        for i, s, evidence in zip(at[keep].tolist(), scores[keep].tolist(), table.evidence(at[keep]), strict=True)
    ]


def substitutes(graph: RelationGraph, item_id: str, k: int) -> list[Edge]:
    """Items described alike (text strength above ``substitute_strength``), ranked up when
    shoppers view them together, and left out when they buy them together (a pair bought
    together more often than chance is not an either-or choice)."""
    ids, cosines = graph.text_.neighbours_of(item_id)
    if ids.size == 0:
        return []
    strength = graph.text_.strength(cosines)
    viewed = graph.co_viewed.table(item_id)
    bought = graph.co_bought.table(item_id)
    view_at = {str(o): i for i, o in enumerate(viewed.ids.tolist())}
    buy_at = {str(o): i for i, o in enumerate(bought.ids.tolist())}
    view_lift, buy_lift = viewed.lift, bought.lift
    top = _top_category(graph.groups_.group_of("category", item_id))
    edges = []
    for other, cosine, strong in zip(ids.tolist(), cosines.tolist(), strength.tolist(), strict=True):
        other = str(other)
        if strong < graph.substitute_strength:
            continue
        theirs = _top_category(graph.groups_.group_of("category", other))
        if top is not None and theirs is not None and top != theirs:
            continue
        evidence: dict[str, Any] = {"text_similarity": round(float(cosine), 4), "text_strength": round(strong, 4),
                                    "co_viewed": 0, "co_bought": 0}
        b = buy_at.get(other)
        if b is not None:
            evidence["co_bought"] = int(bought.counts[b])
            evidence["co_bought_lift"] = round(float(buy_lift[b]), 4)
            if bought.counts[b] >= graph.min_count and buy_lift[b] > graph.min_lift:
                continue
        score = strong
        v = view_at.get(other)
        if v is not None:
            evidence["co_viewed"] = int(viewed.counts[v])
            evidence["co_viewed_lift"] = round(float(view_lift[v]), 4)
            if viewed.counts[v] >= graph.min_count and view_lift[v] > graph.min_lift:
                score *= 1.0 + float(np.log1p(viewed.counts[v]))
        edges.append(Edge(other, score, evidence))
    edges.sort(key=lambda e: -e.score)
    return edges[:k]


def variants(graph: RelationGraph, item_id: str, k: int) -> list[Edge]:
    """Size and colour variants of the same product (:mod:`cartwise.graph.variants`), the
    most alike first; evidence names the words that tell them apart."""
    members = graph.groups_.members("family", item_id)
    if members.size == 0:
        return []
    ids, cosines = graph.text_.neighbours_of(item_id)
    cosine_of = dict(zip(ids.tolist(), cosines.tolist(), strict=True))
    scores = np.array([cosine_of.get(m, 0.0) for m in members.tolist()]) + 1e-6 * graph.popularity(members)
    mine = set(words(graph.title(item_id)))
    edges = []
    for i in _top(scores, k).tolist():
        other = str(members[i])
        theirs = set(words(graph.title(other)))
        edges.append(Edge(other, float(scores[i]), {
            "family": graph.groups_.group_of("family", item_id),
            "differs_in": sorted(mine ^ theirs),
        }))
    return edges


def _group_kind(kind: str, label: str) -> Finder:
    def find(graph: RelationGraph, item_id: str, k: int) -> list[Edge]:
        members = graph.groups_.members(kind, item_id)
        if members.size == 0:
            return []
        popularity = graph.popularity(members)
        name = graph.groups_.group_of(kind, item_id)
        return [
            Edge(str(members[i]), float(popularity[i]), {label: name, "baskets": int(popularity[i])})
            for i in _top(popularity, k).tolist()
        ]

    return find


def attributes(graph: RelationGraph, item_id: str, k: int) -> list[Edge]:
    ids, scores, shared = graph.groups_.shared_values(item_id)
    return [Edge(str(ids[i]), float(scores[i]), {"shared": shared[i]}) for i in _top(scores, k).tolist()]


register(RelationKind("co_viewed", "viewed in the same session, more often than chance (lift)", "events", co_viewed))
register(RelationKind("co_bought", "bought in the same order, more often than chance (lift)", "events", co_bought))
register(RelationKind("bought_after", "bought in the shopper's next order", "events", bought_after))
register(RelationKind("complements", "bought together across categories", "events+catalog", complements))
register(RelationKind("substitutes", "described alike and viewed together, rarely bought together", "text+events",
                      substitutes))
register(RelationKind("variants", "size and colour variants of the same product", "text+catalog", variants))
register(RelationKind("same_brand", "the same brand", "catalog", _group_kind("brand", "brand")))
register(RelationKind("same_series", "the same series or collection", "catalog", _group_kind("series", "series")))
register(RelationKind("same_category", "the same category", "catalog", _group_kind("category", "category")))
register(RelationKind("attributes", "sharing attribute values (rare values count more)", "catalog", attributes))


__all__ = ["Edge", "RelationKind", "complement_test", "get", "names", "register", "related_pairs"]
