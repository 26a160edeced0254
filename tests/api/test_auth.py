"""API keys over HTTP: every endpoint but the open ones needs a key of the right scope."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.access import Scope
from cartwise.api import create_app
from cartwise.cli.main import app as cli_app
from cartwise.errors import ValidationError

# What each endpoint needs. A new route fails test_every_route_is_classified until it is
# listed here or in OPEN, so no endpoint is left unguarded by accident.
NEEDS = {
    ("GET", "/v1/search"): Scope.SEARCH,
    ("GET", "/v1/autocomplete"): Scope.SEARCH,
    ("GET", "/v1/users/{user_id}/recommendations"): Scope.SEARCH,
    ("GET", "/v1/items/{item_id}/similar"): Scope.SEARCH,
    ("GET", "/v1/items/{item_id}/related"): Scope.SEARCH,
    ("GET", "/v1/items/{item_id}/bundle"): Scope.SEARCH,
    ("GET", "/v1/items/{item_id}/alternatives"): Scope.SEARCH,
    ("GET", "/v1/relations"): Scope.SEARCH,
    ("POST", "/v1/ratings/predict"): Scope.SEARCH,
    ("POST", "/v1/events"): Scope.EVENTS,
    ("POST", "/v1/ingest/events"): Scope.EVENTS,
    ("POST", "/v1/ingest/items"): Scope.ADMIN,
    ("POST", "/v1/items"): Scope.ADMIN,
    ("DELETE", "/v1/items/{item_id}"): Scope.ADMIN,
    ("GET", "/v1/stats"): Scope.ADMIN,
    ("POST", "/v1/impressions"): Scope.EVENTS,
    ("POST", "/v1/clicks/predict"): Scope.SEARCH,
    ("GET", "/v1/feedback"): Scope.ADMIN,
    ("GET", "/v1/models"): Scope.ADMIN,
    ("POST", "/v1/models/{version}/promote"): Scope.ADMIN,
    ("POST", "/v1/models/rollback"): Scope.ADMIN,
    ("GET", "/metrics"): Scope.ADMIN,
    ("GET", "/v1/rules"): Scope.ADMIN,
    ("PUT", "/v1/rules"): Scope.ADMIN,
    ("GET", "/v1/rules/versions"): Scope.ADMIN,
    ("POST", "/v1/rules/versions/{version}/restore"): Scope.ADMIN,
    ("POST", "/v1/rules/dry-run"): Scope.ADMIN,
    ("GET", "/v1/rules/synonym-suggestions"): Scope.ADMIN,
    ("POST", "/v1/rules/synonym-suggestions/{suggestion_id}/accept"): Scope.ADMIN,
    ("GET", "/v1/rules/{rule_id}"): Scope.ADMIN,
    ("PUT", "/v1/rules/{rule_id}"): Scope.ADMIN,
    ("DELETE", "/v1/rules/{rule_id}"): Scope.ADMIN,
    ("GET", "/v1/audit"): Scope.ADMIN,
    ("POST", "/v1/assist"): Scope.SEARCH,
    ("POST", "/v1/assist/feedback"): Scope.SEARCH,
    ("GET", "/v1/assist/report"): Scope.ADMIN,
    ("POST", "/v1/assist/faq"): Scope.ADMIN,
    ("POST", "/v1/assist/documents"): Scope.ADMIN,
    ("POST", "/v1/experiments"): Scope.ADMIN,
    ("GET", "/v1/experiments"): Scope.ADMIN,
    ("GET", "/v1/experiments/assignment"): Scope.SEARCH,
    ("GET", "/v1/experiments/{experiment_id}"): Scope.ADMIN,
    ("POST", "/v1/experiments/{experiment_id}/stop"): Scope.ADMIN,
    ("POST", "/v1/experiments/{experiment_id}/ship"): Scope.ADMIN,
    ("GET", "/v1/insights/business"): Scope.ADMIN,
    ("GET", "/v1/insights/inventory"): Scope.ADMIN,
    ("GET", "/v1/insights/operations"): Scope.ADMIN,
    ("GET", "/v1/runs"): Scope.ADMIN,
    ("GET", "/v1/runs/compare"): Scope.ADMIN,
    ("GET", "/v1/runs/{run_id}"): Scope.ADMIN,
    ("POST", "/v1/runs/{run_id}/notes"): Scope.ADMIN,
}
OPEN = {("GET", "/v1/health"), ("GET", "/v1/live"), ("GET", "/v1/ready"), ("GET", "/"), ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"), ("GET", "/admin"), ("GET", "/assets/{name}")}
BODIES = {
    "/v1/items": {"items": [{"item_id": "lamp", "title": "Desk lamp"}]},
    # Files, not JSON: a JSON body is refused (422, its format is unknown) once the key passed.
    "/v1/ingest/events": {"events": []},
    "/v1/ingest/items": {"items": []},
    "/v1/events": {"events": [{"user_id": "u", "item_id": "teapot", "event_type": "view", "timestamp": 1_700_000_000}]},
    "/v1/ratings/predict": {"user_id": "tea-1", "item_ids": ["teapot"]},
    "/v1/clicks/predict": {"user_id": "tea-1", "item_ids": ["teapot"]},
    "/v1/impressions": {"impressions": [{"placement": "home_top", "items": ["teapot"]}]},
    "/v1/models/{version}/promote": {"reason": "auth test"},
    "/v1/models/rollback": {"reason": "auth test"},
    "/v1/rules/dry-run": {"rule": {"id": "hide-teapot", "kind": "hide", "items": ["teapot"]}, "query": "tea"},
    "/v1/rules/versions/{version}/restore": {},
    "/v1/rules/synonym-suggestions/{suggestion_id}/accept": {},
    "/v1/assist": {"message": "is the teapot heat resistant?", "item_id": "teapot"},
    "/v1/assist/feedback": {"answer_id": "unknown", "helpful": True},
    "/v1/assist/faq": {"rows": [{"question": "How do I return an item?", "answer": "Within 30 days."}]},
    "/v1/assist/documents": {"rows": [{"doc_id": "returns", "kind": "policy", "text": "Returns within 30 days."}]},
    "/v1/experiments": {"name": "auth test", "placements": ["recommend"], "variants": [{"name": "a"}, {"name": "b"}]},
    "/v1/experiments/{experiment_id}/stop": {"reason": "auth test"},
    "/v1/experiments/{experiment_id}/ship": {"variant": "b"},
    "/v1/runs/{run_id}/notes": {"text": "auth test"},
}
PARAMS = {"q": "tea", "user_id": "tea-1", "placement": "recommend"}
OTHER_SCOPE = {Scope.SEARCH: Scope.EVENTS, Scope.EVENTS: Scope.SEARCH, Scope.ADMIN: Scope.SEARCH}


@pytest.fixture
def api(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


@pytest.fixture
def secrets(engine: Engine) -> dict[Scope, str]:
    return {scope: engine.create_key(scope, name=f"test {scope.value}").secret for scope in Scope}


def _routes(routes) -> set[tuple[str, str]]:
    """(method, path) of every API route, also inside included routers."""
    found = set()
    for route in routes:
        if isinstance(route, APIRoute):
            found.update((method, re.sub(r":path}", "}", route.path)) for method in route.methods)
        elif hasattr(route, "original_router"):  # how FastAPI keeps an included router
            found |= _routes(route.original_router.routes)
    return found


def _call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None):
    url = path.replace("{item_id}", "teapot").replace("{user_id}", "tea-1").replace("{version}", "v-unknown")
    url = url.replace("{experiment_id}", "exp-unknown").replace("{run_id}", "eval:unknown")
    if method == "POST":
        return client.post(url, json=BODIES[path], headers=headers)
    return client.request(method, url, params=PARAMS, headers=headers)


def test_every_route_is_classified(api):
    routes = _routes(api.app.routes)
    documented = {(m.upper(), p) for p, ops in api.app.openapi()["paths"].items() for m in ops}
    assert documented <= routes and ("GET", "/") in routes
    assert routes - OPEN == set(NEEDS), "classify the new route in NEEDS (or OPEN) and guard it"


@pytest.mark.parametrize(("method", "path"), sorted(NEEDS))
def test_no_key_or_an_unknown_key_is_401(api, secrets, method, path):
    response = _call(api, method, path)
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "Unauthorized" and f"scope '{NEEDS[method, path].value}'" in body["message"]
    assert "Authorization: Bearer" in body["hint"] and response.headers["www-authenticate"] == "Bearer"
    for headers in ({"X-API-Key": "cw_admin_made-up"}, {"Authorization": "Bearer cw_admin_made-up"},
                    {"X-API-Key": secrets[Scope.ADMIN] + "x"}):
        response = _call(api, method, path, headers)
        assert response.status_code == 401 and "unknown or revoked" in response.json()["message"]


@pytest.mark.parametrize(("method", "path"), sorted(NEEDS))
def test_a_key_of_another_scope_is_403_naming_the_scope_needed(api, secrets, method, path):
    needed = NEEDS[method, path]
    for header in ("X-API-Key", "Authorization"):
        secret = secrets[OTHER_SCOPE[needed]]
        value = f"Bearer {secret}" if header == "Authorization" else secret
        response = _call(api, method, path, {header: value})
        assert response.status_code == 403, response.text
        message = response.json()["message"]
        assert f"needs scope '{needed.value}'" in message and secret not in response.text


@pytest.mark.parametrize(("method", "path"), sorted(NEEDS))
def test_the_right_key_and_admin_get_through(api, secrets, method, path):
    for scope in {NEEDS[method, path], Scope.ADMIN}:
        response = _call(api, method, path, {"Authorization": f"Bearer {secrets[scope]}"})
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500


def test_events_key_does_not_read_and_search_key_does_not_write(api, secrets):
    events = {"X-API-Key": secrets[Scope.EVENTS]}
    search = {"X-API-Key": secrets[Scope.SEARCH]}
    assert api.get("/v1/search", params={"q": "tea"}, headers=events).status_code == 403
    assert api.post("/v1/events", json=BODIES["/v1/events"], headers=events).status_code == 200
    assert api.delete("/v1/items/teapot", headers=search).status_code == 403
    assert api.get("/v1/search", params={"q": "teapot"}, headers=search).json()["items"][0]["item_id"] == "teapot"


@pytest.mark.parametrize(("method", "path"), sorted(OPEN))
def test_open_routes_need_no_key(api, method, path):
    assert api.request(method, path.replace("{name}", "shop.js")).status_code == 200


def test_health_tells_no_catalog_data_nor_where_the_store_lies(api, engine):
    body = api.get("/v1/health").json()
    assert set(body) == {"status", "catalog_version", "events_version", "model_version", "trained_ms"}
    assert str(engine.store.path) not in api.get("/v1/health").text


def test_revoked_keys_stop_working_at_once_and_from_another_process_within_a_second(api, engine, tmp_path):
    first = engine.create_key("search")
    headers = {"X-API-Key": first.secret}
    assert api.get("/v1/search", params={"q": "tea"}, headers=headers).status_code == 200
    engine.revoke_key(first.key.prefix)
    assert api.get("/v1/search", params={"q": "tea"}, headers=headers).status_code == 401

    second = engine.create_key("search")
    headers = {"X-API-Key": second.secret}
    assert api.get("/v1/search", params={"q": "tea"}, headers=headers).status_code == 200
    Engine.open(engine.store.path).revoke_key(str(second.key.key_id))  # as `cartwise keys revoke` does
    engine.keys.recheck_s = 0.0  # the server looks again after at most a second; don't wait in a test
    assert api.get("/v1/search", params={"q": "tea"}, headers=headers).status_code == 401


def test_keys_are_stored_hashed(engine):
    new = engine.create_key("admin", name="ops")
    assert new.secret.startswith("cw_admin_") and len(new.secret) > 40
    assert new.secret not in repr(new) and new.secret not in repr(engine.list_keys())
    stored = b"".join(p.read_bytes() for p in Path(engine.store.path).glob("cartwise.db*"))
    assert new.secret.encode() not in stored
    assert new.key.prefix.encode() in stored and new.secret[len(new.key.prefix):].encode() not in stored


def test_keys_never_reach_the_logs(engine, caplog):
    caplog.set_level(logging.DEBUG)
    new = engine.create_key("search")
    client = TestClient(create_app(engine))
    client.get("/v1/search", params={"q": "tea"}, headers={"Authorization": f"Bearer {new.secret}"})
    client.post("/v1/events", json=BODIES["/v1/events"], headers={"X-API-Key": new.secret})
    client.get("/v1/search", params={"q": "tea"}, headers={"X-API-Key": new.secret + "x"})
    engine.revoke_key(new.key.prefix)
    assert caplog.records  # something was logged, and none of it holds the secret
    assert new.secret not in caplog.text and new.secret[len(new.key.prefix):] not in caplog.text


def test_anonymous_reads_allow_answers_only(engine, secrets):
    client = TestClient(create_app(engine, anonymous_reads=True))
    assert client.get("/v1/search", params={"q": "tea"}).status_code == 200
    assert client.get("/v1/items/teapot/similar").status_code == 200
    assert client.post("/v1/events", json=BODIES["/v1/events"]).status_code == 401
    assert client.delete("/v1/items/teapot").status_code == 401
    assert client.get("/v1/stats").status_code == 401
    assert client.get("/v1/search", params={"q": "tea"}, headers={"X-API-Key": "wrong"}).status_code == 401


def test_cors_answers_only_the_allowed_origins(engine):
    client = TestClient(create_app(engine, cors_origins=["https://shop.example.com"]))
    ask = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/v1/search", headers={"Origin": "https://shop.example.com", **ask})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
    other = client.options("/v1/search", headers={"Origin": "https://evil.example", **ask})
    assert "access-control-allow-origin" not in other.headers
    closed = TestClient(create_app(engine)).get("/v1/health", headers={"Origin": "https://shop.example.com"})
    assert "access-control-allow-origin" not in closed.headers


def test_demo_page_carries_only_a_search_key(engine, secrets):
    page = TestClient(create_app(engine, page_key=secrets[Scope.SEARCH])).get("/").text
    assert f'<meta name="cartwise-key" content="{secrets[Scope.SEARCH]}">' in page
    assert 'name="cartwise-key" content' not in TestClient(create_app(engine)).get("/").text


runner = CliRunner()


def test_cli_creates_lists_and_revokes_keys(tmp_path):
    store = str(tmp_path / "store")
    created = runner.invoke(cli_app, ["keys", "create", "--scope", "search", "--name", "shop", "--store", store,
                                      "--json"], catch_exceptions=False)
    assert created.exit_code == 0, created.output
    assert "no store at" in created.stderr  # a mistyped --store is noticed
    new = json.loads(created.stdout)
    again = runner.invoke(cli_app, ["keys", "create", "--scope", "events", "--store", store], catch_exceptions=False)
    assert again.exit_code == 0 and "no store at" not in again.stderr
    assert new["secret"].startswith("cw_search_") and new["scope"] == "search" and new["name"] == "shop"
    listed = runner.invoke(cli_app, ["keys", "list", "--store", store], catch_exceptions=False)
    assert new["prefix"] in listed.output and new["secret"] not in listed.output
    engine = Engine.open(store)
    assert engine.verify_key(new["secret"]) is not None
    revoked = runner.invoke(cli_app, ["keys", "revoke", new["prefix"], "--store", store], catch_exceptions=False)
    assert revoked.exit_code == 0, revoked.output
    assert Engine.open(store).verify_key(new["secret"]) is None
    assert json.loads(runner.invoke(cli_app, ["keys", "list", "--store", store, "--json"]).stdout)[0]["revoked"]


def test_cli_refuses_a_bad_scope_and_anonymous_reads_off_loopback(tmp_path):
    store = str(tmp_path / "store")
    with pytest.raises(ValidationError, match="unknown scope"):
        runner.invoke(cli_app, ["keys", "create", "--scope", "root", "--store", store], catch_exceptions=False)
    Engine.open(store)
    with pytest.raises(ValidationError, match="loopback"):
        runner.invoke(cli_app, ["serve", "--store", store, "--host", "0.0.0.0", "--allow-anonymous-reads"],
                      catch_exceptions=False)


def test_cli_refuses_a_page_key_that_is_not_a_search_key(engine):
    admin = engine.create_key("admin").secret
    with pytest.raises(ValidationError, match="must be a search key"):
        runner.invoke(cli_app, ["serve", "--store", str(engine.store.path), "--page-key", admin],
                      catch_exceptions=False)


def test_demo_keys_are_one_per_scope_and_replace_the_last_runs(engine):
    from cartwise.cli.keys import create_demo_keys

    hand_made = engine.create_key("admin", name="ops")
    first = create_demo_keys(engine)
    assert {scope: new.key.scope for scope, new in first.items()} == {scope: scope for scope in Scope}
    second = create_demo_keys(engine)
    assert all(engine.verify_key(new.secret) is None for new in first.values())
    assert all(engine.verify_key(new.secret) is not None for new in second.values())
    assert engine.verify_key(hand_made.secret) is not None


@pytest.mark.parametrize(("method", "path"), sorted(key for key in NEEDS if key[0] == "POST"))
def test_the_key_is_checked_before_the_body_is_read(api, secrets, method, path):
    """A caller without the right key must not make the server read and parse a body (up
    to the body limit): a body that is not JSON is refused 401/403, never 422."""
    for headers, status in ((None, 401), ({"X-API-Key": "cw_admin_made-up"}, 401),
                            ({"X-API-Key": secrets[OTHER_SCOPE[NEEDS[method, path]]]}, 403)):
        response = api.post(path, content=b"{not json", headers={"content-type": "application/json", **(headers or {})})
        assert response.status_code == status, response.text


def test_a_body_is_not_received_from_a_caller_without_a_key(engine):
    import anyio

    received = []

    async def receive():
        received.append(True)
        return {"type": "http.request", "body": json.dumps(BODIES["/v1/items"]).encode(), "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": "/v1/items", "raw_path": b"/v1/items",
             "root_path": "", "scheme": "http", "query_string": b"", "server": ("test", 80), "client": ("c", 1),
             "headers": [(b"content-type", b"application/json")]}
    anyio.run(create_app(engine), scope, receive, send)
    assert sent[0]["status"] == 401 and not received
