"""Fault test: the PostgreSQL server behind an API is stopped and started again. While it
is down, reads and writes answer 503 with ``Retry-After`` and a clear message (never a
500) and the readiness probe says not ready; once it is back the same API process answers
again by itself (its pool drops the dead connections)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.api import create_app
from tests.conftest import CATALOG, planted_events
from tests.store.private_postgres import PrivatePostgres


@pytest.fixture
def server() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    yield pg
    pg.close()


def _view(user: str, n: int) -> dict:
    return {"user_id": user, "item_id": "teapot", "event_type": "view", "timestamp": 1_701_000_000 + n}


def test_the_api_answers_503_while_postgresql_is_down_and_recovers_by_itself(server, tmp_path: Path) -> None:
    url = f"{server.url}?schema=shop&workspace={quote(str(tmp_path / 'workspace'))}"
    engine = Engine.open(url, log_impressions=False)
    try:
        assert engine.upsert_items(CATALOG).rows_rejected == 0
        assert engine.add_events(planted_events()).rows_rejected == 0
        engine.train(encoder=None)
        client = TestClient(create_app(engine), raise_server_exceptions=False,
                            headers={"Authorization": f"Bearer {engine.create_key('admin').secret}"})
        read = "/v1/users/tea-1/recommendations"
        assert client.get(read).status_code == 200
        assert client.post("/v1/events", json={"events": [_view("before", 0)]}).status_code == 200
        assert client.get("/v1/ready").status_code == 200

        server.stop()
        for attempt in range(2):  # the first on pooled connections the restart broke, then on new ones
            answers = {
                "read": client.get(read),
                "write": client.post("/v1/events", json={"events": [_view("during", attempt)]}),
            }
            for what, response in answers.items():
                assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
                assert int(response.headers["Retry-After"]) >= 1, what
                body = response.json()
                assert body["error"] == "StoreError" and "PostgreSQL" in body["message"], body
            time.sleep(1.1)  # past the pool's ping age: idle connections are checked
        ready = client.get("/v1/ready")
        assert ready.status_code == 503 and ready.json()["store"] == "unreachable"
        assert int(ready.headers["Retry-After"]) >= 1

        server.start()
        deadline = time.monotonic() + 15
        while client.get("/v1/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/v1/ready").status_code == 200
        assert client.get(read).status_code == 200
        response = client.post("/v1/events", json={"events": [_view("after", 1)]})
        assert response.status_code == 200, response.text
        users = set(engine.store.events(exclude_flagged=False)["user_id"].to_list())
        assert {"before", "after"} <= users and "during" not in users
    finally:
        engine.close()
