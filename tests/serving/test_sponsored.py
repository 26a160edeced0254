"""The sponsored slot: filled by bid x predicted CTR among relevant candidates only,
labelled, never above the organic places, and reported apart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cartwise import Engine
from tests.conftest import CATALOG
from cartwise.recommend import Scored
from cartwise.serving.candidates import History
from cartwise.serving.sponsored import Sponsored, relevance
from cartwise.serving.stage import Candidate, Request

SCORES = {"a": 1.0, "b": 0.9, "c": 0.8, "d": 0.7, "e": 0.6, "f": 0.3, "g": 0.1}


def _bid(engine: Engine, bids: dict[str, float]) -> None:
    """Exactly these bids (every other item of the shop: none)."""
    engine.upsert_items([{"item_id": i, "title": f"Item {i}", "attributes": json.dumps({"bid": bids.get(i, 0)})}
                         for i in [*SCORES, "lonely"]])
    engine.refresh()


@pytest.fixture
def shop(tmp_path: Path) -> Engine:
    engine = Engine.open(tmp_path / "store")
    engine.upsert_items([{"item_id": i, "title": f"Item {i}"} for i in [*SCORES, "lonely"]])
    engine.add_events([{"user_id": "u", "item_id": "a", "event_type": "view", "timestamp": 1_700_000_000}])
    engine.train(encoder=None)
    return engine


def _slot(engine: Engine, bids: dict[str, float], *, chosen: int = 0) -> list[tuple[str, str]]:
    """The stage's order of the ranked candidates a..g under `bids`, as (item, label)."""
    _bid(engine, bids)
    request = Request(state=engine.state, k=10)
    request.chosen.extend(Candidate(Scored(item_id=f"x{n}", score=1.0, reason=""), History()) for n in range(chosen))
    ranked = (Candidate(Scored(item_id=i, score=s, reason=""), History()) for i, s in SCORES.items())
    return [(c.scored.item_id, c.label) for c in Sponsored().apply(request, ranked)]


def test_the_ad_with_the_best_bid_times_ctr_takes_the_third_place(shop: Engine):
    order = _slot(shop, {"d": 0.5, "e": 1.0, "lonely": 99.0})  # e: 1.0 x 0.6 beats d: 0.5 x 0.7
    assert order == [("a", "history"), ("b", "history"), ("e", "sponsored"), ("c", "history"),
                     ("d", "history"), ("f", "history"), ("g", "history")]


def test_the_relevance_floor_and_the_organic_places(shop: Engine):
    # g is 0.1 against the displaced c's 0.8: under half as relevant, however high its bid;
    # a and b hold the organic places; lonely was never a candidate.
    assert all(label == "history" for _, label in _slot(shop, {"a": 9.0, "b": 9.0, "g": 500.0, "lonely": 9.0}))
    # f (0.3) is not half as relevant as c (0.8) either; e (0.6) is.
    assert ("f", "sponsored") not in _slot(shop, {"f": 100.0})
    assert ("e", "sponsored") in _slot(shop, {"e": 0.01})
    # Later tiers: with two items already chosen, the slot is the tier's first place.
    assert _slot(shop, {"c": 1.0}, chosen=2)[0] == ("c", "sponsored")
    assert relevance([-1.0, 0.0, 1.0]).tolist() == [0.0, 0.5, 1.0]


def test_without_bids_answers_do_not_change(shop: Engine):
    before = shop.recommend("u", k=5).model_dump(exclude={"took_ms", "request_id"})
    _bid(shop, {"lonely": 9.0})
    after = shop.recommend("u", k=5).model_dump(exclude={"took_ms", "request_id"})
    assert after == before and not any(item["sponsored"] for item in after["items"])


def test_a_sponsored_answer_is_labelled_logged_and_reported_apart(engine: Engine):
    ids = [i.item_id for i in engine.recommend("tea-1", k=5).items]
    engine.upsert_items([{**item, "attributes": json.dumps({"bid": 2.0})} for item in CATALOG if item["item_id"] == ids[2]])
    engine.refresh()
    answer = engine.recommend("tea-1", k=5)
    ad = answer.items[2]
    assert ad.item_id == ids[2] and ad.sponsored and ad.stage == "sponsored" and ad.reason.startswith("sponsored; ")
    now = int(time.time() * 1000) + 500
    engine.add_events([
        {"user_id": "tea-1", "item_id": ad.item_id, "event_type": "click", "timestamp": now,
         "request_id": answer.request_id, "position": 3},
        {"user_id": "tea-1", "item_id": ids[0], "event_type": "click", "timestamp": now + 1},
    ])
    report = engine.feedback()
    assert report.sponsored["sponsored"].count == 1 and report.sponsored["sponsored"].rate == 1.0
    organic_shown = report.items_shown - 1  # two answers of five items, one of them the ad
    assert report.sponsored["organic"].count == 1 and report.sponsored["organic"].rate == pytest.approx(1 / organic_shown)


def test_a_search_page_has_the_slot_too(engine: Engine):
    organic = engine.search("mug tea", k=5, mode="lexical")
    ids = [i.item_id for i in organic.items]
    share = relevance([i.score for i in organic.items])
    assert len(ids) >= 4 and share[3] >= Sponsored.floor * share[2]
    card = next(item for item in CATALOG if item["item_id"] == ids[3])
    engine.upsert_items([{**card, "attributes": json.dumps({"bid": 1.0})}])
    engine.refresh()
    answer = engine.search("mug tea", k=5, mode="lexical")
    shown = [(i.item_id, i.sponsored) for i in answer.items]
    assert shown[:4] == [(ids[0], False), (ids[1], False), (ids[3], True), (ids[2], False)]
    assert answer.items[2].reason.startswith("sponsored; matches ")
