"""Fixtures for the ingest tests: a fresh store and small files written on demand."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from cartwise.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "store")


@pytest.fixture
def write(tmp_path: Path):
    """write(name, text_or_bytes) -> path; `.gz` names are gzip-compressed."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        data = content.encode("utf-8") if isinstance(content, str) else content
        if name.endswith(".gz"):
            data = gzip.compress(data)
        path.write_bytes(data)
        return path

    return _write
