"""What rules ask of items, computed once per item and catalog snapshot.

A rule set registers each condition and measure its rules use as a probe; the first
time an answer meets an item, every probe runs on it and the results are kept (per
catalog snapshot, and per hour for the time-dependent newness), so applying fifty rules
to an answer is fifty look-ups per item, not fifty condition evaluations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from cartwise.catalog.snapshot import CatalogSnapshot
from cartwise.rules.conditions import ItemView

Probe = Callable[[ItemView], Any]
HOUR_MS = 3_600_000
MAX_CACHED_ITEMS = 200_000


class Probes:
    """The probes of one rule set, and their results per item (see the module docstring)."""

    IN_STOCK = 0
    """Every rule set's first probe: whether the item is in stock (the inventory policy)."""

    def __init__(self) -> None:
        self._probes: list[Probe] = [lambda item: item.card.in_stock]
        self._derived: list[Callable[[str, list[Any]], Any]] = []
        self._cache: tuple[tuple[int, int], int, dict[str, tuple[Any, ...] | None]] = ((0, -1), -1, {})
        self._lock = threading.Lock()

    def add(self, probe: Probe) -> int:
        """Register `probe`; its index in every item's facts."""
        self._probes.append(probe)
        return len(self._probes) - 1

    def derive(self, derived: Callable[[str, list[Any]], Any]) -> int:
        """Register `derived(item_id, facts so far)`, run after every probe; its index."""
        self._derived.append(derived)
        return len(self._probes) + len(self._derived) - 1

    def __len__(self) -> int:
        return len(self._probes) + len(self._derived)

    def facts(self, catalog: CatalogSnapshot, item_id: str, now_ms: int) -> tuple[Any, ...] | None:
        """Each probe's result for `item_id` (None: the item is not in the catalog)."""
        key, hour, cached = self._cache
        # The snapshot's identity and version: a price or stock change is a new snapshot.
        if key != (id(catalog), catalog.version) or hour != now_ms // HOUR_MS:
            with self._lock:
                cached = {}
                self._cache = ((id(catalog), catalog.version), now_ms // HOUR_MS, cached)
        found = cached.get(item_id, False)
        if found is not False:
            return found  # type: ignore[return-value]
        view = ItemView.of(catalog, item_id, now_ms=now_ms)
        facts = None
        if view is not None:
            found_facts = [probe(view) for probe in self._probes]
            for derived in self._derived:
                found_facts.append(derived(item_id, found_facts))
            facts = tuple(found_facts)
        if len(cached) < MAX_CACHED_ITEMS:
            cached[item_id] = facts
        return facts


__all__ = ["Probes"]
