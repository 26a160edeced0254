"""One trainer per store: while one trainer holds the store's training lock, `cartwise
train`, ``Engine.train`` and the retraining worker refuse with a clear message, or wait
for it when told to; a trainer killed with -9 leaves no lock behind. SQLite stores lock a
file in the workspace; PostgreSQL stores take an advisory lock (two store objects on one
schema stand for two machines)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cartwise import Engine
from cartwise.errors import TrainerBusy
from cartwise.retrain import RetrainPolicy, RetrainWorker
from cartwise.store import open_store
from cartwise.store.trainlock import trainer_lock
from tests.bus.nodes import ENV
from tests.conftest import CATALOG, planted_events


def _release_after(seconds: float, lock) -> threading.Thread:  # noqa: ANN001 - a context manager
    def later() -> None:
        time.sleep(seconds)
        lock.__exit__(None, None, None)

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def test_a_second_trainer_of_a_sqlite_store_refuses_or_waits(engine: Engine) -> None:
    version = engine.model_info()
    holder = trainer_lock(engine.store)
    holder.__enter__()  # another trainer, mid-train
    try:
        with pytest.raises(TrainerBusy) as refused:
            engine.train(encoder=None)
        assert "another trainer is training" in refused.value.message and "pid" in refused.value.message
        assert "--wait" in (refused.value.hint or "")
        worker = RetrainWorker(store=engine.store, policy=RetrainPolicy(every_events=1), recommender="itemknn",
                               encoder=None)
        with pytest.raises(TrainerBusy):
            worker.run_once(force=True)
        done = subprocess.run([sys.executable, "-m", "cartwise.cli.main", "train", "--store", str(engine.store.path),
                               "--encoder", "none", "--recommender", "itemknn"], env=ENV, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 2 and "another trainer is training" in done.stderr, done.stdout + done.stderr
        assert engine.model_info() == version  # nothing was trained meanwhile
    finally:
        releaser = _release_after(1.0, holder)
    started = time.monotonic()
    report = engine.train(encoder=None, recommender="itemknn", wait_s=30)  # waits for the other one
    releaser.join()
    assert time.monotonic() - started >= 0.9 and report.version != version


def test_a_trainer_killed_with_9_leaves_no_lock(engine: Engine) -> None:
    script = ("import sys, time; from cartwise.store import open_store; from cartwise.store.trainlock import "
              "trainer_lock\nwith trainer_lock(open_store(sys.argv[1], create=False)):\n print('held', flush=True)\n"
              " time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", script, str(engine.store.path)], env=ENV,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(TrainerBusy) as refused:
            engine.train(encoder=None, recommender="itemknn")
        assert f"pid {holder.pid}" in refused.value.message
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        engine.train(encoder=None, recommender="itemknn")  # the lock died with its process
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_second_trainer_of_a_postgresql_store_refuses(tmp_path: Path) -> None:
    from cartwise.store.postgres import _scratch_url, drop_store

    url = _scratch_url(tmp_path)
    if url is None:
        pytest.skip("no PostgreSQL server answered ($CARTWISE_TEST_POSTGRES)")
    engine = Engine.open(url, log_impressions=False)
    other = open_store(url, create=False)  # another machine's trainer, on the same schema
    try:
        assert engine.upsert_items(CATALOG).rows_rejected == 0
        assert engine.add_events(planted_events()).rows_rejected == 0
        with trainer_lock(other):
            with pytest.raises(TrainerBusy) as refused:
                engine.train(encoder=None, recommender="itemknn")
            assert "another trainer is training" in refused.value.message
            assert "schema" in refused.value.message and "pid" in refused.value.message, refused.value.message
        report = engine.train(encoder=None, recommender="itemknn")  # let go: the next trainer goes ahead
        assert report.version
        with trainer_lock(other):  # and the lock is free again after a train
            pass
    finally:
        other.close()
        engine.close()
        drop_store(url)
