"""What click rate would a new ranking policy get? Estimated from a log of another
policy that recorded, for each shown item, the probability it had of showing it there
(the propensity): inverse propensity scoring (IPS, Horvitz-Thompson) and its
self-normalised form (SNIPS, Swaminathan and Joachims, 2015), with bootstrap intervals.

Slots are scored independently (the position-wise model of the Open Bandit Pipeline):
each logged row is one item shown at one position, and the new policy's probability of
showing that same item at that same position is its weight's numerator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cartwise.clicks.calibration import draw_counts
from cartwise.errors import ValidationError


@dataclass(frozen=True)
class PolicyEstimate:
    """A click rate per shown slot with its percentile bootstrap interval.

    estimator: "observed" (the logging policy's own mean), "ips" or "snips".
    matched: rows where the new policy could have shown the logged item (weight > 0).
    effective_size: (sum of weights)^2 / sum of squared weights, the number of rows an
    unweighted sample of the same variance would have.
    """

    estimator: str
    value: float
    low: float
    high: float
    rows: int
    matched: int
    effective_size: float


def _bootstrap(numerator: NDArray[np.float64], denominator: NDArray[np.float64] | None, *, resamples: int,
               seed: int, level: float) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = numerator.size
    draws = []
    for start in range(0, resamples, 100):
        counts = draw_counts(rng, n, min(100, resamples - start))
        top = counts @ numerator
        bottom = counts @ denominator if denominator is not None else np.full(counts.shape[0], float(n))
        with np.errstate(invalid="ignore", divide="ignore"):
            draws.append(np.where(bottom > 0, top / bottom, 0.0))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.concatenate(draws), [tail, 100 - tail])
    return float(low), float(high)


def _rewards(rewards: ArrayLike) -> NDArray[np.float64]:
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 1 or r.size == 0 or not np.all(np.isfinite(r)):
        raise ValidationError("rewards must be a non-empty 1-d array of finite numbers", field="rewards")
    return r


def observed_rate(rewards: ArrayLike, *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> PolicyEstimate:
    """The logging policy's own click rate per shown slot, with its bootstrap interval."""
    r = _rewards(rewards)
    low, high = _bootstrap(r, None, resamples=resamples, seed=seed, level=level)
    return PolicyEstimate("observed", float(r.mean()), low, high, r.size, r.size, float(r.size))


def ips(rewards: ArrayLike, target_probability: ArrayLike, logging_propensity: ArrayLike, *,
        self_normalized: bool = False, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> PolicyEstimate:
    """The new policy's click rate per slot: mean of reward x target / logging probability
    (IPS), or that sum divided by the sum of the weights (SNIPS: a little biased, much
    less variable when weights are large).

    rewards: clicks (or any reward) of the logged rows; target_probability: the new
    policy's probability of showing each logged item at its logged position (0/1 for a
    deterministic ranking); logging_propensity: the logging policy's probability of the
    same (> 0). Unbiased (IPS) when the logging policy could show everything the new one
    shows.
    """
    r = _rewards(rewards)
    target = np.asarray(target_probability, dtype=np.float64)
    logging = np.asarray(logging_propensity, dtype=np.float64)
    if target.shape != r.shape or logging.shape != r.shape:
        raise ValidationError("rewards, target_probability and logging_propensity must be equally long",
                              field="target_probability")
    if not np.all((target >= 0) & (target <= 1)) or not np.all((logging > 0) & (logging <= 1)):
        raise ValidationError("target probabilities must be in [0, 1] and logging propensities in (0, 1]",
                              field="logging_propensity")
    w = target / logging
    weighted = r * w
    total = w.sum()
    if self_normalized:
        value = float(weighted.sum() / total) if total > 0 else 0.0
        low, high = _bootstrap(weighted, w, resamples=resamples, seed=seed, level=level)
    else:
        value = float(weighted.mean())
        low, high = _bootstrap(weighted, None, resamples=resamples, seed=seed, level=level)
    ess = float(total**2 / np.sum(w**2)) if total > 0 else 0.0
    return PolicyEstimate("snips" if self_normalized else "ips", value, low, high, r.size,
                          int(np.count_nonzero(w)), ess)


def greedy_slates(scores: ArrayLike, slots: int) -> NDArray[np.int64]:
    """The deterministic ranking policy: for each row of `scores` (rounds x items), the
    indices of its `slots` highest-scored items, best first (slot k shows the k-th)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or not 1 <= slots <= s.shape[1]:
        raise ValidationError(f"scores must be rounds x items with at least {slots} items", field="scores")
    top = np.argpartition(-s, slots - 1, axis=1)[:, :slots]
    order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def slate_probability(slates: ArrayLike, logged_item: ArrayLike, logged_slot: ArrayLike) -> NDArray[np.float64]:
    """1.0 where a deterministic policy's slate puts the logged item in the logged slot
    (0-based), else 0.0: the target probability of each logged row."""
    slate = np.asarray(slates, dtype=np.int64)
    item = np.asarray(logged_item, dtype=np.int64)
    slot = np.asarray(logged_slot, dtype=np.int64)
    if slate.ndim != 2 or item.shape != (slate.shape[0],) or slot.shape != item.shape:
        raise ValidationError("one slate row, logged item and logged slot per logged row", field="slates")
    if np.any((slot < 0) | (slot >= slate.shape[1])):
        raise ValidationError(f"logged slots must be in 0..{slate.shape[1] - 1}", field="logged_slot")
    return (slate[np.arange(slot.size), slot] == item).astype(np.float64)
