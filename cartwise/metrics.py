"""Ranking, click and rating metrics, vectorised over users.

Ranking metrics take the 0-based position of each user's held-out item in a ranking of
the *full* catalog (sampled-negative metrics overstate quality and are not offered).
A position of -1 (or any negative number) means the item was not ranked at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _ranks(ranks: ArrayLike) -> NDArray[np.float64]:
    r = np.asarray(ranks, dtype=np.float64)
    return np.where(r < 0, np.inf, r)


def hit_rate(ranks: ArrayLike, k: int) -> float:
    """Share of users whose held-out item is in their top k (HR@k = recall@k for one item)."""
    r = _ranks(ranks)
    return float(np.mean(r < k)) if r.size else 0.0


def ndcg(ranks: ArrayLike, k: int) -> float:
    """NDCG@k with one relevant item per user: 1 / log2(rank + 2) when it is in the top k."""
    r = _ranks(ranks)
    if not r.size:
        return 0.0
    gains = np.where(r < k, 1.0 / np.log2(np.minimum(r, k) + 2.0), 0.0)
    return float(np.mean(gains))


def mrr(ranks: ArrayLike, k: int | None = None) -> float:
    """Mean reciprocal rank (over the full ranking, or cut at k)."""
    r = _ranks(ranks)
    if not r.size:
        return 0.0
    reciprocal = 1.0 / (r + 1.0)
    if k is not None:
        reciprocal = np.where(r < k, reciprocal, 0.0)
    return float(np.mean(reciprocal))


def per_user_ndcg(ranks: ArrayLike, k: int) -> NDArray[np.float64]:
    r = _ranks(ranks)
    return np.where(r < k, 1.0 / np.log2(np.minimum(r, k) + 2.0), 0.0)


def recall_at_k(recommended: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int) -> float:
    """Mean over users of |top-k ∩ relevant| / |relevant| (users without relevant items skipped)."""
    scores = [len(set(rec[:k]) & rel) / len(rel) for rec, rel in zip(recommended, relevant, strict=True) if rel]
    return float(np.mean(scores)) if scores else 0.0


def ndcg_at_k(recommended: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int) -> float:
    """Binary-relevance NDCG@k with several relevant items per user."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    scores = []
    for rec, rel in zip(recommended, relevant, strict=True):
        if not rel:
            continue
        gains = np.array([1.0 if item in rel else 0.0 for item in rec[:k]])
        ideal = discounts[: min(len(rel), k)].sum()
        scores.append(float((gains * discounts[: gains.size]).sum() / ideal))
    return float(np.mean(scores)) if scores else 0.0


def coverage(recommended: Sequence[Sequence[str]], catalog_size: int) -> float:
    """Share of the catalog that appears in at least one list."""
    if catalog_size <= 0:
        return 0.0
    return len({item for rec in recommended for item in rec}) / catalog_size


def novelty(recommended: Sequence[Sequence[str]], popularity: dict[str, float]) -> float:
    """Mean self-information -log2(p(item)) of recommended items; p = share of users who
    interacted with the item. Higher means less obvious recommendations."""
    total = max(sum(popularity.values()), 1.0)
    floor = 1.0 / total
    values = [-np.log2(max(popularity.get(item, 0.0) / total, floor)) for rec in recommended for item in rec]
    return float(np.mean(values)) if values else 0.0


def intra_list_diversity(recommended: Sequence[Sequence[str]], vectors: dict[str, NDArray[np.float64]]) -> float:
    """Mean pairwise (1 - cosine similarity) within each list, over items with vectors."""
    scores = []
    for rec in recommended:
        rows = [vectors[item] for item in rec if item in vectors]
        if len(rows) < 2:
            continue
        matrix = np.asarray(rows, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms == 0, 1.0, norms)
        sims = matrix @ matrix.T
        n = len(rows)
        scores.append(float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1))))
    return float(np.mean(scores)) if scores else 0.0


def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    from scipy.stats import rankdata

    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs at least one positive and one negative label")
    ranks = rankdata(s)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(labels: ArrayLike, probabilities: ArrayLike, *, eps: float = 1e-15) -> float:
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def rmse(truth: ArrayLike, predicted: ArrayLike) -> float:
    diff = np.asarray(truth, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def mae(truth: ArrayLike, predicted: ArrayLike) -> float:
    diff = np.asarray(truth, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def wilson_interval(successes: int, trials: int, *, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a rate (95% by default): sound for the small counts and
    rates near 0 that click logs are made of, where the normal approximation is not.
    (0, 1) when there are no trials."""
    if trials <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials ({trials}), got {successes}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    spread = z * np.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return (max(0.0, float(centre - spread)), min(1.0, float(centre + spread)))
