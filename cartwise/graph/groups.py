"""Catalog edges: items of the same brand, category, variant family or series, and items
sharing attribute values.

Such edges are cliques (every mug of a category is linked to every other), so they are kept
as group memberships, one group id per item and kind, and expanded when asked; attribute
values are an item x value incidence matrix, and two items are as close as the rarer
values they share (idf-weighted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from cartwise.graph.cooccurrence import labels
from cartwise.graph.variants import (
    FAMILY_KEYS,
    SERIES_KEYS,
    attributes_of,
    family_key,
    series_key,
)
from cartwise.recommend.base import IdMap

GROUP_KINDS = ("brand", "category", "family", "series")
# Attributes that are no product property: sponsored bids, the keys that make families.
_NOT_PROPERTIES = frozenset({"bid", *FAMILY_KEYS, *SERIES_KEYS})


class CatalogGroups:
    """Group memberships of every item.

    Learned state: ``groups_`` (kind -> int array, the item's group or -1), ``names_``
    (kind -> group names), ``values_`` (CSR, item x attribute value, idf weights),
    ``value_names_`` ("key=value").
    """

    def fit(self, items: pl.DataFrame, ids: IdMap) -> Self:
        """`items` with ``item_id``, ``title`` and optional ``brand``, ``category`` and
        ``attributes``; items of `ids` the frame lacks belong to no group."""
        n = len(ids)
        column = (lambda name: items[name].to_list() if name in items.columns else [None] * items.height)
        at = ids.indices(items["item_id"])
        attrs = [attributes_of(raw) for raw in column("attributes")]
        keys: dict[str, list[str | None]] = {
            "brand": [b.strip().casefold() if isinstance(b, str) and b.strip() else None for b in column("brand")],
            "category": [c if isinstance(c, str) and c else None for c in column("category")],
            "family": [
                family_key(t or "", b, a) for t, b, a in zip(column("title"), column("brand"), attrs, strict=True)
            ],
            "series": [series_key(a) for a in attrs],
        }
        self.groups_: dict[str, NDArray[np.int64]] = {}
        self.names_: dict[str, list[str]] = {}
        for kind, values in keys.items():
            counts: dict[str, int] = {}
            for value in values:
                if value is not None:
                    counts[value] = counts.get(value, 0) + 1
            # Groups of one item are kept too: they link nothing, but tell an item's
            # category to the complements (a pair in two different categories).
            names = sorted(counts)
            index = {name: i for i, name in enumerate(names)}
            group = np.full(n, -1, dtype=np.int64)
            for row, value in zip(at.tolist(), values, strict=True):
                if row >= 0 and value is not None and value in index:
                    group[row] = index[value]
            self.groups_[kind] = group
            self.names_[kind] = names
        self._fit_values(attrs, at, n)
        self.ids_ = ids
        return self

    def _fit_values(self, attrs: Sequence[Mapping[str, Any]], at: NDArray[np.int64], n: int) -> None:
        vocabulary: dict[str, int] = {}
        rows, cols = [], []
        for row, attributes in zip(at.tolist(), attrs, strict=True):
            if row < 0:
                continue
            for key, value in attributes.items():
                if str(key).casefold() in _NOT_PROPERTIES or value is None or isinstance(value, (dict, list)):
                    continue
                name = f"{str(key).strip().casefold()}={str(value).strip().casefold()}"
                rows.append(row)
                cols.append(vocabulary.setdefault(name, len(vocabulary)))
        incidence = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(vocabulary)))
        incidence.data[:] = 1.0
        df = np.asarray(incidence.sum(axis=0)).ravel()
        idf = np.log((1 + n) / (1 + df)) + 1.0
        self.values_ = (incidence @ sp.diags(idf)).tocsr() if len(vocabulary) else incidence
        self.value_names_ = [name for name, _ in sorted(vocabulary.items(), key=lambda kv: kv[1])]

    def shared_groups(self, kind: str) -> int:
        """Groups of `kind` holding two or more items."""
        groups = self.groups_[kind]
        return int((np.bincount(groups[groups >= 0]) >= 2).sum()) if (groups >= 0).any() else 0

    def group_of(self, kind: str, item_id: str) -> str | None:
        index = self.ids_.get(item_id)
        if index is None or index >= self.groups_[kind].size or self.groups_[kind][index] < 0:
            return None
        return self.names_[kind][int(self.groups_[kind][index])]

    def members(self, kind: str, item_id: str) -> NDArray[np.object_]:
        """The other items in `item_id`'s group of `kind` (empty when it has none)."""
        index = self.ids_.get(item_id)
        groups = self.groups_[kind]
        if index is None or index >= groups.size or groups[index] < 0:
            return np.empty(0, dtype=object)
        same = np.flatnonzero(groups == groups[index])
        same = same[same != index]
        return labels(self.ids_)[same]

    def shared_values(self, item_id: str) -> tuple[NDArray[np.object_], NDArray[np.float64], list[list[str]]]:
        """Items sharing attribute values with `item_id`: ids, the idf-weighted overlap
        (cosine of the weighted value sets) and the shared "key=value" names of each."""
        index = self.ids_.get(item_id)
        empty = (np.empty(0, dtype=object), np.empty(0), [])
        if index is None or index >= self.values_.shape[0] or self.values_[index].nnz == 0:
            return empty
        mine = self.values_[index]
        overlap = (self.values_ @ mine.T).toarray().ravel()
        overlap[index] = 0.0
        others = np.flatnonzero(overlap > 0)
        if others.size == 0:
            return empty
        norms = np.sqrt(np.asarray(self.values_[others].multiply(self.values_[others]).sum(axis=1)).ravel())
        own = float(np.sqrt(mine.multiply(mine).sum()))
        scores = overlap[others] / np.maximum(norms * own, 1e-12)
        mine_cols = set(mine.indices.tolist())
        shared = [
            [self.value_names_[c] for c in sorted(mine_cols.intersection(self.values_[o].indices.tolist()))]
            for o in others.tolist()
        ]
        return labels(self.ids_)[others], scores, shared

    def arrays(self) -> dict[str, NDArray[np.generic]]:
        out: dict[str, NDArray[np.generic]] = {f"group_{kind}": self.groups_[kind] for kind in GROUP_KINDS}
        out.update({f"group_{kind}_names": np.array(self.names_[kind], dtype=str) for kind in GROUP_KINDS})
        out.update(
            values_indptr=self.values_.indptr, values_indices=self.values_.indices, values_data=self.values_.data,
            value_names=np.array(self.value_names_, dtype=str),
        )
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[np.generic]], ids: IdMap) -> CatalogGroups:
        model = cls()
        model.groups_ = {kind: np.asarray(arrays[f"group_{kind}"], dtype=np.int64) for kind in GROUP_KINDS}
        model.names_ = {kind: [str(v) for v in arrays[f"group_{kind}_names"]] for kind in GROUP_KINDS}
        model.value_names_ = [str(v) for v in arrays["value_names"]]
        model.values_ = sp.csr_matrix(
            (arrays["values_data"], arrays["values_indices"], arrays["values_indptr"]),
            shape=(len(ids), len(model.value_names_)),
        )
        model.ids_ = ids
        return model


__all__ = ["GROUP_KINDS", "CatalogGroups"]
