"""/v1/live and /v1/ready: what an orchestrator polls; /v1/health stays as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.api import create_app
from tests.conftest import CATALOG


def test_live_and_ready_on_a_trained_store(engine):
    client = TestClient(create_app(engine))
    assert client.get("/v1/live").json() == {"status": "alive"}
    ready = client.get("/v1/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["store"] == "ok" and body["reason"] is None
    assert body["model_version"] == client.get("/v1/health").json()["model_version"]


def test_not_ready_without_a_model_then_ready_after_training(tmp_path):
    engine = Engine.open(tmp_path / "store")
    engine.upsert_items(CATALOG)
    client = TestClient(create_app(engine))
    assert client.get("/v1/live").status_code == 200
    response = client.get("/v1/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    body = response.json()
    assert body["status"] == "not_ready" and body["store"] == "ok" and body["model_version"] is None
    assert "cartwise train" in body["reason"]
    assert client.get("/v1/health").json()["status"] == "untrained"
    engine.train()
    assert client.get("/v1/ready").status_code == 200


def test_not_ready_while_the_store_cannot_be_reached_and_ready_again_after(trained_store: Path, tmp_path: Path):
    path = tmp_path / "store"
    shutil.copytree(trained_store, path)
    engine = Engine.open(path, create=False, log_impressions=False)
    engine.refresh()  # a model is loaded; the store is read from this thread only so far
    client = TestClient(create_app(engine, metrics_open=True))
    away = tmp_path / "moved"
    os.rename(path, away)  # the store's directory is gone: a new connection cannot open it
    try:
        response = client.get("/v1/ready")
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["store"] == "unreachable" and "does not answer" in body["reason"]
        assert str(path) not in response.text  # an open endpoint does not say where the store lies
        assert "cartwise_store_up 0.0" in client.get("/metrics").text
        assert client.get("/v1/live").status_code == 200  # alive: do not restart it, wait
    finally:
        os.rename(away, path)
    assert client.get("/v1/ready").status_code == 200  # recovers by itself
    assert "cartwise_store_up 1.0" in client.get("/metrics").text
