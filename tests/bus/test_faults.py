"""Fault tests on real processes: `kill -9` of an API process during sustained posting,
then a restart: every acknowledged event is stored exactly once; a consumer killed
mid-stream and restarted: nothing lost, nothing doubled."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest

from cartwise.bus import open_bus
from cartwise.bus.publish import EventPublisher
from cartwise.store import open_store
from tests.bus.conftest import bus_url_for, remove_streams
from tests.bus.nodes import ENV, admin_key, start_nodes, trained_store_url


def _event(n: int) -> dict:
    # One user per event: a user id stored twice would be an event stored twice.
    return {"user_id": f"load-{n}", "item_id": "socks", "event_type": "view", "timestamp": 1_701_000_000 + n}


def _stored_load_users(store_url: str) -> list[str]:
    store = open_store(store_url, create=False)
    try:
        users = store.events(exclude_flagged=False)["user_id"].to_list()
    finally:
        store.close()
    return [u for u in users if u.startswith("load-")]


def _wait_drained(store_url: str, bus_url: str, timeout: float = 60) -> None:
    store = open_store(store_url, create=False)
    bus = open_bus(bus_url, store_id=store.store_id)
    try:
        deadline = time.monotonic() + timeout
        while bus.backlog() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert bus.backlog() == 0, "the bus still holds events"
    finally:
        bus.close()
        store.close()


def _cleanup(store_url: str, bus_url: str, store_kind: str) -> None:
    store = open_store(store_url, create=False)
    remove_streams(bus_url, store.store_id)
    store.close()
    if store_kind == "postgresql":
        from cartwise.store.postgres import drop_store

        drop_store(store_url)


@pytest.mark.parametrize(("store_kind", "bus_kind"), [("postgresql", "redis"), ("sqlite", "nats")])
def test_kill_9_of_an_api_process_loses_no_acknowledged_event(store_kind, bus_kind, trained_store, tmp_path):
    bus_url = bus_url_for(bus_kind, reclaim_after="1")
    store_url = trained_store_url(store_kind, trained_store, tmp_path)
    headers = {"Authorization": f"Bearer {admin_key(store_url)}"}
    (node,) = start_nodes(1, store_url, bus_url, tmp_path)
    acknowledged: list[int] = []
    refused = 0
    stop = threading.Event()

    def post() -> None:
        nonlocal refused
        n = 0
        with httpx.Client(base_url=node.base, headers=headers, timeout=5) as client:
            while not stop.is_set():
                batch = list(range(n, n + 20))
                n += 20
                try:
                    response = client.post("/v1/events", json={"events": [_event(i) for i in batch]})
                except httpx.TransportError:
                    refused += 1
                    time.sleep(0.05)
                    continue
                if response.status_code == 202:
                    acknowledged.extend(batch)
                else:
                    refused += 1

    poster = threading.Thread(target=post)
    try:
        poster.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        node.kill()  # mid-stream: requests in flight, a consumer batch maybe uncommitted or unacked
        killed_at = len(acknowledged)
        node.start()
        node.wait_ready()
        while len(acknowledged) < killed_at + 200 and time.monotonic() < deadline + 60:
            time.sleep(0.05)
        stop.set()
        poster.join()
        _wait_drained(store_url, bus_url)
        stored = _stored_load_users(store_url)
        assert killed_at >= 400 and len(acknowledged) >= killed_at + 200 and refused >= 1
        assert len(stored) == len(set(stored)), "an event was stored twice"
        missing = {f"load-{n}" for n in acknowledged} - set(stored)
        assert not missing, f"{len(missing)} acknowledged events were lost"
    finally:
        stop.set()
        poster.join()
        node.stop()
        _cleanup(store_url, bus_url, store_kind)


@pytest.mark.parametrize("bus_kind", ["redis", "nats"])
def test_a_consumer_killed_mid_stream_and_restarted_loses_and_doubles_nothing(bus_kind, trained_store, tmp_path):
    bus_url = bus_url_for(bus_kind, reclaim_after="1")
    store_url = trained_store_url("sqlite", trained_store, tmp_path)
    store = open_store(store_url, create=False)
    publisher = EventPublisher(open_bus(bus_url, store_id=store.store_id))
    total = 3000
    planted = store.stats().events
    for start in range(0, total, 20):
        assert publisher.add_events([_event(n) for n in range(start, start + 20)]).accepted == 20
    command = [sys.executable, "-m", "cartwise.cli.main", "consume", "--store", store_url, "--bus", bus_url,
               "--batch", "2", "--name", "consumer-1"]
    consumer = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while store.stats().events < planted + 400 and time.monotonic() < deadline:
            assert consumer.poll() is None, consumer.stderr.read().decode() if consumer.stderr else ""
            time.sleep(0.02)
        consumer.kill()
        consumer.wait()
        assert len(_stored_load_users(store_url)) < total, "the consumer finished before it was killed"
        consumer = subprocess.Popen(command + ["--once"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = consumer.communicate(timeout=180)
        assert consumer.returncode == 0, err.decode()
        _wait_drained(store_url, bus_url)
        stored = _stored_load_users(store_url)
        assert len(stored) == len(set(stored)) == total
    finally:
        if consumer.poll() is None:
            consumer.kill()
        publisher.close()
        store.close()
        _cleanup(store_url, bus_url, "sqlite")
