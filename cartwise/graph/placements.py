"""The two placements the graph powers: "frequently bought together" (a bundle of the item
and its companions) and "alternatives" (substitutes, in stock first).

Both take an `available` test (is the item in the catalog, in stock) from the caller, so
the same ranking serves answers, where the live catalog decides, and the benchmark,
where every item counts.
"""

from __future__ import annotations

from collections.abc import Callable

from cartwise.graph import kinds
from cartwise.graph.graph import RelationGraph
from cartwise.graph.kinds import Edge

# Edges asked of a relation per companion wanted, so that items the caller filters out
# (gone from the catalog, out of stock, already chosen) leave enough behind.
_OVERFETCH = 4


def bundle_companions(
    graph: RelationGraph, item_id: str, k: int, *, available: Callable[[str], bool] | None = None
) -> list[tuple[str, Edge]]:
    """Up to `k` items to buy with `item_id`, each with the relation that names it: items
    bought with it more often than chance, by the co-purchase ranking (``confidence * lift
    ** beta``), labelled "complements" when they are of another kind (another category)
    and "co_bought" otherwise; never a variant of the item itself (a second colour of the
    same mug is no bundle).

    Complements are not ranked first: on Online Retail that cost a third of the hit rate
    (shoppers there buy items of one design range together, which are described alike),
    so the label says what each companion is and the order stays the data's."""
    fetch = k * _OVERFETCH + 10
    family = graph.groups_.group_of("family", item_id)
    other_kind = kinds.complement_test(graph, item_id)
    chosen: list[tuple[str, Edge]] = []
    for edge in kinds.get("co_bought").find(graph, item_id, fetch):
        if available is not None and not available(edge.item_id):
            continue
        if family is not None and graph.groups_.group_of("family", edge.item_id) == family:
            continue
        chosen.append(("complements" if other_kind(edge.item_id) else "co_bought", edge))
        if len(chosen) == k:
            break
    return chosen


def alternatives(
    graph: RelationGraph,
    item_id: str,
    k: int,
    *,
    available: Callable[[str], bool] | None = None,
    in_stock: Callable[[str], bool] | None = None,
) -> list[Edge]:
    """Up to `k` substitutes of `item_id`: those in stock first, each group best first."""
    edges = [
        edge for edge in kinds.get("substitutes").find(graph, item_id, k * _OVERFETCH + 10)
        if available is None or available(edge.item_id)
    ]
    if in_stock is not None:
        edges.sort(key=lambda edge: not in_stock(edge.item_id))  # stable: score order kept within each group
    return edges[:k]


__all__ = ["alternatives", "bundle_companions"]
