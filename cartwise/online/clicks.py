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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

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


__all__ = ["OnlineClickLayer"]
