"""The team's shared record (cartwise.logbook): training and evaluation runs with their
configuration, data and metrics, two side by side, and notes; over HTTP and the CLI."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.access import Scope
from cartwise.api import create_app
from cartwise.cli.main import app as cli
from cartwise.errors import NotFound, ValidationError

runner = CliRunner()


@pytest.fixture
def recorded(engine: Engine) -> Engine:
    """Two training runs (the planted store's item-kNN, then ALS) and one evaluation run."""
    items = engine.store.items()["item_id"].to_list()
    engine.add_events([{"user_id": f"eval-{u}", "item_id": items[(u + n) % len(items)], "event_type": "purchase",
                        "timestamp": 1_700_000_000_000 + 1000 * n} for u in range(30) for n in range(4)])
    engine.train(encoder=None, recommender="als")
    result = runner.invoke(cli, ["evaluate", "recs", "--store", str(engine.workspace.root), "-m", "popularity",
                                 "-m", "itemknn", "--k", "10"])
    assert result.exit_code == 0, result.output
    return engine


def test_every_training_and_evaluation_run_is_listed_with_its_config_data_and_metrics(recorded: Engine):
    runs = recorded.logbook.runs()
    kinds = [r.kind for r in runs]
    assert kinds.count("training") == 2 and kinds.count("evaluation") == 1
    assert [r.created_ms for r in runs] == sorted((r.created_ms for r in runs), reverse=True)
    newest_training = next(r for r in runs if r.kind == "training")
    assert newest_training.live and newest_training.config["recommender"] == "als"
    assert newest_training.data["events"] > 0 and len(newest_training.data["fingerprint"]) == 12
    evaluation = next(r for r in runs if r.kind == "evaluation")
    assert {"popularity.NDCG@10", "itemknn.NDCG@10"} <= evaluation.metrics.keys()
    assert len(evaluation.data["fingerprint"]) == 24
    assert recorded.logbook.runs(kind="evaluation") == [evaluation]
    with pytest.raises(ValidationError):
        recorded.logbook.runs(kind="nightly")


def test_two_runs_side_by_side_put_differences_first_and_give_deltas(recorded: Engine):
    old, new = sorted((r for r in recorded.logbook.runs(kind="training")), key=lambda r: r.created_ms)
    compared = recorded.logbook.compare(old.run_id, new.run_id)
    differing = [row.name for row in compared.config if row.a != row.b]
    assert "recommender" in differing and [row.name for row in compared.config[:len(differing)]] == differing
    assert next(row for row in compared.config if row.name == "recommender").b == "als"
    assert compared.a.run_id == old.run_id and compared.b.run_id == new.run_id
    evaluation = recorded.logbook.runs(kind="evaluation")[0]
    both = recorded.logbook.compare(evaluation.run_id, evaluation.run_id)
    assert all(row.delta == 0 for row in both.metrics)
    with pytest.raises(NotFound):
        recorded.logbook.compare(old.run_id, "eval:19700101-000000-1")


def test_notes_are_kept_in_order_and_bad_ones_refused(recorded: Engine):
    run = recorded.logbook.runs(kind="evaluation")[0]
    recorded.logbook.add_note(run.run_id, "item-kNN wins on this split", author="ana")
    recorded.logbook.add_note(run.run_id, "重新跑一次：结果相同", author="li")
    again = recorded.logbook.get(run.run_id)
    assert [(n.author, n.text) for n in again.notes] == [("ana", "item-kNN wins on this split"), ("li", "重新跑一次：结果相同")]
    # A line cut by a crash mid-append is skipped; the notes before it survive.
    with (recorded.workspace.runs_dir / "notes.jsonl").open("a") as f:
        f.write('{"run_id": "' + run.run_id + '", "ts_ms": 1, "aut')
    assert len(recorded.logbook.get(run.run_id).notes) == 2
    with pytest.raises(ValidationError):
        recorded.logbook.add_note(run.run_id, "   ", author="ana")
    with pytest.raises(NotFound):
        recorded.logbook.add_note("train:no-such-version", "hello", author="ana")


def test_runs_over_http_need_the_admin_key_and_notes_name_their_author(recorded: Engine):
    keys = {scope: recorded.create_key(scope, name=f"team {scope.value}").secret for scope in Scope}
    client = TestClient(create_app(recorded))
    auth = {"Authorization": f"Bearer {keys[Scope.ADMIN]}"}
    assert client.get("/v1/runs").status_code == 401
    assert client.get("/v1/runs", headers={"Authorization": f"Bearer {keys[Scope.SEARCH]}"}).status_code == 403
    runs = client.get("/v1/runs", headers=auth).json()["runs"]
    assert len(runs) == 3
    training = [r["run_id"] for r in runs if r["kind"] == "training"]
    compared = client.get("/v1/runs/compare", params={"a": training[1], "b": training[0]}, headers=auth).json()
    assert "recommender" in [row["name"] for row in compared["config"] if row["a"] != row["b"]]
    posted = client.post(f"/v1/runs/{training[0]}/notes", json={"text": "promoted after the A/B test"}, headers=auth)
    assert posted.status_code == 201 and posted.json()["author"] == "team admin"
    assert client.get(f"/v1/runs/{training[0]}", headers=auth).json()["notes"][0]["text"] == "promoted after the A/B test"
    empty = client.post(f"/v1/runs/{training[0]}/notes", json={"text": ""}, headers=auth)
    assert empty.status_code == 422 and empty.json()["field"] == "text"
    missing = client.post("/v1/runs/eval:nope/notes", json={"text": "x"}, headers=auth)
    assert missing.status_code == 404
    assert [e.action for e in recorded.audit.entries()].count("runs.note") == 1


def test_the_cli_lists_compares_and_notes_runs(recorded: Engine):
    store = str(recorded.workspace.root)
    training = [r.run_id for r in recorded.logbook.runs(kind="training")]
    noted = runner.invoke(cli, ["evaluate", "note", training[0], "shipped", "--store", store])
    assert noted.exit_code == 0, noted.output
    listed = runner.invoke(cli, ["evaluate", "log", "--store", store])
    assert listed.exit_code == 0 and "shipped" in listed.output and "(live)" in listed.output
    compared = runner.invoke(cli, ["evaluate", "compare", training[1], training[0], "--store", store])
    assert compared.exit_code == 0 and "recommender" in compared.output and "als" in compared.output
    unknown = runner.invoke(cli, ["evaluate", "compare", "train:x", training[0], "--store", store])
    assert isinstance(unknown.exception, NotFound) and "no run 'train:x'" in str(unknown.exception)
    assert json.loads((recorded.workspace.runs_dir / "notes.jsonl").read_text().splitlines()[0])["run_id"] == training[0]
