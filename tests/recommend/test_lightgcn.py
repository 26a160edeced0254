"""LightGCN: learns the planted pairs, folds in shoppers it never saw, round-trips through
save/load, resumes from a checkpoint, and rejects bad settings with a clear error."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import torch
from recommend_frames import T0, make_events
from test_planted_pattern import N_PAIRS, planted, ranks

from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.metrics import hit_rate
from cartwise.recommend import Interaction, Popularity
from cartwise.recommend import registry as recommenders
from cartwise.recommend.lightgcn import LightGCN
from cartwise.recommend.neural import EpochLog

torch.set_num_threads(1)
MINUTE = 60_000


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def model(data) -> LightGCN:
    events, _, _, _ = data
    return LightGCN(epochs=12, threads=1, seed=0).fit(events)


def test_learns_the_planted_pairs_far_better_than_popularity(model: LightGCN, data) -> None:
    events, items, histories, targets = data
    popularity = Popularity().fit(events, items)
    pop_hr = hit_rate(ranks([popularity.recommend(10, exclude={e.item_id for e in h}) for h in histories], targets),
                      10)
    answers = model.recommend(histories, k=10)
    model_hr = hit_rate(ranks(answers, targets), 10)
    assert pop_hr <= 0.2, pop_hr
    assert model_hr >= 0.8, model_hr
    # The explanation names the history item that adds most to the score: for a hit on
    # b_i it is a_i, the item whose shoppers chose b_i.
    hits = [next(s for s in a if s.item_id == t) for a, t in zip(answers, targets) if t in {s.item_id for s in a}]
    led_by_pair = sum(hit.because == ("a" + hit.item_id[1:],) for hit in hits)
    assert led_by_pair >= 0.9 * len(hits), (led_by_pair, len(hits))
    assert all(hit.reason.endswith(hit.because[0]) for hit in hits)


def test_answers_leave_out_the_history_and_exclusions(model: LightGCN, data) -> None:
    _, _, histories, _ = data
    history = histories[0]
    seen = {e.item_id for e in history}
    answer = model.recommend([history], k=20)[0]
    assert len(answer) == 20 and not seen & {s.item_id for s in answer}
    scores = [s.score for s in answer]
    assert scores == sorted(scores, reverse=True)
    banned = answer[0].item_id
    assert banned not in {s.item_id for s in model.recommend([history], k=20, exclude={banned})[0]}
    repeated = model.recommend([history], k=len(model.item_ids_), exclude_seen=False)[0]
    assert seen <= {s.item_id for s in repeated}


def test_a_shopper_unseen_in_training_is_folded_in_and_a_new_event_counts(model: LightGCN) -> None:
    """Nobody called 'newcomer' was in training: their answer comes from their history alone."""
    p, q = 3, 57
    one = model.recommend([[Interaction(f"a{p}", "view", T0)]], k=10)[0]
    assert f"b{p}" in [s.item_id for s in one][:3]
    assert one[0].because == (f"a{p}",)
    two = model.recommend([[Interaction(f"a{q}", "view", T0 + MINUTE), Interaction(f"a{p}", "view", T0)]], k=10)[0]
    assert {f"b{p}", f"b{q}"} <= {s.item_id for s in two}
    # Unknown items and empty histories get no answer (the engine falls back to popularity).
    assert model.recommend([[Interaction("never-sold", "view", T0)], []], k=5) == [[], []]
    assert not model.score_full([[]]).any()


def test_recent_items_weigh_more_than_old_ones(model: LightGCN) -> None:
    p, q = 3, 57
    day = 24 * 60 * MINUTE
    old_p = [Interaction(f"a{q}", "view", T0), Interaction(f"a{p}", "view", T0 - 60 * day)]
    old_q = [Interaction(f"a{q}", "view", T0 - 60 * day), Interaction(f"a{p}", "view", T0)]
    for history, recent, old in ((old_p, f"b{q}", f"b{p}"), (old_q, f"b{p}", f"b{q}")):
        order = [s.item_id for s in model.recommend([history], k=len(model.item_ids_))[0]]
        assert order.index(recent) < order.index(old)
        assert order[0] == recent


def test_save_load_round_trip_gives_identical_scores(model: LightGCN, data, tmp_path) -> None:
    _, _, histories, _ = data
    model.save(tmp_path / "lightgcn")
    assert sorted(p.name for p in (tmp_path / "lightgcn").iterdir()) == ["lightgcn.json", "lightgcn.npz"]
    loaded = LightGCN.load(tmp_path / "lightgcn")
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.score_full(histories), model.score_full(histories))
    assert loaded.recommend(histories[:30], k=10) == model.recommend(histories[:30], k=10)
    assert [h.epoch for h in loaded.history_] == [h.epoch for h in model.history_]


def test_a_damaged_or_foreign_model_file_is_not_loaded(model: LightGCN, tmp_path) -> None:
    with pytest.raises(NotTrained):
        LightGCN.load(tmp_path / "nothing-here")
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "lightgcn.json").read_text())
    (tmp_path / "m" / "lightgcn.json").write_text(json.dumps({**meta, "format": 999}))
    with pytest.raises(NotTrained, match="format"):
        LightGCN.load(tmp_path / "m")
    with pytest.raises(NotTrained):
        LightGCN().recommend([[Interaction("a1", "view", T0)]])


def test_validation_stops_early_keeps_the_best_epoch_and_reports_progress(data) -> None:
    events, _, _, _ = data
    last = events.sort("ts").group_by("user_id").agg(pl.col("item_id").last(), pl.col("ts").last())
    train = events.join(last.select("user_id", "ts"), on=["user_id", "ts"], how="anti")
    logs: list[EpochLog] = []
    fitted = LightGCN(epochs=30, patience=2, threads=1, on_epoch=logs.append).fit(
        train, validation=last.select("user_id", "item_id")
    )
    assert [log.epoch for log in logs] == list(range(1, len(logs) + 1))
    assert all(log.validation_ndcg10 is not None and log.loss > 0 and log.epochs == 30 for log in logs)
    best = max(logs, key=lambda log: log.validation_ndcg10)
    assert fitted.best_epoch_ == best.epoch
    assert fitted.best_validation_ndcg10_ == pytest.approx(best.validation_ndcg10)
    # It stopped `patience` epochs after its best, unless it ran out of epochs.
    assert len(logs) == 30 or len(logs) == best.epoch + 2
    assert logs[-1].likely_seconds_left == 0.0 and logs[0].most_seconds_left > 0


def test_the_time_budget_ends_training(data) -> None:
    events, _, _, _ = data
    fitted = LightGCN(epochs=500, max_seconds=1e-6, threads=1).fit(events)
    assert len(fitted.history_) == 1


def test_an_interrupted_fit_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(data, tmp_path) -> None:
    events, _, histories, _ = data
    params = {"epochs": 5, "threads": 1, "seed": 3}
    whole = LightGCN(**params).fit(events)

    def crash_after_epoch_3(log: EpochLog) -> None:
        if log.epoch == 3:
            raise KeyboardInterrupt

    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(KeyboardInterrupt):
        LightGCN(**params, on_epoch=crash_after_epoch_3, checkpoint_dir=checkpoints).fit(events)
    assert (checkpoints / "checkpoint.pt").exists()
    # Other parameters do not resume from it.
    other = LightGCN(**{**params, "dim": 8}, checkpoint_dir=checkpoints)
    assert [log.epoch for log in other.fit(events).history_] == [1, 2, 3, 4, 5]

    with pytest.raises(KeyboardInterrupt):
        LightGCN(**params, on_epoch=crash_after_epoch_3, checkpoint_dir=checkpoints).fit(events)
    seen: list[EpochLog] = []
    resumed = LightGCN(**params, on_epoch=seen.append, checkpoint_dir=checkpoints).fit(events)
    assert [log.epoch for log in seen] == [4, 5]
    assert [h.loss for h in resumed.history_] == [h.loss for h in whole.history_]
    np.testing.assert_allclose(resumed.score_full(histories[:40]), whole.score_full(histories[:40]), rtol=1e-5,
                               atol=1e-6)
    assert not (checkpoints / "checkpoint.pt").exists()


@pytest.mark.parametrize(
    ("setting", "value"),
    [("dim", 0), ("layers", -1), ("layers", 2.5), ("epochs", True), ("batch_size", 0), ("negatives", 0),
     ("patience", 0), ("lr", 0.0), ("lr", math.nan), ("reg", -1e-4), ("fold_in_alpha", math.inf),
     ("fold_in_reg", -1.0), ("history_half_life_days", 0.0), ("max_seconds", 0), ("threads", 0)],
)
def test_bad_settings_are_rejected_with_the_setting_named(setting: str, value: object, data) -> None:
    events, _, _, _ = data
    with pytest.raises(ValidationError) as caught:
        LightGCN(**{setting: value}).fit(events)
    assert caught.value.field == setting
    assert setting in str(caught.value)


def test_too_little_data_and_a_useless_validation_say_what_to_do(data) -> None:
    one_user = make_events([("u1", "a1", "view", T0), ("u1", "a2", "purchase", T0 + 1)])
    with pytest.raises(ValidationError, match="at least 2 shoppers"):
        LightGCN().fit(one_user)
    events, _, _, _ = data
    strangers = pl.DataFrame({"user_id": ["nobody"], "item_id": ["a1"]})
    with pytest.raises(ValidationError, match="no validation user") as caught:
        LightGCN(epochs=1).fit(events, validation=strangers)
    assert caught.value.field == "validation"
    with pytest.raises(ValidationError, match="DataFrame"):
        LightGCN().fit([("u1", "a1")])  # type: ignore[arg-type]


def test_registered_by_name_with_its_run_settings() -> None:
    spec = recommenders.get("lightgcn")
    assert spec.model_class() is LightGCN and spec.needs_validation and spec.personal
    model = spec.build(**spec.settings_from({"threads": 1, "seed": 5, "epochs": 2, "max_seconds": 9.0,
                                             "batch_size": 32, "item_text_vectors": None}))
    # Batch size is not a run setting it takes: `train` sizes batches of shoppers, not edges.
    assert (model.threads, model.seed, model.epochs, model.max_seconds, model.batch_size) == (1, 5, 2, 9.0, 4096)
    assert "lightgcn (graph convolution" in recommenders.describe([spec])


def test_cartwise_train_recommender_lightgcn_serves_from_the_store(tmp_path) -> None:
    from cartwise import Engine
    from tests.conftest import CATALOG

    store = tmp_path / "store"
    engine = Engine.open(store)
    engine.upsert_items(CATALOG)
    ids = [item["item_id"] for item in CATALOG]
    engine.add_events([
        {"user_id": f"u{u}", "item_id": ids[(u + step) % len(ids)], "event_type": "purchase",
         "timestamp": 1_700_000_000 + u * 1000 + step * 10}
        for u in range(40) for step in range(4)
    ])
    engine.close()
    result = subprocess.run(
        [sys.executable, "-m", "cartwise.cli.main", "train", "--store", str(store), "--recommender", "lightgcn",
         "--encoder", "none", "--threads", "1", "--seed", "0", "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recommender"] == "lightgcn" and report["validation"]["epochs_run"] >= 1
    assert "epoch 1 of at most" in result.stderr
    answer = subprocess.run(
        [sys.executable, "-m", "cartwise.cli.main", "recommend", "u3", "--store", str(store), "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert answer.returncode == 0, answer.stderr
    items = json.loads(answer.stdout)["items"]
    # The trained version's personalised recommender (the history stage) answers, and its
    # reason names the history item that led to each item.
    led = [item for item in items if item["stage"] == "history"]
    assert led and all(item["because"] and item["reason"].startswith("because you") for item in led)


def test_unknown_recommender_names_are_rejected_with_the_choices() -> None:
    with pytest.raises(ValidationError) as caught:
        recommenders.get("lightgnc")
    assert "lightgcn" in (caught.value.hint or "")


def test_pairs_cover_the_catalog(model: LightGCN) -> None:
    assert len(model.item_ids_) == 2 * N_PAIRS + 20
    assert model.item_vectors_.shape == (len(model.item_ids_), model.dim)
    assert model.item_vectors_.dtype == np.float32
