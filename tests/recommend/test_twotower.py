"""TwoTowerRecommender on the planted pairs (whoever looks at a_i buys b_i next)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from recommend_frames import T0
from test_planted_pattern import N_PAIRS, planted, ranks

from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.metrics import hit_rate
from cartwise.evaluate.splits import leave_last_out
from cartwise.recommend import Interaction, Popularity
from cartwise.recommend.twotower import TwoTowerRecommender

torch.set_num_threads(1)
TINY = {"max_len": 16, "dim": 32, "heads": 2, "epochs": 20, "batch_size": 64, "lr": 5e-3, "threads": 1}
MINUTE = 60_000


def looked_at(p: int) -> list[Interaction]:
    """A shopper who viewed a_p and put it in the cart: b_p should come next."""
    return [Interaction(f"a{p}", "view", T0), Interaction(f"a{p}", "add_to_cart", T0 + MINUTE)]


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def model(data) -> TwoTowerRecommender:
    return TwoTowerRecommender(**TINY, seed=0).fit(data[0])


def test_learns_the_planted_pairs_far_better_than_popularity(data, model: TwoTowerRecommender) -> None:
    events, items, histories, targets = data
    popularity = Popularity().fit(events, items)
    pop_answers = [popularity.recommend(10, exclude={e.item_id for e in h}) for h in histories]
    answers = model.recommend(histories, k=10)
    pop_hr = hit_rate(ranks(pop_answers, targets), 10)
    model_hr = hit_rate(ranks(answers, targets), 10)
    assert model_hr >= 0.9, model_hr
    assert hit_rate(ranks(answers, targets), 1) >= 0.8
    assert pop_hr <= 0.2, pop_hr
    assert model_hr - pop_hr >= 0.6
    # The explanation names the planted cause.
    hits = [(answer, t) for answer, t in zip(answers, targets) if answer and answer[0].item_id == t]
    assert len(hits) > 200
    named = [answer[0] for answer, t in hits if answer[0].because == ("a" + t[1:],)]
    assert len(named) >= 0.95 * len(hits)
    assert all(r.reason == f"because you added to your cart '{r.because[0]}'" for r in named)


def test_recommend_excludes_and_answers_empty_histories(model: TwoTowerRecommender) -> None:
    history = looked_at(7)
    answer = model.recommend([history], k=5)[0]
    assert len(answer) == 5 and "a7" not in {r.item_id for r in answer}
    assert answer[0].item_id == "b7"
    assert [r.score for r in answer] == sorted((r.score for r in answer), reverse=True)
    assert all(-1.0 - 1e-5 <= r.score <= 1.0 + 1e-5 for r in answer)

    kept = model.recommend([history], k=len(model.item_ids_), exclude_seen=False)[0]
    assert len(kept) == len(model.item_ids_) and "a7" in {r.item_id for r in kept}
    shared = model.recommend([history, looked_at(8)], k=5, exclude=["b7", "b8"])
    assert {"b7", "b8"}.isdisjoint({r.item_id for answer in shared for r in answer})
    per_user = model.recommend([history, looked_at(8)], k=5, exclude=[["b7"], []])
    assert per_user[0][0].item_id != "b7" and per_user[1][0].item_id == "b8"
    assert model.recommend([[Interaction("unknown", "view", T0)], []], k=5) == [[], []]
    assert model.recommend([history], k=0) == [[]]
    with pytest.raises(ValidationError, match="exclude"):
        model.recommend([history], k=5, exclude="b7")


def test_score_full_is_the_user_tower_times_the_item_matrix(model: TwoTowerRecommender) -> None:
    histories = [looked_at(3), [Interaction("unknown", "view", T0)]]
    scores = model.score_full(histories)
    assert scores.shape == (2, len(model.item_ids_)) and scores.dtype == np.float32
    assert int(np.argmax(scores[0])) == model.item_ids_.get("b3")
    assert not scores[1].any()
    assert np.allclose(np.linalg.norm(model.item_matrix_, axis=1), 1.0, atol=1e-5)
    assert np.allclose(scores, model.user_vectors(histories) @ model.item_matrix_.T)


def test_answers_from_the_vector_index_match_exact_scoring(model: TwoTowerRecommender) -> None:
    histories = [looked_at(p) for p in range(0, N_PAIRS, 7)]
    scores = model.score_full(histories)
    answers = model.recommend(histories, k=10, exclude_seen=False)
    for row, answer in zip(scores, answers):
        best = np.argsort(-row, kind="stable")[:10]
        assert [r.item_id for r in answer] == [model.item_ids_.ids[i] for i in best]
        np.testing.assert_allclose([r.score for r in answer], row[best], atol=1e-5)


def test_same_seed_same_model_other_seed_other_model(data) -> None:
    params = {**TINY, "epochs": 3}
    histories = [looked_at(1), looked_at(40)]
    first = TwoTowerRecommender(**params, seed=7).fit(data[0]).score_full(histories)
    again = TwoTowerRecommender(**params, seed=7).fit(data[0]).score_full(histories)
    other = TwoTowerRecommender(**params, seed=8).fit(data[0]).score_full(histories)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_save_load_round_trip(data, model: TwoTowerRecommender, tmp_path) -> None:
    model.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["twotower.json", "twotower.npz", "twotower.pt"]
    loaded = TwoTowerRecommender.load(tmp_path / "model")
    histories = data[2][:50]
    assert np.array_equal(model.score_full(histories), loaded.score_full(histories))
    assert model.recommend(histories, k=10) == loaded.recommend(histories, k=10)
    assert loaded.get_params() == model.get_params()
    assert loaded.item_ids_ == model.item_ids_ and np.array_equal(loaded.warm_, model.warm_)
    assert loaded.best_epoch_ == model.best_epoch_ and loaded.history_ == model.history_
    with pytest.raises(NotTrained, match="cannot read the twotower model"):
        TwoTowerRecommender.load(tmp_path / "missing")


def test_a_cold_item_with_a_text_vector_is_recommended(data) -> None:
    """A cold item whose text equals b5's is recommended where b5 is the answer."""
    events, items = data[0], data[1]
    ids = items["item_id"].to_list()
    matrix = np.random.default_rng(1).normal(size=(len(ids), 64))
    text = {item: row for item, row in zip(ids, matrix)}
    vectors = (ids + ["cold-b5"], np.vstack([matrix, text["b5"]]))
    model = TwoTowerRecommender(**TINY, seed=0, id_dropout=0.2, item_text_vectors=vectors).fit(events)
    cold = model.item_ids_.get("cold-b5")
    assert cold is not None and not model.warm_[cold] and model.warm_.sum() == len(ids)

    assert "cold-b5" in [r.item_id for r in model.recommend([looked_at(5)], k=3)[0]]
    scores = model.score_full([looked_at(p) for p in range(N_PAIRS)])
    rank = (scores > scores[:, [cold]]).sum(1)
    assert rank[5] <= 2
    assert np.median(np.delete(rank, 5)) > 20, "elsewhere the cold twin should not be a top answer"

    # A product added after training is scored by its text, without retraining.
    assert model.add_items({"new-b12": text["b12"], "b3": text["b3"]}) == ["new-b12"]
    assert not model.warm_[model.item_ids_.get("new-b12")]
    assert "new-b12" in [r.item_id for r in model.recommend([looked_at(12)], k=3)[0]]
    with pytest.raises(ValidationError, match="dimensions"):
        model.add_items({"wrong": np.ones(3)})


