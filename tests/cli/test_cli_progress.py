"""Long commands written to a file or a pipe still say what they are doing, as they do it."""

import os
import re
import subprocess
import sys

from cartwise import Engine
from tests.conftest import CATALOG


def test_train_prints_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path):
    engine = Engine.open(tmp_path / "store")
    engine.upsert_items(CATALOG)
    ids = [item["item_id"] for item in CATALOG]
    t = 1_700_000_000
    engine.add_events([
        {"user_id": f"u{u}", "item_id": ids[(u + step) % len(ids)], "event_type": "purchase",
         "timestamp": t + u * 1000 + step * 10}
        for u in range(40) for step in range(4)
    ])
    log = tmp_path / "train.log"
    with log.open("w") as handle:  # a file, as `cartwise train ... 2> train.log` gives it
        result = subprocess.run(
            [sys.executable, "-m", "cartwise.cli.main", "train", "--store", str(tmp_path / "store"),
             "--recommender", "sequential", "--encoder", "none", "--threads", "1", "--seed", "0", "--json"],
            stdout=subprocess.PIPE, stderr=handle, text=True, timeout=600,
        )
    assert result.returncode == 0, log.read_text()
    lines = log.read_text().splitlines()
    # Every form `_duration` writes: "[4.2 s] ", "[1 min 05 s] ", "[1 h 02 min] ".
    stamp = r"^\[(\d+\.\d s|\d+ min \d\d s|\d+ h \d\d min)\] "
    assert all(re.match(stamp, line) for line in lines), lines
    assert any("building the search index" in line for line in lines)
    epochs = [line for line in lines if re.search(r"epoch \d+ of at most \d+", line)]
    assert epochs and all("loss" in line for line in epochs)
    # Until the last epoch, each says how long is left: if it stops improving, and at most.
    assert all("left" in line for line in epochs[:-1]) and "at most" in epochs[0]


def test_the_cli_lets_idle_openmp_threads_sleep(monkeypatch):
    # Spinning OpenMP threads made the demo blend's epochs 6-40x slower on shared cores.
    import cartwise.cli.main as cli

    monkeypatch.setenv("OMP_WAIT_POLICY", "placeholder")
    monkeypatch.delenv("OMP_WAIT_POLICY")  # undone after the test, whatever main() sets
    seen = {}
    monkeypatch.setattr(cli, "app", lambda: seen.setdefault("policy", os.environ.get("OMP_WAIT_POLICY")))
    cli.main()
    assert seen["policy"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    seen.clear()
    cli.main()
    assert seen["policy"] == "ACTIVE"  # a setting of the user's own is kept
