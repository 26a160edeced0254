"""The impression log: answers append here cheaply, a background thread writes them to
the store.

An answer must not wait for a disk: :meth:`ImpressionLog.record` only appends to a list in
memory (a few microseconds). A flusher thread, started on the first record, writes what
has gathered to the store in one transaction every `flush_interval_s` (0.25 s by default),
or at once when `max_pending` impressions wait, and stops after a few idle seconds.
:meth:`ImpressionLog.close` (called by ``Engine.close`` and at interpreter exit) writes
the rest: a clean shutdown loses nothing. A ``kill -9`` loses what was not yet flushed:
at most the last `flush_interval_s` of impressions (events themselves are written
before they are acknowledged, and are never lost).

A write that fails (the disk is full, the database is locked for longer than its 30 s
timeout) is retried at the next flush; the log holds at most `max_buffer` impressions,
and beyond that drops the oldest and counts them in :attr:`ImpressionLog.dropped`, so a
broken disk cannot take the server's memory with it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref

from cartwise.feedback.impression import Impression, to_frames
from cartwise.store import Store

_log = logging.getLogger("cartwise")
_open_logs: weakref.WeakSet[ImpressionLog] = weakref.WeakSet()


class ImpressionLog:
    """Buffered, background-flushed writes of impressions to one store."""

    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = 0.25,
        max_pending: int = 2_000,
        max_buffer: int = 200_000,
        idle_stop_s: float = 5.0,
    ) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.max_buffer = max_buffer
        self.idle_stop_s = idle_stop_s
        self.written = 0
        self.dropped = 0
        self._pending: list[Impression] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        _open_logs.add(self)

    def record(self, impression: Impression) -> None:
        """Queue one impression for the store (never blocks on the store)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the impression log is closed")
            self._pending.append(impression)
            if len(self._pending) > self.max_buffer:
                excess = len(self._pending) - self.max_buffer
                del self._pending[:excess]
                self.dropped += excess
            if len(self._pending) >= self.max_pending:
                self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cartwise-impressions", daemon=True)
                self._thread.start()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write every queued impression now; returns how many were written."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            heads, items = to_frames(batch)
            try:
                self.store.insert_impressions(heads, items)
            except Exception:
                with self._lock:  # keep them for the next flush, oldest first
                    self._pending[:0] = batch
                raise
            self.written += len(batch)
            return len(batch)

    def close(self) -> None:
        """Write what is queued and stop the flusher (idempotent)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        idle_since = time.monotonic()
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                if self.flush():
                    idle_since = time.monotonic()
            except Exception:  # noqa: BLE001 - kept queued; retried at the next flush
                _log.exception("writing impressions failed; they stay queued")
            with self._lock:
                stop = self._closed or (not self._pending and time.monotonic() - idle_since > self.idle_stop_s)
                if stop:
                    self._thread = None
                    return


@atexit.register
def _flush_at_exit() -> None:
    for log in list(_open_logs):
        try:
            log.close()
        except Exception:  # noqa: BLE001 - exiting; say so and go on
            _log.exception("writing impressions at exit failed")


__all__ = ["ImpressionLog"]