def test_validation_keeps_the_best_epoch_and_the_budget_stops(data) -> None:
    split = leave_last_out(data[0])
    logs = []
    model = TwoTowerRecommender(**{**TINY, "epochs": 6, "patience": 2}, on_epoch=logs.append)
    model.fit(split.train, validation=split.validation)
    assert logs == model.history_ and all(log.validation_ndcg10 is not None for log in logs)
    assert model.best_validation_ndcg10_ == max(log.validation_ndcg10 for log in logs)
    assert 1 <= model.best_epoch_ <= len(logs)

    quick = TwoTowerRecommender(**TINY, max_seconds=1e-3).fit(data[0])
    assert len(quick.history_) == 1


def test_bad_input_says_what_to_do(data) -> None:
    events = data[0]
    few = events.filter(pl.col("user_id").is_in(["user1", "user2", "user3"]))
    for frame in (few, events.head(0)):
        with pytest.raises(ValidationError, match="at least 10 users with 2 or more item events") as caught:
            TwoTowerRecommender(**TINY).fit(frame)
        assert "ItemKNN" in str(caught.value)
    with pytest.raises(ValidationError, match="event_type"):
        TwoTowerRecommender(**TINY).fit(events.drop("event_type"))
    with pytest.raises(ValidationError, match="temperature"):
        TwoTowerRecommender(temperature=0).fit(events)
    with pytest.raises(ValidationError, match="multiple of heads"):
        TwoTowerRecommender(dim=30, heads=4).fit(events)
    with pytest.raises(ValidationError, match="2 ids need a matrix of 2 rows"):
        TwoTowerRecommender(item_text_vectors=(["a0", "a1"], np.ones((3, 4)))).fit(events)
    with pytest.raises(ValidationError, match="no validation user"):
        TwoTowerRecommender(**TINY).fit(events, validation=pl.DataFrame({"user_id": ["nobody"], "item_id": ["a0"]}))
    with pytest.raises(NotTrained):
        TwoTowerRecommender().recommend([looked_at(1)])
    plain = TwoTowerRecommender(**{**TINY, "epochs": 1}).fit(events)
    with pytest.raises(ValidationError, match="without item_text_vectors"):
        plain.add_items({"x": np.ones(4)})
