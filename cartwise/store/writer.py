"""Writes that must not make an answer wait for a disk: records gather in memory and a
background thread writes them to the store.

:meth:`BackgroundWriter.record` only appends to a list in memory (a few microseconds). A
flusher thread, started on the first record, writes what has gathered in one call of the
writer's `write` every `flush_interval_s` (0.25 s by default), or at once when `max_pending`
records wait, and stops after a few idle seconds. :meth:`BackgroundWriter.close` (and the
interpreter's exit) writes the rest: a clean shutdown loses nothing. A ``kill -9`` loses
what was not yet flushed: at most the last `flush_interval_s` of records.

A write that fails (the disk is full, the database is locked for longer than its timeout)
is retried at the next flush; the writer holds at most `max_buffer` records, and beyond
that drops the oldest and counts them in :attr:`BackgroundWriter.dropped`, so a broken disk
cannot take the server's memory with it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

_log = logging.getLogger("cartwise")
_open_writers: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()

T = TypeVar("T")


class BackgroundWriter(Generic[T]):
    """Buffered, background-flushed writes of records of one kind (`what`, for messages)."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], object],
        *,
        what: str,
        flush_interval_s: float = 0.25,
        max_pending: int = 2_000,
        max_buffer: int = 200_000,
        idle_stop_s: float = 5.0,
    ) -> None:
        self._write = write
        self.what = what
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.max_buffer = max_buffer
        self.idle_stop_s = idle_stop_s
        self.written = 0
        self.dropped = 0
        self._pending: list[T] = []
        self._writing: list[T] = []  # the batch being written: not pending any more, not yet stored
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        _open_writers.add(self)

    def record(self, record: T) -> None:
        """Queue one record for the store (never blocks on the store)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.what} writer is closed")
            self._pending.append(record)
            if len(self._pending) > self.max_buffer:
                excess = len(self._pending) - self.max_buffer
                del self._pending[:excess]
                self.dropped += excess
            if len(self._pending) >= self.max_pending:
                self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"cartwise-{self.what}", daemon=True)
                self._thread.start()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def queued(self) -> list[T]:
        """A copy of the records not yet stored (those being written included), oldest first:
        with what the store holds, a reader misses none of them."""
        with self._lock:
            return self._writing + self._pending

    def flush(self) -> int:
        """Write every queued record now; returns how many were written."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
                self._writing = batch
            if not batch:
                return 0
            try:
                self._write(batch)
            except Exception:
                with self._lock:  # keep them for the next flush, oldest first
                    self._pending[:0] = batch
                    self._writing = []
                raise
            with self._lock:
                self._writing = []
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
                _log.exception("writing %s failed; they stay queued", self.what)
            with self._lock:
                stop = self._closed or (not self._pending and time.monotonic() - idle_since > self.idle_stop_s)
                if stop:
                    self._thread = None
                    return


@atexit.register
def _flush_at_exit() -> None:
    for writer in list(_open_writers):
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - exiting; say so and go on
            _log.exception("writing %s at exit failed", writer.what)


__all__ = ["BackgroundWriter"]
