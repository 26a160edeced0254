"""The planted relation-graph store (tests/graph/planted.py), trained once per session
without a text encoder (TF-IDF text similarity), and a fresh copy per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cartwise import Engine
from tests.graph.planted import CATALOG, planted_events


@pytest.fixture(scope="session")
def graph_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("graph") / "store"
    engine = Engine.open(path, log_impressions=False)
    assert engine.upsert_items(CATALOG).rows_rejected == 0
    report = engine.add_events(planted_events())
    assert report.rows_rejected == 0, report.rejects
    engine.train(encoder=None)
    engine.close()
    return path


@pytest.fixture
def graph_engine(graph_store: Path, tmp_path: Path) -> Engine:
    path = tmp_path / "store"
    shutil.copytree(graph_store, path)
    engine = Engine.open(path, create=False)
    engine.refresh()
    yield engine
    engine.close()
