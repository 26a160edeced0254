"""In-process notice that a write to a store has committed.

Ingest calls :func:`committed` after its transaction; a change feed in the same process
(:mod:`cartwise.live.feed`) listens with :func:`on_commit` and wakes at once instead of at
its next poll. Other processes still learn of the write from the store's versions.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from inspect import ismethod
from typing import Any

# (store_id, what was written: "items", "events", ...)
CommitListener = Callable[[str, str], None]

_log = logging.getLogger("cartwise")
# Each listener as a callable returning it (None once a listening object is gone).
_listeners: list[Callable[[], CommitListener | None]] = []
_lock = threading.Lock()


def _subscribe(registry: list[Callable[[], Any]], listener: Callable[..., None]) -> Callable[[], None]:
    """Add `listener` to `registry` (a bound method weakly); returns what removes it."""
    ref: Callable[[], Any] = weakref.WeakMethod(listener) if ismethod(listener) else lambda: listener
    with _lock:
        registry.append(ref)

    def unsubscribe() -> None:
        with _lock:
            if ref in registry:
                registry.remove(ref)

    return unsubscribe


def _call(registry: list[Callable[[], Any]], kind: str, *args: Any) -> None:
    """Call every live listener of `registry` with `args`, dropping the gone ones."""
    with _lock:
        found = [(ref, ref()) for ref in registry]
        registry[:] = [ref for ref, listener in found if listener is not None]
    for _, listener in found:
        if listener is None:
            continue
        try:
            listener(*args)
        except Exception:  # noqa: BLE001 - a listener's failure must not fail the write that committed
            _log.exception("a %s listener failed", kind)


def on_commit(listener: CommitListener) -> Callable[[], None]:
    """Call `listener` after every commit in this process; returns what unsubscribes it.
    A bound method is held weakly: an engine never closed does not stay alive for it."""
    return _subscribe(_listeners, listener)


def committed(store_id: str, what: str) -> None:
    """Tell this process's listeners that a write of `what` to `store_id` committed."""
    _call(_listeners, "commit", store_id, what)


# (store_id, users flagged as bots by the commit)
StoredListener = Callable[[str, Sequence[str]], None]
_stored: list[Callable[[], StoredListener | None]] = []


def on_events_stored(listener: StoredListener) -> Callable[[], None]:
    """Call `listener(store_id, flagged)` after every commit in this process that stored
    new events: the online layer (:mod:`cartwise.live`) then reads them from the store's
    events log (:meth:`Store.events_since`). Held weakly like :func:`on_commit`'s."""
    return _subscribe(_stored, listener)


def events_stored(store_id: str, flagged: Sequence[str] = ()) -> None:
    """Tell this process's listeners that a commit stored new events in `store_id`."""
    _call(_stored, "stored-events", store_id, flagged)


__all__ = ["CommitListener", "StoredListener", "committed", "events_stored", "on_commit", "on_events_stored"]
