from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwise.api import create_app


@pytest.fixture
def client(engine):
    """The API as an operator's script calls it: with an admin key (tests/api/test_auth.py
    checks every scope)."""
    return TestClient(create_app(engine), headers={"Authorization": f"Bearer {engine.create_key('admin').secret}"})


def test_health_and_docs(client):
    body = client.get("/v1/health").json()
    assert body["status"] == "ok" and body["model_version"]
    stats = client.get("/v1/stats").json()
    assert stats["items"] == 8 and stats["events"] > 100 and stats["model"]["version"] == body["model_version"]
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ["/v1/items", "/v1/items/{item_id}", "/v1/events", "/v1/search",
                 "/v1/users/{user_id}/recommendations", "/v1/items/{item_id}/similar", "/v1/health"]:
        assert path in paths


def test_demo_page(client):
    response = client.get("/")
    assert response.status_code == 200 and "Cartwise" in response.text


def test_search_with_filters(client):
    body = client.get("/v1/search", params={"q": "mug", "price_max": 10, "k": 5, "mode": "lexical"}).json()
    assert {i["item_id"] for i in body["items"]} == {"mug-red", "mug-blue"}
    assert body["filters"]["price_max"] == 10 and body["mode"] == "lexical"
    body = client.get("/v1/search", params=[("q", "hiking"), ("filter", "in_stock=true")]).json()
    assert body["items"][0]["item_id"] == "socks" and body["mode"] == "hybrid"
    assert "boots" not in {i["item_id"] for i in body["items"]}


def test_typed_filter_parameters_answer_as_filter_expressions(client):
    typed = client.get("/v1/search", params={"q": "tea", "category": "Home", "brand": "Brew, acme", "price_max": 15,
                                             "in_stock": "true"}).json()
    written = client.get("/v1/search", params=[("q", "tea"), ("filter", "category=Home"), ("filter", "brand=Brew,acme"),
                                               ("filter", "price<=15"), ("filter", "in_stock=true")]).json()
    mixed = client.get("/v1/search", params=[("q", "tea"), ("filter", "category=Home"), ("filter", "price<=30"),
                                             ("brand", "Brew,acme"), ("price_max", "15"), ("in_stock", "true")]).json()
    for body in (typed, written, mixed):
        body.pop("took_ms")
        body.pop("request_id")  # each answer is its own request
    assert typed == written == mixed
    assert typed["filters"] == {"category": "Home", "brands": ["Brew", "acme"], "price_max": 15.0, "in_stock": True}
    assert typed["items"][0]["item_id"] == "tea-cosy"
    assert all(i["brand"] in ("Brew", "Acme") and i["price"] <= 15 for i in typed["items"])
    clash = client.get("/v1/search", params=[("q", "tea"), ("filter", "category=Outdoor"), ("category", "Home")])
    assert clash.status_code == 422 and "two different category filters" in clash.json()["message"]


def test_bad_filter_is_422_naming_the_field(client):
    response = client.get("/v1/search", params=[("q", "mug"), ("filter", "colour=red")])
    assert response.status_code == 422
    assert "colour" in response.json()["message"]


@pytest.mark.parametrize(
    "params, field",
    [({"q": "mug", "k": 0}, "k"), ({"q": "mug", "k": "ten"}, "k"), ({"q": "x" * 1001}, "q"), ({"q": ""}, "q")],
)
def test_search_validation(client, params, field):
    response = client.get("/v1/search", params=params)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_recommendations_and_similar(client):
    client.post("/v1/events", json={"events": [
        {"user_id": "bob", "item_id": "mug-red", "event_type": "view", "timestamp": "2023-11-15T10:00:00Z"}]})
    body = client.get("/v1/users/bob/recommendations", params={"k": 2}).json()
    assert body["items"][0]["item_id"] == "mug-blue" and body["strategy"] in ("personalised", "mixed")
    body = client.get("/v1/items/teapot/similar").json()
    assert body["items"][0]["item_id"] == "tea-cosy"
    response = client.get("/v1/items/nope/similar")
    assert response.status_code == 404 and response.json()["field"] == "item_id"


def test_item_upsert_reports_rejected_rows_and_keeps_valid_ones(client):
    response = client.post("/v1/items", json={"items": [
        {"item_id": "lamp", "title": "Desk lamp", "price": 20},
        {"item_id": "bad", "title": "Broken", "price": -3},
        {"title": "no id"},
    ]})
    assert response.status_code == 200
    body = response.json()
    assert body["written"] == 1
    assert sorted(r["index"] for r in body["rejected"]) == [1, 2]
    assert {r["field"] for r in body["rejected"]} >= {"price"}


