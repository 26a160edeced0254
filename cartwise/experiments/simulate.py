"""Simulated experiments, vectorised: how often each test rejects when nothing differs
(A/A) and when a lift is planted, looked at once or after every batch of users.

The tests and ``bench/experiments.py`` use these to check the statistics of
:mod:`cartwise.experiments.stats` against their promises: the fixed-horizon z test read
once rejects an A/A test at rate alpha; the mSPRT rejects at most at rate alpha however
often it is read; the naive t test read after every batch ("peeking") does not keep its
promise. Conversions are Bernoulli per user, so a look at n users per arm is the number
of converted users so far; each experiment is one row of arrays.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

from cartwise.experiments.interleave import team_draft_batch
from cartwise.experiments.stats import MIXTURE_SD, msprt_ratio


@dataclass(frozen=True)
class Rejections:
    """Share of simulated experiments each test rejected (and how many ran)."""

    experiments: int
    fixed: float
    """The z test, read once at the last look."""
    sequential: float
    """The mSPRT, rejecting at the first look where it crosses."""
    peeking: float
    """The z test read at every look, rejecting at the first |z| > z_(alpha/2)."""
    sequential_users: float
    """Mean users per arm at which the mSPRT stopped (the last look when it did not)."""


def simulate_conversions(
    rng: np.random.Generator,
    *,
    experiments: int,
    users_per_arm: int,
    base_rate: float,
    lift: float = 0.0,
    looks: int = 20,
    alpha: float = 0.05,
    mixture_sd: float = MIXTURE_SD,
) -> Rejections:
    """`experiments` A/B tests of a conversion rate `base_rate` against `base_rate + lift`,
    each read after every `users_per_arm / looks` users per arm."""
    step = users_per_arm // looks
    n = step * np.arange(1, looks + 1, dtype=np.float64)
    control = rng.binomial(step, base_rate, size=(experiments, looks)).cumsum(axis=1)
    treatment = rng.binomial(step, base_rate + lift, size=(experiments, looks)).cumsum(axis=1)
    p0, p1 = control / n, treatment / n
    variance = (p0 * (1 - p0) + p1 * (1 - p1)) / n
    variance = np.where(variance > 0, variance, np.nan)
    difference = p1 - p0
    z_crit = float(sps.norm.ppf(1 - alpha / 2))
    z = difference / np.sqrt(variance)
    pooled = (p0 + p1) / 2
    tau2 = (mixture_sd ** 2) * pooled * (1 - pooled)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_lambda = msprt_ratio(difference, variance, np.where(tau2 > 0, tau2, np.nan))
    crossed = np.nan_to_num(log_lambda, nan=-np.inf) >= math.log(1 / alpha)
    fixed = np.abs(np.nan_to_num(z[:, -1])) > z_crit
    peeking = (np.abs(np.nan_to_num(z)) > z_crit).any(axis=1)
    sequential = crossed.any(axis=1)
    stop = np.where(sequential, crossed.argmax(axis=1), looks - 1)
    return Rejections(
        experiments=experiments, fixed=float(fixed.mean()), sequential=float(sequential.mean()),
        peeking=float(peeking.mean()), sequential_users=float(n[stop].mean()),
    )


@dataclass(frozen=True)
class RankingPair:
    """Two rankers as a click simulation sees them: the chance that the item each puts at
    a position is relevant, a click model (position bias times attractiveness), k shown."""

    relevant_a: float = 0.30
    relevant_b: float = 0.33
    k: int = 10
    click_relevant: float = 0.5
    click_other: float = 0.05
    position_bias: tuple[float, ...] = tuple(1 / (1 + i) for i in range(10))


def _clicks(rng: np.random.Generator, relevant: NDArray[np.bool_], pair: RankingPair,
            random_clicker: bool) -> NDArray[np.bool_]:
    bias = np.asarray(pair.position_bias[: pair.k])
    attract = np.full(relevant.shape, (pair.click_relevant + pair.click_other) / 2) if random_clicker else np.where(
        relevant, pair.click_relevant, pair.click_other)
    return rng.random(relevant.shape) < bias * attract


def simulate_interleaving(rng: np.random.Generator, *, experiments: int, users: int, pair: RankingPair,
                          alpha: float = 0.05, random_clicker: bool = False) -> float:
    """Share of `experiments` interleaving tests of `users` users (one answer each) whose
    sign test finds a preference; with `random_clicker` clicks ignore relevance."""
    rejected = 0
    for _ in range(experiments):
        teams = team_draft_batch(rng, users, pair.k)
        chance = np.where(teams == 0, pair.relevant_a, pair.relevant_b)
        relevant = rng.random(teams.shape) < chance
        clicked = _clicks(rng, relevant, pair, random_clicker)
        a = (clicked & (teams == 0)).sum(axis=1)
        b = (clicked & (teams == 1)).sum(axis=1)
        wins_b, wins_a = int((b > a).sum()), int((a > b).sum())
        if wins_a + wins_b and sps.binomtest(wins_b, wins_a + wins_b, 0.5).pvalue < alpha:
            rejected += 1
    return rejected / experiments


def simulate_ab_ranking(rng: np.random.Generator, *, experiments: int, users_per_arm: int, pair: RankingPair,
                        alpha: float = 0.05) -> float:
    """Share of `experiments` A/B tests (one answer per user, clicks per user compared by
    the z test) that tell the two rankers apart."""
    z_crit = float(sps.norm.ppf(1 - alpha / 2))
    shape = (experiments, users_per_arm, pair.k)
    clicks = []
    for chance in (pair.relevant_a, pair.relevant_b):
        relevant = rng.random(shape) < chance
        clicks.append(_clicks(rng, relevant, pair, False).sum(axis=2).astype(np.float64))
    a, b = clicks
    difference = b.mean(axis=1) - a.mean(axis=1)
    se = np.sqrt(a.var(axis=1, ddof=1) / users_per_arm + b.var(axis=1, ddof=1) / users_per_arm)
    return float((np.abs(difference / se) > z_crit).mean())


@dataclass(frozen=True)
class SharedPool:
    """Two rankers ordering the same candidates (the usual case: a new ranking stage over
    the same retrieval): each answer has `pool` candidates of latent relevance N(0, 1), the
    top `relevant_share` of them relevant; a ranker's score is relevance times its
    `quality` plus N(0, 1) noise, and it shows its top `k`."""

    pool: int = 30
    k: int = 10
    quality_a: float = 1.0
    quality_b: float = 1.3
    relevant_share: float = 0.3
    click_relevant: float = 0.5
    click_other: float = 0.05
    activity_sd: float = 1.0
    """Users differ: each one's clicks are scaled by a log-normal activity of this spread
    (what makes an A/B test of clicks noisy, and cancels out in interleaving)."""


def _pool_answers(rng: np.random.Generator, answers: int, pool: SharedPool) -> tuple[NDArray[np.float64],
                                                                                       NDArray[np.int64],
                                                                                       NDArray[np.int64]]:
    relevance = rng.standard_normal((answers, pool.pool))
    ranked = []
    for quality in (pool.quality_a, pool.quality_b):
        score = quality * relevance + rng.standard_normal(relevance.shape)
        ranked.append(np.argsort(-score, axis=1)[:, : pool.k])
    return relevance, ranked[0], ranked[1]


def _activity(rng: np.random.Generator, users: int, pool: SharedPool) -> NDArray[np.float64]:
    activity = rng.lognormal(0.0, pool.activity_sd, size=users) / math.exp(pool.activity_sd ** 2 / 2)
    return np.minimum(activity, 1 / pool.click_relevant)


def _click(rng: np.random.Generator, relevance: NDArray[np.float64], shown: NDArray[np.int64],
           activity: NDArray[np.float64], pool: SharedPool, random_clicker: bool) -> NDArray[np.bool_]:
    # How many candidates are relevant varies by answer (an easy query, a hard one).
    share = rng.beta(pool.relevant_share * 2, (1 - pool.relevant_share) * 2, size=(relevance.shape[0], 1))
    cut = _cuts(relevance, share)
    relevant = np.take_along_axis(relevance, shown, axis=1) >= cut
    if random_clicker:
        attract = np.full(shown.shape, (pool.click_relevant + pool.click_other) / 2)
    else:
        attract = np.where(relevant, pool.click_relevant, pool.click_other)
    bias = 1 / (1 + np.arange(shown.shape[1]))
    return rng.random(shown.shape) < np.minimum(1.0, bias * attract * activity[:, None])


def _cuts(relevance: NDArray[np.float64], share: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per answer, the relevance above which its top `share` of candidates lie."""
    ordered = np.sort(relevance, axis=1)[:, ::-1]
    index = np.clip((share[:, 0] * relevance.shape[1]).astype(np.int64), 1, relevance.shape[1]) - 1
    return ordered[np.arange(relevance.shape[0]), index][:, None]


