"""How good predicted click probabilities are: ranking (AUC), fit (log loss) and
calibration (reliability curve, expected calibration error), each with bootstrap
intervals, and the paired bootstrap of two models scored on the same impressions.

Every metric takes optional per-row weights, which is how the bootstrap works: a resample
is a vector of counts (how often each row was drawn), so every resample is scored with the
same vectorised code and no row is copied. For the AUC, resampling is stratified by label
(positives and negatives drawn separately, in their observed numbers), so a resample of a
log with few clicks always has both classes; log loss and ECE resample rows plainly, so
their intervals include the variation of the click rate itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cartwise.errors import ValidationError

Metric = Callable[[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]
"""labels, probabilities, weights (resamples x rows) -> one value per resample."""


def _arrays(labels: ArrayLike, probabilities: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.ndim != 1 or y.shape != p.shape or y.size == 0:
        raise ValidationError(f"labels and probabilities must be equally long 1-d arrays, got {y.shape} and {p.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValidationError("labels must be 0 or 1")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValidationError("probabilities must lie in [0, 1]")
    return y, p


def _weights(weights: ArrayLike | None, n: int) -> NDArray[np.float64]:
    w = np.ones((1, n)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if w.shape[1] != n:
        raise ValidationError(f"weights must have one column per row ({n}), got shape {w.shape}")
    return w


def _auc(y: NDArray[np.float64], p: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
    # Weighted Mann-Whitney: each positive counts the negative weight scored below it, plus
    # half the negative weight tied with it. Scores are grouped once; weights vary.
    order = np.argsort(p, kind="stable")
    _, starts = np.unique(p[order], return_index=True)
    pos = np.add.reduceat(w[:, order] * y[order], starts, axis=1)
    neg = np.add.reduceat(w[:, order] * (1 - y[order]), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / total, np.nan)


def _log_loss(y: NDArray[np.float64], p: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, 1e-15, 1 - 1e-15)
    losses = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    return (w @ losses) / w.sum(axis=1)


def _edges(p: NDArray[np.float64], bins: int, strategy: str) -> NDArray[np.float64]:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, bins + 1)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, bins + 1)))
        edges[0], edges[-1] = 0.0, 1.0
        return edges if edges.size > 1 else np.array([0.0, 1.0])
    raise ValidationError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}", field="strategy")


def _bin_index(p: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    # Bins are [low, high); 1.0 falls in the last bin.
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)


def _ece(y: NDArray[np.float64], p: NDArray[np.float64], w: NDArray[np.float64], bins: int,
         strategy: str = "uniform") -> NDArray[np.float64]:
    edges = _edges(p, bins, strategy)
    onehot = np.zeros((p.size, len(edges) - 1))
    onehot[np.arange(p.size), _bin_index(p, edges)] = 1.0
    count, predicted, observed = w @ onehot, (w * p) @ onehot, (w * y) @ onehot
    return np.abs(predicted - observed).sum(axis=1) / count.sum(axis=1)


def auc(labels: ArrayLike, probabilities: ArrayLike, *, weights: ArrayLike | None = None) -> float:
    """Area under the ROC curve (ties count half); rows weighted by `weights`."""
    y, p = _arrays(labels, probabilities)
    if y.min() == y.max():
        raise ValidationError("AUC needs at least one positive and one negative label")
    return float(_auc(y, p, _weights(weights, y.size))[0])


def log_loss(labels: ArrayLike, probabilities: ArrayLike, *, weights: ArrayLike | None = None) -> float:
    """Mean binary cross-entropy (natural log; probabilities clipped to [1e-15, 1 - 1e-15])."""
    y, p = _arrays(labels, probabilities)
    return float(_log_loss(y, p, _weights(weights, y.size))[0])


def expected_calibration_error(labels: ArrayLike, probabilities: ArrayLike, *, bins: int = 10,
                               strategy: str = "uniform", weights: ArrayLike | None = None) -> float:
    """ECE over `bins` bins of the predicted probability: the sum over bins of
    (rows in bin / rows) x |mean predicted - observed click rate| (Naeini et al., 2015).
    `strategy` "uniform" cuts [0, 1] into equal widths; "quantile" puts about as many rows
    in each bin (adaptive ECE: with rare clicks nearly every prediction falls in the first
    equal-width bin, which then only compares the mean prediction with the click rate)."""
    y, p = _arrays(labels, probabilities)
    return float(_ece(y, p, _weights(weights, y.size), bins, strategy)[0])


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_predicted: float
    observed_rate: float


def reliability_curve(labels: ArrayLike, probabilities: ArrayLike, *, bins: int = 10,
                      strategy: str = "uniform") -> list[ReliabilityBin]:
    """The non-empty bins of a reliability diagram: for each, its edges, row count, mean
    predicted probability and observed click rate. `strategy` "uniform" cuts [0, 1] into
    equal widths; "quantile" puts about as many rows in each bin (better when, as with
    clicks, nearly every prediction is small)."""
    y, p = _arrays(labels, probabilities)
    edges = _edges(p, bins, strategy)
    index = _bin_index(p, edges)
    out = []
    for b in range(len(edges) - 1):
        mask = index == b
        if mask.any():
            out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), int(mask.sum()),
                                      float(p[mask].mean()), float(y[mask].mean())))
    return out


METRICS: dict[str, Callable[[int, str], Metric]] = {
    "auc": lambda bins, strategy: _auc,
    "log_loss": lambda bins, strategy: _log_loss,
    "ece": lambda bins, strategy: (lambda y, p, w: _ece(y, p, w, bins, strategy)),
}
"""Metric name -> the vectorised metric (given the ECE's bin count and strategy)."""


@dataclass(frozen=True)
class Interval:
    """A metric's value on all rows and its percentile bootstrap interval."""

    value: float
    low: float
    high: float
    level: float = 0.95


@dataclass(frozen=True)
class PairedDifference:
    """Model B minus model A on the same rows, with its paired bootstrap interval and
    two-sided p value (how often a resampled difference falls on the other side of 0,
    doubled)."""

    a: float
    b: float
    difference: float
    low: float
    high: float
    p_value: float

    @property
    def significant(self) -> bool:
        """True when the 95% interval of B - A excludes zero."""
        return self.low > 0 or self.high < 0


def resample_weights(labels: ArrayLike, *, resamples: int, seed: int = 0, stratified: bool = True,
                     chunk: int = 100) -> list[NDArray[np.float64]]:
    """Bootstrap resamples of the rows as count vectors (chunks of resamples x rows),
    stratified by label unless not `stratified`."""
    y = np.asarray(labels, dtype=np.float64)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == 1), np.flatnonzero(y == 0)] if stratified else [np.arange(y.size)]
    out = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        w = np.zeros((size, y.size))
        for rows in groups:
            if rows.size:
                w[:, rows] = draw_counts(rng, rows.size, size)
        out.append(w)
    return out


