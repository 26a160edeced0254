"""Request bodies: a size limit answered 413 before the body is read, and bodies that
cannot be read as UTF-8 JSON answered 422 as the README documents."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from cartwise.api import create_app
from cartwise.api.limits import DEFAULT_MAX_BODY_BYTES

LIMIT = 20_000
JSON = {"content-type": "application/json"}


@pytest.fixture
def client(engine):
    admin = {"X-API-Key": engine.create_key("admin").secret}
    return TestClient(create_app(engine, max_body_bytes=LIMIT), headers=admin)


def _batch(n: int) -> bytes:
    return json.dumps({"items": [{"item_id": f"i{i}", "title": f"item number {i}"} for i in range(n)]}).encode()


def test_the_default_fits_a_full_batch_of_ordinary_items():
    item = {"item_id": "85123A", "title": "WHITE HANGING HEART T-LIGHT HOLDER " * 2, "description": "d" * 2000,
            "category": "Home > Candles", "brand": "Acme", "price": 2.55, "currency": "GBP", "attributes": {"c": "w"}}
    assert len(json.dumps({"items": [item] * 10_000})) < DEFAULT_MAX_BODY_BYTES


def test_a_body_announced_too_large_is_413_before_it_is_read(client):
    body = _batch(2000)
    assert len(body) > LIMIT
    response = client.post("/v1/items", content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge" and "20,000 bytes" in response.json()["message"]
    assert client.get("/v1/items/i0/similar").status_code == 404  # nothing of it was stored


def test_a_chunked_body_is_counted_and_refused_once_past_the_limit(client):
    body = _batch(2000)

    def chunks():
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = client.post("/v1/items", content=chunks(), headers=JSON)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413 and response.json()["field"] == "body"
    assert client.post("/v1/events", content=iter([_batch(10)]), headers=JSON).status_code == 422


def test_a_body_under_the_limit_is_served(client):
    response = client.post("/v1/items", content=_batch(50), headers=JSON)
    assert response.status_code == 200 and response.json()["written"] == 50


def test_invalid_utf8_is_422(client):
    response = client.post("/v1/items", content=b'{"items": [{"item_id": "\xff\xfe", "title": "x"}]}', headers=JSON)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError" and "UTF-8" in body["message"] and body["field"] == "body"


def test_json_nested_too_deeply_is_422(client):
    response = client.post("/v1/events", content=b"[" * 5000 + b"]" * 5000, headers=JSON)
    assert response.status_code == 422 and "nested too deeply" in response.json()["message"]


@pytest.mark.parametrize("announced", [b"\xb2", b"1\xb2", b"-1", b"12abc", b""])
def test_an_odd_content_length_is_never_a_500(engine, announced):
    """A Content-Length that is not plain ASCII digits (latin-1 `²` passes str.isdigit
    but not int()) is left to the counted read, not answered with a crash."""
    import anyio

    from cartwise.api.limits import BodyLimit

    async def app(scope, receive, send):
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/items", "headers": [(b"content-length", announced)]}
    anyio.run(BodyLimit(app, max_bytes=LIMIT), scope, receive, send)
    assert sent[0]["status"] == 200
