"""How the engine learns that the store moved on: a change feed, chosen by name.

A feed reports the store's :class:`StoreVersion` (the live model version and the catalog
and event versions) when it differs from the one the engine last published a snapshot
for. :class:`PollingFeed` reads the versions from the store itself, at most once per
:data:`REFRESH_INTERVAL` on the request path, so it works across processes; commits made
in this process (:mod:`cartwise.store.commits`) wake its :meth:`~PollingFeed.wait` at once.
A Redis, NATS or PostgreSQL ``LISTEN`` feed is a new module that calls :func:`register_feed`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from cartwise.errors import ValidationError
from cartwise.store import Store
from cartwise.store.commits import on_commit
from cartwise.versions import ModelVersions

# How often the request path may read the store's versions (seconds).
REFRESH_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class StoreVersion:
    """Where the store stands: the cursor a feed reports changes against."""

    models: str | None
    catalog: int
    events: int


@runtime_checkable
class ChangeFeed(Protocol):
    """Tells the engine when the store's models, catalog or events changed."""

    def current(self) -> StoreVersion:
        """The store's version now (always read, never cached)."""
        ...

    def changes_since(self, cursor: StoreVersion | None) -> StoreVersion | None:
        """The store's version if it moved past `cursor`, else None. Called on every
        request, so it must be cheap: a feed may answer None until its next check is due."""
        ...

    def wait(self, cursor: StoreVersion | None, timeout: float) -> StoreVersion | None:
        """Block until the store moves past `cursor` (its new version) or `timeout`
        seconds pass (None), for a follower that refreshes in the background."""
        ...

    def close(self) -> None: ...


class PollingFeed:
    """Today's way: read the model pointer and the store's versions, at most once per
    :data:`REFRESH_INTERVAL` seconds on the request path (see the module docstring)."""

    def __init__(self, store: Store, versions: ModelVersions, *, interval: float | None = None) -> None:
        self.store = store
        self.versions = versions
        # None: the module's REFRESH_INTERVAL, read at each check.
        self.interval = interval
        self._checked_at = float("-inf")
        self._woken = threading.Condition()
        self._commits = 0
        self._unsubscribe = on_commit(self._on_commit)

    def current(self) -> StoreVersion:
        catalog, events = self.store.versions()
        return StoreVersion(models=self.versions.current_version(), catalog=catalog, events=events)

    def changes_since(self, cursor: StoreVersion | None) -> StoreVersion | None:
        now = time.monotonic()
        interval = REFRESH_INTERVAL if self.interval is None else self.interval
        if cursor is not None and now - self._checked_at < interval:
            return None
        self._checked_at = now
        seen = self.current()
        return seen if seen != cursor else None

    def wait(self, cursor: StoreVersion | None, timeout: float) -> StoreVersion | None:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.current()
            if seen != cursor:
                return seen
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            interval = REFRESH_INTERVAL if self.interval is None else self.interval
            with self._woken:
                self._woken.wait_for(partial(self._committed_since, self._commits), timeout=min(left, interval))

    def close(self) -> None:
        self._unsubscribe()

    def _committed_since(self, count: int) -> bool:
        return self._commits != count

    def _on_commit(self, store_id: str, what: str) -> None:
        if store_id == self.store.store_id:
            with self._woken:
                self._commits += 1
                self._woken.notify_all()


FeedFactory = Callable[[Store, ModelVersions], ChangeFeed]
_FEEDS: dict[str, FeedFactory] = {}


def register_feed(name: str, factory: FeedFactory) -> None:
    """Make `factory(store, versions)` the change feed called `name`."""
    _FEEDS[name] = factory


def feed_names() -> list[str]:
    return sorted(_FEEDS)


def open_feed(name: str, store: Store, versions: ModelVersions) -> ChangeFeed:
    """The change feed registered as `name`, following `store`."""
    factory = _FEEDS.get(name)
    if factory is None:
        raise ValidationError(f"unknown change feed {name!r}", field="feed", hint=f"choose one of {feed_names()}")
    return factory(store, versions)


register_feed("polling", PollingFeed)


__all__ = [
    "REFRESH_INTERVAL",
    "ChangeFeed",
    "PollingFeed",
    "StoreVersion",
    "feed_names",
    "open_feed",
    "register_feed",
]
