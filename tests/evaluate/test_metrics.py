import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartwise.evaluate import metrics
from cartwise.evaluate.significance import compare


def test_ranking_metrics_hand_computed():
    ranks = [0, 2, 9, 10, -1]
    assert metrics.hit_rate(ranks, 10) == pytest.approx(3 / 5)
    expected = (1 / math.log2(2) + 1 / math.log2(4) + 1 / math.log2(11)) / 5
    assert metrics.ndcg(ranks, 10) == pytest.approx(expected)
    assert metrics.mrr(ranks) == pytest.approx((1 + 1 / 3 + 1 / 10 + 1 / 11 + 0) / 5)
    assert metrics.mrr(ranks, 10) == pytest.approx((1 + 1 / 3 + 1 / 10) / 5)


@given(st.lists(st.integers(min_value=-1, max_value=50), min_size=1, max_size=30), st.integers(1, 20))
def test_metric_bounds(ranks, k):
    for value in (metrics.hit_rate(ranks, k), metrics.ndcg(ranks, k), metrics.mrr(ranks, k)):
        assert 0.0 <= value <= 1.0
    assert metrics.ndcg(ranks, k) <= metrics.hit_rate(ranks, k) + 1e-12


def test_set_metrics_hand_computed():
    rec = [["a", "b", "c"], ["x", "y", "z"]]
    rel = [{"b", "q"}, {"z"}]
    assert metrics.recall_at_k(rec, rel, 3) == pytest.approx((1 / 2 + 1) / 2)
    first = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    second = (1 / math.log2(4)) / 1
    assert metrics.ndcg_at_k(rec, rel, 3) == pytest.approx((first + second) / 2)
    assert metrics.coverage(rec, 12) == pytest.approx(6 / 12)


def test_diversity_and_novelty():
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "c": np.array([1.0, 0.0])}
    assert metrics.intra_list_diversity([["a", "b"]], vectors) == pytest.approx(1.0)
    assert metrics.intra_list_diversity([["a", "c"]], vectors) == pytest.approx(0.0)
    pop = {"hit": 90.0, "rare": 10.0}
    assert metrics.novelty([["rare"]], pop) > metrics.novelty([["hit"]], pop)


def test_click_and_rating_metrics():
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert metrics.auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert metrics.log_loss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert metrics.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert metrics.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        metrics.auc([1, 1], [0.2, 0.3])


def test_paired_comparison_detects_a_real_difference_and_not_noise():
    rng = np.random.default_rng(1)
    a = rng.random(500)
    better = compare(a, a + 0.05 + rng.normal(0, 0.01, a.size))
    assert better.significant and better.difference == pytest.approx(0.05, abs=0.005)
    noise = compare(a, rng.permutation(a))
    assert not noise.significant