def draw_counts(rng: np.random.Generator, n: int, resamples: int) -> NDArray[np.float64]:
    """How often each of `n` rows is drawn in each of `resamples` draws of n rows with
    replacement (resamples x n)."""
    picks = rng.integers(0, n, size=(resamples, n)) + np.arange(resamples)[:, None] * n
    return np.bincount(picks.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValidationError(f"unknown metric {metric!r}", field="metric", hint=f"choose one of {list(METRICS)}")


def bootstrap_interval(metric: str, labels: ArrayLike, probabilities: ArrayLike, *, resamples: int = 1000,
                       level: float = 0.95, bins: int = 10, strategy: str = "uniform", seed: int = 0) -> Interval:
    """`metric` ("auc", "log_loss" or "ece") on all rows, with a percentile bootstrap
    interval at `level` from `resamples` resamples (stratified for the AUC; ECE bins as in
    :func:`expected_calibration_error`; quantile edges are fixed on all rows)."""
    _check_metric(metric)
    y, p = _arrays(labels, probabilities)
    score = METRICS[metric](bins, strategy)
    value = float(score(y, p, np.ones((1, y.size)))[0])
    weights = resample_weights(y, resamples=resamples, seed=seed, stratified=metric == "auc")
    draws = np.concatenate([score(y, p, w) for w in weights])
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return Interval(value, float(low), float(high), level)


def paired_bootstrap(metric: str, labels: ArrayLike, probabilities_a: ArrayLike, probabilities_b: ArrayLike, *,
                     resamples: int = 1000, level: float = 0.95, bins: int = 10, strategy: str = "uniform",
                     seed: int = 0) -> PairedDifference:
    """B - A of `metric` on the same rows; each resample draws the same rows for both
    models, so the interval reflects the difference, not each model's own noise."""
    _check_metric(metric)
    y, pa = _arrays(labels, probabilities_a)
    _, pb = _arrays(labels, probabilities_b)
    score = METRICS[metric](bins, strategy)
    ones = np.ones((1, y.size))
    a, b = float(score(y, pa, ones)[0]), float(score(y, pb, ones)[0])
    weights = resample_weights(y, resamples=resamples, seed=seed, stratified=metric == "auc")
    diffs = np.concatenate([score(y, pb, w) - score(y, pa, w) for w in weights])
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(diffs, [tail, 100 - tail])
    observed = b - a
    p_value = float(min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))) if observed != 0 else 1.0
    return PairedDifference(a, b, observed, float(low), float(high), p_value)
