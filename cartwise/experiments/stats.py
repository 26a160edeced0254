"""The statistics of an experiment, over users (the unit that is randomised).

* Per arm, a metric's mean with its confidence interval: a per-user mean (conversion,
  add-to-cart, revenue per user) uses the normal interval of the mean over users; a ratio
  (CTR: clicks / items shown, both summed over users) uses the delta method, so a user who
  saw many answers does not count as many independent trials.
* The difference of a treatment from the control, two ways:

  - :func:`sequential_test`, the mixture sequential probability ratio test (mSPRT;
    Johari, Pekelis and Walsh, "Always valid inference", 2017) for a difference in means
    with a normal mixing distribution N(0, tau^2): the likelihood ratio

        Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 V (V + tau^2)))

    (d: the observed difference, V: its variance) is a martingale under no difference,
    so P(Lambda ever reaches 1/alpha) <= alpha: the result may be read after every user
    ("peeking") and the test stopped at the first crossing with the stated error rate.
    Its p-value is 1/Lambda (capped at 1) and its interval the confidence sequence
    d +- sqrt(V (V + tau^2) / tau^2 * (log((V + tau^2) / V) + 2 log(1/alpha))).
  - :func:`fixed_test`, the two-sided z test, valid only when read once, at a sample size
    fixed in advance (the experiment's horizon; the verdict waits for it).

* :func:`sample_ratio_mismatch`: the chi-square test of the users per arm against the
  weights; a tiny p-value means assignment or logging is broken and nothing else can be
  trusted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

SRM_ALPHA = 0.001
MIN_USERS_PER_ARM = 100
"""Fewer users than this in an arm: no test is run (the normal approximation is poor)."""
MIXTURE_SD = 0.05
"""tau, the mixing distribution's spread, in units of the per-user standard deviation:
the test is most sensitive to differences of about this size."""


@dataclass(frozen=True)
class Estimate:
    """A value with its standard error and confidence interval."""

    value: float
    se: float
    low: float
    high: float


@dataclass(frozen=True)
class TestResult:
    """The difference treatment - control, its interval, p-value and whether it is
    significant at the test's alpha."""

    difference: float
    se: float
    low: float
    high: float
    p_value: float
    significant: bool
    method: str


def _z(alpha: float) -> float:
    return float(sps.norm.ppf(1 - alpha / 2))


def mean_estimate(values: NDArray[np.float64], *, alpha: float = 0.05) -> Estimate:
    n = values.size
    if n == 0:
        return Estimate(0.0, math.inf, 0.0, 0.0)
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    half = _z(alpha) * se
    return Estimate(mean, se, mean - half, mean + half)


def ratio_estimate(numerator: NDArray[np.float64], denominator: NDArray[np.float64], *,
                   alpha: float = 0.05) -> Estimate:
    """sum(numerator) / sum(denominator) over users, its variance by the delta method."""
    n = numerator.size
    total = float(denominator.sum())
    if n == 0 or total <= 0:
        return Estimate(0.0, math.inf, 0.0, 0.0)
    ratio = float(numerator.sum()) / total
    if n < 2:
        return Estimate(ratio, math.inf, ratio, ratio)
    mean_d = total / n
    residual = numerator - ratio * denominator
    se = float(math.sqrt(residual.var(ddof=1) / n) / mean_d)
    half = _z(alpha) * se
    return Estimate(ratio, se, ratio - half, ratio + half)


def metric_estimate(numerator: NDArray[np.float64], denominator: NDArray[np.float64] | None, *,
                    alpha: float = 0.05) -> Estimate:
    """A per-user mean (`denominator` None) or a ratio of sums over users."""
    if denominator is None:
        return mean_estimate(numerator, alpha=alpha)
    return ratio_estimate(numerator, denominator, alpha=alpha)


