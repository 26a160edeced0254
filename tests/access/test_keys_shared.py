"""Keys live in the store, so every node serving one store sees the same keys: two
engines on one store (PostgreSQL: two nodes; SQLite: two processes on one directory) see
a key created, limited or revoked by the other within a second."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.access import Rate, Scope
from cartwise.access.audit import AuditAction
from cartwise.api import create_app
from cartwise.store import open_store, store_backends


@pytest.fixture(params=store_backends(), ids=lambda backend: backend.name)
def url(request, tmp_path):
    backend = request.param
    made = backend.scratch_url(tmp_path)
    if made is None:
        pytest.skip(f"the {backend.name} back end cannot make a scratch store here: {backend.scratch_needs}")
    yield made
    if backend.discard_scratch is not None:
        backend.discard_scratch(made)


@pytest.fixture
def nodes(url):
    first = Engine(open_store(url), log_impressions=False)
    second = Engine(open_store(url, create=False), log_impressions=False)
    yield first, second
    first.close()
    second.close()


def _seconds_until(check, *, limit: float = 3.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit:
            return float("inf")
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_key_made_on_one_node_works_on_the_other_within_a_second(nodes):
    first, second = nodes
    second.verify_key("cw_search_warm-up")  # the second node has read its keys already
    new = first.create_key(Scope.SEARCH, name="shop")
    assert _seconds_until(lambda: second.verify_key(new.secret) is not None) <= 1.0
    assert second.verify_key(new.secret).prefix == new.key.prefix


def test_a_key_revoked_on_one_node_is_refused_by_the_other_within_a_second(nodes):
    first, second = nodes
    new = first.create_key(Scope.ADMIN)
    assert _seconds_until(lambda: second.verify_key(new.secret) is not None) <= 1.0
    second.revoke_key(new.key.prefix)
    assert second.verify_key(new.secret) is None  # at once where it was revoked
    assert _seconds_until(lambda: first.verify_key(new.secret) is None) <= 1.0


def test_a_rate_limit_set_on_one_node_is_applied_by_the_other(nodes):
    first, second = nodes
    new = first.create_key(Scope.SEARCH)
    assert _seconds_until(lambda: second.verify_key(new.secret) is not None) <= 1.0
    first.keys.set_rate(new.key.prefix, Rate(5.0, 10))
    assert _seconds_until(lambda: second.verify_key(new.secret).rate == Rate(5.0, 10)) <= 1.0


def test_two_servers_on_one_store_share_keys_and_audit_log(nodes):
    first, second = nodes
    api_one, api_two = TestClient(create_app(first)), TestClient(create_app(second))
    admin = first.create_key(Scope.ADMIN)
    headers = {"X-API-Key": admin.secret}
    assert _seconds_until(lambda: api_two.get("/v1/audit", headers=headers).status_code == 200) <= 1.0
    assert api_one.post("/v1/items", json={"items": [{"item_id": "lamp", "title": "Desk lamp"}]},
                        headers=headers).status_code == 200
    entries = api_two.get("/v1/audit", headers=headers).json()["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (admin.key.prefix, AuditAction.ITEMS_UPSERT.value, "lamp")]
    second.revoke_key(admin.key.prefix)
    assert _seconds_until(lambda: api_one.get("/v1/audit", headers=headers).status_code == 401) <= 1.0
