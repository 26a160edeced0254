"""The tests keep their promises, checked by simulation (vectorised; a few seconds).

* A/A: 1,000 experiments, read after every 1/20 of the users. The fixed-horizon z test
  (read once) rejects within the binomial interval of 5%; the mSPRT, rejecting at the
  first look that crosses, rejects at most that often; the naive z test read at every
  look (the baseline that peeking breaks) rejects far more.
* A planted lift of 1 point on 5% conversion: the fixed test at the sample size for 80%
  power detects it within the binomial interval of 80%; the mSPRT detects it with at least
  80% power when allowed twice that many users, stopping early on average.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartwise.experiments.simulate import simulate_conversions
from cartwise.experiments.stats import (
    binomial_interval,
    fixed_test,
    mean_estimate,
    ratio_estimate,
    sample_size,
    sequential_test,
)

BASE, LIFT = 0.05, 0.01


def test_a_a_tests_reject_at_the_nominal_rate_and_peeking_does_not():
    rng = np.random.default_rng(20261205)
    n = sample_size(base_rate=BASE, lift=LIFT)
    found = simulate_conversions(rng, experiments=1000, users_per_arm=n, base_rate=BASE, looks=20)
    low, high = binomial_interval(50, 1000)
    assert low <= found.fixed * 1000 <= high, found
    assert found.sequential * 1000 <= high, found  # always valid: at most alpha, peeking after every look
    assert found.peeking > 0.15, found  # the naive repeated test: three times the promised rate or more


def test_a_planted_lift_is_detected_with_the_stated_power():
    rng = np.random.default_rng(7)
    n = sample_size(base_rate=BASE, lift=LIFT, power=0.8)
    fixed = simulate_conversions(rng, experiments=1000, users_per_arm=n, base_rate=BASE, lift=LIFT, looks=20)
    low, high = binomial_interval(800, 1000)
    assert low <= fixed.fixed * 1000 <= high, fixed
    sequential = simulate_conversions(rng, experiments=1000, users_per_arm=2 * n, base_rate=BASE, lift=LIFT,
                                      looks=40)
    assert sequential.sequential >= 0.80, sequential
    assert sequential.sequential_users < 1.3 * n, sequential  # it stops early when the lift is there


@pytest.mark.slow
def test_the_promises_hold_over_10000_experiments_and_other_rates():
    rng = np.random.default_rng(11)
    for base, lift in ((0.02, 0.004), (0.1, 0.01), (0.3, 0.02)):
        n = sample_size(base_rate=base, lift=lift)
        null = simulate_conversions(rng, experiments=10_000, users_per_arm=n, base_rate=base, looks=50)
        low, high = binomial_interval(500, 10_000)
        assert low <= null.fixed * 10_000 <= high and null.sequential * 10_000 <= high, (base, null)
        planted = simulate_conversions(rng, experiments=10_000, users_per_arm=n, base_rate=base, lift=lift, looks=50)
        low, high = binomial_interval(8_000, 10_000)
        assert low <= planted.fixed * 10_000 <= high, (base, planted)


def test_the_mixture_sprt_matches_its_formula_and_is_wider_than_the_fixed_interval():
    d, v, tau2 = 0.01, 1e-5, 1e-4
    lam = math.sqrt(v / (v + tau2)) * math.exp(tau2 * d * d / (2 * v * (v + tau2)))
    seq = sequential_test(d, v, tau2=tau2)
    assert seq.p_value == pytest.approx(1 / lam)
    fixed = fixed_test(d, v)
    assert seq.low < fixed.low and seq.high > fixed.high  # the price of peeking safely
    assert fixed.significant and fixed.p_value == pytest.approx(0.00157, rel=0.01)


def test_the_ratio_interval_counts_users_not_items():
    """A CTR over users who each saw 100 items: the delta-method interval is as wide as
    the users' own spread says, much wider than a binomial over 100x as many items."""
    rng = np.random.default_rng(3)
    per_user_rate = rng.beta(1, 9, size=500)
    shown = np.full(500, 100.0)
    clicks = rng.binomial(100, per_user_rate).astype(np.float64)
    ctr = ratio_estimate(clicks, shown)
    naive_se = math.sqrt(ctr.value * (1 - ctr.value) / shown.sum())
    assert ctr.se > 2.5 * naive_se
    assert ctr.value == pytest.approx(clicks.sum() / shown.sum())
    plain = mean_estimate(clicks / 100)
    assert ctr.se == pytest.approx(plain.se, rel=1e-6)  # equal exposure: the mean of per-user rates
