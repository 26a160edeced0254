"""Co-occurrence counts of items in baskets, and the lift that turns them into relations.

Raw counts say mostly that an item is popular: the bestseller sits in every basket, so it
co-occurs with everything. Lift divides that out: ``lift = n_ab * N / (n_a * n_b)`` is how
many times more often two items share a basket than if shoppers picked them independently
(1: no relation). Relations keep pairs that co-occur at least ``min_count`` times with lift
above 1, and rank them by ``confidence * lift ** beta`` (see :class:`PairTable`).

The counts are kept exactly (pairs, items, baskets), so new baskets add to them without a
rebuild (:class:`CountDelta`, applied by :mod:`cartwise.graph.live`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from cartwise.recommend.base import IdMap


@dataclass(frozen=True, slots=True)
class PairTable:
    """One item's co-occurring items with their counts: the evidence of its edges."""

    item_count: int
    """Baskets holding the query item."""
    baskets: int
    """Baskets counted in all (N)."""
    ids: NDArray[np.object_]
    counts: NDArray[np.int64]
    """Baskets holding both the query item and ``ids[i]``."""
    other_counts: NDArray[np.int64]
    """Baskets holding ``ids[i]``."""

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def confidence(self) -> NDArray[np.float64]:
        """P(other | query item)."""
        return self.counts / max(self.item_count, 1)

    @property
    def support(self) -> NDArray[np.float64]:
        """Share of all baskets holding both."""
        return self.counts / max(self.baskets, 1)

    @property
    def lift(self) -> NDArray[np.float64]:
        expected = self.item_count * np.maximum(self.other_counts, 1) / max(self.baskets, 1)
        return self.counts / np.maximum(expected, 1e-12)

    def scores(self, beta: float) -> NDArray[np.float64]:
        """``confidence * lift ** beta``: beta 0 ranks by raw co-occurrence, 1 by
        ``n_ab**2 / n_b`` (lift weighted by how often the pair was seen); in between,
        popularity is discounted without ranking one-off pairs of rare items first."""
        return self.confidence * self.lift**beta

    def related(self, *, min_count: int, min_lift: float = 1.0) -> NDArray[np.bool_]:
        """Pairs seen at least `min_count` times, more often than chance predicts."""
        return (self.counts >= min_count) & (self.lift > min_lift)

    def evidence(self, positions: NDArray[np.int64] | list[int]) -> list[dict[str, float | int]]:
        """The counts and ratios behind the pairs at `positions`, one dict each."""
        at = np.asarray(positions, dtype=np.int64)
        counts, others = self.counts[at], self.other_counts[at]
        support = np.round(counts / max(self.baskets, 1), 6)
        confidence = np.round(counts / max(self.item_count, 1), 6)
        lift = np.round(counts / np.maximum(self.item_count * np.maximum(others, 1) / max(self.baskets, 1), 1e-12), 4)
        return [
            {"count": int(c), "item_baskets": int(self.item_count), "other_baskets": int(o),
             "baskets": int(self.baskets), "support": float(s), "confidence": float(f), "lift": float(li)}
            for c, o, s, f, li in zip(counts.tolist(), others.tolist(), support.tolist(), confidence.tolist(),
                                      lift.tolist(), strict=True)
        ]


EMPTY_IDS = np.empty(0, dtype=object)
_LABELS: dict[int, tuple[IdMap, NDArray[np.object_]]] = {}


def labels(ids: IdMap) -> NDArray[np.object_]:
    """`ids` as an object array indexable by position, built once per map (and again if it grows)."""
    cached = _LABELS.get(id(ids))
    if cached is None or cached[0] is not ids or cached[1].size != len(ids):
        cached = (ids, np.array(ids.ids, dtype=object))
        _LABELS[id(ids)] = cached
    return cached[1]
EMPTY_COUNTS = np.empty(0, dtype=np.int64)


