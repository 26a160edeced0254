"""The fused recommender: a ranker trained on held-out next items learns the planted
pattern, answers survive save/load, and it falls back cleanly: without validation events
(equal shares), when a member fails (the others answer) and when the ranker fails."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pytest
from test_planted_pattern import planted, ranks

from cartwise.errors import NotTrained
from cartwise.evaluate.metrics import hit_rate
from cartwise.rank.ltr import EqualShares, LambdaRanker
from cartwise.recommend import ALS, ItemKNN, Popularity
from cartwise.recommend.fused import FusedRecommender

K = 10


def members() -> dict[str, object]:
    return {"popularity": Popularity(), "itemknn": ItemKNN(), "als": ALS(threads=1, seed=0)}


@pytest.fixture(scope="module")
def data():
    """The planted pairs with each shopper's last purchase before the target held out as
    the ranker's validation item (a b_i that followed its a_i)."""
    events, items, histories, targets = planted()
    cut = events.filter(pl.col("event_type") == "purchase").group_by("user_id").agg(pl.col("ts").max().alias("cut"))
    marked = events.join(cut, on="user_id")
    train = marked.filter(pl.col("ts") < pl.col("cut")).drop("cut")
    validation = marked.filter(pl.col("ts") == pl.col("cut")).drop("cut")
    return train, validation, items, histories, targets


@pytest.fixture(scope="module")
def trained(data) -> FusedRecommender:
    train, validation, items, _, _ = data
    return FusedRecommender(members=members(), threads=1).fit(train, validation=validation, items=items)


def hr(model, histories, targets) -> float:
    return hit_rate(ranks(model.recommend(histories, k=K), targets), K)


def test_trained_ranker_learns_the_pattern_and_explains_by_member(trained, data) -> None:
    _, _, items, histories, targets = data
    assert isinstance(trained.ranker_, LambdaRanker)
    assert trained.training_["users_with_next_item_among_candidates"] >= 250
    answers = trained.recommend(histories, k=K)
    assert hit_rate(ranks(answers, targets), K) >= 0.9
    first = [a[0].item_id for a in answers]
    assert np.mean([f == t for f, t in zip(first, targets)]) >= 0.8
    # Each answer keeps the explanation of a member that proposed it.
    proposals = {
        name: model.recommend(histories[:20], k=50) if name != "popularity" else None
        for name, model in trained.members.items()
    }
    for user, answer in enumerate(answers[:20]):
        for scored in answer:
            reasons = {s.reason for name, lists in proposals.items() if lists for s in lists[user]
                       if s.item_id == scored.item_id}
            assert scored.reason in reasons | {"popular with shoppers"}


def test_round_trip_with_a_trained_ranker(trained, data, tmp_path) -> None:
    _, _, _, histories, _ = data
    trained.save(tmp_path)
    loaded = FusedRecommender.load(tmp_path, member_class={"popularity": Popularity, "itemknn": ItemKNN,
                                                           "als": ALS}.__getitem__)
    assert isinstance(loaded.ranker_, LambdaRanker)
    for exclude_seen in (True, False):
        first = trained.recommend(histories[:50], k=K, exclude_seen=exclude_seen)
        second = loaded.recommend(histories[:50], k=K, exclude_seen=exclude_seen)
        assert [[s.item_id for s in a] for a in first] == [[s.item_id for s in a] for a in second]
        np.testing.assert_allclose([s.score for a in first for s in a], [s.score for a in second for s in a],
                                   rtol=1e-6)


def test_untrained_ranker_falls_back_to_equal_shares(data) -> None:
    train, _, items, histories, targets = data
    model = FusedRecommender(members=members()).fit(train, items=items)
    assert isinstance(model.ranker_, EqualShares)
    assert "validation" in model.training_["fallback"]
    answers = model.recommend(histories, k=K)
    assert sum(len(a) == K for a in answers) == len(answers)
    assert hr(model, histories, targets) >= 0.6


def test_too_few_positives_fall_back(data) -> None:
    train, validation, items, histories, _ = data
    model = FusedRecommender(members=members()).fit(train, validation=validation.head(5), items=items)
    assert isinstance(model.ranker_, EqualShares)
    assert "only" in model.training_["fallback"]
    assert all(model.recommend(histories[:10], k=K))


def test_unfitted_is_not_trained(data) -> None:
    with pytest.raises(NotTrained):
        FusedRecommender(members=members()).recommend(data[3][:1])


class Broken:
    def recommend(self, histories, **_):
        raise RuntimeError("member down")


def test_a_failing_member_proposes_nothing(trained, data, caplog) -> None:
    _, _, _, histories, targets = data
    before = hr(trained, histories, targets)
    als = trained.members["als"]
    trained.members["als"] = Broken()
    try:
        with caplog.at_level(logging.WARNING, logger="cartwise.recommend.fused"):
            answers = trained.recommend(histories, k=K)
        assert "'als' failed" in caplog.text
        assert all(len(a) == K for a in answers)
        assert not any("(als)" in s.reason for a in answers for s in a)
        # Item-kNN still proposes the planted b items and the ranker still trusts it.
        assert hit_rate(ranks(answers, targets), K) >= before - 0.1
    finally:
        trained.members["als"] = als


def test_a_failing_ranker_falls_back_to_equal_shares(trained, data, caplog, monkeypatch) -> None:
    _, _, _, histories, _ = data

    def broken(features):
        raise ValueError("bad model file")

    monkeypatch.setattr(trained.ranker_, "score", broken)
    with caplog.at_level(logging.WARNING, logger="cartwise.recommend.fused"):
        answers = trained.recommend(histories[:30], k=K)
    assert "ranker failed" in caplog.text
    equal = FusedRecommender(members=trained.members)
    equal.features_ = trained.features_
    equal._fall_back("test")
    assert [[s.item_id for s in a] for a in answers] == [
        [s.item_id for s in a] for a in equal.recommend(histories[:30], k=K)
    ]
