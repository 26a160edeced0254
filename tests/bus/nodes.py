"""Real `cartwise serve` / `cartwise consume` processes for the many-node and fault tests,
and the trained stores they share (the planted store of tests/conftest.py on SQLite or
in a fresh PostgreSQL schema)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cartwise import Engine
from tests.bus.conftest import free_port
from tests.conftest import CATALOG, planted_events

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def trained_store_url(kind: str, trained_store: Path, tmp_path: Path) -> str:
    """A trained store all nodes open: a copy of the session's SQLite store, or the planted
    data loaded and trained into a new PostgreSQL schema."""
    if kind == "sqlite":
        path = tmp_path / "store"
        shutil.copytree(trained_store, path)
        return str(path)
    from cartwise.store.postgres import _scratch_url

    url = _scratch_url(tmp_path)
    if url is None:
        pytest.skip("no PostgreSQL server answered")
    engine = Engine.open(url, log_impressions=False)
    assert engine.upsert_items(CATALOG).rows_rejected == 0
    assert engine.add_events(planted_events()).rows_rejected == 0
    engine.train(encoder=None)
    engine.close()
    return url


def admin_key(store_url: str) -> str:
    engine = Engine.open(store_url, create=False, log_impressions=False)
    try:
        return engine.create_key("admin").secret
    finally:
        engine.close()


class Node:
    """One `cartwise serve --bus` process on its own port."""

    def __init__(self, store_url: str, bus_url: str, workdir: Path, *, consume: bool = True,
                 port: int | None = None) -> None:
        self.store_url, self.bus_url, self.workdir, self.consume = store_url, bus_url, workdir, consume
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        command = [sys.executable, "-m", "cartwise.cli.main", "serve", "--store", self.store_url,
                   "--port", str(self.port), "--bus", self.bus_url, "--consume" if self.consume else "--no-consume"]
        self.log = open(self.workdir / f"node-{self.port}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=ENV, cwd=self.workdir)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/v1/live", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process is not None and self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"node {self.port} did not start: {self.output()}"
            time.sleep(0.2)

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return (self.workdir / f"node-{self.port}.log").read_text(errors="replace")[-3000:]


def start_nodes(count: int, store_url: str, bus_url: str, workdir: Path, **options: bool) -> list[Node]:
    nodes = [Node(store_url, bus_url, workdir, **options) for _ in range(count)]
    try:
        for node in nodes:
            node.wait_ready()
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes
