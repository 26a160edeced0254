"""The product relation graph: every relation mined from one store's events and catalog.

`cartwise train` builds it next to the other models of a version (``models/<version>/graph``,
written while the version is staged, so it goes live with them in one rename) and a
running engine adds new baskets to its co-view and co-purchase counts as events arrive
(:mod:`cartwise.graph.live`). The relation kinds that read it are chosen by name
(:mod:`cartwise.graph.kinds`).
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.errors import NotTrained, ValidationError
from cartwise.graph.baskets import Signal, basket_items
from cartwise.graph.cooccurrence import Cooccurrence, CountDelta, LiveCooccurrence
from cartwise.graph.groups import CatalogGroups
from cartwise.graph.sequence import BoughtAfter
from cartwise.graph.text import TextNeighbours
from cartwise.recommend.base import IdMap
from cartwise.vectors import VectorIndex

FORMAT = 1
GRAPH_DIR = "graph"
_NAME = "graph"


class RelationGraph:
    """Relations between a store's items, with the counts behind each.

    Parameters
    ----------
    min_count:
        Baskets two items must share before they are related (one shared basket is chance).
    beta:
        How much co-purchase and co-view rankings discount popularity: edges rank by
        ``confidence * lift ** beta`` (0: raw co-occurrence; 1: lift-weighted). 0.25 was
        chosen on a validation split of Online Retail (baskets 70-80% by time, graph built
        on the first 70%; bench/graph.py evaluates on the last 20%): it matched raw counts'
        hit rate@10 (0.697 both) with a higher recall@10 (0.126 vs 0.122); 0.5 gave
        recall 0.127 at hit rate 0.686, and 1.0 lost more.
    min_lift:
        Pairs must co-occur more often than chance by this factor (1: any excess).
    max_basket:
        Baskets with more distinct items are left out of the counts.
    window_days:
        "Bought after" links a purchase to the shopper's next order within this many days.
    text_neighbours:
        Most text-similar items kept per item (candidates for substitutes and variants).
    substitute_strength:
        Text similarity above the catalog's baseline (0..1, :class:`TextNeighbours`) an item
        needs to be a substitute.

    Learned state: ``item_ids_``, ``titles_``, ``co_viewed_`` and ``co_bought_``
    (:class:`Cooccurrence`), ``bought_after_`` (:class:`BoughtAfter`), ``text_``
    (:class:`TextNeighbours`), ``groups_`` (:class:`CatalogGroups`), ``stats_``.
    """

    _live_viewed: LiveCooccurrence | None = None
    _live_bought: LiveCooccurrence | None = None

    def __init__(
        self,
        *,
        min_count: int = 2,
        beta: float = 0.25,
        min_lift: float = 1.0,
        max_basket: int = 100,
        window_days: float = 90.0,
        text_neighbours: int = 30,
        substitute_strength: float = 0.4,
    ) -> None:
        self.min_count = min_count
        self.beta = beta
        self.min_lift = min_lift
        self.max_basket = max_basket
        self.window_days = window_days
        self.text_neighbours = text_neighbours
        self.substitute_strength = substitute_strength

    def get_params(self) -> dict[str, Any]:
        return {
            "min_count": self.min_count, "beta": self.beta, "min_lift": self.min_lift, "max_basket": self.max_basket,
            "window_days": self.window_days, "text_neighbours": self.text_neighbours,
            "substitute_strength": self.substitute_strength,
        }

    def _check_params(self) -> None:
        for name in ("min_count", "max_basket", "text_neighbours"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"{name} must be a positive integer, got {value!r}", field=name)
        for name in ("beta", "min_lift", "window_days", "substitute_strength"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValidationError(f"{name} must be a non-negative number, got {value!r}", field=name)

    def fit(self, events: pl.DataFrame, items: pl.DataFrame, *, vectors: VectorIndex | None = None) -> Self:
        """Mine relations from `events` (``user_id``, ``item_id``, ``event_type``, ``ts``,
        optional ``session_id``) and the catalog `items` (``item_id``, ``title``, optional
        ``brand``, ``category``, ``attributes``); `vectors`: the store's item embeddings
        (text similarity falls back to TF-IDF of titles without them)."""
        self._check_params()
        for name, frame, needed in (("events", events, ("user_id", "item_id", "event_type", "ts")),
                                    ("items", items, ("item_id", "title"))):
            missing = [c for c in needed if c not in frame.columns]
            if missing:
                raise ValidationError(f"{name} lack the columns {missing}", field=name)
        seconds: dict[str, float] = {}
        mark = time.perf_counter()
        known = pl.concat([items["item_id"].cast(pl.Utf8), events["item_id"].cast(pl.Utf8)])
        self.item_ids_ = IdMap.from_series(known)
        titles = dict(zip(items["item_id"].to_list(), items["title"].to_list(), strict=True))
        self.titles_ = np.array([titles.get(i) or i for i in self.item_ids_.ids], dtype=object)
        views = basket_items(events, Signal.VIEW)
        buys = basket_items(events, Signal.BUY)
        seconds["baskets"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self.co_viewed_ = Cooccurrence(max_basket=self.max_basket).fit(views, self.item_ids_)
        self.co_bought_ = Cooccurrence(max_basket=self.max_basket).fit(buys, self.item_ids_)
        seconds["cooccurrence"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self.bought_after_ = BoughtAfter(
            window_days=self.window_days, max_basket=self.max_basket, min_count=self.min_count
        ).fit(buys, self.item_ids_)
        seconds["bought_after"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self.text_ = TextNeighbours(neighbours=self.text_neighbours).fit(
            self.item_ids_, titles=[str(t) for t in self.titles_], vectors=vectors
        )
        seconds["text"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self.groups_ = CatalogGroups().fit(items, self.item_ids_)
        seconds["groups"] = time.perf_counter() - mark
        self.stats_ = {
            "items": len(self.item_ids_),
            "view_baskets": self.co_viewed_.baskets_,
            "purchase_baskets": self.co_bought_.baskets_,
            "baskets_too_large": self.co_viewed_.skipped_baskets_ + self.co_bought_.skipped_baskets_,
            "co_viewed_pairs": self.co_viewed_.pair_count,
            "co_bought_pairs": self.co_bought_.pair_count,
            "bought_after_pairs": int(self.bought_after_.follows_.nnz),
            "text_source": self.text_.source_,
            "text_baseline": round(float(self.text_.baseline_), 4),
            "variant_families": self.groups_.shared_groups("family"),
            "series": self.groups_.shared_groups("series"),
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        }
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_ids_"):
            raise NotTrained("the relation graph is not built yet", hint="call fit() or run `cartwise train`")

    def __contains__(self, item_id: object) -> bool:
        return hasattr(self, "item_ids_") and item_id in self.item_ids_

    @property
    def co_viewed(self) -> Cooccurrence | LiveCooccurrence:
        """Co-view counts, with the baskets counted since the build (:meth:`with_counts`)."""
        return self._live_viewed or self.co_viewed_

    @property
    def co_bought(self) -> Cooccurrence | LiveCooccurrence:
        """Co-purchase counts, with the baskets counted since the build (:meth:`with_counts`)."""
        return self._live_bought or self.co_bought_

    def title(self, item_id: str) -> str:
        index = self.item_ids_.get(item_id)
        return str(self.titles_[index]) if index is not None else item_id

    def popularity(self, item_ids: NDArray[np.object_]) -> NDArray[np.float64]:
        """Baskets (bought and viewed) holding each of `item_ids` when the graph was built:
        the order of catalog edges."""
        at = self.item_ids_.indices(item_ids.tolist()) if item_ids.size else np.empty(0, dtype=np.int64)
        counts = self.co_bought_.counts_ + self.co_viewed_.counts_
        return np.where(at >= 0, counts[np.maximum(at, 0)], 0).astype(np.float64)

    def with_counts(self, *, viewed: CountDelta, bought: CountDelta) -> RelationGraph:
        """This graph with baskets counted since it was built added (a new object; this one
        is unchanged, so answers in flight keep reading it). The learned ``co_viewed_`` and
        ``co_bought_`` stay as built; :attr:`co_viewed` and :attr:`co_bought` add the deltas."""
        self._check_fitted()
        live = copy.copy(self)
        live._live_viewed = LiveCooccurrence(self.co_viewed_, viewed) if viewed else None
        live._live_bought = LiveCooccurrence(self.co_bought_, bought) if bought else None
        return live

    def summary(self) -> dict[str, Any]:
        """What the graph holds, for the version's manifest and `train`'s report."""
        self._check_fitted()
        return {**self.stats_, "params": self.get_params()}

    def save(self, directory: Path | str) -> None:
        """``graph.npz`` (arrays, no pickle) then ``graph.json`` (settings, counts), each
        written to a temporary name and renamed, so a reader never sees half a file."""
        self._check_fitted()
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, NDArray[Any]] = {
            "item_ids": self.item_ids_.to_numpy().astype(str),
            "titles": self.titles_.astype(str),
            **self.co_viewed_.arrays("viewed"),
            **self.co_bought_.arrays("bought"),
            **self.bought_after_.arrays(),
            **self.text_.arrays(),
            **self.groups_.arrays(),
        }
        staged = path / f".{_NAME}.npz.tmp"
        with open(staged, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(staged, path / f"{_NAME}.npz")
        meta = {"format": FORMAT, "params": self.get_params(), "stats": self.stats_}
        staged = path / f".{_NAME}.json.tmp"
        staged.write_text(json.dumps(meta, indent=2, sort_keys=True))
        os.replace(staged, path / f"{_NAME}.json")

    @classmethod
    def load(cls, directory: Path | str) -> RelationGraph:
        path = Path(directory)
        try:
            meta = json.loads((path / f"{_NAME}.json").read_text())
            with np.load(path / f"{_NAME}.npz", allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as exc:
            raise NotTrained(f"cannot read the relation graph in {path}: {exc}", hint="retrain with `cartwise train`")
        if meta.get("format") != FORMAT:
            raise NotTrained(
                f"the relation graph in {path} has format {meta.get('format')}, this Cartwise reads {FORMAT}",
                hint="retrain with `cartwise train`",
            )
        try:
            graph = cls(**meta["params"])
            ids = IdMap(arrays["item_ids"].tolist())
            graph.item_ids_ = ids
            graph.titles_ = arrays["titles"].astype(object)
            graph.co_viewed_ = Cooccurrence.from_arrays(arrays, "viewed", ids)
            graph.co_bought_ = Cooccurrence.from_arrays(arrays, "bought", ids)
            graph.bought_after_ = BoughtAfter.from_arrays(arrays, ids)
            graph.text_ = TextNeighbours.from_arrays(arrays, ids)
            graph.groups_ = CatalogGroups.from_arrays(arrays, ids)
            graph.stats_ = meta["stats"]
        except (KeyError, TypeError, ValueError) as exc:
            raise NotTrained(f"the relation graph in {path} is damaged: {exc!r}", hint="retrain with `cartwise train`")
        return graph


__all__ = ["GRAPH_DIR", "RelationGraph"]
