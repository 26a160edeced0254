"""Click metrics against values worked out by hand, against scikit-learn, and the
bootstrap's behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cartwise.clicks.calibration import (
    auc, bootstrap_interval, expected_calibration_error, log_loss, paired_bootstrap, reliability_curve,
)
from cartwise.errors import ValidationError

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_hand_computed_values() -> None:
    # Pairs (positive, negative): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4 -> 3 of 4.
    assert auc(Y, P) == pytest.approx(0.75)
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert log_loss(Y, P) == pytest.approx(expected)
    # Two bins: [0, .5) holds .1, .4, .35 (mean .28333, observed 1/3), [.5, 1] holds .8 (observed 1).
    assert expected_calibration_error(Y, P, bins=2) == pytest.approx(3 / 4 * abs(0.85 / 3 - 1 / 3) + 1 / 4 * 0.2)
    curve = reliability_curve(Y, P, bins=2)
    assert [(b.count, round(b.mean_predicted, 4), b.observed_rate) for b in curve] == [
        (3, round(0.85 / 3, 4), pytest.approx(1 / 3)), (1, 0.8, 1.0)]


def test_ties_count_half_and_match_scikit_learn() -> None:
    assert auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500), 1)  # many ties
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p))


def test_weights_equal_repeated_rows() -> None:
    w = np.array([2.0, 1.0, 3.0, 1.0])
    y_rep = np.repeat(Y, w.astype(int))
    p_rep = np.repeat(P, w.astype(int))
    assert auc(Y, P, weights=w) == pytest.approx(auc(y_rep, p_rep))
    assert log_loss(Y, P, weights=w) == pytest.approx(log_loss(y_rep, p_rep))
    assert expected_calibration_error(Y, P, weights=w, bins=5) == pytest.approx(
        expected_calibration_error(y_rep, p_rep, bins=5))


def test_bootstrap_intervals() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.1).astype(int)
    good = np.clip(0.1 + 0.3 * (y - 0.1) + rng.normal(0, 0.05, y.size), 0.001, 0.999)
    noise = np.clip(rng.random(y.size) * 0.2, 0.001, 0.999)
    for metric in ("auc", "log_loss", "ece"):
        interval = bootstrap_interval(metric, y, good, resamples=300)
        assert interval.low <= interval.value <= interval.high
        assert interval.high - interval.low > 0
    better = paired_bootstrap("auc", y, noise, good, resamples=300)
    assert better.significant and better.difference > 0.3 and better.p_value < 0.01
    same = paired_bootstrap("auc", y, good, good, resamples=100)
    assert same.difference == 0 and not same.significant


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValidationError):
        auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValidationError):
        log_loss([0, 1], [0.2, 1.3])
    with pytest.raises(ValidationError):
        bootstrap_interval("accuracy", Y, P)


def test_quantile_ece() -> None:
    # Two equal-mass bins: {.1, .35} (mean .225, observed .5) and {.4, .8} (mean .6, observed .5).
    assert expected_calibration_error(Y, P, bins=2, strategy="quantile") == pytest.approx(
        0.5 * abs(0.225 - 0.5) + 0.5 * abs(0.6 - 0.5))
    assert [b.count for b in reliability_curve(Y, P, bins=2, strategy="quantile")] == [2, 2]
