"""Several stores on one server: a request goes to the store its API key belongs to.

Each store keeps its own keys, so a key names its store: the server asks each store's
key ring (a dictionary lookup in memory) and serves the request from the one that knows
the key. No request can name a store itself, so a key of one store never reaches
another's data. The first store answers the open endpoints (health, probes, /metrics).
"""

from __future__ import annotations

from collections.abc import Sequence

from cartwise.access import ApiKey
from cartwise.engine import Engine
from cartwise.errors import ValidationError


class StoreRouter:
    """The stores one server answers for, in the order given (the first is the default)."""

    def __init__(self, engines: Sequence[Engine]) -> None:
        if not engines:
            raise ValidationError("a server needs at least one store", field="store")
        seen: dict[str, Engine] = {}
        for engine in engines:
            if engine.store.store_id in seen:
                raise ValidationError(
                    f"{engine.store.path} and {seen[engine.store.store_id].store.path} are the same store "
                    f"(id {engine.store.store_id})", field="store", hint="name each store once")
            seen[engine.store.store_id] = engine
        self.engines = list(engines)

    @property
    def default(self) -> Engine:
        return self.engines[0]

    def __len__(self) -> int:
        return len(self.engines)

    def verify(self, secret: str) -> tuple[Engine, ApiKey] | None:
        """The store whose active key this is, and the key; None when no store has it."""
        for engine in self.engines:
            key = engine.verify_key(secret)
            if key is not None:
                return engine, key
        return None


__all__ = ["StoreRouter"]
