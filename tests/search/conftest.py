"""Fixtures for the search tests: the hand-made catalog and an index fitted on it."""

from __future__ import annotations

import polars as pl
import pytest
from search_catalog import catalog_frame

from cartwise.search import LexicalIndex


@pytest.fixture(scope="session")
def items() -> pl.DataFrame:
    return catalog_frame()


@pytest.fixture
def index(items: pl.DataFrame) -> LexicalIndex:
    return LexicalIndex().fit(items)


@pytest.fixture(scope="session")
def shared_index(items: pl.DataFrame) -> LexicalIndex:
    """One index for read-only property tests (hypothesis reruns a test body many times)."""
    return LexicalIndex().fit(items)
