"""One trainer per store: `cartwise train`, the retraining worker and ``Engine.train`` all
take a store-wide lock for the whole train, so two never write models at once.

A SQLite store (or any store without a lock of its own) is locked with ``flock`` on
``.train.lock`` in its workspace; a PostgreSQL store, whose trainers may run on different
machines, with a session-level advisory lock (:meth:`PostgresStore.advisory_lock`). Both
are let go when the trainer's process ends however it ends (kill -9 included). A second
trainer waits up to `wait_s` seconds for the first (0: not at all) and then refuses with
:class:`TrainerBusy`, saying who holds the lock.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cartwise.errors import TrainerBusy

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, no lock
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from cartwise.store.base import Store

LOCK_NAME = ".train.lock"
# Seconds between two tries while waiting for the lock.
RETRY_S = 0.2


def holder_text() -> str:
    """Who this process is, as the lock's holder: host, pid, since when (UTC)."""
    return f"{socket.gethostname()} pid {os.getpid()} since {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def busy(where: str, holder: str | None, wait_s: float) -> TrainerBusy:
    waited = f" (waited {wait_s:g} s)" if wait_s else ""
    return TrainerBusy(
        f"another trainer is training {where}{waited}: {holder or 'holder unknown'}",
        hint="one trainer per store: let it finish (`cartwise train --wait SECONDS` waits for it), "
        "or stop the other `cartwise train` / `cartwise worker`",
    )


@contextmanager
def trainer_lock(store: Store, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the store's training lock for the block (see the module docstring)."""
    if wait_s < 0:
        raise ValueError("wait_s must be 0 or more")
    advisory = getattr(store, "advisory_lock", None)
    if advisory is not None:
        with advisory("train", wait_s=wait_s):
            yield
        return
    with _file_lock(store, wait_s=wait_s):
        yield


@contextmanager
def _file_lock(store: Store, *, wait_s: float) -> Iterator[None]:
    path = store.workspace.root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 500, 0).decode(errors="replace").strip() or None
                        raise busy(f"the store at {store.workspace.root}", holder, wait_s) from None
                    time.sleep(min(RETRY_S, max(0.0, deadline - time.monotonic())) or RETRY_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder_text().encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # let go: the file stays, empty (removing it could race a waiter)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


__all__ = ["LOCK_NAME", "busy", "holder_text", "trainer_lock"]
