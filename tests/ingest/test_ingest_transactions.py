"""A crash or Ctrl-C in the middle of an ingest leaves the store as it was."""

import json

import pytest

from cartwise.ingest import ingest_events, ingest_items
from tests.ingest.samples import EVENTS_CSV, ITEMS_CSV


def snapshot(store):
    return (
        store.stats(),
        store.versions(),
        store.items().rows(),
        store.events(exclude_flagged=False).sort("event_key").rows(),
        store.flagged_users().rows(),
        store.ingest_runs(),
        sorted(p.name for p in store.workspace.reports_dir.iterdir()),
    )


def events_with_a_bot_and_a_reject(write):
    bot = [
        {"user_id": "bot", "item_id": f"i{k}", "event_type": "view", "timestamp": 1_700_000_000_000 + k * 100}
        for k in range(80)
    ]
    lines = [json.dumps(e) for e in bot] + ['{"user_id": "x", "event_type": "teleport"}']
    return write("events.jsonl", "\n".join(lines))


def test_ctrl_c_during_the_writes_rolls_everything_back(store, write):
    ingest_items(store, write("items.csv", ITEMS_CSV))
    before = snapshot(store)

    def interrupt(done, total):
        if done == total:  # reached only after the events were inserted
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_events(store, events_with_a_bot_and_a_reject(write), on_progress=interrupt)
    assert snapshot(store) == before


@pytest.mark.parametrize("method", ["insert_events", "flag_users", "record_ingest"])
def test_a_crash_after_some_writes_rolls_everything_back(store, write, monkeypatch, method):
    ingest_items(store, write("items.csv", ITEMS_CSV))
    ingest_events(store, write("first.csv", EVENTS_CSV))
    before = snapshot(store)
    real = getattr(store, method)

    def crash(*args, **kwargs):
        real(*args, **kwargs)  # the write happens, then the process "dies"
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, method, crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest_events(store, events_with_a_bot_and_a_reject(write))
    monkeypatch.undo()
    assert snapshot(store) == before
    # Nothing half-done blocks the next attempt.
    report = ingest_events(store, events_with_a_bot_and_a_reject(write))
    assert report.rows_written == 80 and report.flagged_users == ["bot"]


def test_a_crash_while_upserting_items_rolls_back(store, write, monkeypatch):
    ingest_items(store, write("items.csv", ITEMS_CSV))
    before = snapshot(store)
    changed = write("changed.csv", ITEMS_CSV.replace("Red mug", "Crimson mug") + "new,New item,1,,,,\n")
    real = store.record_ingest

    def crash(run):
        real(run)
        raise RuntimeError("power cut")

    monkeypatch.setattr(store, "record_ingest", crash)
    with pytest.raises(RuntimeError):
        ingest_items(store, changed)
    assert snapshot(store) == before


def test_progress_reaches_the_total(store, write):
    calls = []
    report = ingest_events(store, write("events.csv", EVENTS_CSV), on_progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert report.rows_read == 4
