"""Inverse propensity estimates on a synthetic log whose true answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.clicks.offpolicy import greedy_slates, ips, observed_rate, slate_probability
from cartwise.errors import ValidationError

ITEMS, SLOTS = 10, 3


def _log(n: int, seed: int) -> tuple:
    """A logging policy that favours low-rate items (softmax of minus the true rate) shows
    one item per row in one of 3 slots; a click happens with the item's rate times the
    slot's examination probability."""
    rng = np.random.default_rng(seed)
    rate = np.linspace(0.02, 0.3, ITEMS)
    examine = np.array([1.0, 0.7, 0.5])
    logging = np.exp(-8 * rate)
    logging /= logging.sum()
    item = rng.choice(ITEMS, size=n, p=logging)
    slot = rng.integers(0, SLOTS, n)
    click = (rng.random(n) < rate[item] * examine[slot]).astype(float)
    return rate, examine, logging, item, slot, click


def test_ips_recovers_a_greedy_policy_value() -> None:
    rate, examine, logging, item, slot, click = _log(100_000, seed=0)
    slates = greedy_slates(np.tile(rate, (item.size, 1)), SLOTS)
    assert slates[0].tolist() == [9, 8, 7]
    truth = float(np.mean(rate[slates[0]] * examine))  # per-slot click rate of the new ranking
    target = slate_probability(slates, item, slot)
    # Per-slot propensity: the logging policy picks the item with logging[item], the slot
    # is uniform, and the target is conditioned on the slot, so the slot's 1/3 cancels.
    for self_normalized in (False, True):
        estimate = ips(click, target, logging[item], self_normalized=self_normalized, resamples=200)
        assert estimate.low <= truth <= estimate.high
        assert estimate.value == pytest.approx(truth, rel=0.1)
        assert estimate.matched == int(np.count_nonzero(target))
    naive = observed_rate(click, resamples=200)
    assert naive.high < truth  # the log's own rate is far below: it favoured poor items


def test_greedy_slates_order_and_checks() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.8, 0.1, 0.2, 0.3]])
    assert greedy_slates(scores, 3).tolist() == [[1, 3, 2], [0, 3, 2]]
    assert slate_probability([[1, 3, 2], [0, 3, 2]], [3, 3], [1, 0]).tolist() == [1.0, 0.0]
    with pytest.raises(ValidationError):
        ips([1.0], [0.5], [0.0])
    with pytest.raises(ValidationError):
        greedy_slates(scores, 5)
