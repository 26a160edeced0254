"""End to end: the CLI on a real slice of Online Retail (tests/fixtures, CC BY 4.0)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from typer.testing import CliRunner

from cartwise.cli.main import app
from cartwise.demo import EVENT_MAPPING, build_catalog
from tests.conftest import RETAIL_SLICE

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # stdout alone: progress lines go to stderr (plain lines here, as in a log file).
    return result.stdout


USER = "12347"


@pytest.fixture(scope="module")
def retail(tmp_path_factory):
    """The Online Retail slice ingested and trained through the CLI once for this module:
    (store, work directory, the first events report). The tests below read it; the one
    that retrains works on a copy."""
    work = tmp_path_factory.mktemp("retail")
    store = str(work / "store")
    catalog = build_catalog(RETAIL_SLICE, work / "catalog.parquet")
    items = json.loads(cli("ingest", "items", str(catalog), "--store", store, "--json"))
    assert items["rows_written"] > 1500 and items["rows_rejected"] == 0
    first = json.loads(cli("ingest", "events", str(RETAIL_SLICE), "--store", store, *_maps(), "--json"))
    cli("train", "--store", store)
    return store, work, first


def _maps() -> list[str]:
    maps = []
    for field, column in EVENT_MAPPING.columns.items():
        maps += ["--map", f"{field}={column}"]
    for field, value in EVENT_MAPPING.constants.items():
        maps += ["--set", f"{field}={value}"]
    return maps


def test_ingest_reports_every_row_and_ingesting_again_writes_nothing(retail):
    store, _, first = retail
    assert first["rows_read"] == 25_525
    assert first["rows_written"] > 15_000
    assert first["rows_rejected"] > 0  # cancellations and lines without a customer
    assert first["rows_written"] + first["rows_rejected"] + first["rows_duplicate"] == first["rows_read"]
    again = json.loads(cli("ingest", "events", str(RETAIL_SLICE), "--store", store, *_maps(), "--json"))
    assert again["rows_written"] == 0
    stats = json.loads(cli("stats", "--store", store, "--json"))
    assert stats["store"]["events"] == first["rows_written"]
    assert stats["model"]["version"]


def test_search_recommend_and_similar(retail):
    store, _, _ = retail
    found = json.loads(cli("search", "heart t-light holder", "--store", store, "--k", "5", "--json"))
    assert found["items"] and "HEART" in found["items"][0]["title"]
    recs = json.loads(cli("recommend", USER, "--store", store, "--json"))
    assert len(recs["items"]) == 10 and recs["strategy"] != "popular"
    similar = json.loads(cli("similar", found["items"][0]["item_id"], "--store", store, "--json"))
    assert similar["items"]


def test_batch_recommendations_and_searches(retail, tmp_path):
    store, _, _ = retail
    users = tmp_path / "users.txt"
    users.write_text(f"{USER}\nnever-seen\n")
    out = tmp_path / "recs.jsonl"
    cli("recommend-batch", "--users", str(users), "--k", "5", "--out", str(out), "--store", store)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["user_id"] for line in lines] == [USER, "never-seen"]
    assert all(len(line["items"]) == 5 for line in lines)

    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tlunch bag\nq2\tcandle\n")
    out = tmp_path / "results.jsonl"
    cli("search-batch", "--queries", str(queries), "--k", "3", "--out", str(out), "--store", store)
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["query_id"] for r in results] == ["q1", "q2"] and all(r["items"] for r in results)


def test_search_modes_autocomplete_and_search_evaluation(retail, tmp_path):
    store, _, _ = retail
    lexical = json.loads(cli("search", "lunch bag", "--mode", "lexical", "--store", store, "--json"))
    assert lexical["mode"] == "lexical" and all("BAG" in i["title"] for i in lexical["items"])
    suggestions = json.loads(cli("autocomplete", "lunch", "--store", store, "--json"))["suggestions"]
    assert suggestions and all("lunch" in s["text"].lower() for s in suggestions)
    found = json.loads(cli("search", "heart t-light holder", "--store", store, "--k", "5", "--json"))
    judged = tmp_path / "judged.csv"
    judged.write_text("query_id,query,item_id,relevance\n" + f"q1,heart t-light holder,{found['items'][0]['item_id']},2\n")
    scores = json.loads(cli("evaluate", "search", "--judgments", str(judged), "--store", store, "--json"))
    assert set(scores) == {"lexical", "semantic", "hybrid"}
    assert scores["hybrid"]["NDCG@10"] == 1.0 and scores["lexical"]["NDCG@10"] == 1.0


def test_another_recommender_and_offline_evaluation(retail, tmp_path):
    source, _, _ = retail
    store = str(tmp_path / "store")
    shutil.copytree(source, store)
    # Another recommender with explicit threads and seed, served without retraining the rest.
    report = json.loads(cli("train", "--store", store, "--recommender", "bpr", "--threads", "1", "--seed", "3",
                            "--json"))
    assert report["recommender"] == "bpr" and report["seconds"].get("embeddings") is not None
    assert json.loads(cli("recommend", USER, "--store", store, "--json"))["items"]

    # Offline evaluation from the store: TextKNN reads the store's item embeddings.
    runs = tmp_path / "runs"
    output = cli("evaluate", "recs", "--store", store, "-m", "popularity", "-m", "textknn", "--max-users", "300",
                 "--runs-dir", str(runs))
    assert "textknn" in output
    record = json.loads(next(runs.glob("*.json")).read_text())
    assert record["config"]["text_vectors"] is True
    assert record["metrics"]["textknn"]["HR@10"] > 0


def test_cli_errors_are_one_readable_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cartwise.cli.main", "search", "mug", "--store", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no Cartwise store" in result.stderr and "Traceback" not in result.stderr


def test_cli_errors_keep_the_field_name_in_a_narrow_pipe(tmp_path):
    # stderr is a pipe (not a terminal) 30 columns wide: the field stays, the line is whole.
    result = subprocess.run(
        [sys.executable, "-m", "cartwise.cli.main", "ingest", "events", "x.csv", "--unknown-items", "bogus",
         "--store", str(tmp_path / "store")],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "30"},
    )
    assert result.returncode == 2
    assert "error [unknown_items]: --unknown-items must be keep or reject" in result.stderr.splitlines()
