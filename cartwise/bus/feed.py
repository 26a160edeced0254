"""A change feed over the bus: every commit broadcast, every API process refreshes at once.

Each process that uses it announces its own commits (events a consumer stored, items,
a new model version: :mod:`cartwise.store.commits`) on the bus's change channel, and
listens there: a notice for its store makes the next request (and any follower's
:meth:`~BusFeed.wait`) read the store's versions at once instead of at the next poll.
Notices are not stored, so the feed still polls (:class:`~cartwise.live.feed.PollingFeed`,
every :data:`FALLBACK_INTERVAL` seconds, as without a bus) to catch one lost while the bus
was down, or a commit by a process that does not announce (a `cartwise worker` started
without the bus).
Registered by :func:`use_bus_feed` under the bus's scheme (``redis``, ``nats``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from functools import partial

from cartwise.bus.protocol import EventBus
from cartwise.bus.registry import bus_scheme, open_bus
from cartwise.errors import BusUnavailable
from cartwise.live.feed import REFRESH_INTERVAL, PollingFeed, StoreVersion, register_feed
from cartwise.store import Store
from cartwise.store.commits import on_commit
from cartwise.versions import ModelVersions

_log = logging.getLogger("cartwise.bus")
# Seconds between store reads when no notice came: the polling feed's own interval.
FALLBACK_INTERVAL = REFRESH_INTERVAL


class BusFeed:
    """A :class:`~cartwise.live.feed.ChangeFeed` woken by notices on `bus`."""

    def __init__(self, store: Store, versions: ModelVersions, bus: EventBus, *,
                 interval: float = FALLBACK_INTERVAL) -> None:
        self.store = store
        self.bus = bus
        self.interval = interval
        self._polling = PollingFeed(store, versions, interval=interval)
        self._notices = 0
        self._seen = 0
        self._woken = threading.Condition()
        self._stop_listening = bus.listen(self._on_notice)
        self._unsubscribe = on_commit(self._on_commit)

    @property
    def notices(self) -> int:
        """Change notices heard so far."""
        return self._notices

    def current(self) -> StoreVersion:
        return self._polling.current()

    def changes_since(self, cursor: StoreVersion | None) -> StoreVersion | None:
        notices = self._notices
        if notices != self._seen:
            self._seen = notices
            seen = self.current()
            return seen if seen != cursor else None
        return self._polling.changes_since(cursor)

    def wait(self, cursor: StoreVersion | None, timeout: float) -> StoreVersion | None:
        deadline = time.monotonic() + timeout
        while True:
            count = self._notices
            seen = self.current()
            if seen != cursor:
                return seen
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with self._woken:
                self._woken.wait_for(partial(self._heard_since, count), timeout=min(left, self.interval))

    def close(self) -> None:
        self._unsubscribe()
        self._stop_listening()
        self._polling.close()
        self.bus.close()

    def _heard_since(self, count: int) -> bool:
        return self._notices != count

    def _on_notice(self, notice: bytes) -> None:
        with self._woken:
            self._notices += 1
            self._woken.notify_all()

    def _on_commit(self, store_id: str, what: str) -> None:
        if store_id != self.store.store_id:
            return
        try:
            self.bus.announce(json.dumps({"store": store_id, "what": what, "ms": int(time.time() * 1000)}).encode())
        except BusUnavailable as error:  # the others catch up at their next poll
            _log.warning("could not announce a commit: %s", error)


def use_bus_feed(url: str) -> str:
    """Register the change feed over the bus at `url` (named after its scheme) and return
    that name, for ``Engine(store, feed=name)``."""
    name = bus_scheme(url)

    def factory(store: Store, versions: ModelVersions) -> BusFeed:
        return BusFeed(store, versions, open_bus(url, store_id=store.store_id))

    register_feed(name, factory)
    return name


__all__ = ["FALLBACK_INTERVAL", "BusFeed", "use_bus_feed"]
