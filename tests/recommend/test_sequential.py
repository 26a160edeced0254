"""SequentialRecommender on planted sequences: item i is followed by item i + 1."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cartwise.errors import ValidationError
from cartwise.recommend.base import Interaction
from cartwise.recommend.sequential import SequentialRecommender

N_ITEMS = 30
T0 = 1_700_000_000_000
TINY = dict(max_len=8, dim=32, layers=1, heads=2, dropout=0.1, epochs=25, batch_size=64, lr=5e-3, threads=1)


def item(i: int) -> str:
    return f"i{i % N_ITEMS}"


def planted_events(n_users: int = 240, seed: int = 0) -> pl.DataFrame:
    """Each user walks i, i+1, i+2, ... from a random start; item 0 is also bought at
    random by half the users, so popularity has a clear (wrong) favourite."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start, length = int(rng.integers(N_ITEMS)), int(rng.integers(4, 9))
        ts = T0 + u * 10_000_000
        for j in range(length):
            rows.append((f"u{u}", item(start + j), "view", ts + j * 60_000))
        if u % 2:
            rows.append((f"u{u}", "i0", "purchase", ts - 3_600_000))
    return pl.DataFrame(rows, schema=["user_id", "item_id", "event_type", "ts"], orient="row")


def walk(start: int, length: int) -> list[Interaction]:
    return [Interaction(item(start + j), "view", T0 + j * 60_000) for j in range(length)]


def text_vectors(seed: int = 1, dim: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {item(i): rng.normal(size=dim) for i in range(N_ITEMS)}


@pytest.fixture(scope="module")
def model() -> SequentialRecommender:
    return SequentialRecommender(**TINY, seed=0).fit(planted_events())


def hit_rate(answers: list[list[str]], targets: list[str], k: int) -> float:
    return float(np.mean([t in a[:k] for a, t in zip(answers, targets)]))


def test_learns_the_planted_order_far_better_than_popularity(model: SequentialRecommender) -> None:
    starts = list(range(N_ITEMS))
    histories = [walk(s, 3) for s in starts]
    targets = [item(s + 3) for s in starts]
    answers = [[r.item_id for r in rec] for rec in model.recommend(histories, k=5)]

    counts = planted_events().group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    popular = counts["item_id"].to_list()
    baseline = [[i for i in popular if i not in {e.item_id for e in h}][:5] for h in histories]

    assert hit_rate(answers, targets, 1) >= 0.8
    assert hit_rate(answers, targets, 5) >= hit_rate(baseline, targets, 5) + 0.6


def test_recommend_answers_excludes_and_explains(model: SequentialRecommender) -> None:
    history = walk(4, 3)
    seen = {e.item_id for e in history}
    answer = model.recommend([history], k=5)[0]
    assert len(answer) == 5 and not seen & {r.item_id for r in answer}
    assert answer[0].because[0] == item(6) and item(6) in answer[0].reason
    assert [r.score for r in answer] == sorted((r.score for r in answer), reverse=True)

    kept = model.recommend([history], k=N_ITEMS, exclude_seen=False)[0]
    assert seen <= {r.item_id for r in kept}
    skipped = model.recommend([history], k=5, exclude=[answer[0].item_id])[0]
    assert answer[0].item_id not in {r.item_id for r in skipped}
    assert model.recommend([[Interaction("unknown", "view", T0)], []], k=5) == [[], []]


def test_score_full_covers_the_catalog(model: SequentialRecommender) -> None:
    scores = model.score_full([walk(10, 4), [Interaction("unknown", "view", T0)]])
    assert scores.shape == (2, len(model.item_ids_)) and scores.dtype == np.float32
    assert int(np.argmax(scores[0])) == model.item_ids_.get(item(14))
    assert not scores[1].any()


def test_same_seed_same_model_other_seed_other_model() -> None:
    events = planted_events(n_users=80)
    params = {**TINY, "epochs": 3}
    histories = [walk(3, 4), walk(20, 2)]
    first = SequentialRecommender(**params, seed=7).fit(events).score_full(histories)
    again = SequentialRecommender(**params, seed=7).fit(events).score_full(histories)
    other = SequentialRecommender(**params, seed=8).fit(events).score_full(histories)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_save_load_round_trip(model: SequentialRecommender, tmp_path) -> None:
    model.save(tmp_path / "model")
    loaded = SequentialRecommender.load(tmp_path / "model")
    histories = [walk(s, 3) for s in range(0, N_ITEMS, 3)]
    assert np.array_equal(model.score_full(histories), loaded.score_full(histories))
    assert model.recommend(histories, k=5) == loaded.recommend(histories, k=5)
    assert loaded.get_params() == model.get_params()
    assert loaded.best_epoch_ == model.best_epoch_ and len(loaded.history_) == len(model.history_)


def test_text_lets_a_cold_item_be_ranked() -> None:
    """A cold item whose text equals i7's ranks next to i7 where i7 is the answer."""
    vectors = text_vectors()
    vectors["cold-twin-of-7"] = vectors[item(7)].copy()
    model = SequentialRecommender(**TINY, seed=0, item_text_vectors=vectors).fit(planted_events())
    assert "cold-twin-of-7" in model.item_ids_ and not model.warm_[model.item_ids_.get("cold-twin-of-7")]

    scores = model.score_full([walk(4, 3)] + [walk(s, 3) for s in range(N_ITEMS) if (s + 3) % N_ITEMS != 7])
    cold, twin = model.item_ids_.get("cold-twin-of-7"), model.item_ids_.get(item(7))
    ranks = (scores > scores[:, [cold]]).sum(1)
    assert ranks[0] <= 2, "the cold twin should be among the top 3 where its twin i7 comes next"
    assert np.median(ranks[1:]) > 5, "elsewhere the cold twin should not be a top answer"
    assert np.corrcoef(scores[:, cold], scores[:, twin])[0, 1] > 0.8

    # A product added after training is scored by its text, without retraining.
    assert model.add_items({"new-twin-of-12": vectors[item(12)], item(3): vectors[item(3)]}) == ["new-twin-of-12"]
    scores = model.score_full([walk(9, 3)])[0]
    assert (scores > scores[model.item_ids_.get("new-twin-of-12")]).sum() <= 2


def test_validation_keeps_the_best_epoch() -> None:
    events = planted_events(n_users=120)
    last = events.sort("ts").group_by("user_id").agg(pl.col("item_id").last(), pl.col("ts").last())
    train = events.join(last.select("user_id", "ts"), on=["user_id", "ts"], how="anti")
    logs = []
    model = SequentialRecommender(**{**TINY, "epochs": 6, "patience": 2}, on_epoch=logs.append)
    model.fit(train, validation=last.select("user_id", "item_id"))
    assert logs == model.history_ and all(log.validation_ndcg10 is not None for log in logs)
    assert model.best_validation_ndcg10_ == max(log.validation_ndcg10 for log in logs)
    assert 1 <= model.best_epoch_ <= len(logs)


def test_too_little_data_says_what_to_do() -> None:
    events = planted_events(n_users=4)
    with pytest.raises(ValidationError, match="at least 10 users with 2 or more events") as caught:
        SequentialRecommender(**TINY).fit(events)
    assert "ItemKNN" in str(caught.value)
    with pytest.raises(ValidationError, match="event_type"):
        SequentialRecommender(**TINY).fit(events.drop("event_type"))
    with pytest.raises(ValidationError, match="loss"):
        SequentialRecommender(loss="bpr").fit(planted_events())  # type: ignore[arg-type]


def test_gbce_loss_also_learns_the_order() -> None:
    # Few negatives per step teach less per epoch than the full softmax: more epochs.
    params = {**TINY, "loss": "gbce", "negatives": 8, "epochs": 60}
    model = SequentialRecommender(**params, seed=0).fit(planted_events())
    answers = [[r.item_id for r in rec] for rec in model.recommend([walk(s, 3) for s in range(N_ITEMS)], k=3)]
    assert hit_rate(answers, [item(s + 3) for s in range(N_ITEMS)], 3) >= 0.8


def test_an_interrupted_fit_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path) -> None:
    events = planted_events(n_users=120)
    last = events.sort("ts").group_by("user_id").agg(pl.col("item_id").last(), pl.col("ts").last())
    train = events.join(last.select("user_id", "ts"), on=["user_id", "ts"], how="anti")
    validation = last.select("user_id", "item_id")
    params = {**TINY, "epochs": 5, "patience": 10, "seed": 3}
    whole = SequentialRecommender(**params).fit(train, validation=validation)

    def crash_after_epoch_3(log) -> None:
        if log.epoch == 3:
            raise KeyboardInterrupt

    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(KeyboardInterrupt):
        SequentialRecommender(**params, on_epoch=crash_after_epoch_3, checkpoint_dir=checkpoints).fit(
            train, validation=validation
        )
    assert (checkpoints / "checkpoint.pt").exists()
    # Other data does not resume from it.
    other = SequentialRecommender(**{**params, "epochs": 1}, checkpoint_dir=tmp_path / "other")
    assert [log.epoch for log in other.fit(planted_events(n_users=100, seed=9)).history_] == [1]

    seen = []
    resumed = SequentialRecommender(**params, on_epoch=seen.append, checkpoint_dir=checkpoints).fit(
        train, validation=validation
    )
    assert [log.epoch for log in seen] == [4, 5]
    assert [(h.loss, h.validation_ndcg10) for h in resumed.history_] == [
        (h.loss, h.validation_ndcg10) for h in whole.history_
    ]
    assert resumed.best_epoch_ == whole.best_epoch_
    histories = [walk(s, 4) for s in range(5)]
    np.testing.assert_allclose(resumed.score_full(histories), whole.score_full(histories), rtol=1e-5, atol=1e-6)
    assert not (checkpoints / "checkpoint.pt").exists()


