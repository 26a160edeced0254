"""Several stores on one server: a request is served by its key's store, and a key of one
store never reads or writes another's data, on any endpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.access import Scope
from cartwise.api import create_app
from cartwise.errors import ValidationError
from tests.api.test_auth import NEEDS

# Store B's own words and ids: none of them appears in a request below, so seeing one in an
# answer to a key of store A means B's data leaked.
B_ITEMS = [
    {"item_id": "b-lamp", "title": "Brass reading lamp zeppelin", "category": "Lights > Lamps", "brand": "Zeppelin",
     "price": 40.0, "currency": "EUR"},
    {"item_id": "b-shade", "title": "Linen lamp shade zeppelin", "category": "Lights > Shades", "brand": "Zeppelin",
     "price": 15.0, "currency": "EUR"},
    {"item_id": "b-bulb", "title": "Warm bulb zeppelin", "category": "Lights > Bulbs", "brand": "Zeppelin",
     "price": 3.0, "currency": "EUR"},
]
B_SECRET_WORDS = ["zeppelin", "b-only-shopper", "b-shade", "b-bulb", "exp-b-secret", "b-secret-variant"]


def _b_events() -> list[dict]:
    events = []
    for u in range(12):
        user = "b-only-shopper" if u == 0 else f"b-user-{u}"
        events += [
            {"user_id": user, "item_id": "b-lamp", "event_type": "purchase", "timestamp": 1_700_000_000 + u * 60},
            {"user_id": user, "item_id": "b-shade", "event_type": "purchase", "timestamp": 1_700_000_010 + u * 60},
        ]
    return events


@pytest.fixture(scope="module")
def trained_b(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("store-b") / "store-b"
    engine = Engine.open(path)
    assert engine.upsert_items(B_ITEMS).rows_rejected == 0
    assert engine.add_events(_b_events()).rows_rejected == 0
    engine.train(encoder=None)
    engine.close()
    return path


@pytest.fixture
def store_b(trained_b, tmp_path) -> Engine:
    path = tmp_path / "store-b"
    shutil.copytree(trained_b, path)
    engine = Engine.open(path, create=False)
    engine.refresh()
    return engine


@pytest.fixture
def served(engine, store_b):
    """One server for store B (named first: the default) and store A (the planted one)."""
    a_keys = {scope: engine.create_key(scope, name=f"a {scope.value}").secret for scope in Scope}
    b_keys = {scope: store_b.create_key(scope, name=f"b {scope.value}").secret for scope in Scope}
    store_b.audit.record("items.upsert", actor="cli:b-operator", target="b-lamp", detail="zeppelin catalog")
    store_b.experiments.create(experiment_id="exp-b-secret", name="zeppelin test", placements=["recommend"],
                               variants=[{"name": "control"}, {"name": "b-secret-variant"}])
    client = TestClient(create_app(store_b, more_stores=[engine]))
    return client, engine, store_b, a_keys, b_keys


def _b_version(store_b: Engine) -> str:
    return store_b.model_info()["version"]


# Each endpoint, aimed at store B's data. A new route fails test_every_route_is_aimed_at_the_other_store.
CALLS: dict[tuple[str, str], dict] = {
    ("GET", "/v1/search"): {"url": "/v1/search", "params": {"q": "brass lamp", "user_id": "b-user-3"}},
    ("GET", "/v1/autocomplete"): {"url": "/v1/autocomplete", "params": {"q": "zep"}},
    ("GET", "/v1/users/{user_id}/recommendations"): {"url": "/v1/users/b-user-3/recommendations"},
    ("GET", "/v1/items/{item_id}/similar"): {"url": "/v1/items/b-lamp/similar"},
    ("POST", "/v1/ratings/predict"): {"url": "/v1/ratings/predict", "json": {"user_id": "b-user-3",
                                                                             "item_ids": ["b-lamp"]}},
    ("POST", "/v1/clicks/predict"): {"url": "/v1/clicks/predict", "json": {"user_id": "b-user-3",
                                                                           "item_ids": ["b-lamp"]}},
    ("POST", "/v1/events"): {"url": "/v1/events", "json": {"events": [
        {"user_id": "b-user-3", "item_id": "b-lamp", "event_type": "purchase", "timestamp": 1_700_100_000}]}},
    ("POST", "/v1/ingest/events"): {"url": "/v1/ingest/events", "params": {"format": "csv"}, "content":
        "user_id,item_id,event_type,timestamp\nb-user-3,b-lamp,purchase,1700100000\n"},
    ("POST", "/v1/ingest/items"): {"url": "/v1/ingest/items", "params": {"format": "csv"},
                                   "content": "item_id,title\nb-lamp,Hijacked\n"},
    ("POST", "/v1/impressions"): {"url": "/v1/impressions", "json": {"impressions": [
        {"placement": "home_top", "user_id": "b-user-3", "items": ["b-lamp"]}]}},
    ("POST", "/v1/items"): {"url": "/v1/items", "json": {"items": [{"item_id": "b-lamp", "title": "Hijacked"}]}},
    ("DELETE", "/v1/items/{item_id}"): {"url": "/v1/items/b-lamp"},
    ("GET", "/v1/stats"): {"url": "/v1/stats"},
    ("GET", "/v1/feedback"): {"url": "/v1/feedback"},
    ("GET", "/v1/models"): {"url": "/v1/models"},
    ("POST", "/v1/models/{version}/promote"): {"url": "/v1/models/{b_version}/promote", "json": {"reason": "x"}},
    ("POST", "/v1/models/rollback"): {"url": "/v1/models/rollback", "json": {"reason": "x"}},
    ("GET", "/metrics"): {"url": "/metrics"},
    ("GET", "/v1/audit"): {"url": "/v1/audit"},
    ("GET", "/v1/items/{item_id}/related"): {"url": "/v1/items/b-lamp/related"},
    ("GET", "/v1/items/{item_id}/bundle"): {"url": "/v1/items/b-lamp/bundle"},
    ("GET", "/v1/items/{item_id}/alternatives"): {"url": "/v1/items/b-lamp/alternatives"},
    ("GET", "/v1/relations"): {"url": "/v1/relations"},
    ("GET", "/v1/rules"): {"url": "/v1/rules"},
    ("PUT", "/v1/rules"): {"url": "/v1/rules", "json": {"rules": [{"id": "hide-lamp", "kind": "hide",
                                                                  "items": ["b-lamp"]}]}},
    ("GET", "/v1/rules/versions"): {"url": "/v1/rules/versions"},
    ("POST", "/v1/rules/versions/{version}/restore"): {"url": "/v1/rules/versions/1/restore", "json": {}},
    ("POST", "/v1/rules/dry-run"): {"url": "/v1/rules/dry-run", "json": {
        "rule": {"id": "hide-lamp", "kind": "hide", "items": ["b-lamp"]}, "query": "brass lamp"}},
    ("GET", "/v1/rules/{rule_id}"): {"url": "/v1/rules/b-secret-rule"},
    ("PUT", "/v1/rules/{rule_id}"): {"url": "/v1/rules/hide-lamp", "json": {"id": "hide-lamp", "kind": "hide",
                                                                        "items": ["b-lamp"]}},
    ("DELETE", "/v1/rules/{rule_id}"): {"url": "/v1/rules/b-secret-rule"},
    ("GET", "/v1/rules/synonym-suggestions"): {"url": "/v1/rules/synonym-suggestions"},
    ("POST", "/v1/rules/synonym-suggestions/{suggestion_id}/accept"): {
        "url": "/v1/rules/synonym-suggestions/b-secret-suggestion/accept", "json": {}},
    ("POST", "/v1/assist"): {"url": "/v1/assist", "json": {"message": "is the brass lamp dimmable?",
                                                           "item_id": "b-lamp"}},
    ("POST", "/v1/assist/feedback"): {"url": "/v1/assist/feedback", "json": {"answer_id": "unknown", "helpful": True}},
    ("GET", "/v1/assist/report"): {"url": "/v1/assist/report"},
    ("POST", "/v1/assist/faq"): {"url": "/v1/assist/faq", "json": {"rows": [
        {"question": "Do you ship zeppelins?", "answer": "Hijacked."}]}},
    ("POST", "/v1/assist/documents"): {"url": "/v1/assist/documents", "json": {"rows": [
        {"doc_id": "returns", "kind": "policy", "text": "Hijacked."}]}},
    # Store B runs experiment exp-b-secret in "recommend": store A's key neither sees it,
    # nor reads its assignment, nor stops or ships it, nor starts one clashing with it in B.
    ("POST", "/v1/experiments"): {"url": "/v1/experiments", "json": {
        "name": "hijack", "placements": ["recommend"], "variants": [{"name": "a"}, {"name": "b"}]}},
    ("GET", "/v1/experiments"): {"url": "/v1/experiments"},
    ("GET", "/v1/experiments/assignment"): {"url": "/v1/experiments/assignment",
                                            "params": {"user_id": "b-user-3", "placement": "recommend"}},
    ("GET", "/v1/experiments/{experiment_id}"): {"url": "/v1/experiments/exp-b-secret"},
    ("POST", "/v1/experiments/{experiment_id}/stop"): {"url": "/v1/experiments/exp-b-secret/stop", "json": {}},
    ("POST", "/v1/experiments/{experiment_id}/ship"): {"url": "/v1/experiments/exp-b-secret/ship",
                                                       "json": {"variant": "b"}},
    ("GET", "/v1/insights/business"): {"url": "/v1/insights/business", "params": {"days": 3650}},
    ("GET", "/v1/insights/inventory"): {"url": "/v1/insights/inventory", "params": {"days": 3650}},
    ("GET", "/v1/insights/operations"): {"url": "/v1/insights/operations"},
    # B's training runs are named by B's model version: A's key finds none of them.
    ("GET", "/v1/runs"): {"url": "/v1/runs"},
    ("GET", "/v1/runs/compare"): {"url": "/v1/runs/compare",
                                  "params": {"a": "train:{b_version}", "b": "train:{b_version}"}},
    ("GET", "/v1/runs/{run_id}"): {"url": "/v1/runs/train:{b_version}"},
    ("POST", "/v1/runs/{run_id}/notes"): {"url": "/v1/runs/train:{b_version}/notes", "json": {"text": "x"}},
}


def _call(client: TestClient, method: str, path: str, secret: str, store_b: Engine):
    call = dict(CALLS[method, path])
    url = call.pop("url").replace("{b_version}", _b_version(store_b))
    if "params" in call:
        call["params"] = {k: v.replace("{b_version}", _b_version(store_b)) if isinstance(v, str) else v
                          for k, v in call["params"].items()}
    return client.request(method, url, headers={"Authorization": f"Bearer {secret}"}, **call)


def _state_of(engine: Engine) -> dict:
    store = engine.store
    return {
        "items": store.items(include_deleted=True).sort("item_id").to_dicts(),
        "events": store.stats().events,
        "impressions": store.stats().impressions,
        "versions": store.versions(),
        "keys": [(k.prefix, k.revoked_ms) for k in store.keys()],
        "audit": store.audit(),
        "model": engine.versions.list_versions(),
        "history": engine.versions.history(),
        "rules": [v.version for v in engine.rules.list_versions()],
        "assistant": sorted(p.name for p in engine.workspace.assistant_dir.glob("*")),
        "experiments": store.experiments(),
    }


def test_every_route_is_aimed_at_the_other_store():
    assert set(CALLS) == set(NEEDS)


@pytest.mark.parametrize(("method", "path"), sorted(CALLS))
def test_a_key_of_store_a_never_reads_nor_changes_store_b(served, method, path):
    client, _store_a, store_b, a_keys, _b_keys = served
    before = _state_of(store_b)
    response = _call(client, method, path, a_keys[NEEDS[method, path]], store_b)
    assert response.status_code < 500, response.text
    text = response.text.lower()
    asked = (str(response.request.url) + response.request.content.decode()).lower()
    for secret in [*B_SECRET_WORDS, str(store_b.store.path).lower(), store_b.store.store_id, _b_version(store_b),
                   *(k.prefix.lower() for k in store_b.list_keys())]:
        if secret in asked:  # echoed back from the request (promote names B's version): not a leak
            continue
        assert secret not in text, f"{method} {path} with store A's key shows store B's {secret!r}: {response.text}"
    assert _state_of(store_b) == before
    if (method, path) == ("GET", "/metrics"):
        assert response.status_code == 403  # the numbers describe the first store (B)


def test_the_same_calls_with_store_bs_keys_do_reach_store_b(served):
    """The control: the calls above do show and change B's data when made with B's keys,
    so the test above would fail if routing ignored the key."""
    client, _store_a, store_b, _a_keys, b_keys = served
    search = _call(client, "GET", "/v1/search", b_keys[Scope.SEARCH], store_b)
    assert search.status_code == 200 and search.json()["items"][0]["item_id"] == "b-lamp"
    assert "zeppelin" in _call(client, "GET", "/v1/autocomplete", b_keys[Scope.SEARCH], store_b).text.lower()
    assert "b-shade" in _call(client, "GET", "/v1/items/{item_id}/similar", b_keys[Scope.SEARCH], store_b).text
    assert "zeppelin" in _call(client, "GET", "/v1/audit", b_keys[Scope.ADMIN], store_b).text
    assert _call(client, "GET", "/metrics", b_keys[Scope.ADMIN], store_b).status_code == 200
    assert "exp-b-secret" in _call(client, "GET", "/v1/experiments", b_keys[Scope.ADMIN], store_b).text
    assigned = _call(client, "GET", "/v1/experiments/assignment", b_keys[Scope.SEARCH], store_b).json()
    assert assigned["experiment_id"] == "exp-b-secret" and assigned["impression_variant"].startswith("exp-b-secret/")
    assert _call(client, "POST", "/v1/items", b_keys[Scope.ADMIN], store_b).status_code == 200
    assert store_b.store.get_items(["b-lamp"])["title"].to_list() == ["Hijacked"]


def test_writes_with_store_as_keys_land_in_store_a(served):
    client, store_a, store_b, a_keys, _b_keys = served
    assert _call(client, "POST", "/v1/items", a_keys[Scope.ADMIN], store_b).status_code == 200
    assert store_a.store.get_items(["b-lamp"])["title"].to_list() == ["Hijacked"]
    events = store_a.store.stats().events
    assert _call(client, "POST", "/v1/events", a_keys[Scope.EVENTS], store_b).status_code == 200
    assert store_a.store.stats().events == events + 1
    assert [e.actor for e in store_a.audit.entries()] == [store_a.list_keys()[-1].prefix]  # A's admin key
    found = client.get("/v1/search", params={"q": "teapot"}, headers={"X-API-Key": a_keys[Scope.SEARCH]}).json()
    assert found["items"][0]["item_id"] == "teapot"


def test_a_key_revoked_in_its_store_is_refused_and_no_other_store_takes_it(served):
    client, store_a, _store_b, a_keys, _b_keys = served
    store_a.revoke_key(a_keys[Scope.SEARCH])
    response = client.get("/v1/search", params={"q": "tea"}, headers={"X-API-Key": a_keys[Scope.SEARCH]})
    assert response.status_code == 401


def test_several_stores_refuse_anonymous_reads_and_the_same_store_twice(engine, store_b, tmp_path):
    with pytest.raises(ValidationError, match="anonymous reads"):
        create_app(store_b, more_stores=[engine], anonymous_reads=True)
    with pytest.raises(ValidationError, match="same store"):
        create_app(engine, more_stores=[Engine.open(engine.store.path, create=False)])


def test_rate_limits_are_counted_per_store(served):
    """Key ids restart at 1 in every store: the buckets are per store and key."""
    client, store_a, store_b, _a_keys, _b_keys = served
    from cartwise.access import Rate

    # One request per 100 s: no refill between the calls, however slow a loaded machine is.
    a = store_a.create_key(Scope.SEARCH, rate=Rate(0.01, 1))
    b = store_b.create_key(Scope.SEARCH, rate=Rate(0.01, 1))
    assert a.key.key_id == b.key.key_id
    for secret in (a.secret, b.secret):
        assert client.get("/v1/search", params={"q": "x"}, headers={"X-API-Key": secret}).status_code == 200
    assert client.get("/v1/search", params={"q": "x"}, headers={"X-API-Key": a.secret}).status_code == 429


def test_stats_answer_for_the_keys_store(served):
    client, store_a, _store_b, a_keys, b_keys = served
    a_stats = client.get("/v1/stats", headers={"X-API-Key": a_keys[Scope.ADMIN]}).json()
    b_stats = client.get("/v1/stats", headers={"X-API-Key": b_keys[Scope.ADMIN]}).json()
    assert a_stats["items"] == store_a.store.stats().items and b_stats["items"] == len(B_ITEMS)
    assert json.dumps(a_stats) != json.dumps(b_stats)
