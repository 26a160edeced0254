"""End to end: the CLI on a real slice of Online Retail (tests/fixtures, CC BY 4.0)."""

import json
import os
import subprocess
import sys

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


def test_online_retail_end_to_end(tmp_path):
    store = str(tmp_path / "store")
    catalog = build_catalog(RETAIL_SLICE, tmp_path / "catalog.parquet")
    items = json.loads(cli("ingest", "items", str(catalog), "--store", store, "--json"))
    assert items["rows_written"] > 1500 and items["rows_rejected"] == 0

    maps = []
    for field, column in EVENT_MAPPING.columns.items():
        maps += ["--map", f"{field}={column}"]
    for field, value in EVENT_MAPPING.constants.items():
        maps += ["--set", f"{field}={value}"]
    first = json.loads(cli("ingest", "events", str(RETAIL_SLICE), "--store", store, *maps, "--json"))
    assert first["rows_read"] == 25_525
    assert first["rows_written"] > 15_000
    assert first["rows_rejected"] > 0  # cancellations and lines without a customer
    assert first["rows_written"] + first["rows_rejected"] + first["rows_duplicate"] == first["rows_read"]
    again = json.loads(cli("ingest", "events", str(RETAIL_SLICE), "--store", store, *maps, "--json"))
    assert again["rows_written"] == 0

    cli("train", "--store", store)
    found = json.loads(cli("search", "heart t-light holder", "--store", store, "--k", "5", "--json"))
    assert found["items"] and "HEART" in found["items"][0]["title"]
    user = "12347"
    recs = json.loads(cli("recommend", user, "--store", store, "--json"))
    assert len(recs["items"]) == 10 and recs["strategy"] != "popular"
    similar = json.loads(cli("similar", found["items"][0]["item_id"], "--store", store, "--json"))
    assert similar["items"]

    users = tmp_path / "users.txt"
    users.write_text(f"{user}\nnever-seen\n")
    out = tmp_path / "recs.jsonl"
    cli("recommend-batch", "--users", str(users), "--k", "5", "--out", str(out), "--store", store)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["user_id"] for line in lines] == [user, "never-seen"]
    assert all(len(line["items"]) == 5 for line in lines)

    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tlunch bag\nq2\tcandle\n")
    out = tmp_path / "results.jsonl"
    cli("search-batch", "--queries", str(queries), "--k", "3", "--out", str(out), "--store", store)
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["query_id"] for r in results] == ["q1", "q2"] and all(r["items"] for r in results)

    stats = json.loads(cli("stats", "--store", store, "--json"))
    assert stats["store"]["events"] == first["rows_written"]
    assert stats["model"]["version"]

    # Search modes, autocomplete and search evaluation per mode from the command line.
    lexical = json.loads(cli("search", "lunch bag", "--mode", "lexical", "--store", store, "--json"))
    assert lexical["mode"] == "lexical" and all("BAG" in i["title"] for i in lexical["items"])
    suggestions = json.loads(cli("autocomplete", "lunch", "--store", store, "--json"))["suggestions"]
    assert suggestions and all("lunch" in s["text"].lower() for s in suggestions)
    judged = tmp_path / "judged.csv"
    judged.write_text("query_id,query,item_id,relevance\n" + f"q1,heart t-light holder,{found['items'][0]['item_id']},2\n")
    scores = json.loads(cli("evaluate", "search", "--judgments", str(judged), "--store", store, "--json"))
    assert set(scores) == {"lexical", "semantic", "hybrid"}
    assert scores["hybrid"]["NDCG@10"] == 1.0 and scores["lexical"]["NDCG@10"] == 1.0

    # Another recommender with explicit threads and seed, served without retraining the rest.
    report = json.loads(cli("train", "--store", store, "--recommender", "bpr", "--threads", "1", "--seed", "3",
                            "--json"))
    assert report["recommender"] == "bpr" and report["seconds"].get("embeddings") is not None
    assert json.loads(cli("recommend", user, "--store", store, "--json"))["items"]

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