def test_a_fit_interrupted_after_its_last_epoch_does_not_train_on_when_resumed(tmp_path) -> None:
    events = planted_events(n_users=120)
    params = {**TINY, "epochs": 3, "seed": 3}
    whole = SequentialRecommender(**params).fit(events)

    def crash_at_the_end(log) -> None:
        if log.epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SequentialRecommender(**params, on_epoch=crash_at_the_end, checkpoint_dir=tmp_path).fit(events)
    seen = []
    resumed = SequentialRecommender(**params, on_epoch=seen.append, checkpoint_dir=tmp_path).fit(events)
    assert seen == [] and [h.epoch for h in resumed.history_] == [1, 2, 3]
    histories = [walk(s, 4) for s in range(5)]
    np.testing.assert_allclose(resumed.score_full(histories), whole.score_full(histories), rtol=1e-5, atol=1e-6)


def test_an_item_table_computed_across_a_catalog_change_is_not_kept(model: SequentialRecommender) -> None:
    network = model.network_
    network._changed()
    original = network.item_table

    def table_while_the_catalog_changes(keep=None):
        table = original(keep)
        network._changed()  # e.g. items added by text from the re-index thread meanwhile
        return table

    network.item_table = table_while_the_catalog_changes
    try:
        network.answer_table()
    finally:
        del network.item_table
    assert network._answer_table is None
    assert network.answer_table() is network.answer_table()  # cached once nothing changes
