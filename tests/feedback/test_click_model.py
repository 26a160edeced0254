"""The store's click model: point-in-time features, learnt from the events (or from the
impression log once it holds clicks), judged against logistic regression, served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cartwise import Engine
from cartwise.errors import NotTrained
from cartwise.feedback.features import point_in_time
from cartwise.serving.sponsored import Sponsored
from cartwise.serving.stage import Candidate, Request
from cartwise.serving.candidates import History
from cartwise.recommend import Scored

DAY = 86_400_000
T = 1_700_000_000_000
CATEGORIES = 6


def test_features_use_only_what_was_known_before_the_moment():
    events = pl.DataFrame({
        "user_id": ["u", "u", "u", "v", "v"], "item_id": ["a", "b", "c", "a", "a"], "event_type": ["view"] * 5,
        "ts": [1 * DAY, 2 * DAY, 3 * DAY, 1 * DAY + 5, 40 * DAY],
    })
    items = pl.DataFrame(
        {"item_id": ["a", "b", "c"], "category": ["X > 1", "X", "Y"], "brand": ["B", None, "C"],
         "price": [1.0, 2.0, None], "created_at": [None, 0, None]},
        schema_overrides={"created_at": pl.Int64},
    )
    rows = pl.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["c", "a", "c"], "ts": [3 * DAY, 10 * DAY, 41 * DAY]})
    out = point_in_time(rows, events, items, vectors={"a": np.array([1.0, 0]), "b": np.array([0.0, 1]),
                                                       "c": np.array([0.6, 0.8])})
    assert out["user_events"].to_list() == [2, 3, 2]  # the event at the same moment is not "before"
    assert out["user_recency_h"].to_list() == [24.0, 168.0, 24.0]
    assert out["user_category_share"].to_list() == pytest.approx([0.0, 2 / 3, 0.0])
    assert out["item_events"].to_list() == [0, 2, 1]
    assert out["item_age_days"].to_list() == pytest.approx([0.0, 9.0, 38.0])
    assert out["history"].to_list() == [["a", "b"], ["a", "b", "c"], ["a", "a"]]
    assert out["text_similarity"].to_list() == pytest.approx([0.8, 0.6, 0.6])
    assert out["price_vs_category"].to_list()[1] == pytest.approx(1 / 1.5)


def _planted(tmp_path: Path, users: int = 700) -> Engine:
    """Each shopper keeps to a favourite category (80% of their views)."""
    rng = np.random.default_rng(0)
    engine = Engine.open(tmp_path / "store")
    engine.upsert_items([{"item_id": f"i{c}-{n}", "title": f"thing {c} {n}", "category": f"C{c}",
                          "price": float(1 + n % 7)} for c in range(CATEGORIES) for n in range(30)])
    events = []
    for u in range(users):
        favourite, start = int(rng.integers(CATEGORIES)), T + int(rng.integers(0, 60 * DAY))
        for j in range(int(rng.integers(3, 8))):
            c = favourite if rng.random() < 0.8 else int(rng.integers(CATEGORIES))
            events.append({"user_id": f"u{u}", "item_id": f"i{c}-{rng.integers(30)}", "event_type": "view",
                           "timestamp": (start + j * 3_600_000) // 1000})
    assert engine.add_events(events).rows_rejected == 0
    return engine


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = _planted(tmp_path_factory.mktemp("clicks"))
    engine.train(encoder=None)
    return engine


def test_without_logged_clicks_the_events_teach_it_and_it_beats_chance(planted: Engine):
    report = planted.model_info()["clicks"]
    assert report["source"] == "events" and report["test_positives"] >= 20
    assert report["model_scores"]["auc"] > 0.7 and report["baseline"] == "logistic"
    # The reliability curve of the held-out rows: every row in one bin, rates that are rates.
    curve = report["model_scores"]["reliability"]
    assert len(curve) >= 3 and sum(b["count"] for b in curve) == report["test_rows"]
    assert all(0 <= b["mean_predicted"] <= 1 and 0 <= b["observed_rate"] <= 1 for b in curve)
    assert curve[0]["observed_rate"] < curve[-1]["observed_rate"]  # it tells likely clicks apart
    operations = planted.insights.operations(model=planted.model_info())
    assert operations.click_model is not None and operations.click_model["model_scores"]["reliability"] == curve
    history = planted.store.user_events("u1", limit=50)
    favourite = history["item_id"].str.split("-").list.first().mode().to_list()[0]
    other = f"i{(int(favourite[1:]) + 1) % CATEGORIES}"
    answer = planted.predict_clicks("u1", [f"{favourite}-29", f"{other}-29"])
    first, second = (item.probability for item in answer.items)
    assert answer.source == "events" and first > 2 * second


def test_the_sponsored_slot_asks_the_click_model(planted: Engine):
    request = Request(state=planted.state, k=10, history=[])
    ranked = [Candidate(Scored(item_id=f"i0-{n}", score=1.0 - n / 100, reason=""), History()) for n in range(6)]
    planted.upsert_items([{"item_id": "i0-4", "title": "thing 0 4", "category": "C0", "price": 5.0,
                           "attributes": {"bid": 1.0}}])
    planted.refresh()
    request = Request(state=planted.state, k=10, history=[])
    chosen = [c.scored.item_id for c in Sponsored().apply(request, iter(ranked)) if c.label == "sponsored"]
    assert chosen == ["i0-4"] and request.notes["sponsored"]["ctr_from"] == "click model"


def test_logged_clicks_teach_it_once_there_are_enough(tmp_path: Path):
    engine = _planted(tmp_path, users=400)
    rng = np.random.default_rng(1)
    clicks, shown = [], []
    for u in range(400):
        user = f"u{u}"
        favourite = engine.store.user_events(user, limit=50)["item_id"].str.split("-").list.first().mode()[0]
        items = [f"i{c}-{rng.integers(30)}" for c in rng.permutation(CATEGORIES)[:5]]
        shown.append({"placement": "home_top", "items": items, "user_id": user, "timestamp": (T + 70 * DAY) // 1000})
        for position, item in enumerate(items, start=1):
            if item.startswith(favourite + "-") and rng.random() < 0.7:
                clicks.append((user, item, position))
    ids = engine.add_impressions(shown)
    by_user = dict(zip([s["user_id"] for s in shown], ids, strict=True))
    engine.add_events([{"user_id": u, "item_id": i, "event_type": "click", "timestamp": (T + 70 * DAY) // 1000 + 60,
                        "request_id": by_user[u], "position": p} for u, i, p in clicks])
    assert len(clicks) >= 200
    report = engine.train(encoder=None).clicks
    assert report is not None and report.source == "impressions" and report.model_scores.auc > 0.75


def test_a_small_store_has_no_click_model_and_says_why(engine: Engine):
    with pytest.raises(NotTrained, match="no click model"):
        engine.predict_clicks("tea-1", ["teapot"])
