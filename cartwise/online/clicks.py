"""The click model's online part: a logistic layer on top of the trained model's score,
learned by SGD from each labelled impression as it arrives.

The trained click model (:mod:`cartwise.clicks`) is refitted only by `train`; between
trainings the click-through rate of an item, a placement or the whole shop drifts (a new
campaign, today's news). :class:`OnlineClickLayer` predicts
``sigmoid(w . [logit(p_model), 1, item signal, item exposure])`` where the item signal is
the logit of the item's click rate over the impressions the layer has seen (smoothed
towards the model's own mean prediction for the item, so an item seen twice moves little)
and the exposure ``log1p(impressions)``. It starts as the identity (``w = [1, 0, 0, 0]``:
the model's own probability) and takes one Adagrad step on the log loss per labelled
impression, so it recalibrates the model and learns which items run hot or cold now,
never forgetting the model it sits on.

:class:`ImpressionLearner` feeds a server's layer from the events it follows (the store's
events log, :mod:`cartwise.live`): an event that names the answer it acted on (its
`request_id` and `position`) labels that impression, cascade-style: the items shown down
to the lowest one acted on, 1 for those acted on and 0 for those passed over.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray

from cartwise.events.event import EventType
from cartwise.limits import HISTORY_LENGTH
from cartwise.recommend.base import Interaction, history_of
from cartwise.store import Store

_EPS = 1e-6


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class _ItemCounts:
    impressions: float = 0.0
    clicks: float = 0.0
    predicted: float = 0.0
    """Sum of the model's probabilities over the item's impressions (its expected clicks)."""


@dataclass
class OnlineClickLayer:
    """A streaming logistic layer over a trained click model (see the module docstring).

    Parameters
    ----------
    learning_rate:
        Adagrad's step size.
    prior_impressions:
        Pseudo-impressions of the smoothing: an item's rate starts at the model's mean
        prediction for it and needs about this many impressions to move far from it.
    l2:
        Pull of the weights back towards the identity layer per step.
    """

    learning_rate: float = 0.05
    prior_impressions: float = 50.0
    l2: float = 1e-4
    weights_: NDArray[np.float64] = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    _squares: NDArray[np.float64] = field(default_factory=lambda: np.full(4, 1e-8), repr=False)
    _items: dict[str, _ItemCounts] = field(default_factory=dict, repr=False)
    updates_: int = 0

    def features(self, item_ids: Sequence[str], model_probabilities: ArrayLike) -> NDArray[np.float64]:
        """The layer's inputs for each (item, model probability)."""
        p = np.asarray(model_probabilities, dtype=np.float64)
        x = np.empty((p.size, 4))
        x[:, 0] = _logit(p)
        x[:, 1] = 1.0
        for n, item in enumerate(item_ids):
            seen = self._items.get(item)
            if seen is None or seen.impressions == 0:
                x[n, 2:] = 0.0
                continue
            prior = seen.predicted / seen.impressions
            rate = (seen.clicks + self.prior_impressions * prior) / (seen.impressions + self.prior_impressions)
            x[n, 2] = math.log(max(rate, _EPS) / max(1 - rate, _EPS)) - math.log(max(prior, _EPS) / max(1 - prior, _EPS))
            x[n, 3] = math.log1p(seen.impressions) / 10.0
        return x

    def predict(self, item_ids: Sequence[str], model_probabilities: ArrayLike) -> NDArray[np.float64]:
        """The click probability of each item, the trained model's probability given."""
        z = self.features(item_ids, model_probabilities) @ self.weights_
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def learn(self, item_ids: Sequence[str], model_probabilities: ArrayLike, clicked: ArrayLike) -> None:
        """One SGD step per labelled impression (in order), then count them for the items."""
        x = self.features(item_ids, model_probabilities)
        y = np.asarray(clicked, dtype=np.float64)
        identity = np.array([1.0, 0.0, 0.0, 0.0])
        for row, label in zip(x, y, strict=True):
            z = float(np.clip(row @ self.weights_, -30, 30))
            gradient = (1.0 / (1.0 + math.exp(-z)) - label) * row + self.l2 * (self.weights_ - identity)
            self._squares += gradient * gradient
            self.weights_ = self.weights_ - self.learning_rate * gradient / np.sqrt(self._squares)
        p = np.asarray(model_probabilities, dtype=np.float64)
        for item, label, probability in zip(item_ids, y.tolist(), p.tolist(), strict=True):
            counts = self._items.setdefault(item, _ItemCounts())
            counts.impressions += 1
            counts.clicks += label
            counts.predicted += probability
        self.updates_ += int(y.size)