def fixed_test(difference: float, variance: float, *, alpha: float = 0.05) -> TestResult:
    """The two-sided z test of one look at a fixed horizon."""
    se = math.sqrt(variance) if variance > 0 else 0.0
    if se == 0.0:
        return TestResult(difference, 0.0, difference, difference, 1.0, False, "fixed-horizon z test")
    z = difference / se
    p = float(2 * sps.norm.sf(abs(z)))
    half = _z(alpha) * se
    return TestResult(difference, se, difference - half, difference + half, p, p < alpha, "fixed-horizon z test")


def msprt_ratio(difference: float | NDArray[np.float64], variance: float | NDArray[np.float64],
                tau2: float | NDArray[np.float64]) -> NDArray[np.float64]:
    """log Lambda of the normal-mixture SPRT (vectorised: arrays of looks or experiments)."""
    d = np.asarray(difference, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    t = np.asarray(tau2, dtype=np.float64)
    return 0.5 * np.log(v / (v + t)) + t * d * d / (2 * v * (v + t))


def sequential_test(difference: float, variance: float, *, tau2: float, alpha: float = 0.05) -> TestResult:
    """The mSPRT (module docstring): always-valid p-value and confidence sequence."""
    if not variance > 0 or not tau2 > 0:
        return TestResult(difference, 0.0, -math.inf, math.inf, 1.0, False, "always-valid mSPRT")
    log_lambda = float(msprt_ratio(difference, variance, tau2))
    p = min(1.0, math.exp(-log_lambda)) if log_lambda < 700 else 0.0
    half = math.sqrt(variance * (variance + tau2) / tau2 * (math.log((variance + tau2) / variance)
                                                            + 2 * math.log(1 / alpha)))
    return TestResult(difference, math.sqrt(variance), difference - half, difference + half, p, p <= alpha,
                      "always-valid mSPRT")


def mixture_tau2(pooled_sd: float, *, scale: float = MIXTURE_SD) -> float:
    return (scale * pooled_sd) ** 2 if pooled_sd > 0 else 0.0


def sample_ratio_mismatch(users: Sequence[int], weights: Sequence[float]) -> float:
    """The chi-square goodness-of-fit p-value of users per arm against the weights (1.0
    without users)."""
    observed = np.asarray(users, dtype=np.float64)
    total = observed.sum()
    if total == 0 or len(users) < 2:
        return 1.0
    shares = np.asarray(weights, dtype=np.float64)
    expected = total * shares / shares.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    return float(sps.chi2.sf(chi2, df=len(users) - 1))


def binomial_interval(successes: int, trials: int, *, level: float = 0.95) -> tuple[float, float]:
    """The equal-tailed binomial interval of a count around `successes / trials` taken
    as the true rate: where a test that rejects at that rate should land."""
    rate = successes / trials
    low = sps.binom.ppf((1 - level) / 2, trials, rate)
    high = sps.binom.ppf(1 - (1 - level) / 2, trials, rate)
    return float(low), float(high)


def sample_size(*, base_rate: float, lift: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per arm for the fixed-horizon z test to detect an absolute `lift` over a
    conversion rate of `base_rate` with `power`."""
    p1, p2 = base_rate, base_rate + lift
    z = _z(alpha) + float(sps.norm.ppf(power))
    variance = p1 * (1 - p1) + p2 * (1 - p2)
    return math.ceil(z * z * variance / (lift * lift))


def binomial_test(wins: int, losses: int) -> float:
    """Two-sided exact p-value of `wins` against `losses` when each is equally likely."""
    n = wins + losses
    if n == 0:
        return 1.0
    return float(sps.binomtest(wins, n, 0.5).pvalue)


__all__ = [
    "MIN_USERS_PER_ARM",
    "MIXTURE_SD",
    "SRM_ALPHA",
    "Estimate",
    "TestResult",
    "binomial_interval",
    "binomial_test",
    "fixed_test",
    "mean_estimate",
    "metric_estimate",
    "mixture_tau2",
    "msprt_ratio",
    "ratio_estimate",
    "sample_ratio_mismatch",
    "sample_size",
    "sequential_test",
]