class Cooccurrence:
    """How many baskets hold each item and each pair of items.

    Parameters
    ----------
    max_basket:
        Baskets with more distinct items than this are left out (a wholesaler's order of
        300 lines pairs everything with everything and says little about any pair).

    Learned state: ``pairs_`` (CSR, item x item, symmetric, zero diagonal), ``counts_``
    (baskets per item), ``baskets_`` (baskets counted), ``skipped_baskets_``.
    """

    def __init__(self, *, max_basket: int = 100) -> None:
        self.max_basket = max_basket

    def fit(self, baskets: pl.DataFrame, ids: IdMap) -> Self:
        """Count `baskets` (columns ``basket`` and ``item_id``, one row per distinct item of a
        basket; :func:`cartwise.graph.baskets.basket_items`) over the items of `ids`."""
        sizes = baskets.group_by("basket").len()
        kept = sizes.filter(pl.col("len") <= self.max_basket)
        self.skipped_baskets_ = sizes.height - kept.height
        rows = baskets.join(kept.select("basket"), on="basket", how="semi")
        basket_index = rows["basket"].rank("dense").to_numpy().astype(np.int64) - 1
        item_index = ids.indices(rows["item_id"])
        known = item_index >= 0
        n = len(ids)
        incidence = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.int32), (basket_index[known], item_index[known])),
            shape=(int(basket_index.max()) + 1 if basket_index.size else 0, n),
        )
        incidence.data[:] = 1  # an item twice in a basket (duplicate rows) still counts once
        pairs = (incidence.T @ incidence).tocsr()
        self.counts_ = np.asarray(pairs.diagonal(), dtype=np.int64)
        pairs.setdiag(0)
        pairs.eliminate_zeros()
        pairs.sort_indices()
        self.pairs_ = pairs.astype(np.int32)
        self.baskets_ = int(kept.height)
        self.ids_ = ids
        return self

    @property
    def pair_count(self) -> int:
        """Distinct pairs seen together (each counted once)."""
        return int(self.pairs_.nnz // 2)

    def table(self, item_id: str) -> PairTable:
        """`item_id`'s co-occurring items and counts (empty when it was never in a basket)."""
        index = self.ids_.get(item_id)
        if index is None or index >= self.pairs_.shape[0]:
            return PairTable(0, self.baskets_, EMPTY_IDS, EMPTY_COUNTS, EMPTY_COUNTS)
        start, stop = self.pairs_.indptr[index], self.pairs_.indptr[index + 1]
        others = self.pairs_.indices[start:stop]
        return PairTable(
            item_count=int(self.counts_[index]),
            baskets=self.baskets_,
            ids=labels(self.ids_)[others],
            counts=self.pairs_.data[start:stop].astype(np.int64),
            other_counts=self.counts_[others],
        )

    def item_count(self, item_id: str) -> int:
        index = self.ids_.get(item_id)
        return int(self.counts_[index]) if index is not None and index < self.counts_.size else 0

    def arrays(self, prefix: str) -> dict[str, NDArray[np.generic]]:
        """The learned state as named arrays (saved by :class:`~cartwise.graph.graph.RelationGraph`)."""
        return {
            f"{prefix}_indptr": self.pairs_.indptr,
            f"{prefix}_indices": self.pairs_.indices,
            f"{prefix}_data": self.pairs_.data,
            f"{prefix}_counts": self.counts_,
            f"{prefix}_totals": np.array([self.baskets_, self.skipped_baskets_, self.max_basket], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[np.generic]], prefix: str, ids: IdMap) -> Cooccurrence:
        baskets, skipped, max_basket = (int(v) for v in arrays[f"{prefix}_totals"])
        model = cls(max_basket=max_basket)
        n = len(ids)
        model.pairs_ = sp.csr_matrix(
            (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]), shape=(n, n)
        )
        model.counts_ = np.asarray(arrays[f"{prefix}_counts"], dtype=np.int64)
        model.baskets_ = baskets
        model.skipped_baskets_ = skipped
        model.ids_ = ids
        return model


@dataclass(frozen=True, slots=True)
class CountDelta:
    """Baskets counted since a :class:`Cooccurrence` was fitted: added items and pairs
    (both directions), and new baskets. Immutable: :meth:`add` returns a new delta, so a
    reader holding one never sees it change."""

    items: Mapping[str, int] = field(default_factory=dict)
    pairs: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    baskets: int = 0

    def add(self, before: set[str], after: set[str]) -> CountDelta:
        """This delta plus one basket growing from the items `before` to `after` (a new
        basket when `before` is empty): each new item counts once, and pairs with every
        item already in the basket and every other new item."""
        return self.add_many([(before, after)])

    def add_many(self, changes: Iterable[tuple[set[str], set[str]]]) -> CountDelta:
        """This delta plus several baskets' growth (:meth:`add`), copied once."""
        items: dict[str, int] | None = None
        pairs: dict[str, Mapping[str, int]] = {}
        touched: dict[str, dict[str, int]] = {}
        baskets = self.baskets

        def bump(a: str, b: str) -> None:
            row = touched.get(a)
            if row is None:
                row = touched[a] = dict(self.pairs.get(a, {}))
            row[b] = row.get(b, 0) + 1

        for before, after in changes:
            new = sorted(after - before)
            if not new:
                continue
            if items is None:
                items = dict(self.items)
            for item in new:
                items[item] = items.get(item, 0) + 1
            old = sorted(before)
            for i, a in enumerate(new):
                for b in (*old, *new[i + 1 :]):
                    bump(a, b)
                    bump(b, a)
            baskets += 0 if before else 1
        if items is None:
            return self
        pairs = dict(self.pairs)
        pairs.update(touched)
        return CountDelta(items=items, pairs=pairs, baskets=baskets)

    def __bool__(self) -> bool:
        return bool(self.items) or self.baskets > 0


class LiveCooccurrence:
    """A fitted :class:`Cooccurrence` plus a :class:`CountDelta`, answering like one."""

    def __init__(self, base: Cooccurrence, delta: CountDelta) -> None:
        self.base = base
        self.delta = delta
        self.baskets_ = base.baskets_ + delta.baskets

    def item_count(self, item_id: str) -> int:
        return self.base.item_count(item_id) + self.delta.items.get(item_id, 0)

    def table(self, item_id: str) -> PairTable:
        table = self.base.table(item_id)
        added = self.delta.pairs.get(item_id, {})
        if not added and not self.delta.items:
            return table
        ids, counts, other_counts = table.ids, table.counts.copy(), table.other_counts.copy()
        position = {other: i for i, other in enumerate(ids.tolist())}
        extra = [other for other in added if other not in position]
        if extra:
            # Pairs first seen since the build: their base counts come from the base model.
            ids = np.concatenate([ids, np.array(extra, dtype=object)])
            counts = np.concatenate([counts, np.zeros(len(extra), dtype=np.int64)])
            other_counts = np.concatenate(
                [other_counts, np.array([self.base.item_count(o) for o in extra], dtype=np.int64)]
            )
            position.update({other: table.ids.size + n for n, other in enumerate(extra)})
        for other, n in added.items():
            counts[position[other]] += n
        # Walk the smaller side: the items counted live, or this item's partners.
        if len(self.delta.items) <= len(position):
            for other, n in self.delta.items.items():
                at = position.get(other)
                if at is not None:
                    other_counts[at] += n
        else:
            for other, at in position.items():
                other_counts[at] += self.delta.items.get(other, 0)
        return PairTable(
            item_count=self.item_count(item_id), baskets=self.baskets_, ids=ids, counts=counts,
            other_counts=other_counts,
        )


__all__ = ["Cooccurrence", "CountDelta", "LiveCooccurrence", "PairTable"]
