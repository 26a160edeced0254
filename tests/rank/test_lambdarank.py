"""The rankers of the ranking stage: LambdaRank learns which feature marks the relevant
row, the equal-share fallback adds shares, both by name and through save/load."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.errors import NotTrained, ValidationError
from cartwise.rank import registry as rankers
from cartwise.rank.ltr import EqualShares, LambdaRanker

NAMES = ["noise", "signal", "share_sum", "best_rank"]


def planted(users: int = 400, per_user: int = 20, seed: int = 0):
    """One relevant row per user, the one whose 'signal' is highest; 'share_sum' points
    elsewhere (a misleading member), 'noise' is noise."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(users * per_user, len(NAMES))).astype(np.float32)
    labels = np.zeros(users * per_user, dtype=np.float32)
    for u in range(users):
        rows = slice(u * per_user, (u + 1) * per_user)
        labels[u * per_user + int(np.argmax(features[rows, 1]))] = 1.0
    offsets = np.arange(0, users * per_user + 1, per_user, dtype=np.int64)
    return features, labels, offsets


def hit_at_1(scores, labels, offsets) -> float:
    hits = [labels[a:b][np.argmax(scores[a:b])] for a, b in zip(offsets[:-1], offsets[1:])]
    return float(np.mean(hits))


def test_lambdarank_learns_the_planted_feature(tmp_path) -> None:
    features, labels, offsets = planted()
    ranker = LambdaRanker(threads=1, rounds=60).fit(features, labels, offsets, NAMES)
    test_features, test_labels, test_offsets = planted(seed=1)
    scores = ranker.score(test_features)
    assert hit_at_1(scores, test_labels, test_offsets) > 0.8
    assert next(iter(ranker.importance())) == "signal"
    equal = EqualShares().fit(features, labels, offsets, NAMES)
    assert hit_at_1(equal.score(test_features), test_labels, test_offsets) < 0.3
    ranker.save(tmp_path)
    loaded = rankers.get("lambdarank").load(tmp_path)
    np.testing.assert_allclose(loaded.score(test_features), scores)


def test_equal_shares_orders_by_share_then_best_rank(tmp_path) -> None:
    features = np.array([[0, 0, 1.0, 5], [0, 0, 1.0, 2], [0, 0, 1.5, 9]], dtype=np.float32)
    equal = EqualShares().fit(features, np.zeros(3, np.float32), np.array([0, 3]), NAMES)
    assert np.argsort(-equal.score(features)).tolist() == [2, 1, 0]
    equal.save(tmp_path)
    assert np.array_equal(rankers.get("equal").load(tmp_path).score(features), equal.score(features))


def test_registry_and_errors() -> None:
    assert rankers.names() == ("lambdarank", "equal")
    assert rankers.get("lambdarank").learns and not rankers.get("equal").learns
    with pytest.raises(ValidationError):
        rankers.get("nope")
    with pytest.raises(NotTrained):
        LambdaRanker().score(np.zeros((1, 4), np.float32))
    with pytest.raises(ValidationError):
        LambdaRanker().fit(np.zeros((3, 4), np.float32), np.zeros(2, np.float32), np.array([0, 3]), NAMES)
