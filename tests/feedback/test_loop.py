"""The feedback loop end to end: answers carry a request_id, are logged as impressions,
and the events they lead to come back as rates per placement and model version."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.api import create_app
from cartwise.errors import ValidationError
from cartwise.feedback import Impression, ImpressionLog, ShownItem
from cartwise.store.migrations import SCHEMA_VERSION, SQLITE, migration_statements
from cartwise.store.sqlite import SQLiteStore


def _now() -> int:
    return int(time.time() * 1000)


def test_every_answer_is_logged_with_its_items_in_order(engine: Engine):
    recs = engine.recommend("tea-1", k=3)
    found = engine.search("mug", k=3, user_id="shopper-7")
    alike = engine.similar("teapot", k=3)
    ids = {recs.request_id, found.request_id, alike.request_id}
    assert None not in ids and len(ids) == 3
    engine.impressions.flush()
    heads = engine.store.impressions()
    assert set(heads["request_id"]) == ids
    row = heads.filter(pl.col("request_id") == found.request_id).row(0, named=True)
    assert row["placement"] == "search" and row["query"] == "mug" and row["user_id"] == "shopper-7"
    assert row["model_version"] == engine.model_info()["version"] and row["source"] == "engine"
    shown = engine.store.impression_items().filter(pl.col("request_id") == recs.request_id)
    assert shown["item_id"].to_list() == [item.item_id for item in recs.items]
    assert shown["position"].to_list() == [1, 2, 3]
    assert shown["stage"].to_list() == [item.stage for item in recs.items]


def test_tools_that_no_shopper_sees_log_nothing(engine: Engine):
    quiet = Engine(engine.store, log_impressions=False)
    answer = quiet.recommend("tea-1", k=3)
    assert answer.request_id  # still named, so a caller can report it with POST /v1/impressions
    batch = engine.recommend_batch(["tea-1", "mug-1"], k=3)
    assert [r.request_id for r in batch] == [None, None]
    engine.impressions.flush()
    assert engine.store.impressions().is_empty()
    mailed = engine.recommend_batch(["tea-1", "mug-1"], k=3, placement="email-weekly")
    engine.impressions.flush()
    assert engine.store.impressions()["placement"].to_list() == ["email-weekly", "email-weekly"]
    assert all(r.request_id for r in mailed)
    with pytest.raises(ValidationError, match="placement"):
        engine.recommend_batch(["tea-1"], placement="Email Weekly")


def test_rates_per_placement_with_intervals(engine: Engine):
    recs = engine.recommend("tea-1", k=4)
    found = engine.search("mug", k=2, user_id="shopper-7")
    engine.search("teapot", k=2)  # anonymous, never clicked
    t = _now() + 1000
    report = engine.add_events(
        [
            # Named: credited to the recommendation at position 2 (twice clicked: counted once).
            {"user_id": "tea-1", "item_id": recs.items[1].item_id, "event_type": "click", "timestamp": t,
             "request_id": recs.request_id, "position": 2},
            {"user_id": "tea-1", "item_id": recs.items[1].item_id, "event_type": "click", "timestamp": t + 1000,
             "request_id": recs.request_id, "position": 2},
            # Unnamed: the last answer that showed the item to shopper-7 (the search).
            {"user_id": "shopper-7", "item_id": found.items[0].item_id, "event_type": "add_to_cart",
             "timestamp": t + 2000},
            {"user_id": "shopper-7", "item_id": found.items[0].item_id, "event_type": "purchase",
             "timestamp": t + 3000},
        ]
    )
    assert report.rows_rejected == 0
    feedback = engine.feedback()
    assert feedback.impressions == 3 and feedback.items_shown == 8
    assert feedback.attributed == {"click": 2, "add_to_cart": 1, "purchase": 1}
    assert feedback.attributed_by == {"request_id": 2, "window": 2}
    groups = {g.placement: g for g in feedback.groups}
    assert groups["recommend"].ctr.count == 1 and groups["recommend"].items_shown == 4
    assert groups["recommend"].ctr.rate == pytest.approx(0.25)
    assert groups["recommend"].ctr.low < 0.25 < groups["recommend"].ctr.high
    assert groups["search"].ctr.count == 0 and groups["search"].add_to_cart_rate.count == 1
    assert groups["search"].conversion.count == 1 and groups["search"].answers == 2
    assert groups["search"].answer_ctr.count == 0
    assert feedback.ctr_by_position["2"].count == 1 and feedback.ctr_by_position["1"].count == 0
    by_variant = engine.feedback(by=("variant",))
    assert [g.variant for g in by_variant.groups] == [None]


def test_events_carry_request_id_and_position_and_bad_positions_are_rejected(engine: Engine):
    t = _now()
    report = engine.add_events(
        [
            {"user_id": "u", "item_id": "socks", "event_type": "click", "timestamp": t, "request_id": "abc",
             "position": "3"},
            {"user_id": "u", "item_id": "socks", "event_type": "click", "timestamp": t, "position": 0},
            {"user_id": "u", "item_id": "socks", "event_type": "click", "timestamp": t, "position": 1.5},
            {"user_id": "u", "item_id": "socks", "event_type": "click", "timestamp": t, "request_id": "a\x00b"},
        ]
    )
    assert report.rows_written == 1
    assert [(r.line, r.field) for r in report.rejects] == [(1, "position"), (2, "position"), (3, "request_id")]
    stored = engine.store.user_events("u").row(0, named=True)
    assert stored["request_id"] == "abc" and stored["position"] == 3


def test_client_impressions_are_validated_naming_the_record_and_field(engine: Engine):
    ids = engine.add_impressions(
        [{"placement": "home_top", "items": ["socks", "teapot"], "user_id": "u"}, {"placement": "cart",
         "items": ["mug-red"], "request_id": "mine-1", "timestamp": "2026-12-01T10:00:00Z"}]
    )
    assert len(ids) == 2 and ids[1] == "mine-1"
    with pytest.raises(ValidationError) as caught:
        engine.add_impressions([{"placement": "home_top", "items": ["socks"]}, {"placement": "Home Top", "items": []}])
    assert caught.value.field == "impressions[1].placement"
    with pytest.raises(ValidationError, match="impression 0: items"):
        engine.add_impressions([{"placement": "x", "items": ["ok", "bad\nid"]}])
    assert engine.store.impressions().height == 2  # nothing of a rejected batch was written


def test_http_impressions_feedback_and_user_ids(engine: Engine):
    keys = {scope: engine.create_key(scope).secret for scope in ("search", "events", "admin")}
    client = TestClient(create_app(engine))

    def auth(scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[scope]}"}

    found = client.get("/v1/search", params={"q": "mug", "k": 2, "user_id": "web-1"}, headers=auth("search")).json()
    alike = client.get("/v1/items/teapot/similar", params={"user_id": "web-1"}, headers=auth("search")).json()
    assert found["request_id"] and alike["request_id"]
    sent = client.post(
        "/v1/impressions", json={"impressions": [{"placement": "home_top", "items": ["socks"], "user_id": "web-1"}]},
        headers=auth("events"),
    )
    assert sent.status_code == 200 and len(sent.json()["request_ids"]) == 1
    bad = client.post("/v1/impressions", json={"impressions": [{"placement": "home_top"}]}, headers=auth("events"))
    assert bad.status_code == 422 and "items" in bad.text
    click = {"user_id": "web-1", "item_id": "socks", "event_type": "click", "timestamp": _now() + 500}
    assert client.post("/v1/events", json={"events": [click]}, headers=auth("events")).status_code == 200
    assert client.get("/v1/feedback", headers=auth("search")).status_code == 403
    body = client.get("/v1/feedback", params={"by": "placement"}, headers=auth("admin")).json()
    placements = {g["placement"]: g for g in body["groups"]}
    assert set(placements) == {"search", "similar", "home_top"}
    assert placements["home_top"]["ctr"]["count"] == 1 and body["attributed_by"]["window"] == 1


def test_impression_log_loses_nothing_on_close_and_keeps_a_failed_batch(tmp_path: Path):
    store = SQLiteStore(tmp_path / "store")
    log = ImpressionLog(store, flush_interval_s=60)  # nothing flushes on its own during the test
    for n in range(500):
        log.record(Impression(request_id=f"r{n}", ts=n, placement="search", items=(ShownItem("a"), ShownItem("b"))))
    assert log.pending == 500
    log.close()
    assert store.impressions().height == 500 and store.impression_items().height == 1000

    class BrokenOnce(SQLiteStore):
        fail = True

        def insert_impressions(self, impressions, items):
            if self.fail:
                self.fail = False
                raise sqlite3.OperationalError("disk I/O error")
            return super().insert_impressions(impressions, items)

    broken = BrokenOnce(tmp_path / "other")
    log = ImpressionLog(broken, flush_interval_s=60)
    log.record(Impression(request_id="x", ts=1, placement="search"))
    with pytest.raises(sqlite3.OperationalError):
        log.flush()
    assert log.pending == 1
    log.close()
    assert broken.impressions()["request_id"].to_list() == ["x"]
    with pytest.raises(RuntimeError, match="closed"):
        log.record(Impression(request_id="y", ts=2, placement="search"))


def test_background_flush_writes_within_a_second(tmp_path: Path):
    store = SQLiteStore(tmp_path / "store")
    log = ImpressionLog(store, flush_interval_s=0.05, idle_stop_s=0.2)
    log.record(Impression(request_id="r", ts=1, placement="search", items=(ShownItem("a"),)))
    deadline = time.monotonic() + 1.0
    while store.impressions().is_empty() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.impressions().height == 1
    time.sleep(0.5)  # the idle flusher stops; the next record starts it again
    log.record(Impression(request_id="s", ts=2, placement="search"))
    deadline = time.monotonic() + 1.0
    while store.impressions().height < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.impressions().height == 2
    assert not any(t.name == "cartwise-impressions" and not t.daemon for t in threading.enumerate())
    log.close()


def test_a_store_of_the_previous_schema_upgrades_in_place(tmp_path: Path):
    folder = tmp_path / "old"
    folder.mkdir()
    conn = sqlite3.connect(folder / "cartwise.db")
    for statement in [*migration_statements(0, SQLITE), *migration_statements(1, SQLITE)]:
        conn.execute(statement)
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2'), ('store_id', 'old'), "
                 "('catalog_version', '0'), ('events_version', '0')")
    conn.execute("INSERT INTO events (event_key, user_id, item_id, event_type, ts) VALUES (1, 'u', 'a', 'view', 5)")
    conn.commit()
    conn.close()
    store = SQLiteStore(folder, create=False)
    assert store.stats().schema_version == SCHEMA_VERSION and store.store_id == "old"
    row = store.events().row(0, named=True)
    assert row["item_id"] == "a" and row["request_id"] is None and row["position"] is None
    assert store.impressions().is_empty()
