"""Fault test: a SQLite store on a filesystem that fills up, then one mounted read-only.
Ingest over the CLI and over HTTP fails with a clear error (which file, what to do: exit
status 2 and one line in the CLI, 507 or 503 over HTTP), nothing already stored is
damaged (integrity check, counts), and once space is freed writes work again.

The filesystems are real: a size-limited tmpfs and a read-only bind mount, which need
the right to mount (root in a container that allows it); the test skips otherwise."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.api import create_app
from tests.bus.nodes import ENV
from tests.conftest import CATALOG, planted_events


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        why = done.stderr.strip() or done.returncode
        pytest.skip(f"cannot mount here ({why}): needs root where mounting is allowed")


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    _mount("-t", "tmpfs", "-o", "size=6m", "tmpfs", str(where))
    yield where
    _umount(where)


def _fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:  # the last partial block
                out.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def _events(prefix: str, count: int) -> list[dict]:
    return [{"user_id": f"{prefix}-{n}", "item_id": "teapot", "event_type": "view",
             "session_id": "s" * 40, "timestamp": 1_701_000_000 + n} for n in range(count)]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _check(db: Path) -> tuple[int, int]:
    """(events, items) after SQLite's own integrity check passed."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return (conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    finally:
        conn.close()


def _cli_ingest(store: Path, events_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cartwise.cli.main", "ingest", "events", str(events_file),
                           "--store", str(store)], env=ENV, capture_output=True, text=True, timeout=120, check=False)


def test_a_full_disk_gives_a_clear_error_and_damages_nothing(small_disk: Path, tmp_path: Path) -> None:
    store = small_disk / "store"
    engine = Engine.open(store, log_impressions=False)
    try:
        assert engine.upsert_items(CATALOG).rows_rejected == 0
        assert engine.add_events(planted_events()).rows_rejected == 0
        before = _check(store / "cartwise.db")
        client = TestClient(create_app(engine), raise_server_exceptions=False,
                            headers={"Authorization": f"Bearer {engine.create_key('admin').secret}"})
        filler = _fill(small_disk)

        response = client.post("/v1/events", json={"events": _events("http", 5000)})
        assert response.status_code == 507, response.text
        body = response.json()
        assert body["error"] == "StoreFull" and "cartwise.db" in body["message"] and "space" in body["hint"], body

        events_file = tmp_path / "events.jsonl"  # on the big disk: only the store is full
        _write_jsonl(events_file, _events("cli", 20000))
        done = _cli_ingest(store, events_file)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "cartwise.db" in done.stderr and "space" in done.stderr and "Traceback" not in done.stderr, done.stderr

        assert _check(store / "cartwise.db") == before  # nothing half-written, nothing lost

        filler.unlink()
        response = client.post("/v1/events", json={"events": _events("http", 5000)})
        assert response.status_code == 200, response.text
        done = _cli_ingest(store, events_file)
        assert done.returncode == 0, done.stdout + done.stderr
        assert _check(store / "cartwise.db") == (before[0] + 25000, before[1])
    finally:
        engine.close()


def test_a_read_only_store_gives_a_clear_error_and_damages_nothing(tmp_path: Path) -> None:
    store = tmp_path / "writable" / "store"
    engine = Engine.open(store, log_impressions=False)
    assert engine.upsert_items(CATALOG).rows_rejected == 0
    assert engine.add_events(planted_events()).rows_rejected == 0
    engine.close()
    before = _check(store / "cartwise.db")
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    _mount("--bind", str(store.parent), str(read_only))
    try:
        _mount("-o", "remount,ro,bind", str(read_only))
        events_file = tmp_path / "events.jsonl"
        _write_jsonl(events_file, _events("cli", 100))
        done = _cli_ingest(read_only / "store", events_file)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "read-only" in done.stderr and "cartwise.db" in done.stderr and "Traceback" not in done.stderr, \
            done.stderr
        assert _check(store / "cartwise.db") == before
    finally:
        _umount(read_only)
    done = _cli_ingest(store, events_file)  # the same store, writable again
    assert done.returncode == 0, done.stdout + done.stderr
    assert _check(store / "cartwise.db") == (before[0] + 100, before[1])
