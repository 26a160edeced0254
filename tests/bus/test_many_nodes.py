"""Three API processes (separate `cartwise serve --bus` on their own ports) on one store
and one bus: an event posted to one changes the shopper's recommendations on the other
two, and co-purchases posted to one change every node's similar items (the online
co-occurrence each learns from the store's events log), within one second of the
acknowledgement."""

from __future__ import annotations

import time

import httpx
import pytest

from cartwise.store import open_store
from tests.bus.conftest import bus_url_for, remove_streams
from tests.bus.nodes import admin_key, start_nodes, trained_store_url


@pytest.mark.parametrize(("store_kind", "bus_kind"), [("postgresql", "redis"), ("postgresql", "nats"),
                                                      ("sqlite", "redis")])
def test_an_event_on_one_node_changes_answers_on_the_others_within_a_second(
    store_kind, bus_kind, trained_store, tmp_path
):
    bus_url = bus_url_for(bus_kind)
    store_url = trained_store_url(store_kind, trained_store, tmp_path)
    headers = {"Authorization": f"Bearer {admin_key(store_url)}"}
    nodes = start_nodes(3, store_url, bus_url, tmp_path)
    try:
        clients = [httpx.Client(base_url=node.base, headers=headers, timeout=10) for node in nodes]
        user = "three-node-shopper"

        def top(client: httpx.Client) -> list[str]:
            response = client.get(f"/v1/users/{user}/recommendations", params={"k": 3})
            assert response.status_code == 200, response.text
            return [item["item_id"] for item in response.json()["items"]]

        before = [top(client) for client in clients]
        assert before[0] == before[1] == before[2] and before[0][0] != "tea-cosy"  # nobody knows them yet
        posted = clients[0].post("/v1/events", json={"events": [
            {"user_id": user, "item_id": "teapot", "event_type": "purchase", "timestamp": 1_700_900_000}]})
        acknowledged = time.monotonic()
        assert posted.status_code == 202, posted.text
        lags = []
        for client in clients[1:]:
            while top(client)[0] != "tea-cosy":
                assert time.monotonic() - acknowledged < 5, "no change within 5 s"
                time.sleep(0.01)
            lags.append(time.monotonic() - acknowledged)
        assert max(lags) < 1.0, lags
        assert top(clients[0])[0] == "tea-cosy"

        # The online counters too: every node learns the co-purchases from the store's events log.
        def together(client: httpx.Client) -> list[str]:
            response = client.get("/v1/items/teapot/similar", params={"k": 10})
            assert response.status_code == 200, response.text
            return [item["item_id"] for item in response.json()["items"] if "together" in (item.get("stage") or "")]

        assert all("dress-red" not in together(client) for client in clients)
        posted = clients[0].post("/v1/events", json={"events": [
            {"user_id": f"pair-{u}", "item_id": item, "event_type": "purchase", "timestamp": 1_700_900_100 + 10 * u + n}
            for u in range(3) for n, item in enumerate(("teapot", "dress-red"))]})
        acknowledged = time.monotonic()
        assert posted.status_code == 202, posted.text
        lags = []
        for client in clients:
            while "dress-red" not in together(client):
                if time.monotonic() - acknowledged > 5:
                    logs = "\n".join((tmp_path / f"node-{n.port}.log").read_text()[-3000:] for n in nodes)
                    raise AssertionError(f"no co-occurrence change within 5 s on {clients.index(client)}: {logs}")
                time.sleep(0.01)
            lags.append(time.monotonic() - acknowledged)
        assert max(lags) < 1.0, lags
        for client in clients:
            client.close()
    finally:
        for node in nodes:
            node.stop()
        store = open_store(store_url, create=False)
        remove_streams(bus_url, store.store_id)
        store.close()
        if store_kind == "postgresql":
            from cartwise.store.postgres import drop_store

            drop_store(store_url)
