"""BlendRecommender: several candidate generators fused into one ranking, weights tuned on
held-out events.

Each member (item-kNN, the sequential Transformer, text similarity, ...) proposes its top
`depth` items for a user. A member's scores are rescaled per user to [0, 1] over its own
candidates (best 1, its `depth`-th 0), so members with different score scales can be
added; an item a member did not propose counts 0 there. The fused score is the weighted
sum. The weights are chosen by grid search over the simplex to maximise NDCG@10 of each
user's held-out next item, the same leave-last-out protocol as the sequential model's
early stopping, so no weight is set by hand or tuned on test data.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from cartwise.errors import ValidationError
from cartwise.recommend.base import (
    History,
    Scored,
    check_exclude,
    check_k,
    check_positive,
    follow_catalog,
    histories_by_user,
    not_trained,
    read_model,
    require_columns,
    write_model,
)
from cartwise.vectors import VectorIndex

FORMAT = 1
_NAME = "blend"
# Validation NDCG@10 differences below this are rounding noise (member scores computed in
# another order differ by ~1e-7), treated as ties when choosing weights.
TIE = 1e-9
# Users whose member answers are held at once while tuning.
TUNING_CHUNK = 2_000


class BlendRecommender:
    """Weighted fusion of member recommenders' per-user rescaled scores.

    members: name -> recommender with ``recommend(histories, *, k, exclude, exclude_seen)``
    (fitted or not: :meth:`fit` fits them, :meth:`tune` only chooses weights).
    weights: fixed weights by member name; None tunes them in :meth:`fit` / :meth:`tune`
    (equal weights without validation events).
    depth: candidates taken from each member per user.
    grid: weights are multiples of ``1 / grid`` summing to 1.
    tuning_users: at most this many validation users are used to choose weights (sampled
    with `seed`).
    exclude_seen: whether weights are chosen for answers that leave out the user's
    history (the engine's default) or for answers that may repeat it.
    """

    def __init__(
        self,
        *,
        members: Mapping[str, Any],
        weights: Mapping[str, float] | None = None,
        depth: int = 100,
        grid: int = 10,
        tuning_users: int = 20_000,
        seed: int = 0,
        exclude_seen: bool = True,
    ) -> None:
        if not members:
            raise ValidationError("a blend needs at least one member recommender", field="members")
        for name, model in members.items():
            if not callable(getattr(model, "recommend", None)):
                raise ValidationError(f"member {name!r} has no recommend method", field="members")
        check_positive("depth", depth)
        check_positive("grid", grid)
        check_positive("tuning_users", tuning_users)
        self.members = dict(members)
        self.depth = int(depth)
        self.grid = int(grid)
        self.tuning_users = int(tuning_users)
        self.seed = seed
        self.exclude_seen = bool(exclude_seen)
        self.weights = None if weights is None else self._check_weights(weights)

    def _check_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        if set(weights) != set(self.members):
            raise ValidationError(
                f"weights name {sorted(weights)}, members are {sorted(self.members)}", field="weights"
            )
        clean = {name: float(weights[name]) for name in self.members}
        if any(not np.isfinite(w) or w < 0 for w in clean.values()) or sum(clean.values()) <= 0:
            raise ValidationError("weights must be non-negative with a positive sum", field="weights")
        return clean

    def get_params(self) -> dict[str, Any]:
        return {
            "depth": self.depth, "grid": self.grid, "tuning_users": self.tuning_users, "seed": self.seed,
            "exclude_seen": self.exclude_seen,
        }

    # fitting ---------------------------------------------------------------------------

    def fit(self, events: pl.DataFrame, *, validation: pl.DataFrame | None = None) -> Self:
        """Fit every member on `events` (passing `validation` to those that stop early on
        it), then choose the weights on `validation` (each user's next item)."""
        for model in self.members.values():
            if "validation" in inspect.signature(model.fit).parameters:
                model.fit(events, validation=validation)
            else:
                model.fit(events)
        if self.weights is None:
            if validation is not None and not validation.is_empty():
                self.tune(events, validation, exclude_seen=self.exclude_seen)
            else:
                self.weights_ = {name: 1.0 / len(self.members) for name in self.members}
                self.tuning_ = {}
        else:
            self.weights_ = dict(self.weights)
            self.tuning_ = {}
        return self

    def tune(self, events: pl.DataFrame, validation: pl.DataFrame, *, exclude_seen: bool | None = None) -> Self:
        """Choose weights maximising NDCG@10 of each validation user's item, ranked from
        their history in `events`, over already fitted members.

        `exclude_seen` (default: the blend's own setting) should match how the blend will
        be asked (the engine's default leaves the user's history out)."""
        if exclude_seen is None:
            exclude_seen = self.exclude_seen
        require_columns(events, ("user_id", "item_id", "event_type", "ts"), "events")
        require_columns(validation, ("user_id", "item_id"), "validation")
        targets = validation.unique("user_id", keep="last", maintain_order=True)
        if targets.height > self.tuning_users:
            targets = targets.sample(n=self.tuning_users, seed=self.seed)
        histories = histories_by_user(events, targets["user_id"].to_list())
        keep = [i for i, history in enumerate(histories) if history]
        if not keep:
            raise ValidationError("no validation user has training events to rank from", field="validation")
        histories = [histories[i] for i in keep]
        wanted = [str(targets["item_id"][i]) for i in keep]
        names = list(self.members)
        # In chunks of users: members' answers for 20,000 users at once would hold
        # millions of Scored objects.
        blocks, offsets, target_rows = [], [np.zeros(1, dtype=np.int64)], []
        for start in range(0, len(histories), TUNING_CHUNK):
            answers = self._member_answers(
                histories[start : start + TUNING_CHUNK], self.depth, exclude_seen=exclude_seen
            )
            block, block_offsets, block_targets = _candidate_scores(
                answers, wanted[start : start + TUNING_CHUNK], self.depth
            )
            base = int(offsets[-1][-1])
            blocks.append(block)
            offsets.append(block_offsets[1:] + base)
            target_rows.append(np.where(block_targets >= 0, block_targets + base, -1))
        scores = np.concatenate(blocks)
        offsets_all, targets_all = np.concatenate(offsets), np.concatenate(target_rows)
        results = []
        for combo in _simplex(len(names), self.grid):
            weights = np.asarray(combo, dtype=np.float64) / self.grid
            results.append((_ndcg10(scores @ weights, offsets_all, targets_all), combo))
        top = max(value for value, _ in results)
        # Settings within TIE of the best are equal up to rounding; the most even of them
        # is kept, so float noise in member scores cannot swing the weights.
        best = min(
            ((value, combo) for value, combo in results if value >= top - TIE),
            key=lambda pair: sum(c * c for c in pair[1]),
        )
        self.weights_ = {name: c / self.grid for name, c in zip(names, best[1])}
        single = {
            name: _ndcg10(scores[:, j], offsets_all, targets_all) for j, name in enumerate(names)
        }
        self.tuning_ = {
            "users": len(histories),
            "validation_ndcg10": round(best[0], 6),
            "member_validation_ndcg10": {name: round(v, 6) for name, v in single.items()},
            "combinations": len(results),
            "exclude_seen": exclude_seen,
        }
        return self

    # answering ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise not_trained(self)

    def _member_answers(
        self,
        histories: Sequence[History],
        k: int,
        *,
        exclude: Collection[str] | Sequence[Collection[str]] = (),
        exclude_seen: bool = True,
        names: Sequence[str] | None = None,
    ) -> list[tuple[str, list[list[Scored]]]]:
        return [
            (name, self.members[name].recommend(histories, k=k, exclude=exclude, exclude_seen=exclude_seen))
            for name in (self.members if names is None else names)
        ]

    def recommend(
        self,
        histories: Sequence[History],
        *,
        k: int = 10,
        exclude: Collection[str] | Sequence[Collection[str]] = (),
        exclude_seen: bool = True,
    ) -> list[list[Scored]]:
        k = check_k(k)
        check_exclude(exclude)
        self._check_fitted()
        histories = list(histories)
        # A member with weight 0 cannot change the ranking: it is not asked.
        answers = self._member_answers(
            histories, max(k, self.depth), exclude=exclude, exclude_seen=exclude_seen,
            names=[name for name, weight in self.weights_.items() if weight > 0],
        )
        out: list[list[Scored]] = []
        for user in range(len(histories)):
            fused: dict[str, float] = {}
            lead: dict[str, tuple[float, Scored]] = {}
            for name, lists in answers:
                weight = self.weights_[name]
                for item, share, scored in _rescaled(lists[user], self.depth):
                    part = weight * share
                    fused[item] = fused.get(item, 0.0) + part
                    if item not in lead or part > lead[item][0]:
                        lead[item] = (part, scored)
            top = sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
            out.append(
                [
                    Scored(item_id=item, score=score, reason=lead[item][1].reason, because=lead[item][1].because)
                    for item, score in top
                ]
            )
        return out

    def attach(self, index: VectorIndex) -> None:
        """Bring every member up to date with the catalog's text vectors in `index`
        (:func:`~cartwise.recommend.base.follow_catalog`): new items reach the text-aware
        members, and TextKNN answers from the index itself."""
        for model in self.members.values():
            follow_catalog(model, index)

    # persistence -------------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        self._check_fitted()
        path = Path(directory)
        for name, model in self.members.items():
            model.save(path / name)
        meta = {
            "format": FORMAT,
            "params": self.get_params(),
            "members": list(self.members),
            "weights": self.weights_,
            "tuning": self.tuning_,
        }
        write_model(path, _NAME, meta, {})

    @classmethod
    def load(cls, directory: Path | str, *, member_class: Callable[[str], Any]) -> Self:
        """Load a saved blend; `member_class(name)` gives each member's class (the
        recommender registry's :meth:`RecommenderSpec.load` passes its own)."""
        path = Path(directory)
        meta, _ = read_model(path, _NAME, FORMAT)
        members = {name: member_class(name).load(path / name) for name in meta["members"]}
        model = cls(members=members, **meta["params"])
        model.weights_ = {name: float(w) for name, w in meta["weights"].items()}
        model.tuning_ = meta.get("tuning", {})
        return model


def _rescaled(answer: Sequence[Scored], depth: int) -> list[tuple[str, float, Scored]]:
    """(item, share, the member's answer): the score rescaled to [0, 1] between the list's
    first and its `depth`-th item; items below the `depth`-th get 0, so a longer list (a
    larger k) never changes the shares of the first `depth`."""
    if not answer:
        return []
    values = np.asarray([s.score for s in answer], dtype=np.float64)
    head = values[:depth]
    high, low = float(head.max()), float(head.min())
    span = high - low
    if span <= 0 or not np.isfinite(span):
        # No spread (one candidate, or ties): fall back to rank order within the head.
        shares = np.clip(1.0 - np.arange(len(answer)) / max(len(head), 1), 0.0, 1.0)
    else:
        shares = np.clip((values - low) / span, 0.0, 1.0)
    return [(s.item_id, float(v), s) for s, v in zip(answer, shares)]


def _candidate_scores(
    answers: list[tuple[str, list[list[Scored]]]], targets: Sequence[str], depth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user, the union of members' candidates as rows of rescaled member scores.

    Returns the stacked (candidates x members) matrix, each user's first row (n + 1
    offsets) and each user's target row (-1 when no member proposed it).
    """
    blocks, offsets, target_rows = [], [0], []
    for user, target in enumerate(targets):
        rows: dict[str, int] = {}
        cells: list[tuple[int, int, float]] = []
        for column, (_name, lists) in enumerate(answers):
            for item, share, _ in _rescaled(lists[user], depth):
                row = rows.setdefault(item, len(rows))
                cells.append((row, column, share))
        block = np.zeros((len(rows), len(answers)), dtype=np.float64)
        for row, column, share in cells:
            block[row, column] = share
        blocks.append(block)
        target_rows.append(offsets[-1] + rows[target] if target in rows else -1)
        offsets.append(offsets[-1] + len(rows))
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, len(answers)))
    return matrix, np.asarray(offsets, dtype=np.int64), np.asarray(target_rows, dtype=np.int64)


def _ndcg10(fused: np.ndarray, offsets: np.ndarray, target_rows: np.ndarray) -> float:
    """Mean NDCG@10 of one relevant item per user; ties count against the target."""
    users = len(target_rows)
    if users == 0:
        return 0.0
    found = target_rows >= 0
    gains = np.zeros(users, dtype=np.float64)
    if not found.any():
        return 0.0
    lengths = np.diff(offsets)
    owner = np.repeat(np.arange(users), lengths)
    target_score = np.full(users, np.inf)
    target_score[found] = fused[target_rows[found]]
    ahead = np.bincount(owner, weights=(fused >= target_score[owner]).astype(np.float64), minlength=users) - 1
    ranks = ahead[found]
    hits = ranks < 10
    gains[np.flatnonzero(found)[hits]] = 1.0 / np.log2(ranks[hits] + 2.0)
    return float(gains.mean())


def _simplex(parts: int, grid: int) -> list[tuple[int, ...]]:
    """Every way to split `grid` units among `parts` members (non-negative integers)."""
    return [c for c in itertools.product(range(grid + 1), repeat=parts) if sum(c) == grid]


__all__ = ["BlendRecommender"]
