"""Popularity: what shoppers chose lately, overall and within every category level.

The fallback for users without a usable history, the ordering of filtered browsing, and
the baseline every personalised model must beat. Scores are time-decayed sums of event
weights, so a bestseller of last year fades instead of ruling forever. Each event is also
weighted by its shopper's trust (:mod:`cartwise.recommend.trust`), so that a crowd of
fresh one-click identities cannot buy an item's place; ``trust_report_`` says what that
discounted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.catalog.item import CATEGORY_SEPARATOR
from cartwise.recommend.base import (
    IdMap,
    Scored,
    check_k,
    check_positive,
    decay_expr,
    not_trained,
    read_model,
    require_columns,
    resolve_weights,
    sum_by,
    weight_expr,
    write_model,
)
from cartwise.recommend.trust import TrustPolicy, assess, event_factors, summary

FORMAT = 1
_NAME = "popularity"


def category_key(path: str) -> str:
    """Normalised, case-folded path: how a category filter finds its level."""
    parts = [part.strip() for part in path.split(CATEGORY_SEPARATOR) if part.strip()]
    return " > ".join(parts).lower()


class Popularity:
    """Time-decayed popularity of catalog items, overall and per category prefix.

    Parameters
    ----------
    half_life_days:
        An event this many days older than the reference time counts half as much.
    weights:
        Weight of each event type (default :data:`cartwise.events.event.EVENT_WEIGHTS`);
        types not listed count nothing.
    trust:
        How much shoppers with short histories, and bursts of new identities on one
        item, count (:class:`~cartwise.recommend.trust.TrustPolicy`; its defaults leave
        a store of real customers' ranking as it was). ``None`` counts every event in
        full, as before trust existed.

    Learned state besides the scores: ``trust_report_``, what trust discounted (low-history
    shoppers, events counted at less than full weight, bursts, items whose score fell most).
    """

    def __init__(
        self,
        *,
        half_life_days: float = 30.0,
        weights: Mapping[str, float] | None = None,
        trust: TrustPolicy | None = TrustPolicy(),
    ) -> None:
        self.half_life_days = half_life_days
        self.weights = weights
        self.trust = trust

    def get_params(self) -> dict[str, Any]:
        return {
            "half_life_days": self.half_life_days,
            "weights": None if self.weights is None else {str(k): float(v) for k, v in self.weights.items()},
            "trust": None if self.trust is None else self.trust.to_dict(),
        }

    def __repr__(self) -> str:
        return "Popularity(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def fit(self, events: pl.DataFrame, items: pl.DataFrame, *, now_ms: int | None = None) -> Self:
        """Score every item of `items` from `events` (EVENT_SCHEMA columns).

        Decay is measured from `now_ms`, by default the newest event, so that a data set
        from years ago still ranks by its own recent past. Events on items missing from
        `items` are ignored: popularity only recommends what can be sold.
        """
        check_positive("half_life_days", self.half_life_days)
        weights = resolve_weights(self.weights)
        require_columns(events, ("item_id", "event_type", "ts"), "events")
        require_columns(items, ("item_id", "category"), "items")
        if self.trust is not None:
            require_columns(events, ("user_id",), "events")

        item_ids = IdMap.from_series(items["item_id"])
        if now_ms is None:
            newest = events["ts"].max() if events.height else None
            now_ms = int(newest) if newest is not None else 0  # type: ignore[arg-type]
        # Without trust the events need no user; with it, each event's user sets its factor.
        user = pl.col("user_id").cast(pl.Utf8) if "user_id" in events.columns else pl.lit(None, pl.Utf8)
        frame = (
            events.lazy()
            .filter(pl.col("item_id").is_not_null())
            .select(
                user.alias("user_id"),
                pl.col("item_id").cast(pl.Utf8),
                (weight_expr(weights) * decay_expr(now_ms, self.half_life_days)).alias("w"),
            )
            .filter(pl.col("w") > 0)
            .collect()
        )
        index = item_ids.indices(frame["item_id"])
        known = index >= 0
        raw = frame["w"].to_numpy()
        factor = np.ones(raw.size)
        if self.trust is not None:
            assessment = assess(events, self.trust)
            factor = event_factors(assessment, frame, index, raw, self.trust, len(item_ids))
        scores = self._sum(index[known], raw[known] * factor[known], len(item_ids))

        self.trust_report_: dict[str, Any] = {}
        if self.trust is not None:
            before = self._sum(index[known], raw[known], len(item_ids))
            self.trust_report_ = summary(
                assessment, item_ids.ids, before, scores, int(np.count_nonzero(factor[known] < 1.0))
            )
        self.item_ids_ = item_ids
        self.scores_ = scores
        self.now_ms_ = int(now_ms)
        self.ranking_ = self._rank(np.arange(len(item_ids)), scores)
        self._fit_categories(items)
        return self

    @staticmethod
    def _sum(index: NDArray[np.int64], values: NDArray[np.float64], size: int) -> NDArray[np.float64]:
        summed, totals = sum_by(index, values, size=size)
        scores = np.zeros(size, dtype=np.float64)
        scores[summed] = totals
        return scores

    @staticmethod
    def _rank(candidates: NDArray[np.int64], scores: NDArray[np.float64]) -> NDArray[np.int64]:
        """Candidates with a positive score, best first; ties go to the smaller index (id order)."""
        candidates = candidates[scores[candidates] > 0]
        return candidates[np.lexsort((candidates, -scores[candidates]))].astype(np.int64)

    def _fit_categories(self, items: pl.DataFrame) -> None:
        """Rank items within every prefix of every category path (``Home``, ``Home > Kitchen``...)."""
        parts = items.select(
            pl.col("item_id").cast(pl.Utf8),
            pl.col("category")
            .cast(pl.Utf8)
            .str.split(CATEGORY_SEPARATOR)
            .list.eval(pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != ""))
            .alias("parts"),
        ).filter(pl.col("parts").list.len() > 0)
        depth = int(parts["parts"].list.len().max() or 0) if parts.height else 0
        levels = pl.concat(
            [
                parts.filter(pl.col("parts").list.len() >= d).select(
                    "item_id", pl.col("parts").list.head(d).list.join(" > ").alias("name")
                )
                for d in range(1, depth + 1)
            ]
            or [pl.DataFrame(schema={"item_id": pl.Utf8, "name": pl.Utf8})]
        ).with_columns(pl.col("name").str.to_lowercase().alias("key"))
        # Case-insensitive: "home > kitchen" and "Home > Kitchen" are one level; the most
        # common spelling (then the first in sort order) is the one shown in reasons.
        names = (
            levels.group_by("key", "name")
            .len()
            .sort(["key", "len", "name"], descending=[False, True, False])
            .unique("key", keep="first", maintain_order=True)
        )
        keys = names["key"].to_list()
        category_index = IdMap(keys)
        pairs = levels.select("key", "item_id").unique()
        cat = category_index.indices(pairs["key"])
        item = self.item_ids_.indices(pairs["item_id"])
        keep = (cat >= 0) & (item >= 0)
        cat, item = cat[keep], item[keep]
        keep = self.scores_[item] > 0
        cat, item = cat[keep], item[keep]
        order = np.lexsort((item, -self.scores_[item], cat))
        self.category_keys_ = category_index
        self.category_names_ = names["name"].to_list()
        self.category_items_ = item[order].astype(np.int64)
        self.category_ptr_ = np.concatenate(([0], np.cumsum(np.bincount(cat, minlength=len(keys))))).astype(np.int64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "scores_"):
            raise not_trained(self)

    def recommend(
        self, k: int, *, category: str | None = None, exclude: Collection[str] = ()
    ) -> list[Scored]:
        """The `k` most popular items, optionally within `category` (any prefix level of
        a category path, case-insensitive), skipping `exclude`. Unknown category -> []."""
        self._check_fitted()
        k = check_k(k)
        if category is None:
            ranked, reason = self.ranking_, "popular with shoppers"
        else:
            c = self.category_keys_.get(category_key(category))
            if c is None:
                return []
            ranked = self.category_items_[self.category_ptr_[c] : self.category_ptr_[c + 1]]
            reason = f"popular in {self.category_names_[c]}"
        # Excluded ids are at most len(exclude) of the candidates, so this many always suffice.
        head = ranked[: k + len(exclude)]
        ids = self.item_ids_.labels(head)
        scores = self.scores_[head]
        out: list[Scored] = []
        for item_id, score in zip(ids, scores.tolist()):
            if len(out) == k:
                break
            if item_id not in exclude:
                out.append(Scored(item_id=item_id, score=score, reason=reason))
        return out

    def score(self, item_ids: Sequence[str]) -> NDArray[np.float64]:
        """Popularity of each id (0 for items unknown or never chosen), for ordering lists."""
        self._check_fitted()
        index = self.item_ids_.indices(item_ids)
        if not len(self.scores_):
            return np.zeros(len(index), dtype=np.float64)
        return np.where(index >= 0, self.scores_[np.maximum(index, 0)], 0.0)

    def save(self, directory: Path | str) -> None:
        self._check_fitted()
        write_model(
            directory,
            _NAME,
            {"format": FORMAT, "params": self.get_params(), "now_ms": self.now_ms_,
             "category_names": self.category_names_, "trust_report": self.trust_report_},
            {
                "item_ids": self.item_ids_.to_numpy(),
                "scores": self.scores_,
                "ranking": self.ranking_,
                "category_keys": self.category_keys_.to_numpy(),
                "category_ptr": self.category_ptr_,
                "category_items": self.category_items_,
            },
        )

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        meta, arrays = read_model(directory, _NAME, FORMAT)
        params = dict(meta["params"])
        # Models saved before trust existed were fitted without it.
        params["trust"] = TrustPolicy.from_dict(params.get("trust"))
        model = cls(**params)
        model.trust_report_ = dict(meta.get("trust_report") or {})
        model.item_ids_ = IdMap(arrays["item_ids"].tolist())
        model.scores_ = arrays["scores"]
        model.now_ms_ = int(meta["now_ms"])
        model.ranking_ = arrays["ranking"]
        model.category_keys_ = IdMap(arrays["category_keys"].tolist())
        model.category_names_ = list(meta["category_names"])
        model.category_ptr_ = arrays["category_ptr"]
        model.category_items_ = arrays["category_items"]
        return model


class PopularityAnswers:
    """A fitted :class:`Popularity` behind the history-recommender API, so that evaluation
    and benchmarks rank it like the personalised models: every shopper gets the same list,
    less their history when `exclude_seen`."""

    def __init__(self, model: Popularity) -> None:
        self.model = model

    def recommend(
        self, histories: Sequence[Sequence[Any]], *, k: int = 10, exclude_seen: bool = True
    ) -> list[list[Scored]]:
        return [
            self.model.recommend(k, exclude={e.item_id for e in h} if exclude_seen else ()) for h in histories
        ]