# What acting on an item of an answer means for its impression's label.
ACTED = frozenset({EventType.CLICK.value, EventType.ADD_TO_CART.value, EventType.PURCHASE.value})


@dataclass(frozen=True, slots=True)
class LabelledImpression:
    """An answer some shopper acted on: the items shown down to the lowest acted on, with
    1 for those acted on and 0 for those passed over."""

    request_id: str
    user_id: str | None
    placement: str
    ts: int
    items: tuple[str, ...]
    labels: tuple[int, ...]


def labelled_impressions(acted: pl.DataFrame, shown: pl.DataFrame) -> list[LabelledImpression]:
    """The impressions of `shown` (Store.impressions_of) that the events `acted` name."""
    positions: dict[str, set[int]] = {}
    for request, position, kind in acted.select("request_id", "position", "event_type").iter_rows():
        if request is not None and position is not None and kind in ACTED:
            positions.setdefault(request, set()).add(int(position))
    out = []
    for (request,), group in shown.group_by("request_id", maintain_order=True):
        hit = positions.get(str(request))
        if not hit:
            continue
        rows = group.filter(pl.col("position") <= max(hit)).sort("position")
        labels = tuple(int(p in hit) for p in rows["position"].to_list())
        if not any(labels):  # positions this answer never showed: nothing to learn
            continue
        out.append(LabelledImpression(
            request_id=str(request), user_id=rows["user_id"][0], placement=str(rows["placement"][0]),
            ts=int(rows["ts"][0]), items=tuple(rows["item_id"].to_list()), labels=labels,
        ))
    return out


class ClickModel(Protocol):
    def predict(self, history: Sequence[Interaction], item_ids: Sequence[str], *, placement: str) -> NDArray[np.float64]:
        ...


class ImpressionLearner:
    """Teaches an :class:`OnlineClickLayer` the impressions that followed events label
    (see the module docstring). An impression is learned once: a click and a later purchase
    on the same answer teach it only when the first of them arrives.

    Parameters
    ----------
    store:
        Where the impressions and the shoppers' histories are read.
    remember:
        How many learned impressions are remembered so as not to learn them twice.
    """

    def __init__(self, store: Store, *, remember: int = 100_000) -> None:
        self.store = store
        self.remember = remember
        self._learned: OrderedDict[str, None] = OrderedDict()

    def learn(self, events: pl.DataFrame, *, layer: OnlineClickLayer, model: ClickModel) -> int:
        """Learn the impressions `events` (EVENT_SCHEMA columns) label; how many."""
        acted = events.filter(
            pl.col("request_id").is_not_null() & pl.col("position").is_not_null()
            & pl.col("event_type").is_in(list(ACTED))
        )
        requests = [r for r in acted["request_id"].unique(maintain_order=True).to_list() if r not in self._learned]
        if not requests:
            return 0
        learned = 0
        for impression in labelled_impressions(acted, self.store.impressions_of(requests)):
            history = []
            if impression.user_id is not None:
                # What the shopper had done before the answer was shown: the model's view then.
                history = [e for e in history_of(self.store.user_events(impression.user_id, limit=HISTORY_LENGTH))
                           if e.ts < impression.ts]
            probabilities = model.predict(history, list(impression.items), placement=impression.placement)
            layer.learn(impression.items, probabilities, impression.labels)
            self._learned[impression.request_id] = None
            learned += 1
        while len(self._learned) > self.remember:
            self._learned.popitem(last=False)
        return learned


__all__ = ["ACTED", "ImpressionLearner", "LabelledImpression", "OnlineClickLayer", "labelled_impressions"]
