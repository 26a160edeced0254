"""Shared fixtures: a small store with a planted co-purchase pattern."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cartwise import Engine

FIXTURES = Path(__file__).parent / "fixtures"
RETAIL_SLICE = FIXTURES / "online_retail_2011-12.csv.gz"

CATALOG = [
    {"item_id": "mug-red", "title": "Red ceramic mug", "category": "Home > Kitchen > Mugs", "brand": "Acme",
     "price": 8.5, "currency": "EUR"},
    {"item_id": "mug-blue", "title": "Blue ceramic mug", "category": "Home > Kitchen > Mugs", "brand": "Acme",
     "price": 8.5, "currency": "EUR"},
    {"item_id": "teapot", "title": "Glass teapot with infuser", "category": "Home > Kitchen > Tea", "brand": "Brew",
     "price": 24.0, "currency": "EUR"},
    {"item_id": "tea-cosy", "title": "Knitted tea cosy keeps your pot warm", "category": "Home > Kitchen > Tea",
     "brand": "Brew", "price": 12.0, "currency": "EUR"},
    {"item_id": "dress-red", "title": "Red summer dress", "category": "Fashion > Dresses", "brand": "Moda",
     "price": 49.0, "currency": "EUR", "attributes": {"color": "red", "size": "M"}},
    {"item_id": "dress-zh", "title": "红色 连衣裙 夏季", "category": "Fashion > Dresses", "brand": "Moda",
     "price": 199.0, "currency": "CNY", "attributes": {"颜色": "红色"}},
    {"item_id": "boots", "title": "Waterproof hiking boots", "category": "Outdoor > Shoes", "brand": "Trail",
     "price": 89.0, "currency": "EUR", "in_stock": False},
    {"item_id": "socks", "title": "Wool hiking socks", "category": "Outdoor > Shoes", "brand": "Trail",
     "price": 9.0, "currency": "EUR"},
]


def planted_events() -> list[dict]:
    """Teapot buyers buy the tea cosy; mug buyers buy both mugs; socks are popular."""
    events = []
    t = 1_700_000_000
    for u in range(30):
        user = f"tea-{u}"
        events += [
            {"user_id": user, "item_id": "teapot", "event_type": "purchase", "timestamp": t + u * 100},
            {"user_id": user, "item_id": "tea-cosy", "event_type": "purchase", "timestamp": t + u * 100 + 10},
        ]
    for u in range(20):
        user = f"mug-{u}"
        events += [
            {"user_id": user, "item_id": "mug-red", "event_type": "add_to_cart", "timestamp": t + u * 100},
            {"user_id": user, "item_id": "mug-blue", "event_type": "purchase", "timestamp": t + u * 100 + 10},
        ]
    for u in range(60):
        events.append({"user_id": f"sock-{u}", "item_id": "socks", "event_type": "purchase", "timestamp": t + u})
    return events


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted store, loaded and trained once per session (closed: copy it, never open it)."""
    path = tmp_path_factory.mktemp("trained") / "store"
    engine = Engine.open(path)
    report = engine.upsert_items(CATALOG)
    assert report.rows_rejected == 0, report.rejects
    report = engine.add_events(planted_events())
    assert report.rows_rejected == 0, report.rejects
    engine.train()
    engine.close()
    return path


@pytest.fixture
def engine(trained_store: Path, tmp_path: Path) -> Engine:
    """The planted store, trained: each test gets its own copy of the session's store
    (database, models, embeddings), so it may ingest, train or delete freely."""
    path = tmp_path / "store"
    shutil.copytree(trained_store, path)
    engine = Engine.open(path, create=False)
    engine.refresh()  # published, as training left it
    return engine
