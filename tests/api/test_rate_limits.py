"""Per-key rate limits over HTTP: 429 with Retry-After, before the body is read."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.access import Rate, RateLimiter, Scope
from cartwise.api import create_app


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _client(engine: Engine, clock: FakeClock, defaults: dict[str, Rate] | None = None) -> TestClient:
    app = create_app(engine, scope_rates=defaults)
    app.state.rates = RateLimiter(defaults=defaults, clock=clock)
    return TestClient(app)


def _search(client: TestClient, secret: str):
    return client.get("/v1/search", params={"q": "tea"}, headers={"Authorization": f"Bearer {secret}"})


def test_a_key_over_its_own_limit_gets_429_with_retry_after_naming_the_limit(engine, clock):
    client = _client(engine, clock)
    limited = engine.create_key(Scope.SEARCH, name="shop", rate=Rate(2.0, 3)).secret
    free = engine.create_key(Scope.SEARCH, name="free").secret
    assert [_search(client, limited).status_code for _ in range(3)] == [200, 200, 200]
    refused = _search(client, limited)
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "RateLimited" and body["field"] == "rate"
    assert "2 requests/s (burst 3)" in body["message"] and "its own limit" in body["message"]
    assert refused.headers["retry-after"] == "1"
    assert limited not in refused.text and limited[len("cw_search_") + 8:] not in refused.text
    assert all(_search(client, free).status_code == 200 for _ in range(20))  # other keys: their own buckets
    clock.now += 0.5  # one token back
    assert _search(client, limited).status_code == 200
    assert _search(client, limited).status_code == 429


def test_the_scope_default_applies_to_keys_without_their_own_limit(engine, clock):
    client = _client(engine, clock, {"search": Rate(1.0, 1)})
    plain = engine.create_key(Scope.SEARCH).secret
    admin = engine.create_key(Scope.ADMIN).secret
    assert _search(client, plain).status_code == 200
    refused = _search(client, plain)
    assert refused.status_code == 429 and "default for search keys" in refused.json()["message"]
    # an admin key is limited by the admin default (none here), even when it searches
    assert all(_search(client, admin).status_code == 200 for _ in range(10))


def test_a_request_over_the_limit_is_refused_before_its_body_is_read(engine, clock):
    client = _client(engine, clock)
    secret = engine.create_key(Scope.EVENTS, rate=Rate(1.0, 1)).secret
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    first = client.post("/v1/events", content=b"{not json", headers=headers)
    assert first.status_code == 422  # within the limit: the body is read (and found bad)
    second = client.post("/v1/events", content=b"{not json", headers=headers)
    assert second.status_code == 429  # over it: refused without reading the body


def test_one_request_costs_one_token_though_its_key_is_checked_twice(engine, clock):
    client = _client(engine, clock)
    secret = engine.create_key(Scope.ADMIN, rate=Rate(1.0, 2)).secret
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"items": [{"item_id": "lamp", "title": "Desk lamp"}]}
    assert client.post("/v1/items", json=body, headers=headers).status_code == 200
    assert client.post("/v1/items", json=body, headers=headers).status_code == 200
    assert client.post("/v1/items", json=body, headers=headers).status_code == 429


def test_a_new_limit_reaches_a_running_server(engine, clock):
    client = _client(engine, clock)
    new = engine.create_key(Scope.SEARCH)
    assert all(_search(client, new.secret).status_code == 200 for _ in range(5))
    engine.keys.set_rate(new.key.prefix, Rate(1.0, 1))
    engine.keys.recheck_s = 0.0  # other processes' changes arrive within the key ring's recheck time
    assert _search(client, new.secret).status_code == 200
    assert _search(client, new.secret).status_code == 429
    engine.keys.set_rate(new.key.prefix, None)
    assert _search(client, new.secret).status_code == 200
