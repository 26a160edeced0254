"""/metrics: Prometheus text with the numbers an operator watches, behind an admin key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cartwise import Engine
from cartwise.api import create_app

EVENT = {"user_id": "shopper-1", "item_id": "teapot", "event_type": "view", "timestamp": 1_700_000_500}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels); parsing fails on malformed text."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def admin(engine: Engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {engine.create_key('admin').secret}"}


@pytest.fixture
def client(engine: Engine, admin: dict[str, str]) -> TestClient:
    return TestClient(create_app(engine), headers=admin)


def scrape(client: TestClient) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def test_requests_are_counted_and_timed_per_route_template_not_per_path(client):
    for item in ("teapot", "mug-red", "socks", "no-such-item"):
        client.get(f"/v1/items/{item}/similar")
    client.get("/v1/search", params={"q": "tea"})
    client.get("/v1/nowhere/at/all")
    got = scrape(client)
    route = "/v1/items/{item_id}/similar"
    assert value(got, "cartwise_http_requests_total", method="GET", route=route, status="200") == 3
    assert value(got, "cartwise_http_requests_total", method="GET", route=route, status="404") == 1
    assert value(got, "cartwise_http_request_duration_seconds_count", method="GET", route=route) == 4
    assert value(got, "cartwise_http_request_duration_seconds_sum", method="GET", route=route) > 0
    assert value(got, "cartwise_http_requests_total", method="GET", route="/v1/search", status="200") == 1
    assert value(got, "cartwise_http_requests_total", method="GET", route="unmatched", status="404") == 1
    labels = {dict(key[1]).get("route") for key in got}
    assert not any(r and ("teapot" in r or "mug-red" in r or "nowhere" in r) for r in labels)


def test_events_by_type_clicks_rejects_and_duplicates(client):
    batch = [
        {**EVENT, "event_type": "click", "request_id": "0123456789abcdef"},
        {**EVENT, "event_type": "click", "timestamp": 1_700_000_600},
        {**EVENT, "event_type": "purchase", "timestamp": 1_700_000_700},
        {**EVENT, "event_type": "teleport"},
    ]
    assert client.post("/v1/events", json={"events": batch}).status_code == 200
    assert client.post("/v1/events", json={"events": batch[2:3]}).json()["duplicates"] == 1
    got = scrape(client)
    assert value(got, "cartwise_events_accepted_total", event_type="click") == 2
    assert value(got, "cartwise_events_accepted_total", event_type="purchase") == 2
    assert value(got, "cartwise_events_duplicate_total") == 1
    assert value(got, "cartwise_events_rejected_total", field="event_type") == 1
    assert value(got, "cartwise_clicks_total", attributed="true") == 1
    assert value(got, "cartwise_clicks_total", attributed="false") == 1


def test_impressions_queue_and_counts(client, engine):
    for query in ("tea", "mug", "hiking"):
        client.get("/v1/search", params={"q": query})
    client.post("/v1/impressions", json={"impressions": [{"placement": "home_top", "items": ["teapot", "socks"]}]})
    got = scrape(client)
    assert value(got, "cartwise_impressions_reported_total") == 1
    queued = value(got, "cartwise_impression_log_pending") + value(got, "cartwise_impressions_written_total")
    assert queued == 3  # every answer is queued or written, none lost
    engine.impressions.flush()
    got = scrape(client)
    assert value(got, "cartwise_impression_log_pending") == 0
    assert value(got, "cartwise_impressions_written_total") == 3


def test_model_version_and_versions(client):
    health = client.get("/v1/health").json()
    got = scrape(client)
    models = [dict(labels) for name, labels in got if name == "cartwise_model_info"]
    assert [m["version"] for m in models] == [health["model_version"]]
    assert models[0]["recommender"]
    assert value(got, "cartwise_store_up") == 1
    assert value(got, "cartwise_events_version", view="store") == health["events_version"]
    assert value(got, "cartwise_events_version", view="snapshot") == health["events_version"]
    assert value(got, "cartwise_events_version", view="model") == health["events_version"]
    assert value(got, "cartwise_catalog_version", view="indexed") == health["catalog_version"]
    assert value(got, "cartwise_model_trained_timestamp_seconds") * 1000 == pytest.approx(health["trained_ms"])


def test_event_to_snapshot_lag_is_observed_when_a_snapshot_includes_the_event(client, engine):
    assert client.post("/v1/events", json={"events": [EVENT]}).status_code == 200
    got = scrape(client)
    # Learned from the store's events log before the 2xx: the published state holds it at once.
    assert value(got, "cartwise_event_to_snapshot_seconds_count") == 1
    assert 0 <= value(got, "cartwise_event_to_snapshot_seconds_sum") < 60
    assert value(got, "cartwise_event_snapshot_lag_seconds") == 0
    assert value(got, "cartwise_events_version", view="store") == value(got, "cartwise_events_version", view="snapshot")
    # The model only learns it at the next train.
    assert value(got, "cartwise_events_version", view="model") < value(got, "cartwise_events_version", view="store")


def test_metrics_need_an_admin_key_unless_opened(engine, admin):
    closed = TestClient(create_app(engine))
    assert closed.get("/metrics").status_code == 401
    search = {"X-API-Key": engine.create_key("search").secret}
    assert closed.get("/metrics", headers=search).status_code == 403
    assert closed.get("/metrics", headers=admin).status_code == 200
    opened = TestClient(create_app(engine, metrics_open=True))
    assert opened.get("/metrics").status_code == 200


def test_two_apps_keep_their_own_counts_and_metrics_can_be_off(engine, admin):
    first = TestClient(create_app(engine), headers=admin)
    second = TestClient(create_app(engine), headers=admin)
    first.get("/v1/search", params={"q": "tea"})
    assert value(scrape(second), "cartwise_http_requests_total", method="GET", route="/v1/search", status="200") == 0
    bare = TestClient(create_app(engine, metrics=False), headers=admin)
    assert bare.get("/metrics").status_code == 404
    assert bare.get("/v1/search", params={"q": "tea"}).status_code == 200


def test_every_response_carries_a_request_id(client):
    mine = client.get("/v1/live", headers={"X-Request-ID": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    unsafe = client.get("/v1/live", headers={"X-Request-ID": "bad id\twith tab"})
    assert unsafe.headers["x-request-id"] != "bad id\twith tab" and len(unsafe.headers["x-request-id"]) == 16
    assert client.get("/v1/live").headers["x-request-id"] != client.get("/v1/live").headers["x-request-id"]


def test_the_dashboards_operations_report_carries_the_event_to_effect_lag(client, engine):
    before = client.get("/v1/insights/operations").json()["event_lag"]
    assert before == {"writes": 0, "p50_s": None, "p99_s": None, "oldest_waiting_s": 0.0}
    assert client.post("/v1/events", json={"events": [EVENT]}).status_code == 200
    lag = client.get("/v1/insights/operations").json()["event_lag"]
    assert lag["writes"] == 1 and lag["oldest_waiting_s"] == 0 and 0 < lag["p50_s"] <= lag["p99_s"] <= 300
