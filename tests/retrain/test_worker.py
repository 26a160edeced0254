"""Background retraining: the policy, the gate on the newest events, the worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cartwise import Engine
from cartwise.errors import ValidationError
from cartwise.recommend import ItemKNN
from cartwise.retrain import RetrainPolicy, RetrainWorker, judge
from cartwise.retrain.gate import holdout_cutoff, judgement_tasks

T0 = 1_700_000_000  # seconds
BASE = 20


def old_pattern() -> list[dict]:
    """Item x goes with x+20: ten shoppers per item bought both."""
    events = []
    for x in range(BASE):
        for n in range(10):
            user = f"old-{x}-{n}"
            events += [{"user_id": user, "item_id": f"i{x}", "event_type": "purchase", "timestamp": T0 + n},
                       {"user_id": user, "item_id": f"i{x + BASE}", "event_type": "purchase", "timestamp": T0 + n + 5}]
    return events


def new_pattern(users: int = 300) -> list[dict]:
    """Later, item x goes with x+40: each new shopper bought x, then (over the next days) x+40."""
    events = []
    for n in range(users):
        x = n % BASE
        user = f"new-{n}"
        events.append({"user_id": user, "item_id": f"i{x}", "event_type": "purchase", "timestamp": T0 + 86_400 + n})
        events.append({"user_id": user, "item_id": f"i{x + 2 * BASE}", "event_type": "purchase",
                       "timestamp": T0 + 2 * 86_400 + n * 600})
    return events


@pytest.fixture
def shop(tmp_path: Path) -> Engine:
    engine = Engine.open(tmp_path / "shop")
    engine.upsert_items([{"item_id": f"i{i}", "title": f"item {i}", "price": 1.0} for i in range(3 * BASE)])
    engine.add_events(old_pattern())
    return engine


def worker(engine: Engine, **policy: object) -> RetrainWorker:
    lines: list[str] = []
    job = RetrainWorker(store=engine.store, policy=RetrainPolicy(**policy), recommender="itemknn", encoder=None,
                        say=lines.append)
    job.lines = lines  # type: ignore[attr-defined]
    return job


def test_policy_is_validated():
    with pytest.raises(ValidationError, match="every_events"):
        RetrainPolicy(every_events=0)
    with pytest.raises(ValidationError):
        RetrainPolicy(every_events=None, every_minutes=None)
    with pytest.raises(ValidationError, match="holdout_share"):
        RetrainPolicy(holdout_share=1.0)
    with pytest.raises(ValidationError, match="max_drop"):
        RetrainPolicy(max_drop=1.0)


def test_the_first_version_is_promoted_and_a_shift_in_behaviour_is_learned_and_promoted(shop: Engine):
    job = worker(shop, every_events=100, every_minutes=None)
    assert job.due() == "no version serves yet"
    first = job.run_once()
    assert first is not None and first.promote and first.reason == "no version serves yet"
    shop.refresh()
    serving = shop.model_info()["version"]
    assert job.due() is None  # nothing new

    shop.add_events(new_pattern())
    assert "600 events arrived" in (job.due() or "")
    verdict = job.run_once()
    assert verdict is not None and verdict.serving == serving
    # The held-back shoppers bought x+40 after x: the serving version never saw that, the
    # candidate learned it from the earlier new shoppers.
    assert verdict.shoppers >= 30 and verdict.candidate_ndcg > verdict.serving_ndcg + 0.3
    assert verdict.ci_low > 0 and verdict.promote
    shop.refresh()
    assert shop.model_info()["version"] == verdict.candidate
    shop.add_events([{"user_id": "probe", "item_id": "i3", "event_type": "purchase", "timestamp": T0 + 9 * 86_400}])
    assert "i43" in [r.item_id for r in shop.recommend("probe", k=2).items]
    kept = {v.version: v for v in shop.versions.list_versions()}
    assert kept[verdict.candidate].gate["promote"] is True
    # The candidate trained without the held-back events.
    manifest = shop.versions.load_manifest(verdict.candidate)
    assert manifest["events_until_ms"] <= verdict.cutoff_ms


def test_a_significantly_worse_candidate_is_refused():
    frame = pl.DataFrame(
        {"user_id": [e["user_id"] for e in old_pattern() + new_pattern()],
         "item_id": [e["item_id"] for e in old_pattern() + new_pattern()],
         "event_type": "purchase",
         "ts": [e["timestamp"] * 1000 for e in old_pattern() + new_pattern()]}
    )
    cutoff = holdout_cutoff(frame, since_ms=(T0 + 100) * 1000, share=0.3)
    assert cutoff is not None
    good = ItemKNN().fit(frame.filter(pl.col("ts") <= cutoff).with_columns(pl.lit(1.0).alias("value")))
    rng = np.random.default_rng(0)
    noise = frame.with_columns(pl.Series("item_id", [f"i{v}" for v in rng.integers(0, 3 * BASE, frame.height)]))
    bad = ItemKNN().fit(noise.filter(pl.col("ts") <= cutoff).with_columns(pl.lit(1.0).alias("value")))
    verdict = judge(item_events=frame, candidate=bad, serving=good, cutoff_ms=cutoff, policy=RetrainPolicy())
    assert not verdict.promote and verdict.ci_high < 0 and "significantly worse" in verdict.reason
    # The same two the other way round: promoted.
    assert judge(item_events=frame, candidate=good, serving=bad, cutoff_ms=cutoff, policy=RetrainPolicy()).promote


def test_too_little_new_data_keeps_the_serving_version(shop: Engine):
    job = worker(shop, every_events=1, every_minutes=None)
    job.run_once()
    shop.refresh()
    serving = shop.model_info()["version"]
    shop.add_events(new_pattern(users=20))  # 20 shoppers: fewer than the 30 needed to judge
    verdict = job.run_once()
    assert verdict is not None and not verdict.promote and "at least 30" in verdict.reason
    shop.refresh()
    assert shop.model_info()["version"] == serving
    # Unless the policy says to promote what it cannot judge.
    job.policy = RetrainPolicy(every_events=1, every_minutes=None, promote_unjudged=True)
    shop.add_events([{"user_id": "late", "item_id": "i1", "event_type": "view", "timestamp": T0 + 9 * 86_400}])
    assert job.run_once().promote


def test_judged_shoppers_need_a_history_and_a_new_item():
    frame = pl.DataFrame({"user_id": ["a", "a", "b", "c", "c"], "item_id": ["x", "y", "z", "x", "x"],
                          "event_type": "purchase", "ts": [1, 5, 6, 2, 7]})
    tasks = judgement_tasks(frame, cutoff_ms=3, limit=10)
    # a: history [x], then y (new); b: no history; c: bought x again (not new).
    assert [(tuple(i.item_id for i in h), target) for h, target in tasks] == [(("x",), "y")]


def test_a_failed_retrain_leaves_the_serving_version(shop: Engine, monkeypatch):
    import threading

    import cartwise.retrain.worker as module
    from cartwise.errors import NotTrained

    job = worker(shop, every_events=1, every_minutes=None)
    job.run_once()
    shop.refresh()
    serving = shop.model_info()["version"]

    def fail(*_a, **_k):
        raise NotTrained("disk full (simulated)")

    monkeypatch.setattr(module, "train", fail)
    shop.add_events(new_pattern(users=40))
    stop = threading.Event()
    job.say = lambda line: (job.lines.append(line), stop.set())  # type: ignore[attr-defined]
    job.run_forever(stop=stop, poll_s=0.01)
    assert any("retraining failed, the serving version stays: disk full" in line for line in job.lines)
    shop.refresh()
    assert shop.model_info()["version"] == serving


def test_a_version_from_before_the_gate_is_replaced_without_judging(shop: Engine):
    job = worker(shop, every_events=1, every_minutes=None)
    job.run_once()
    shop.refresh()
    old = shop.model_info()["version"]
    manifest = shop.versions.load_manifest(old)
    del manifest["events_until_ms"]
    (shop.workspace.models_dir / old / "manifest.json").write_text(__import__("json").dumps(manifest))
    shop.add_events(new_pattern(users=40))
    verdict = job.run_once()
    assert verdict.promote and "predates the retraining gate" in verdict.reason and verdict.serving == old


def test_a_drop_too_small_a_sample_cannot_call_significant_is_still_refused():
    """Ten judged shoppers, two of them served worse and none better: no significance,
    but a clear drop, which `max_drop` refuses."""
    frame = pl.DataFrame(
        {"user_id": [e["user_id"] for e in old_pattern() + new_pattern()],
         "item_id": [e["item_id"] for e in old_pattern() + new_pattern()],
         "event_type": "purchase",
         "ts": [e["timestamp"] * 1000 for e in old_pattern() + new_pattern()]}
    )
    cutoff = holdout_cutoff(frame, since_ms=(T0 + 100) * 1000, share=0.3)
    assert cutoff is not None
    good = ItemKNN().fit(frame.filter(pl.col("ts") <= cutoff).with_columns(pl.lit(1.0).alias("value")))
    tasks = judgement_tasks(frame, cutoff_ms=cutoff, limit=10)
    damaged_items = [history[0].item_id for history, _ in tasks[:2]]  # two judged shoppers' last items
    damaged = ItemKNN().fit(frame.filter((pl.col("ts") <= cutoff) & ~pl.col("item_id").is_in(damaged_items))
                            .with_columns(pl.lit(1.0).alias("value")))

    def verdict(max_drop: float):
        policy = RetrainPolicy(max_drop=max_drop, min_shoppers=10, max_shoppers=10)
        return judge(item_events=frame, candidate=damaged, serving=good, cutoff_ms=cutoff, policy=policy)

    loose = verdict(0.99)
    assert loose.shoppers == 10 and loose.candidate_ndcg < loose.serving_ndcg
    assert loose.ci_high >= 0 and loose.promote  # not significant on ten shoppers: the old rule promoted it
    drop = 1 - loose.candidate_ndcg / loose.serving_ndcg
    strict = verdict(drop / 2)
    assert not strict.promote and f"{drop:.0%} lower" in strict.reason and "allowed), not promoted" in strict.reason
