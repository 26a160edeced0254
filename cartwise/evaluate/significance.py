"""Is model B really better than model A? Paired tests over the same users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


@dataclass(frozen=True)
class PairedComparison:
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_bootstrap: float
    p_ttest: float

    @property
    def significant(self) -> bool:
        """True when the 95% bootstrap interval of B - A excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


def compare(a: ArrayLike, b: ArrayLike, *, resamples: int = 2000, seed: int = 0) -> PairedComparison:
    """Paired bootstrap (95% interval, two-sided p) and paired t-test of per-user scores."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError("compare needs two equally long 1-d arrays of per-user scores (at least 2 users)")
    diff = y - x
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 200):
        stop = min(start + 200, resamples)
        idx = rng.integers(0, diff.size, size=(stop - start, diff.size))
        means[start:stop] = diff[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    observed = diff.mean()
    # Two-sided p: how often a resampled mean falls on the other side of zero, doubled.
    p_boot = float(min(1.0, 2 * min(np.mean(means <= 0), np.mean(means >= 0)))) if observed != 0 else 1.0
    p_t = float(stats.ttest_rel(y, x).pvalue) if np.any(diff != 0) else 1.0
    return PairedComparison(
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        difference=float(observed),
        ci_low=float(low),
        ci_high=float(high),
        p_bootstrap=p_boot,
        p_ttest=p_t,
    )
