"""POST /v1/events with an event bus: 202 once the bus holds the events, the store has
them after the consumer's commit, rejects answered at once, 503 with Retry-After when
the bus is down (nothing acknowledged)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from cartwise.api import create_app
from cartwise.bus import open_bus
from cartwise.bus.consumer import EventConsumer
from cartwise.bus.publish import EventPublisher
from tests.bus.conftest import bus_url_for, remove_streams


def test_events_are_acknowledged_by_the_bus_and_stored_by_the_consumer(engine, bus_kind):
    url = bus_url_for(bus_kind)
    publisher = EventPublisher(open_bus(url, store_id=engine.store.store_id))
    consumer = EventConsumer(engine.store, open_bus(url, store_id=engine.store.store_id), wait_s=0.2)
    client = TestClient(create_app(engine, bus=publisher),
                        headers={"Authorization": f"Bearer {engine.create_key('events').secret}"})
    try:
        before = engine.store.stats().events
        sent = [{"user_id": "bus-shopper", "item_id": "teapot", "event_type": "purchase",
                 "timestamp": 1_700_500_000}, {"user_id": "bus-shopper", "event_type": "nope"}]
        response = client.post("/v1/events", json={"events": sent})
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["received"] == 2 and body["accepted"] == 1 and len(body["messages"]) == 1
        assert body["rejected"][0]["index"] == 1 and body["rejected"][0]["field"] == "event_type"
        assert engine.store.stats().events == before  # acknowledged by the bus, not yet stored
        consumer.start()
        deadline = time.monotonic() + 10
        while engine.store.stats().events == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.store.stats().events == before + 1
        assert engine.recommend("bus-shopper").items[0].item_id == "tea-cosy"
        all_bad = client.post("/v1/events", json={"events": [{"user_id": "", "event_type": "view"}]})
        assert all_bad.status_code == 422 and all_bad.json()["accepted"] == 0
    finally:
        consumer.stop()
        consumer.bus.close()
        publisher.close()
        remove_streams(url, engine.store.store_id)


def test_a_bus_that_is_down_answers_503_with_retry_after(engine, private_server):
    publisher = EventPublisher(open_bus(private_server.url, store_id=engine.store.store_id))
    client = TestClient(create_app(engine, bus=publisher),
                        headers={"Authorization": f"Bearer {engine.create_key('events').secret}"})
    event = {"user_id": "u", "item_id": "teapot", "event_type": "view", "timestamp": 1_700_500_000}
    assert client.post("/v1/events", json={"events": [event]}).status_code == 202
    private_server.stop()
    started = time.monotonic()
    response = client.post("/v1/events", json={"events": [event]})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1" and response.json()["error"] == "BusUnavailable"
    assert time.monotonic() - started < 15
    publisher.close()