def test_all_rows_rejected_is_422(client):
    response = client.post("/v1/events", json={"events": [{"user_id": "u", "item_id": "teapot",
                                                           "event_type": "teleport", "timestamp": 1_700_000_000}]})
    assert response.status_code == 422
    assert "event_type" in response.json()["rejected"][0]["field"]


def test_events_are_idempotent(client):
    batch = {"events": [{"user_id": "c", "item_id": "teapot", "event_type": "click", "timestamp": 1_700_000_000,
                         "event_id": "e-1"}]}
    assert client.post("/v1/events", json=batch).json()["written"] == 1
    again = client.post("/v1/events", json=batch).json()
    assert again["written"] == 0 and again["duplicates"] == 1


def test_malformed_bodies_are_422(client):
    assert client.post("/v1/events", content=b"{not json").status_code == 422
    assert client.post("/v1/events", json={"events": "nope"}).status_code == 422
    assert client.post("/v1/items", json=[1, 2]).status_code == 422
    too_many = {"items": [{"item_id": str(i), "title": "t"} for i in range(10_001)]}
    assert client.post("/v1/items", json=too_many).status_code == 422


def test_misspelt_top_level_field_is_422_naming_it(client):
    event = {"user_id": "u1", "item_id": "teapot", "event_type": "view", "timestamp": "2024-01-01T00:00:00Z"}
    answer = client.post("/v1/events", json={"events": [event], "unknown_item": "reject"})
    assert answer.status_code == 422
    assert "unknown_item" in answer.text
    assert client.post("/v1/items", json={"items": [], "item": {}}).status_code == 422


def test_delete_item(client):
    assert client.delete("/v1/items/teapot").status_code == 204
    assert client.delete("/v1/items/teapot").status_code == 404
    assert "teapot" not in [i["item_id"] for i in client.get("/v1/search", params={"q": "teapot"}).json()["items"]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=300), k=st.integers(min_value=-5, max_value=2000))
def test_search_never_500(client, q, k):
    response = client.get("/v1/search", params={"q": q, "k": k})
    assert response.status_code in (200, 422), response.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.text(min_size=1, max_size=80).filter(lambda s: s.strip() not in (".", "..")))
def test_recommendations_never_500(client, user):
    response = client.get(f"/v1/users/{quote(user, safe='')}/recommendations")
    assert response.status_code in (200, 404, 422), response.text


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
@pytest.mark.parametrize(
    "q", ["x" * 1000, "mug\x00\x07\x1b[31m", "'; DROP TABLE items; --", "\u202e\u200b", "🙂" * 50, "under 50", "%"]
)
def test_odd_queries_in_every_mode_answer_or_4xx(client, q, mode):
    response = client.get("/v1/search", params={"q": q, "mode": mode})
    assert response.status_code in (200, 422), response.text


def test_ten_thousand_character_query_is_a_clear_422(client):
    response = client.get("/v1/search", params={"q": "mug " * 2500})
    assert response.status_code == 422 and response.json()["field"] == "q"


def test_unknown_mode_is_422(client):
    response = client.get("/v1/search", params={"q": "mug", "mode": "fuzzy"})
    assert response.status_code == 422


def test_search_page_fields_over_http(client):
    body = client.get("/v1/search", params={"q": "red dress under 100"}).json()
    assert body["mode"] == "hybrid" and body["items"][0]["item_id"] == "dress-red"
    assert {c["kind"] for c in body["chips"]} >= {"price", "colour"}
    assert body["filters"]["price_max"] == 100 and body["total"] >= 1
    categories = {v["value"]: v["count"] for v in body["facets"]["category"]}
    assert categories["Fashion > Dresses"] >= 1 and sum(categories.values()) == body["total"]


def test_autocomplete_over_http(client):
    body = client.get("/v1/autocomplete", params={"q": "tea"}).json()
    assert any(s["text"] == "Glass teapot with infuser" for s in body["suggestions"])
    assert client.get("/v1/autocomplete", params={"q": "x" * 201}).status_code == 422
    assert client.get("/v1/autocomplete", params={"q": "\x00\x07"}).json()["suggestions"] == []
def test_storefront_status_line_counts_with_a_search_key(engine):
    # The demo page's status line: a storefront holds a search key, not an admin one.
    page = TestClient(create_app(engine), headers={"X-API-Key": engine.create_key("search").secret})
    assert page.get("/v1/stats").status_code == 403
    answer = page.get("/v1/search", params={"in_stock": "true", "k": 1, "facets": "false"})
    assert answer.status_code == 200 and answer.json()["total"] > 0
    assert page.get("/v1/health").json()["model_version"]
