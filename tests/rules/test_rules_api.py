"""/v1/rules through the real app (admin keys), and `cartwise rules` through the CLI."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cartwise.api import create_app
from cartwise.cli.main import app as cli_app
from tests.rules.helpers import ids


@pytest.fixture
def admin(engine):
    secret = engine.create_key("admin").secret
    return TestClient(create_app(engine), headers={"X-API-Key": secret})


def test_rules_over_the_api(admin, engine):
    assert admin.get("/v1/rules").json() == {"version": 0, "rules": [], "synonyms": [],
                                             "inventory": {}}
    hide = {"kind": "hide", "items": ["socks"], "scope": {"placements": ["recommend"]}}
    body = admin.put("/v1/rules/no-socks", json=hide).json()
    assert body["version"] == 1 and body["rules"] == [{"id": "no-socks", **hide}]
    assert admin.put("/v1/rules/cup", json={"terms": ["cup", "mug"]}).json()["synonyms"] == [
        {"id": "cup", "terms": ["cup", "mug"]}]
    assert admin.get("/v1/rules/no-socks").json() == {"id": "no-socks", **hide}
    assert "socks" not in ids(engine.recommend("nobody", k=10))
    assert admin.delete("/v1/rules/no-socks").json()["rules"] == []
    assert admin.get("/v1/rules/no-socks").status_code == 404
    assert [v["version"] for v in admin.get("/v1/rules/versions").json()] == [1, 2, 3]
    assert admin.post("/v1/rules/versions/1/restore").json()["version"] == 4
    document = {"rules": [{"id": "acme", "kind": "boost", "when": {"brand": "Acme"}}], "synonyms": []}
    assert admin.put("/v1/rules", json=document).json()["version"] == 5


def test_an_invalid_rule_is_422_with_each_problem(admin):
    response = admin.put("/v1/rules/bad", json={"kind": "pin", "item": "teapot", "position": 0, "colour": "red"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "RuleFileError"
    reasons = {p["where"]: p["reason"] for p in body["problems"]}
    assert reasons["rules[0].position"] == "expected a whole number from 1 to 100, got 0"
    assert "unknown field 'colour'" in reasons["rules[0].colour"]
    assert admin.put("/v1/rules/other", json={"id": "bad", "kind": "hide", "items": ["x"]}).status_code == 422
    assert admin.get("/v1/rules").json()["version"] == 0


def test_a_dry_run_shows_before_and_after_and_saves_nothing(admin, engine):
    before_impressions = engine.store.impressions().height
    body = admin.post("/v1/rules/dry-run", json={
        "rule": {"id": "hero", "kind": "pin", "item": "dress-red", "position": 1}, "query": "tea", "k": 3,
    }).json()
    assert body["answer"] == "search 'tea'" and body["after"][0]["item_id"] == "dress-red"
    assert body["after"][0]["rules"] == ["hero"] and body["added"] == ["dress-red"]
    assert body["before"][0]["item_id"] != "dress-red" and len(body["removed"]) == 1
    assert "hero" in [t["rule_id"] for t in body["rules_after"]]
    assert admin.get("/v1/rules").json()["version"] == 0
    engine.impressions.flush()
    assert engine.store.impressions().height == before_impressions  # no shopper saw a dry run
    user = admin.post("/v1/rules/dry-run", json={"rule": {"id": "h", "kind": "hide", "items": ["socks"]},
                                                 "user_id": "nobody"}).json()
    assert user["removed"] == ["socks"] and user["answer"] == "recommendations for nobody"


def test_the_cli(engine, tmp_path):
    engine.close()
    store = str(engine.store.path)
    runner = CliRunner()
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - id: a\n    kind: pin\n    item: teapot\n    position: -1\n")
    result = runner.invoke(cli_app, ["rules", "validate", str(broken)])
    assert result.exit_code == 1 and f"{broken}:5: rules[0].position: expected a whole number" in result.output
    good = tmp_path / "rules.json"
    good.write_text(json.dumps({"rules": [{"id": "no-socks", "kind": "hide", "items": ["socks"]}]}))
    assert runner.invoke(cli_app, ["rules", "validate", str(good)]).exit_code == 0
    result = runner.invoke(cli_app, ["rules", "load", str(good), "--store", store])
    assert result.exit_code == 0 and "rules version 1" in result.output
    listed = json.loads(runner.invoke(cli_app, ["rules", "list", "--store", store, "--json"]).output)
    assert listed["version"] == 1 and listed["rules"][0]["id"] == "no-socks"
    result = runner.invoke(cli_app, ["rules", "dry-run", "--store", store, "--remove", "no-socks", "--user", "nobody",
                                     "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["added"] == ["socks"]
    result = runner.invoke(cli_app, ["rules", "versions", "--store", store, "--json"])
    assert [v["version"] for v in json.loads(result.output)] == [1]