def interleaving_power(rng: np.random.Generator, *, experiments: int, users: int, pool: SharedPool,
                       alpha: float = 0.05, random_clicker: bool = False) -> float:
    """Share of interleaving tests (one answer per user, drafted by :func:`team_draft`)
    whose sign test over users finds a preference."""
    from cartwise.experiments.interleave import team_draft

    rejected = 0
    for _ in range(experiments):
        relevance, a, b = _pool_answers(rng, users, pool)
        shown = np.empty_like(a)
        teams = np.empty_like(a)
        coins = rng.integers(0, 2**32, size=users)
        for row in range(users):
            drafted = team_draft(a[row].tolist(), b[row].tolist(), k=pool.k, rng=random.Random(int(coins[row])))
            shown[row] = [item for item, _ in drafted]
            teams[row] = [team for _, team in drafted]
        clicked = _click(rng, relevance, shown, _activity(rng, users, pool), pool, random_clicker)
        wins_a = int(((clicked & (teams == 0)).sum(axis=1) > (clicked & (teams == 1)).sum(axis=1)).sum())
        wins_b = int(((clicked & (teams == 1)).sum(axis=1) > (clicked & (teams == 0)).sum(axis=1)).sum())
        if wins_a + wins_b and sps.binomtest(wins_b, wins_a + wins_b, 0.5).pvalue < alpha:
            rejected += 1
    return rejected / experiments


