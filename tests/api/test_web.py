"""The storefront and dashboard pages and the insights endpoints over HTTP (the browser
tests in tests/web drive the pages themselves)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cartwise.access import Scope
from cartwise.api import create_app
from cartwise.cli.keys import check_serving
from cartwise.errors import ValidationError


@pytest.fixture
def keys(engine):
    return {scope: engine.create_key(scope).secret for scope in Scope}


def test_the_storefront_holds_its_search_and_events_keys_and_the_dashboard_none(engine, keys):
    client = TestClient(create_app(engine, page_key=keys[Scope.SEARCH], page_events_key=keys[Scope.EVENTS]))
    shop = client.get("/").text
    assert f'<meta name="cartwise-key" content="{keys[Scope.SEARCH]}">' in shop
    assert f'<meta name="cartwise-events-key" content="{keys[Scope.EVENTS]}">' in shop
    admin = client.get("/admin")
    assert admin.status_code == 200 and "cartwise-key" not in admin.text and keys[Scope.ADMIN] not in admin.text
    assert 'name="cartwise-events-key"' not in TestClient(create_app(engine)).get("/").text


def test_pages_load_only_bundled_assets(engine):
    client = TestClient(create_app(engine))
    for page in ("/", "/admin"):
        text = client.get(page).text
        assert "http://" not in text and "https://" not in text  # no CDN: works offline
    script = client.get("/assets/plot.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert client.get("/assets/admin.css").headers["content-type"].startswith("text/css")
    assert client.get("/assets/..%2Fapi%2Fapp.py").status_code == 404
    missing = client.get("/assets/__init__.py")  # a file of the package, but not an asset
    assert missing.status_code == 404 and missing.json()["field"] == "name"


@pytest.mark.parametrize("report", ["business", "inventory", "operations"])
def test_insights_need_an_admin_key(engine, keys, report):
    client = TestClient(create_app(engine))
    assert client.get(f"/v1/insights/{report}").status_code == 401
    refused = client.get(f"/v1/insights/{report}", headers={"X-API-Key": keys[Scope.SEARCH]})
    assert refused.status_code == 403 and "admin" in refused.json()["message"]
    assert client.get(f"/v1/insights/{report}", headers={"X-API-Key": keys[Scope.ADMIN]}).status_code == 200


@pytest.mark.parametrize(("params", "field"), [({"days": 0}, "days"), ({"days": 4000}, "days"),
                                               ({"limit": 0}, "limit"), ({"end_ms": -1}, "end_ms"),
                                               ({"days": "week"}, "days")])
def test_bad_report_parameters_are_refused_naming_the_field(engine, keys, params, field):
    client = TestClient(create_app(engine), headers={"X-API-Key": keys[Scope.ADMIN]})
    response = client.get("/v1/insights/business", params=params)
    assert response.status_code == 422 and response.json()["field"] == field


def test_the_page_events_key_must_be_an_events_key_of_the_store(engine, keys):
    check_serving(engine, "127.0.0.1", anonymous_reads=False, page_key=None, page_events_key=keys[Scope.EVENTS])
    for wrong in (keys[Scope.ADMIN], keys[Scope.SEARCH], "cw_not_a_key"):
        with pytest.raises(ValidationError) as refused:
            check_serving(engine, "127.0.0.1", anonymous_reads=False, page_key=None, page_events_key=wrong)
        assert refused.value.field == "page_events_key"
