"""Ids over HTTP: a slash in an id works in every path; control characters are refused
at ingest (HTTP, CLI and Python API alike) with the field and the reason."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cartwise.api import create_app
from cartwise.cli.main import app as cli_app

CONTROL = "contains a control character"


@pytest.fixture
def client(engine):
    return TestClient(create_app(engine), headers={"X-API-Key": engine.create_key("admin").secret})


@pytest.mark.parametrize("encode", [lambda i: i, lambda i: i.replace("/", "%2F")], ids=["plain", "%2F"])
def test_ids_with_a_slash_can_be_created_asked_about_and_deleted(client, encode, monkeypatch):
    monkeypatch.setattr("cartwise.live.feed.REFRESH_INTERVAL", 0.0)  # see new items at once, not within a second
    created = client.post("/v1/items", json={"items": [
        {"item_id": "SKU/123", "title": "Glass teapot, large", "category": "Home > Kitchen > Tea"},
        {"item_id": "a/similar", "title": "Tea cosy, striped"},
    ]})
    assert created.status_code == 200 and created.json()["written"] == 2
    events = [{"user_id": "shop/eu/42", "item_id": "SKU/123", "event_type": "view", "timestamp": 1_700_000_000}]
    assert client.post("/v1/events", json={"events": events}).json()["written"] == 1

    similar = client.get(f"/v1/items/{encode('SKU/123')}/similar")
    assert similar.status_code == 200, similar.text
    assert "SKU/123" not in [i["item_id"] for i in similar.json()["items"]]
    assert client.get(f"/v1/items/{encode('a/similar')}/similar").status_code == 200
    recs = client.get(f"/v1/users/{encode('shop/eu/42')}/recommendations", params={"exclude_seen": False})
    assert recs.status_code == 200 and recs.json()["user_id"] == "shop/eu/42"

    assert client.delete(f"/v1/items/{encode('SKU/123')}").status_code == 204
    assert client.delete(f"/v1/items/{encode('SKU/123')}").status_code == 404
    assert client.get(f"/v1/items/{encode('SKU/123')}/similar").status_code == 404
    assert client.delete("/v1/items/a/similar").status_code == 204


@pytest.mark.parametrize("bad", ["a\x00b", "line\nbreak", "tab\tin", "esc\x1b[31m", "del\x7f", "c1\x9bx"])
def test_control_characters_in_item_ids_are_rejected_over_http(client, bad):
    response = client.post("/v1/items", json={"items": [{"item_id": bad, "title": "x"},
                                                         {"item_id": "fine", "title": "y"}]})
    assert response.status_code == 200
    body = response.json()
    assert body["written"] == 1
    assert body["rejected"] == [{"index": 0, "field": "item_id", "reason": f"item_id {CONTROL} (such as NUL, a tab "
                                 "or a newline)"}]
    everything_bad = client.post("/v1/items", json={"items": [{"item_id": bad, "title": "x"}]})
    assert everything_bad.status_code == 422


@pytest.mark.parametrize("field", ["user_id", "item_id", "session_id", "event_id"])
def test_control_characters_in_event_ids_are_rejected_over_http(client, field):
    event = {"user_id": "u1", "item_id": "teapot", "event_type": "view", "timestamp": 1_700_000_000,
             "session_id": "s1", "event_id": "e1", field: "x\x00y"}
    response = client.post("/v1/events", json={"events": [event]})
    assert response.status_code == 422
    rejected = response.json()["rejected"][0]
    assert rejected["field"] == field and CONTROL in rejected["reason"]


def test_control_characters_are_rejected_by_the_python_api(engine):
    report = engine.add_events([{"user_id": "u\x00", "item_id": "teapot", "event_type": "view",
                                 "timestamp": 1_700_000_000}])
    assert report.rows_written == 0 and report.rejects[0].field == "user_id" and CONTROL in report.rejects[0].reason
    report = engine.upsert_items([{"item_id": "mug\x07", "title": "Mug"}])
    assert report.rows_written == 0 and CONTROL in report.rejects[0].reason


def test_control_characters_are_rejected_by_cli_ingest_with_file_line_field_reason(tmp_path):
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("\n".join(json.dumps(row) for row in [
        {"item_id": "ok", "title": "Fine"},
        {"item_id": "bad\u0000id", "title": "NUL in id"},
    ]) + "\n", encoding="utf-8")
    events = tmp_path / "events.csv"
    events.write_text('user_id,item_id,event_type,timestamp\nu1,ok,view,1700000000\n"u\x1b2",ok,view,1700000000\n',
                      encoding="utf-8")
    store = str(tmp_path / "store")
    runner = CliRunner()
    out = runner.invoke(cli_app, ["ingest", "items", str(catalog), "--store", store, "--json"], catch_exceptions=False)
    items = json.loads(out.stdout)
    assert items["rows_written"] == 1 and items["rows_rejected"] == 1
    reject = items["rejects"][0]
    assert (reject["source"], reject["line"], reject["field"]) == (str(catalog), 2, "item_id")
    assert CONTROL in reject["reason"]
    out = runner.invoke(cli_app, ["ingest", "events", str(events), "--store", store, "--json"], catch_exceptions=False)
    reject = json.loads(out.stdout)["rejects"][0]
    assert (reject["line"], reject["field"]) == (3, "user_id") and CONTROL in reject["reason"]


def test_ids_that_differ_only_in_case_are_kept_with_a_warning(engine, tmp_path):
    first = engine.upsert_items([{"item_id": "85123A", "title": "White hanging heart t-light holder"}])
    assert first.warnings == 0 and first.notes == []
    second = engine.upsert_items([{"item_id": "85123a", "title": "White hanging heart t-light holder"},
                                  {"item_id": "Teapot", "title": "Teapot"}, {"item_id": "lamp", "title": "Lamp"}])
    assert second.rows_written == 3 and second.warnings == 2
    assert "85123A / 85123a" in second.notes[0] and "Teapot / teapot" in second.notes[0]
    assert {"85123A", "85123a", "Teapot", "teapot"} <= engine.store.item_ids()

    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item_id,title\nSOCKS,Wool socks\n", encoding="utf-8")
    out = CliRunner().invoke(cli_app, ["ingest", "items", str(catalog), "--store", str(engine.store.path), "--json"],
                             catch_exceptions=False)
    report = json.loads(out.stdout)
    assert report["warnings"] == 1 and "SOCKS / socks" in report["notes"][0]
