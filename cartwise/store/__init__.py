"""Where a store's catalog, events and models live, behind one interface.

:func:`open_store` picks the back end from a URL's scheme (``sqlite:///srv/shop``) or
opens the embedded SQLite store in a plain directory path; ``postgresql://`` URLs open a
schema of a PostgreSQL database. Each back end module registers itself on import (and its
backup, :mod:`cartwise.store.backup`), so importing it here is what makes its scheme known.
"""

from cartwise.store.base import (
    AssistantFeedback,
    AssistantTurn,
    AuditEntry,
    HandedOffQuestion,
    IngestRun,
    Store,
    StoredExperiment,
    StoredKey,
    StoreStats,
)
from cartwise.store.registry import (
    StoreBackend,
    open_store,
    register_store,
    store_backends,
    store_schemes,
)
from cartwise.store.sqlite import SQLiteStore
from cartwise.store.postgres import PostgresStore  # noqa: I001 - the embedded default registers first
from cartwise.store import postgres_backup  # noqa: F401, I001 - registers the "postgresql" backup

__all__ = [
    "AssistantFeedback",
    "AssistantTurn",
    "AuditEntry",
    "HandedOffQuestion",
    "StoredExperiment",
    "IngestRun",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "StoreBackend",
    "StoreStats",
    "StoredKey",
    "open_store",
    "register_store",
    "store_backends",
    "store_schemes",
]
