"""Model versions in service: promote, rollback, history, candidates, pruning."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.cli.main import app
from cartwise.errors import NotFound


def live(engine: Engine) -> str:
    info = engine.model_info()
    assert info is not None
    return str(info["version"])


def test_rollback_returns_to_the_previous_version_and_answers_switch(engine: Engine):
    first = live(engine)
    engine.train(encoder=None)
    second = live(engine)
    assert second != first
    assert [v.version for v in engine.versions.list_versions() if v.live] == [second]

    assert engine.rollback(reason="bad numbers") == first
    assert live(engine) == first  # the engine answers from it at once
    assert engine.state is not None and engine.state.models.version == first
    # One step back only: the version before `first` is gone from the stack.
    with pytest.raises(NotFound, match="no earlier version"):
        engine.rollback()
    assert engine.promote(second) == second and live(engine) == second

    actions = [(e["action"], e["version"], e.get("reason")) for e in engine.versions.history()]
    assert actions[-3:] == [("promote", second, "trained"), ("rollback", first, "bad numbers"),
                            ("promote", second, "promoted by hand")]


def test_promote_refuses_unknown_and_malformed_versions(engine: Engine):
    before = live(engine)
    for bad in ["v-nope", "../models", "", "CURRENT"]:
        with pytest.raises(NotFound) as info:
            engine.promote(bad)
        assert info.value.field == "version"
    assert live(engine) == before


def test_a_candidate_is_saved_without_going_live(engine: Engine):
    from cartwise.training import train

    before = live(engine)
    report = train(engine.store, encoder=None, promote=False)
    engine.refresh()
    assert live(engine) == before
    kept = {v.version: v for v in engine.versions.list_versions()}
    assert report.version in kept and not kept[report.version].live and kept[report.version].promoted_ms is None


def test_pruning_keeps_the_rollback_target(engine: Engine):
    first = live(engine)
    for _ in range(4):
        engine.train(encoder=None)
    names = [v.version for v in engine.versions.list_versions()]
    assert first not in names and len(names) <= 3
    target = engine.versions.rollback_target()
    assert target in names
    assert engine.rollback() == target


def test_cli_lists_promotes_and_rolls_back(engine: Engine):
    store = str(engine.store.path)
    first = live(engine)
    engine.train(encoder=None)
    second = live(engine)
    engine.close()
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--store", store, "--json"])
    assert listed.exit_code == 0, listed.output
    assert second in listed.output and first in listed.output
    rolled = runner.invoke(app, ["models", "rollback", "--store", store])
    assert rolled.exit_code == 0 and f"{first} is live" in rolled.output
    assert Engine.open(store, create=False).model_info()["version"] == first
    history = runner.invoke(app, ["models", "history", "--store", store])
    assert history.exit_code == 0 and "rollback" in history.output


def test_http_lists_promotes_and_rolls_back(engine: Engine):
    from fastapi.testclient import TestClient

    from cartwise.access import Scope
    from cartwise.api import create_app

    first = live(engine)
    engine.train(encoder=None)
    second = live(engine)
    client = TestClient(create_app(engine))
    admin = {"Authorization": f"Bearer {engine.create_key(Scope.ADMIN).secret}"}
    listed = client.get("/v1/models", headers=admin).json()
    assert [v["version"] for v in listed["versions"]][:2] == [second, first] and listed["versions"][0]["live"]
    response = client.post("/v1/models/rollback", json={"reason": "checkout broke"}, headers=admin)
    assert response.status_code == 200 and response.json() == {"version": first}
    assert live(engine) == first and engine.versions.history()[-1]["reason"] == "checkout broke"
    assert client.post(f"/v1/models/{second}/promote", headers=admin).json() == {"version": second}
    missing = client.post("/v1/models/v-gone/promote", headers=admin)
    assert missing.status_code == 404 and missing.json()["field"] == "version"
