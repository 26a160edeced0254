"""Duplicates, re-runs, unknown items and bots."""

import json

import pytest

from cartwise.errors import ValidationError
from cartwise.ingest import ingest_event_records, ingest_events, ingest_item_records, ingest_items
from tests.ingest.samples import EVENTS_CSV, ITEMS_CSV


def snapshot(store):
    stats = store.stats()
    return stats, store.versions(), store.items().rows(), store.events(exclude_flagged=False).sort("event_key").rows()


def test_rerunning_the_same_ingest_changes_nothing(store, write):
    items, events = write("items.csv", ITEMS_CSV), write("events.csv", EVENTS_CSV)
    first_items, first_events = ingest_items(store, items), ingest_events(store, events)
    assert first_items.rows_written == 3 and first_events.rows_written == 4
    before = snapshot(store)
    again_items, again_events = ingest_items(store, items), ingest_events(store, events)
    assert (again_items.rows_written, again_items.rows_duplicate) == (0, 3)
    assert (again_events.rows_written, again_events.rows_duplicate) == (0, 4)
    assert snapshot(store) == before
    assert [run.kind for run in store.ingest_runs()] == ["events", "items", "events", "items"]


def test_duplicate_events_within_a_file(store, write):
    lines = EVENTS_CSV.splitlines()
    content = "\n".join(lines + lines[1:3] + [lines[1].replace("s1", "s2")]) + "\n"
    report = ingest_events(store, write("events.csv", content))
    assert (report.rows_read, report.rows_written, report.rows_duplicate) == (7, 5, 2)


def test_event_id_makes_resends_idempotent(store):
    event = {"user_id": "c", "item_id": "teapot", "event_type": "click", "timestamp": 1_700_000_000, "event_id": "e-1"}
    assert ingest_event_records(store, [event]).rows_written == 1
    # The same id with other content (a retry that re-stamped the time) is still the same event.
    again = ingest_event_records(store, [event | {"timestamp": 1_700_000_005}])
    assert (again.rows_written, again.rows_duplicate) == (0, 1)
    # Without ids, identical content is a duplicate, different content is not.
    plain = {k: v for k, v in event.items() if k != "event_id"}
    assert ingest_event_records(store, [plain, plain]).rows_written == 1
    assert ingest_event_records(store, [plain | {"value": 2}]).rows_written == 1
    assert store.stats().events == 3


def test_items_last_row_wins_and_identical_upserts_write_nothing(store, write):
    content = "item_id,title,price\na,First,1\nb,Bee,2\na,Second,3\n"
    report = ingest_items(store, write("items.csv", content))
    assert (report.rows_read, report.rows_written, report.rows_duplicate, report.rows_rejected) == (3, 2, 1, 0)
    assert store.get_items(["a"]).select("title", "price").row(0) == ("Second", 3.0)
    version = store.versions()[0]
    same = ingest_item_records(store, [{"item_id": "a", "title": "Second", "price": 3}])
    assert (same.rows_written, same.rows_duplicate) == (0, 1) and store.versions()[0] == version
    changed = ingest_item_records(store, [{"item_id": "a", "title": "Second", "price": 3.5}])
    assert changed.rows_written == 1 and store.versions()[0] == version + 1


def test_unknown_items_keep_or_reject(store, write):
    ingest_item_records(store, [{"item_id": "mug-red", "title": "Red mug"}])
    path = write("events.csv", EVENTS_CSV)
    rejected = ingest_events(store, path, unknown_items="reject")
    assert rejected.rows_written == 3 and rejected.warnings == 0
    assert [(r.line, r.field, r.reason, r.value) for r in rejected.rejects] == [
        (5, "item_id", "item_id is not in the catalog", "teapot")
    ]
    kept = ingest_events(store, path, unknown_items="keep")
    assert (kept.rows_written, kept.rows_duplicate, kept.warnings) == (1, 3, 1)
    assert "teapot" in set(store.events()["item_id"])
    with pytest.raises(ValidationError, match="unknown_items"):
        ingest_events(store, path, unknown_items="drop")  # type: ignore[arg-type]


def _burst(user, count, *, start=1_700_000_000_000, step_ms=500, event_type="view", session=None):
    return [
        {"user_id": user, "item_id": f"i{k}", "event_type": event_type, "timestamp": start + k * step_ms,
         "session_id": session}
        for k in range(count)
    ]


def test_bots_are_flagged_and_kept(store, write):
    events = _burst("bot", 90) + _burst("person", 30, step_ms=20_000) + _burst("steady", 200, step_ms=1_500)
    path = write("events.jsonl", "\n".join(json.dumps(e) for e in events))
    report = ingest_events(store, path, bot_events_per_minute=60)
    assert report.flagged_users == ["bot"]
    flagged = store.flagged_users()
    assert flagged["user_id"].to_list() == ["bot"] and flagged["peak_per_minute"].item() == 90
    assert store.stats().events == len(events)  # kept, only excluded from training
    assert "bot" not in set(store.events()["user_id"])
    before = snapshot(store)
    assert ingest_events(store, path).flagged_users == ["bot"]
    assert snapshot(store) == before
    stricter = ingest_events(store, path, bot_events_per_minute=39)  # "steady" peaks at 40
    assert stricter.flagged_users == ["bot", "steady"]


def test_an_order_with_many_lines_is_one_action(store):
    order = _burst("wholesaler", 150, step_ms=0, event_type="purchase", session="inv-1")
    report = ingest_event_records(store, order)
    assert report.rows_written == 150 and report.flagged_users == []
    clicks = _burst("clicker", 150, step_ms=100, event_type="click", session="s")
    assert ingest_event_records(store, clicks).flagged_users == ["clicker"]


def test_bot_threshold_must_be_positive(store, write):
    with pytest.raises(ValidationError, match="bot_events_per_minute"):
        ingest_events(store, write("events.csv", EVENTS_CSV), bot_events_per_minute=0)
