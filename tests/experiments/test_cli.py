"""`cartwise experiments` create, list, show, stop and ship on a store."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cartwise import Engine
from cartwise.cli import output
from cartwise.cli.main import app

runner = CliRunner()


def test_create_list_show_stop_and_ship(engine: Engine, monkeypatch):
    monkeypatch.setattr(output.console, "width", 250)  # whole table cells, whatever the terminal
    store = str(engine.store.path)
    engine.close()
    created = runner.invoke(app, [
        "experiments", "create", "plain search ranking", "--store", store, "-p", "search", "-p", "recommend",
        "-v", "control", "-v", 'plain:2={"kind": "ranking", "answers": {"search": {"rank": "identity"}}}',
        "--json"], catch_exceptions=False)
    assert created.exit_code == 0, created.output
    experiment = json.loads(created.output)
    assert experiment["placements"] == ["search", "recommend"] and experiment["variants"][1]["weight"] == 2.0
    exp_id = experiment["experiment_id"]
    shop = Engine.open(store, create=False)
    for n in range(30):
        shop.search("mug", user_id=f"cli-{n}")
    shop.close()
    listed = runner.invoke(app, ["experiments", "list", "--store", store], catch_exceptions=False)
    assert exp_id in listed.output and "running" in listed.output and "sequential" in listed.output
    shown = runner.invoke(app, ["experiments", "show", exp_id, "--store", store], catch_exceptions=False)
    assert shown.exit_code == 0 and "verdict: not enough data yet" in shown.output.replace("\n", " ")
    assert "sample ratio" in shown.output
    body = json.loads(runner.invoke(app, ["experiments", "show", exp_id, "--store", store, "--json"]).output)
    assert sum(arm["users"] for arm in body["results"]["arms"]) == 30
    refused = runner.invoke(app, ["experiments", "ship", exp_id, "--store", store])
    assert refused.exit_code != 0  # the verdict names no winner: say which variant to ship
    shipped = runner.invoke(app, ["experiments", "ship", exp_id, "--store", store, "--variant", "plain"],
                            catch_exceptions=False)
    assert shipped.exit_code == 0 and "serves this ranking to every user" in shipped.output.replace("\n", " ")
    stopped = runner.invoke(app, ["experiments", "stop", exp_id, "--store", store], catch_exceptions=False)
    assert stopped.exit_code == 0
    again = Engine.open(store, create=False, log_impressions=False)
    assert [e.status for e in again.experiments.all()] == ["stopped"]
    assert [e.action for e in again.audit.entries()] == ["experiments.create", "experiments.ship", "experiments.stop"]
    bad = runner.invoke(app, ["experiments", "create", "x", "--store", store, "-p", "search", "-v", "a",
                              "-v", "b={not json"])
    assert bad.exit_code != 0
