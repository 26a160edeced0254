"""GET /metrics with an event bus: the bus's queue depth (messages appended and not yet
acknowledged by a consumer) as a gauge, 0 once a consumer drained it, and a scrape that
still answers quickly, with cartwise_bus_up 0, when the bus is down."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from cartwise.api import create_app
from cartwise.bus import open_bus
from cartwise.bus.consumer import EventConsumer
from cartwise.bus.publish import EventPublisher


def _gauge(text: str, name: str) -> float | None:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_metrics_report_the_bus_queue_depth(engine, private_server) -> None:
    url = f"{private_server.url}?reclaim_after=1"
    publisher = EventPublisher(open_bus(url, store_id=engine.store.store_id))
    consumer = EventConsumer(engine.store, open_bus(url, store_id=engine.store.store_id), wait_s=0.1)
    client = TestClient(create_app(engine, bus=publisher),
                        headers={"Authorization": f"Bearer {engine.create_key('admin').secret}"})
    try:
        scraped = client.get("/metrics").text
        assert _gauge(scraped, "cartwise_bus_up") == 1 and _gauge(scraped, "cartwise_bus_backlog_messages") == 0
        for n in range(7):
            event = {"user_id": f"depth-{n}", "item_id": "teapot", "event_type": "view", "timestamp": 1_700_500_000}
            assert client.post("/v1/events", json={"events": [event]}).status_code == 202
        assert _gauge(client.get("/metrics").text, "cartwise_bus_backlog_messages") == 7
        consumer.drain(timeout_s=30)
        assert _gauge(client.get("/metrics").text, "cartwise_bus_backlog_messages") == 0
        private_server.stop()
        started = time.monotonic()
        response = client.get("/metrics")
        assert response.status_code == 200 and time.monotonic() - started < 12
        assert _gauge(response.text, "cartwise_bus_up") == 0
        assert _gauge(response.text, "cartwise_bus_backlog_messages") is None
        assert _gauge(response.text, "cartwise_store_up") == 1
    finally:
        consumer.bus.close()
        publisher.close()