def ab_power(rng: np.random.Generator, *, experiments: int, users_per_arm: int, pool: SharedPool,
             alpha: float = 0.05) -> float:
    """Share of A/B tests (clicks per user, z test) that tell the two rankers apart."""
    z_crit = float(sps.norm.ppf(1 - alpha / 2))
    rejected = 0
    for _ in range(experiments):
        clicks = []
        for arm in (1, 2):
            answers = _pool_answers(rng, users_per_arm, pool)
            clicked = _click(rng, answers[0], answers[arm], _activity(rng, users_per_arm, pool), pool, False)
            clicks.append(clicked.sum(axis=1).astype(np.float64))
        a, b = clicks
        se = math.sqrt(a.var(ddof=1) / users_per_arm + b.var(ddof=1) / users_per_arm)
        rejected += bool(se > 0 and abs(b.mean() - a.mean()) / se > z_crit)
    return rejected / experiments


def users_for_power(power_at: Callable[[int], float], *, target: float = 0.8, low: int = 50,
                    high: int = 200_000) -> int:
    """The fewest users (to within 10%) at which `power_at(users)` reaches `target`,
    by doubling then bisection."""
    n = low
    while n < high and power_at(n) < target:
        n *= 2
    lo, hi = n // 2, n
    while hi - lo > max(10, lo // 10):
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


__all__ = ["RankingPair", "Rejections", "SharedPool", "ab_power", "interleaving_power", "simulate_ab_ranking",
           "simulate_conversions", "simulate_interleaving", "users_for_power"]
