"""Fault test: the bus server (a private Redis with an fsync'd append-only file, a private
NATS JetStream) is killed (-9) mid-stream and started again on the same port and data
directory while a publisher keeps appending and a consumer keeps storing. Both ride it
out by themselves: every append the bus acknowledged is stored exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cartwise.bus import open_bus
from cartwise.bus.consumer import EventConsumer
from cartwise.bus.publish import EventPublisher
from cartwise.errors import BusUnavailable
from cartwise.store import open_store
from tests.bus.conftest import PrivateServer


def _event(n: int) -> dict:
    # One user per event: a user id stored twice would be an event stored twice.
    return {"user_id": f"load-{n}", "item_id": "socks", "event_type": "view", "timestamp": 1_701_000_000 + n}


def test_a_bus_restarted_mid_stream_loses_and_doubles_nothing(bus_kind: str, tmp_path: Path) -> None:
    (tmp_path / "bus").mkdir()
    server = PrivateServer(bus_kind, tmp_path / "bus", durable=True)
    url = f"{server.url}?reclaim_after=2"
    store = open_store(tmp_path / "store")
    publisher = EventPublisher(open_bus(url, store_id=store.store_id))
    consumer = EventConsumer(store, open_bus(url, store_id=store.store_id), batch=4, wait_s=0.1)
    acknowledged: list[int] = []
    refused = 0
    stop = threading.Event()

    def publish() -> None:
        nonlocal refused
        n = 0
        while not stop.is_set():
            batch = list(range(n, n + 10))
            n += 10  # a refused batch is not sent again: it was never acknowledged
            try:
                publisher.add_events([_event(i) for i in batch])
            except BusUnavailable:
                refused += 1
                time.sleep(0.05)
                continue
            acknowledged.extend(batch)

    def stored_users() -> list[str]:
        return [u for u in store.events(exclude_flagged=False)["user_id"].to_list() if u.startswith("load-")]

    poster = threading.Thread(target=publish)
    try:
        consumer.start()
        poster.start()
        deadline = time.monotonic() + 30
        while (len(acknowledged) < 300 or len(stored_users()) < 100) and time.monotonic() < deadline:
            time.sleep(0.05)
        server.stop()  # mid-stream: appends in flight, a consumer batch maybe stored and not yet acked
        killed_at = len(acknowledged)
        time.sleep(1.0)
        server.start()
        while len(acknowledged) < killed_at + 300 and time.monotonic() < deadline + 30:
            time.sleep(0.05)
        stop.set()
        poster.join()
        assert killed_at >= 300 and len(acknowledged) >= killed_at + 300, "the publisher did not resume"
        assert refused >= 1, "the bus was never seen down"
        wanted = {f"load-{n}" for n in acknowledged}
        while not wanted <= set(stored_users()) and time.monotonic() < deadline + 60:
            time.sleep(0.1)
        stored = stored_users()
        assert len(stored) == len(set(stored)), "an event was stored twice"
        missing = wanted - set(stored)
        assert not missing, f"{len(missing)} of {len(wanted)} acknowledged events were lost"
        # Nothing left behind: a backlog that never drains would hold `cartwise consume --once`
        # and the queue-depth gauge up for ever (JetStream killed -9 kept acked messages).
        while consumer.bus.backlog() and time.monotonic() < deadline + 60:
            time.sleep(0.1)
        assert consumer.bus.backlog() == 0
    finally:
        stop.set()
        if poster.is_alive():
            poster.join()
        consumer.stop()
        consumer.bus.close()
        publisher.close()
        store.close()
        server.stop()
