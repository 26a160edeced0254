"""Redis Streams as the event bus: ``redis://host:6379/0``.

One stream per store (``cartwise:<store>:events``) read by one consumer group; XADD
returns once Redis holds the message (durable across a Redis restart as far as its
AOF/RDB settings make it: run Redis with ``appendonly yes`` for an fsync'd log). A
consumer reads its own unacknowledged entries first after a restart (XREADGROUP from 0),
takes over entries another consumer left pending for longer than the reclaim time
(XAUTOCLAIM), then new ones (XREADGROUP >); XACK after the store's commit, and the
acknowledged entry is deleted, so the stream holds only the backlog. Parked messages
go to ``cartwise:<store>:dead``; change notices to the pub/sub channel
``cartwise:<store>:changes``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import redis as redis_client
from redis.exceptions import RedisError, ResponseError

from cartwise.bus.protocol import MAX_PARKED_BYTES, DeadLetter, Delivery
from cartwise.bus.registry import register_bus
from cartwise.bus.urls import split_options
from cartwise.errors import BusUnavailable

GROUP = "cartwise-store"
# Parked messages kept (older ones are trimmed away).
DEAD_LETTERS_KEPT = 100_000


class RedisBus:
    """An :class:`~cartwise.bus.protocol.EventBus` on Redis Streams."""

    def __init__(self, url: str, *, store_id: str) -> None:
        plain, self.reclaim_after_s = split_options(url)
        self.store_id = store_id
        self.stream = f"cartwise:{store_id}:events"
        self.dead = f"cartwise:{store_id}:dead"
        self.channel = f"cartwise:{store_id}:changes"
        self._redis = redis_client.Redis.from_url(plain, socket_timeout=10, socket_connect_timeout=5,
                                                  health_check_interval=30)
        self._own_pending: set[str] = set()
        self._claimed_at = 0.0
        self._listeners: list[Any] = []
        with _errors("connect to"):
            try:
                self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def append(self, payload: bytes) -> str:
        with _errors("append to"):
            return _text(self._redis.xadd(self.stream, {"p": payload}))

    def receive(self, *, consumer: str, count: int, wait_s: float) -> list[Delivery]:
        with _errors("read from"):
            if consumer not in self._own_pending:
                # After a restart: what this consumer was handed and never acknowledged.
                mine = self._read(consumer, "0", count, block_ms=None)
                if mine:
                    return mine
                self._own_pending.add(consumer)
            now = time.monotonic()
            if now - self._claimed_at >= self.reclaim_after_s / 2:
                self._claimed_at = now
                claimed = self._reclaim(consumer, count)
                if claimed:
                    return claimed
            return self._read(consumer, ">", count, block_ms=max(1, int(wait_s * 1000)))

    def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with _errors("acknowledge on"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.xack(self.stream, GROUP, *ids)
            pipe.xdel(self.stream, *ids)
            pipe.execute()

    def release(self, ids: Sequence[str]) -> None:
        # They stay pending for this consumer: read again from 0 on its next receive.
        self._own_pending.clear()

    def park(self, payload: bytes, *, reason: str, source_id: str) -> None:
        with _errors("park on"):
            self._redis.xadd(
                self.dead,
                {"p": payload[:MAX_PARKED_BYTES], "reason": reason, "source_id": source_id,
                 "parked_ms": str(int(time.time() * 1000))},
                maxlen=DEAD_LETTERS_KEPT, approximate=True,
            )

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        with _errors("read dead letters from"):
            rows = self._redis.xrevrange(self.dead, count=limit)
        return [
            DeadLetter(id=_text(entry_id), source_id=_text(fields.get(b"source_id", b"")),
                       reason=_text(fields.get(b"reason", b"")), parked_ms=int(fields.get(b"parked_ms", b"0")),
                       payload=bytes(fields.get(b"p", b"")))
            for entry_id, fields in rows
        ]

    def backlog(self) -> int:
        with _errors("measure"):
            return int(self._redis.xlen(self.stream))

    def announce(self, notice: bytes) -> None:
        with _errors("announce on"):
            self._redis.publish(self.channel, notice)

    def listen(self, callback: Callable[[bytes], None]) -> Callable[[], None]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)

        def handle(message: dict[str, Any]) -> None:
            callback(bytes(message["data"]))

        pubsub.subscribe(**{self.channel: handle})
        worker = pubsub.run_in_thread(sleep_time=0.5, daemon=True, exception_handler=_keep_listening)
        self._listeners.append(worker)

        def stop() -> None:
            worker.stop()
            if worker in self._listeners:
                self._listeners.remove(worker)

        return stop

    def close(self) -> None:
        for worker in list(self._listeners):
            worker.stop()
        self._listeners.clear()
        self._redis.close()

    def _read(self, consumer: str, start: str, count: int, *, block_ms: int | None) -> list[Delivery]:
        answer = self._redis.xreadgroup(GROUP, consumer, {self.stream: start}, count=count, block=block_ms)
        out: list[Delivery] = []
        gone: list[str] = []
        for _, entries in answer or []:
            for entry_id, fields in entries:
                if not fields:  # pending, but deleted from the stream: nothing to store
                    gone.append(_text(entry_id))
                else:
                    out.append(Delivery(id=_text(entry_id), payload=bytes(fields.get(b"p", b""))))
        if gone:
            self._redis.xack(self.stream, GROUP, *gone)
        return out

    def _reclaim(self, consumer: str, count: int) -> list[Delivery]:
        idle_ms = int(self.reclaim_after_s * 1000)
        answer = self._redis.xautoclaim(self.stream, GROUP, consumer, idle_ms, start_id="0-0", count=count)
        entries = answer[1] if len(answer) > 1 else []
        return [Delivery(id=_text(entry_id), payload=bytes(fields.get(b"p", b"")), attempts=2)
                for entry_id, fields in entries if fields]


class _errors:
    """Turns a Redis failure into :class:`BusUnavailable` (nothing acknowledged: retry)."""

    def __init__(self, action: str) -> None:
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> bool:
        if isinstance(error, RedisError):
            raise BusUnavailable(f"could not {self.action} the Redis event bus: {type(error).__name__}",
                                 hint="check that Redis is running; the request may be retried") from error
        return False


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _keep_listening(error: BaseException, pubsub: Any, worker: threading.Thread) -> None:
    # A dropped connection: the listener reconnects on its next read; polling covers the gap.
    time.sleep(1.0)


register_bus(["redis", "rediss"], RedisBus)

__all__ = ["GROUP", "RedisBus"]
