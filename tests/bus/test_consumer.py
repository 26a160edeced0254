"""The consumer on real Redis Streams and NATS JetStream: every accepted event stored
exactly once, poison parked with a reason and never blocking, offsets kept across a
restart, a crashed consumer's batch taken over and not stored twice."""

from __future__ import annotations

import time

import pytest

from cartwise.bus import open_bus
from cartwise.bus.consumer import EventConsumer
from cartwise.bus.publish import EventPublisher
from cartwise.errors import BusUnavailable, ValidationError


def events(n: int, *, user: str = "u", start: int = 0) -> list[dict]:
    return [{"user_id": f"{user}{i % 7}", "item_id": f"item-{i % 13}", "event_type": "view",
             "timestamp": 1_700_000_000 + start + i} for i in range(n)]


def test_accepted_events_are_stored_once_and_resends_are_duplicates(store, bus_url):
    publisher = EventPublisher(open_bus(bus_url, store_id=store.store_id))
    accepted = publisher.add_events(events(50))
    assert (accepted.received, accepted.accepted, accepted.rejects) == (50, 50, [])
    publisher.add_events(events(50))  # the same batch again: same keys
    consumer = EventConsumer(store, open_bus(bus_url, store_id=store.store_id), batch=10)
    totals = consumer.drain()
    assert (totals.messages, totals.stored, totals.duplicates, totals.parked) == (2, 50, 50, 0)
    assert store.stats().events == 50
    assert publisher.bus.backlog() == 0
    publisher.close()
    consumer.bus.close()


def test_a_big_batch_is_split_into_messages_the_bus_takes(store, bus_url):
    publisher = EventPublisher(open_bus(bus_url, store_id=store.store_id), message_bytes=4096)
    accepted = publisher.add_events(events(300))
    assert accepted.accepted == 300 and len(accepted.message_ids) > 5
    consumer = EventConsumer(store, open_bus(bus_url, store_id=store.store_id))
    assert consumer.drain().stored == 300
    assert store.stats().events == 300
    publisher.close()
    consumer.bus.close()


def test_poison_is_parked_with_its_reason_and_the_stream_goes_on(store, bus_url):
    bus = open_bus(bus_url, store_id=store.store_id)
    publisher = EventPublisher(bus)
    store.upsert_items(__import__("polars").DataFrame(
        {"item_id": ["item-1"], "title": ["A thing"]}).pipe(_items))
    bus.append(b"not json at all")
    publisher.add_events(events(3, user="before"))
    publisher.add_events([{"user_id": "x", "item_id": "nowhere", "event_type": "view", "timestamp": 1_700_000_000},
                          {"user_id": "x", "item_id": "item-1", "event_type": "view", "timestamp": 1_700_000_001}],
                         unknown_items="reject")
    publisher.add_events(events(4, user="after", start=100))
    consumer = EventConsumer(store, open_bus(bus_url, store_id=store.store_id))
    totals = consumer.drain()
    assert totals.parked == 2 and totals.stored == 3 + 1 + 4
    letters = bus.dead_letters()
    reasons = sorted(letter.reason for letter in letters)
    assert reasons[0].startswith("item_id: item_id is not in the catalog") and reasons[1].startswith("not JSON")
    unknown = next(letter for letter in letters if "catalog" in letter.reason)
    assert b'"nowhere"' in unknown.payload and "#0" in unknown.source_id
    assert bus.backlog() == 0
    bus.close()
    consumer.bus.close()


def _items(frame):
    from cartwise.store.frames import ITEM_SCHEMA, conform

    return conform(frame, ITEM_SCHEMA)


def test_a_restarted_consumer_resumes_from_its_offset(store, bus_url):
    publisher = EventPublisher(open_bus(bus_url, store_id=store.store_id))
    publisher.add_events(events(20))
    first = EventConsumer(store, open_bus(bus_url, store_id=store.store_id), name="c1")
    first.drain()
    first.bus.close()
    publisher.add_events(events(15, user="later", start=1000))
    again = EventConsumer(store, open_bus(bus_url, store_id=store.store_id), name="c1")
    totals = again.drain()
    assert (totals.messages, totals.stored, totals.duplicates) == (1, 15, 0)
    assert store.stats().events == 35
    publisher.close()
    again.bus.close()


def test_a_batch_held_by_a_crashed_consumer_is_taken_over_and_stored_once(store, bus_url):
    """A consumer stored a batch and died before acknowledging it: after the reclaim time
    (1 s here) another consumer gets it again; its events are already stored, so they
    count as duplicates and the store holds each once."""
    publisher = EventPublisher(open_bus(bus_url, store_id=store.store_id))
    publisher.add_events(events(30))
    crashed_bus = open_bus(bus_url, store_id=store.store_id)
    held = crashed_bus.receive(consumer="crashed", count=10, wait_s=1)
    assert len(held) == 1
    from cartwise.bus.messages import decode
    from cartwise.ingest.pipeline import store_checked_events
    from cartwise.ingest.report import LINE

    rows = decode(held[0].payload).rows.rename({"line": LINE})
    assert store_checked_events(store, rows).rows_written == 30  # committed, then "killed": no ack
    crashed_bus.close()
    survivor = EventConsumer(store, open_bus(bus_url, store_id=store.store_id), name="survivor")
    deadline = time.monotonic() + 15
    while survivor.totals.messages == 0 and time.monotonic() < deadline:
        survivor.poll()
    assert (survivor.totals.messages, survivor.totals.stored, survivor.totals.duplicates) == (1, 0, 30)
    assert store.stats().events == 30
    assert survivor.bus.backlog() == 0
    publisher.close()
    survivor.bus.close()


def test_bad_urls_and_options_are_clear_errors(bus_kind):
    with pytest.raises(ValidationError, match="not an event bus URL"):
        open_bus("kafka://127.0.0.1:9092", store_id="abc")
    with pytest.raises(ValidationError, match="reclaim_after"):
        open_bus(f"{bus_kind}://127.0.0.1:1?reclaim_after=never", store_id="abc")
    with pytest.raises(BusUnavailable):
        open_bus(f"{bus_kind}://127.0.0.1:1", store_id="abc")
