"""Rules tests run on the planted store (tests/conftest.py), with rules loaded per test."""

from __future__ import annotations

import time

import pytest

from cartwise import Engine


@pytest.fixture
def shop(engine: Engine) -> Engine:
    """The planted store with margin, stock and newness attributes on its items."""
    report = engine.upsert_items([
        {"item_id": "mug-red", "title": "Red ceramic mug", "category": "Home > Kitchen > Mugs", "brand": "Acme",
         "price": 8.5, "currency": "EUR", "attributes": {"margin": 0.1, "stock": 40}},
        {"item_id": "mug-blue", "title": "Blue ceramic mug", "category": "Home > Kitchen > Mugs", "brand": "Acme",
         "price": 8.5, "currency": "EUR", "attributes": {"margin": 0.5, "stock": 2}},
        {"item_id": "teapot", "title": "Glass teapot with infuser", "category": "Home > Kitchen > Tea",
         "brand": "Brew", "price": 24.0, "currency": "EUR", "created_at": int(time.time() * 1000) - 2 * 86_400_000,
         "attributes": {"margin": 0.3, "stock": 100}},
    ])
    assert report.rows_rejected == 0, report.rejects
    engine.refresh()
    return engine
