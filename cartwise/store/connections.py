"""The PostgreSQL store's connections: a few kept open and lent to one thread at a time.

No background threads (unlike psycopg_pool): a store that is never closed, as after a
one-off CLI command, is simply collected with its connections. A forked child (uvicorn
workers) never uses, nor closes, the parent's connections: it makes its own. A connection
idle for a while is pinged before it is lent, so one broken by a server restart is
replaced, not handed out.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from cartwise.errors import StoreError

# A connection idle longer than this is pinged before use: a restart of the server in
# between breaks it, and a query on it would fail where a new connection would not.
PING_AFTER_S = 1.0


class ConnectionPool:
    """At most `max_size` connections to `conninfo`, made on demand, reused when idle."""

    def __init__(self, conninfo: str, *, max_size: int, timeout_s: float = 30.0, **kwargs: Any) -> None:
        self._conninfo = conninfo
        self._kwargs = kwargs
        self._timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(max_size)
        self._lock = threading.Lock()
        # (connection, monotonic time it was returned), most recently returned last.
        self._idle: list[tuple[psycopg.Connection, float]] = []
        self._closed = False
        self._pid = os.getpid()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if not self._slots.acquire(timeout=self._timeout_s):
            raise StoreError(f"no PostgreSQL connection came free in {self._timeout_s:.0f} s",
                             hint="retry shortly, or raise ?pool_size=")
        try:
            conn = self._take()
            try:
                yield conn
            finally:
                self._give_back(conn)
        finally:
            self._slots.release()

    def _take(self) -> psycopg.Connection:
        if self._closed:
            raise StoreError("this store was closed", hint="open it again")
        if os.getpid() != self._pid:
            # A forked child forgets the parent's connections (they share its sockets);
            # psycopg never ends a session from a process other than the one that made it.
            with self._lock:
                self._idle = []
                self._pid = os.getpid()
        while True:
            with self._lock:
                conn, since = self._idle.pop() if self._idle else (None, 0.0)
            if conn is None:
                return psycopg.connect(self._conninfo, **self._kwargs)
            if time.monotonic() - since < PING_AFTER_S:
                return conn
            try:
                conn.execute("")
                return conn
            except psycopg.Error:
                conn.close()

    def _give_back(self, conn: psycopg.Connection) -> None:
        # Only a healthy connection outside any transaction is kept for the next caller.
        if self._closed or conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
            conn.close()
            return
        with self._lock:
            self._idle.append((conn, time.monotonic()))

    def close(self) -> None:
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


__all__ = ["PING_AFTER_S", "ConnectionPool"]
