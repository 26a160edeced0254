"""Where a store's catalog, events and models live, behind one interface."""

from pathlib import Path

from cartwise.store.base import IngestRun, Store, StoredKey, StoreStats
from cartwise.store.sqlite import SQLiteStore


def open_store(path: Path | str, *, create: bool = True) -> Store:
    """Open the store at `path` (a directory; the embedded SQLite back end)."""
    return SQLiteStore(path, create=create)


__all__ = ["IngestRun", "SQLiteStore", "Store", "StoreStats", "StoredKey", "open_store"]
