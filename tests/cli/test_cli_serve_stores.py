"""`cartwise serve --store A --store B --scope-rate ...`: the real server routes each
request to its key's store and applies rate limits; bad combinations are refused."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.cli.main import app as cli_app
from cartwise.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_refuses_a_store_twice_anonymous_reads_with_several_and_bad_rates(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    Engine.open(a).close()
    Engine.open(b).close()
    with pytest.raises(ValidationError, match="more than once"):
        runner.invoke(cli_app, ["serve", "--store", a, "--store", a], catch_exceptions=False)
    with pytest.raises(ValidationError, match="several stores"):
        runner.invoke(cli_app, ["serve", "--store", a, "--store", b, "--allow-anonymous-reads"],
                      catch_exceptions=False)
    for bad in ("search", "search=fast", "nobody=5/s", "search=5/s:0"):
        with pytest.raises(ValidationError):
            runner.invoke(cli_app, ["serve", "--store", a, "--scope-rate", bad], catch_exceptions=False)
    with pytest.raises(ValidationError, match="twice"):
        runner.invoke(cli_app, ["serve", "--store", a, "--scope-rate", "search=5/s", "--scope-rate", "search=9/s"],
                      catch_exceptions=False)


def test_two_stores_on_one_real_server(trained_store: Path, tmp_path: Path):
    store_a = tmp_path / "a"
    shutil.copytree(trained_store, store_a)
    a = Engine.open(store_a, create=False, log_impressions=False)
    a_search, a_admin = a.create_key("search").secret, a.create_key("admin").secret
    a.close()
    store_b = tmp_path / "b"
    b = Engine.open(store_b, log_impressions=False)
    b.upsert_items([{"item_id": "b-lamp", "title": "Brass lamp zeppelin"}])
    b_admin = b.create_key("admin").secret
    b.close()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "cartwise.cli.main", "serve", "--store", str(store_a), "--store", str(store_b),
         "--port", str(port), "--scope-rate", "search=1/min:2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/v1/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "the server did not start in 120 s"
            time.sleep(0.25)
        with httpx.Client(base_url=base, timeout=30) as client:
            as_a = {"X-API-Key": a_search}
            assert client.get("/v1/search", params={"q": "teapot"}, headers=as_a).json()["items"][0]["item_id"] \
                == "teapot"
            brass = client.get("/v1/search", params={"q": "brass"}, headers=as_a)
            assert "b-lamp" not in brass.text and "zeppelin" not in brass.text.lower()
            limited = client.get("/v1/search", params={"q": "tea"}, headers=as_a)
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            b_stats = client.get("/v1/stats", headers={"X-API-Key": b_admin}).json()
            a_stats = client.get("/v1/stats", headers={"X-API-Key": a_admin}).json()
            assert b_stats["items"] == 1 and a_stats["items"] > 1
            assert client.delete("/v1/items/b-lamp", headers={"X-API-Key": a_admin}).status_code == 404
            assert client.delete("/v1/items/b-lamp", headers={"X-API-Key": b_admin}).status_code == 204
            audit_b = client.get("/v1/audit", headers={"X-API-Key": b_admin}).json()["entries"]
            assert [e["action"] for e in audit_b] == ["items.delete"]
            assert client.get("/v1/audit", headers={"X-API-Key": a_admin}).json()["entries"] == []
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
