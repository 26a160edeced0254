"""Bought after: what a shopper buys in their next order after buying an item.

Each shopper's purchase baskets are put in time order; every item of a basket points to
every item of the shopper's next basket when that comes within ``window_days`` (a refill,
an accessory for last week's purchase). Counts are directed (a printer is followed by ink,
rarely the reverse) and judged by lift against how often the later item starts any next
basket, as co-occurrence is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from cartwise.graph.baskets import DAY_MS
from cartwise.graph.cooccurrence import EMPTY_COUNTS, EMPTY_IDS, PairTable, labels
from cartwise.recommend.base import IdMap


class BoughtAfter:
    """Directed next-basket counts.

    Parameters
    ----------
    window_days:
        The next basket counts only when it comes within this many days.
    max_basket:
        Baskets with more distinct items than this are left out (as in co-occurrence).
    min_count:
        Pairs seen fewer times are not kept: they can never be relations, and unlike
        co-occurrence counts these are not updated live (most pairs are seen once).

    Learned state: ``follows_`` (CSR, item x item: transitions from a basket holding the row
    item to a next basket holding the column item), ``sources_`` (transitions leaving a
    basket with each item), ``targets_`` (transitions arriving at one with each item),
    ``transitions_`` (pairs of consecutive baskets counted).
    """

    def __init__(self, *, window_days: float = 90.0, max_basket: int = 100, min_count: int = 2) -> None:
        self.window_days = window_days
        self.max_basket = max_basket
        self.min_count = min_count

    def fit(self, baskets: pl.DataFrame, ids: IdMap) -> Self:
        """Count transitions between the consecutive purchase baskets (columns ``basket``,
        ``user_id``, ``item_id``, ``ts``) of each shopper."""
        sizes = baskets.group_by("basket").agg(pl.len().alias("size"), pl.col("ts").min().alias("start"),
                                               pl.col("user_id").first())
        ordered = (
            sizes.filter(pl.col("size") <= self.max_basket)
            .sort("user_id", "start", "basket")
            .with_columns(
                pl.col("basket").shift(-1).over("user_id").alias("next"),
                pl.col("start").shift(-1).over("user_id").alias("next_start"),
            )
            .filter(
                pl.col("next").is_not_null()
                & ((pl.col("next_start") - pl.col("start")) <= int(self.window_days * DAY_MS))
            )
            .select("basket", "next")
        )
        items = baskets.select("basket", "item_id")
        pairs = (
            ordered.join(items, on="basket")
            .join(items.rename({"basket": "next", "item_id": "later"}), on="next")
            .filter(pl.col("item_id") != pl.col("later"))
        )
        n = len(ids)
        source = ids.indices(pairs["item_id"])
        target = ids.indices(pairs["later"])
        known = (source >= 0) & (target >= 0)
        follows = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.int32), (source[known], target[known])), shape=(n, n)
        )
        follows.sum_duplicates()
        follows.data[follows.data < self.min_count] = 0
        follows.eliminate_zeros()
        follows.sort_indices()
        self.follows_ = follows
        starts = ordered.join(items, on="basket")
        ends = ordered.join(items.rename({"basket": "next"}), on="next")
        self.sources_ = _per_item(ids.indices(starts["item_id"]), n)
        self.targets_ = _per_item(ids.indices(ends["item_id"]), n)
        self.transitions_ = int(ordered.height)
        self.ids_ = ids
        return self

    def table(self, item_id: str) -> PairTable:
        """Items bought in the next basket after `item_id`, with the counts behind them
        (``item_count``: transitions leaving a basket with `item_id`; ``other_counts``:
        transitions arriving at a basket with the other item)."""
        index = self.ids_.get(item_id)
        if index is None or index >= self.follows_.shape[0]:
            return PairTable(0, self.transitions_, EMPTY_IDS, EMPTY_COUNTS, EMPTY_COUNTS)
        start, stop = self.follows_.indptr[index], self.follows_.indptr[index + 1]
        others = self.follows_.indices[start:stop]
        return PairTable(
            item_count=int(self.sources_[index]),
            baskets=self.transitions_,
            ids=labels(self.ids_)[others],
            counts=self.follows_.data[start:stop].astype(np.int64),
            other_counts=self.targets_[others],
        )

    def arrays(self) -> dict[str, NDArray[np.generic]]:
        return {
            "sequence_indptr": self.follows_.indptr,
            "sequence_indices": self.follows_.indices,
            "sequence_data": self.follows_.data,
            "sequence_sources": self.sources_,
            "sequence_targets": self.targets_,
            "sequence_totals": np.array([self.transitions_, self.max_basket, self.min_count], dtype=np.int64),
            "sequence_window": np.array([self.window_days], dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[np.generic]], ids: IdMap) -> BoughtAfter:
        transitions, max_basket, min_count = (int(v) for v in arrays["sequence_totals"])
        model = cls(window_days=float(arrays["sequence_window"][0]), max_basket=max_basket, min_count=min_count)
        n = len(ids)
        model.follows_ = sp.csr_matrix(
            (arrays["sequence_data"], arrays["sequence_indices"], arrays["sequence_indptr"]), shape=(n, n)
        )
        model.sources_ = np.asarray(arrays["sequence_sources"], dtype=np.int64)
        model.targets_ = np.asarray(arrays["sequence_targets"], dtype=np.int64)
        model.transitions_ = transitions
        model.ids_ = ids
        return model


def _per_item(indices: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """How often each item index occurs (indices of unknown items, -1, are left out)."""
    return np.bincount(indices[indices >= 0], minlength=n).astype(np.int64)


__all__ = ["BoughtAfter"]
