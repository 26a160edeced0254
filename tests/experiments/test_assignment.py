"""Assignment: the same user always gets the same variant, users split by weight, and a
new salt reshuffles them independently."""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from cartwise.experiments import Assigner, unit_hash
from cartwise.experiments.stats import sample_ratio_mismatch

USERS = [f"user-{n}" for n in range(20_000)]


def test_the_same_user_and_salt_always_get_the_same_arm():
    first = Assigner(salt="exp-1", weights=[1, 1, 2])
    again = Assigner(salt="exp-1", weights=[1, 1, 2])
    assert [first.arm(u) for u in USERS[:2000]] == [again.arm(u) for u in USERS[:2000]]
    assert unit_hash("exp-1", "alice") == unit_hash("exp-1", "alice")
    assert 0.0 <= unit_hash("exp-1", "alice") < 1.0


def test_users_split_by_weight():
    arms = np.array([Assigner(salt="s", weights=[1, 1, 2]).arm(u) for u in USERS])
    counts = np.bincount(arms, minlength=3)
    assert sample_ratio_mismatch(counts.tolist(), [1, 1, 2]) > 0.001
    assert abs(counts[2] / len(USERS) - 0.5) < 0.015
    # The hash is uniform: a Kolmogorov-Smirnov test against U(0, 1) does not reject.
    assert sps.kstest([unit_hash("s", u) for u in USERS], "uniform").pvalue > 0.001


def test_a_new_salt_reshuffles_users_independently():
    a = np.array([Assigner(salt="salt-a", weights=[1, 1]).arm(u) for u in USERS])
    b = np.array([Assigner(salt="salt-b", weights=[1, 1]).arm(u) for u in USERS])
    same = float((a == b).mean())
    assert 0.48 < same < 0.52  # independent: half agree by chance, not all


def test_a_skewed_split_is_caught_by_the_sample_ratio_check():
    assert sample_ratio_mismatch([5_200, 4_800], [1, 1]) < 0.001
    assert sample_ratio_mismatch([5_030, 4_970], [1, 1]) > 0.05
    assert sample_ratio_mismatch([0, 0], [1, 1]) == 1.0
