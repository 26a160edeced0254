"""The relation graph over HTTP and the CLI: related items with evidence, the bundle, the
alternatives, impressions, and clear errors."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cartwise.api import create_app
from cartwise.cli.main import app as cli

runner = CliRunner()


@pytest.fixture
def client(graph_engine):
    return TestClient(create_app(graph_engine),
                      headers={"Authorization": f"Bearer {graph_engine.create_key('search').secret}"})


def test_related_with_evidence(client):
    body = client.get("/v1/items/tent/related", params={"type": "complements", "k": 5}).json()
    assert body["type"] == "complements" and body["model_version"]
    [pegs] = body["items"]
    assert pegs["item_id"] == "pegs" and pegs["relation"] == "complements" and pegs["price"] == 9.5
    assert pegs["evidence"]["count"] == 20 and pegs["evidence"]["lift"] > 5 and 0 < pegs["evidence"]["support"] < 1
    subs = client.get("/v1/items/kettle-steel/related", params={"type": "substitutes"}).json()["items"]
    assert subs[0]["item_id"] == "kettle-glass" and subs[0]["evidence"]["co_viewed"] == 30
    kinds = client.get("/v1/relations").json()
    assert {"complements", "substitutes", "variants", "co_bought"} <= {kind["name"] for kind in kinds}


def test_bundle_sums_its_price_and_logs_an_impression(client, graph_engine):
    body = client.get("/v1/items/tent/bundle", params={"user_id": "camper-1"}).json()
    assert [i["item_id"] for i in body["items"]] == ["tent", "pegs"]
    assert [i["relation"] for i in body["items"]] == ["item", "complements"]
    assert body["total_price"] == pytest.approx(129.5) and body["currency"] == "EUR"
    assert body["request_id"] and "only 1" in body["note"]
    # The bag is bought with everything, so it is in no bundle.
    lonely = client.get("/v1/items/bag/bundle").json()
    assert [i["item_id"] for i in lonely["items"]] == ["bag"] and lonely["total_price"] == 1.0
    graph_engine.impressions.flush()
    shown = graph_engine.store.impressions()
    row = shown.filter(shown["request_id"] == body["request_id"]).to_dicts()[0]
    assert row["placement"] == "bundle" and row["user_id"] == "camper-1" and row["model_version"]
    items = graph_engine.store.impression_items()
    assert items.filter(items["request_id"] == body["request_id"])["item_id"].to_list() == ["tent", "pegs"]


def test_alternatives_in_stock_first(client, graph_engine):
    ranked = [i.item_id for i in graph_engine.related("kettle-steel", type="substitutes").items]
    assert ranked[:2] == ["kettle-glass", "kettle-mini"]  # the glass kettle is the closer one...
    body = client.get("/v1/items/kettle-steel/alternatives", params={"k": 2}).json()
    assert [(i["item_id"], i["in_stock"]) for i in body["items"]] == [("kettle-mini", True), ("kettle-glass", False)]
    assert body["request_id"]
    graph_engine.impressions.flush()
    shown = graph_engine.store.impressions()
    assert shown.filter(shown["request_id"] == body["request_id"])["placement"].to_list() == ["alternatives"]


def test_errors_name_the_field(client):
    missing = client.get("/v1/items/no-such-item/related", params={"type": "complements"})
    assert missing.status_code == 404 and missing.json()["field"] == "item_id"
    assert "no-such-item" in missing.json()["message"]
    for path in ("bundle", "alternatives"):
        assert client.get(f"/v1/items/no-such-item/{path}").status_code == 404
    bad_type = client.get("/v1/items/tent/related", params={"type": "friends"})
    assert bad_type.status_code == 422 and bad_type.json()["field"] == "type"
    assert "friends" in bad_type.json()["message"] and "complements" in bad_type.json()["hint"]
    bad_k = client.get("/v1/items/tent/related", params={"k": 0})
    assert bad_k.status_code == 422 and bad_k.json()["field"] == "k"
    too_big = client.get("/v1/items/tent/bundle", params={"k": 50})
    assert too_big.status_code == 422 and too_big.json()["field"] == "k"


def test_search_scope_is_needed(graph_engine):
    anonymous = TestClient(create_app(graph_engine))
    assert anonymous.get("/v1/items/tent/related").status_code == 401
    events_only = TestClient(create_app(graph_engine),
                             headers={"X-API-Key": graph_engine.create_key("events").secret})
    assert events_only.get("/v1/items/tent/bundle").status_code == 403


def test_cli_related_table_and_json(graph_engine):
    store = str(graph_engine.workspace.root)
    table = runner.invoke(cli, ["related", "tent", "--type", "complements", "--store", store])
    assert table.exit_code == 0, table.output
    assert "pegs" in table.output and "lift=" in table.output and "complements of tent" in table.output
    as_json = runner.invoke(cli, ["related", "tee-red", "-t", "variants", "--store", store, "--json"])
    assert as_json.exit_code == 0
    body = json.loads(as_json.output)
    assert {i["item_id"] for i in body["items"]} == {"tee-blue", "tee-black-xl"}


def test_cli_rejects_an_unknown_type(graph_engine):
    from cartwise.errors import ValidationError

    store = str(graph_engine.workspace.root)
    with pytest.raises(ValidationError) as err:
        runner.invoke(cli, ["related", "tent", "--type", "friends", "--store", store], catch_exceptions=False)
    assert err.value.field == "type"
