"""Events change the answers as they are accepted, with no `train`: a co-purchase moves
similar items and the recommendations of shoppers with a related history, a purchase moves
what is popular; a re-send changes nothing; a new model version absorbs what the deltas
held (nothing is counted twice) and keeps what it did not see."""

from __future__ import annotations

import polars as pl

from cartwise import Engine
from cartwise.online import OnlineLayer
from cartwise.serving import Cascade, Pipeline, Request, Tier

T = 1_700_000_000 + 10_000  # after the planted events (seconds)


def _co_purchases(n: int, first: str, second: str, *, prefix: str = "fan") -> list[dict]:
    events = []
    for u in range(n):
        events += [
            {"user_id": f"{prefix}-{u}", "item_id": first, "event_type": "purchase", "timestamp": T + 10 * u},
            {"user_id": f"{prefix}-{u}", "item_id": second, "event_type": "purchase", "timestamp": T + 10 * u + 1},
        ]
    return events


def _ids(response) -> list[str]:
    return [i.item_id for i in response.items]


def _together(response) -> list[str]:
    """Items of a similar-items answer that co-occurrence proposed (not text alone)."""
    return [i.item_id for i in response.items if "together" in i.stage]


def test_a_co_purchase_changes_similar_items_and_recommendations_at_once(engine: Engine):
    assert "dress-red" not in _together(engine.similar("teapot", k=5))
    before = engine.recommend("tea-3", k=5)
    assert all(i.stage != "recent_together" for i in before.items)
    report = engine.add_events(_co_purchases(3, "teapot", "dress-red"))
    assert report.rows_written == 6
    similar = engine.similar("teapot", k=5)
    assert "dress-red" in _together(similar)
    # A shopper who bought the teapot before, and did nothing since, is offered the dress.
    recs = engine.recommend("tea-3", k=5)
    assert _ids(recs)[0] == "dress-red"  # before: the last popular fallbacks
    item = recs.items[0]
    assert item.stage == "recent_together" and "Glass teapot" in item.reason
    # Re-sending the same events is a duplicate: the deltas do not move.
    state = engine.state
    assert state is not None and state.online is not None
    learned = state.online
    assert engine.add_events(_co_purchases(3, "teapot", "dress-red")).rows_written == 0
    assert engine.state.online is learned


def test_purchases_change_what_is_popular_at_once(engine: Engine):
    before = _ids(engine.recommend("newcomer", k=3))
    assert before[0] == "socks" and "mug-red" not in before
    engine.add_events([
        {"user_id": f"buyer-{u}", "item_id": "mug-red", "event_type": "purchase", "timestamp": T + u}
        for u in range(80)
    ])
    assert _ids(engine.recommend("newcomer", k=3))[0] == "mug-red"
    # What runs hot today, as the `trending` stage shows it: only what was learned online.
    trend = Pipeline(Cascade(tiers=(Tier(("trending",)),)))
    shown = trend.answer(Request(state=engine.state, k=3))
    assert [i.item_id for i in shown] == ["mug-red"] and shown[0].reason == "trending with shoppers today"


def test_train_absorbs_the_deltas_without_counting_twice(engine: Engine):
    engine.add_events(_co_purchases(3, "teapot", "dress-red"))
    assert "dress-red" in _together(engine.similar("teapot", k=5))
    assert engine.state.online.events == 6
    engine.train(encoder=None)
    state = engine.state
    assert state.online is not None and state.online.events == 0 and not state.online.together.pairs
    assert state.online.model_version == state.models.version
    # The pair now comes from the model alone, its score the model's (not model + delta).
    model_only = state.models.itemknn.similar(["teapot"], k=10)[0]
    assert "dress-red" in [s.item_id for s in model_only]
    answer = engine.similar("teapot", k=5)
    assert _together(answer) == [s.item_id for s in model_only if s.item_id in _together(answer)]
    # New events after the train are learned on top of the new version.
    engine.add_events(_co_purchases(2, "teapot", "mug-red", prefix="late"))
    assert engine.state.online.events == 4 and engine.state.online.model_version == state.models.version


def test_rebase_keeps_only_batches_the_model_did_not_read(engine: Engine):
    layer = OnlineLayer(engine.store)
    layer.rebase(model_version="v1", events_version=4, anchor_ms=0, half_life_days=30.0)
    frame = pl.DataFrame({
        "event_key": [1, 2], "user_id": ["a", "a"], "item_id": ["teapot", "socks"],
        "event_type": ["purchase", "purchase"], "ts": [1000, 2000],
    })
    assert layer.learn(frame, tag=5).events == 2
    assert layer.learn(frame.with_columns(pl.Series("event_key", [3, 4]), pl.col("ts") + 86_400_000 * 2), tag=7)
    assert layer.rebase(model_version="v2", events_version=5, anchor_ms=0, half_life_days=30.0).events == 2
    assert layer.rebase(model_version="v3", events_version=7, anchor_ms=0, half_life_days=30.0).events == 0
    # A flagged shopper teaches nothing.
    assert layer.learn(frame.with_columns(pl.lit("bot").alias("user_id")), flagged=["bot"], tag=8).events == 0


def test_events_another_process_stores_reach_this_ones_answers_within_a_second(engine: Engine):
    """Servers sharing a store follow its events log: a co-purchase stored by another
    process changes this one's similar items within a second (the follower polls every
    0.2 s), and a server started later catches up on what it missed since the train."""
    import json
    import subprocess
    import sys
    import time

    engine.follow()
    assert "dress-red" not in _together(engine.similar("teapot", k=5))
    events = json.dumps(_co_purchases(3, "teapot", "dress-red"))
    script = (
        "import json, sys\n"
        "from cartwise import Engine\n"
        "engine = Engine.open(sys.argv[1], create=False, log_impressions=False)\n"
        "print(engine.add_events(json.loads(sys.argv[2])).rows_written)\n"
    )
    other = subprocess.run([sys.executable, "-c", script, str(engine.store.path), events],
                           capture_output=True, text=True, timeout=120, check=False)
    stored_at = time.monotonic()
    assert other.returncode == 0 and other.stdout.strip() == "6", other.stderr
    # Watching the published state, not asking (a request would read the log itself).
    while engine.state.online.events < 6:
        assert time.monotonic() - stored_at < 1.0, "another process's events did not reach the answers in 1 s"
        time.sleep(0.02)
    assert "dress-red" in _together(engine.similar("teapot", k=5))
    # A server started after those events (no train since) learns them as it loads.
    later = Engine.open(engine.store.path, create=False)
    try:
        assert "dress-red" in _together(later.similar("teapot", k=5))
        assert later.state.online.events == 6
    finally:
        later.close()


def test_purchases_change_what_is_popular_in_a_category_at_once(engine: Engine):
    """Category popularity (what fills similar items) adds the counts learned online, for
    items of the category and its levels below only."""
    from cartwise.online.answers import popular

    def in_kitchen() -> list[str]:
        state = engine.state
        catalog = state.catalog
        found = popular(state.models.popularity, state.online, 4, category="home > KITCHEN",
                        category_of=lambda i: catalog.get(i).category if catalog.get(i) else None)
        assert all(s.reason == "popular in Home > Kitchen" for s in found)
        return [s.item_id for s in found]

    before = in_kitchen()
    last = before[-1]
    assert len(before) == 4 and "dress-red" not in before
    engine.add_events([{"user_id": f"fan-{u}", "item_id": item, "event_type": "purchase", "timestamp": T + u}
                       for u in range(80) for item in (last, "dress-red")])
    after = in_kitchen()
    assert after[0] == last and "dress-red" not in after  # a dress is not in the kitchen
