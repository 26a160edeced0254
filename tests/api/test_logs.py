"""Structured logs: one JSON object per line, access lines by route template, no key ever."""

from __future__ import annotations

import io
import json
import logging
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
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.api import create_app
from cartwise.api.logs import JsonFormatter, check_log_format, redact
from cartwise.cli.main import app as cli_app
from cartwise.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_lines():
    """Everything logged while the test runs, through the JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _requests_with_the_key_everywhere(client, secret: str) -> None:
    client.get("/v1/search", params={"q": "tea"}, headers={"Authorization": f"Bearer {secret}"})
    client.get("/v1/search", params={"q": "tea"}, headers={"X-API-Key": secret})
    client.get("/v1/search", params={"q": "tea", "api_key": secret, "key": secret, "token": secret})
    client.get(f"/v1/items/{secret}/similar", headers={"X-API-Key": secret})
    client.get("/v1/search", params={"q": "tea"}, headers={"X-API-Key": secret + "x"})
    client.post("/v1/events", json={"events": [{"user_id": secret, "item_id": "teapot", "event_type": "view",
                                                 "timestamp": 1_700_000_000}]}, headers={"X-API-Key": secret})


def test_json_access_lines_name_the_route_and_never_the_key(engine, json_lines):
    secret = engine.create_key("admin").secret
    client = TestClient(create_app(engine))
    _requests_with_the_key_everywhere(client, secret)
    logging.getLogger("cartwise").warning("a careless message quoting %s and Bearer %s", secret, secret)
    lines = json_lines()
    access = [line for line in lines if line["logger"] == "cartwise.access"]
    assert len(access) == 6
    for line in access:
        assert set(line) == {"timestamp", "level", "logger", "message", "method", "route", "status", "latency_ms",
                             "request_id"}
        assert line["level"] == "info" and line["timestamp"].endswith("+00:00")
        assert line["latency_ms"] >= 0 and len(line["request_id"]) == 16
    assert [line["route"] for line in access] == ["/v1/search"] * 3 + ["/v1/items/{item_id}/similar", "/v1/search",
                                                                       "/v1/events"]
    # A key in the query string is not a way to authenticate (401), and is not logged either.
    assert [line["status"] for line in access] == [200, 200, 401, 404, 401, 200]
    careless = [line for line in lines if line["logger"] == "cartwise"]
    assert careless and "[redacted]" in careless[-1]["message"]
    text = json.dumps(lines)
    assert secret not in text and secret.removeprefix("cw_admin_") not in text


def test_redact_hides_keys_and_key_parameters():
    secret = "cw_admin_" + "A1b2" * 8
    assert secret not in redact(f"GET /v1/search?q=tea&api_key={secret} HTTP/1.1")
    assert "s3cret" not in redact("GET /x?token=s3cret&q=1") and "q=1" in redact("GET /x?token=s3cret&q=1")
    assert "abc.def" not in redact("Authorization: Bearer abc.def")
    assert redact("GET /v1/search?q=red+mugs 200") == "GET /v1/search?q=red+mugs 200"
    assert check_log_format(" JSON ") == "json"
    with pytest.raises(ValidationError, match="text or json"):
        check_log_format("xml")


def test_metrics_open_is_refused_off_loopback(engine):
    with pytest.raises(ValidationError, match="loopback"):
        CliRunner().invoke(cli_app, ["serve", "--store", str(engine.store.path), "--host", "0.0.0.0",
                                     "--metrics-open"], catch_exceptions=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cartwise_serve_log_format_json_end_to_end(trained_store: Path, tmp_path: Path):
    """The real server: every line on stderr is one JSON object, uvicorn's own included, and a
    key sent in a header or a query string appears in none of them."""
    store = tmp_path / "store"
    shutil.copytree(trained_store, store)
    secret = Engine.open(store, create=False, log_impressions=False).create_key("admin").secret
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "cartwise.cli.main", "serve", "--store", str(store), "--port", str(port),
         "--log-format", "json", "--metrics-open"],
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
            _requests_with_the_key_everywhere(client, secret)
            assert client.get("/v1/ready").status_code == 200
            scraped = client.get("/metrics")  # open on loopback: no key
            assert scraped.status_code == 200
            assert 'cartwise_http_requests_total{method="GET",route="/v1/search",status="200"} 2.0' in scraped.text
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, stderr = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    text = stderr.decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line parses
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's lines too
    assert any(line["logger"] == "cartwise.serve" and "Cartwise on" in line["message"] for line in lines)
    routes = [line.get("route") for line in lines if line["logger"] == "cartwise.access"]
    assert routes.count("/v1/search") == 4  # 2 answered, 2 refused and "/v1/items/{item_id}/similar" in routes and "/metrics" in routes
    assert secret not in text and secret.removeprefix("cw_admin_") not in text
