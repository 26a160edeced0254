"""NATS JetStream as the event bus: ``nats://host:4222``.

One work-queue stream per store (``CARTWISE_<store>``, subject ``cartwise.<store>.events``,
file storage): a publish returns once JetStream acknowledged it (stored on disk), and an
acknowledged message leaves the stream. One durable pull consumer (``cartwise-store``)
is shared by every consumer process; a message delivered and not acknowledged within the
reclaim time (the consumer's AckWait) is delivered again, so a crashed consumer's batch
goes to the next one. Parked messages go to the stream ``CARTWISE_DEAD_<store>``; change
notices are plain NATS messages on ``cartwise.<store>.changes``.

nats-py is asyncio: the bus runs its own event loop on a daemon thread and the methods
here block on it, as the rest of Cartwise is synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import nats as nats_client
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NotFoundError

from cartwise.bus.protocol import MAX_PARKED_BYTES, DeadLetter, Delivery
from cartwise.bus.registry import register_bus
from cartwise.bus.urls import split_options
from cartwise.errors import BusUnavailable

_log = logging.getLogger("cartwise.bus")
DURABLE = "cartwise-store"
# Seconds one call may wait for the server before the bus counts as unavailable.
CALL_TIMEOUT_S = 10.0
T = TypeVar("T")


class NatsBus:
    """An :class:`~cartwise.bus.protocol.EventBus` on NATS JetStream."""

    def __init__(self, url: str, *, store_id: str) -> None:
        plain, self.reclaim_after_s = split_options(url)
        self.store_id = store_id
        self.stream = f"CARTWISE_{store_id}"
        self.dead_stream = f"CARTWISE_DEAD_{store_id}"
        self.subject = f"cartwise.{store_id}.events"
        self.dead_subject = f"cartwise.{store_id}.dead"
        self.changes = f"cartwise.{store_id}.changes"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cartwise-nats", daemon=True)
        self._thread.start()
        self._held: dict[str, Any] = {}
        self._pull: Any = None
        self._pull_lock = threading.Lock()
        try:
            self._run(self._connect(plain), "connect to")
        except BaseException:
            self.close()
            raise

    async def _connect(self, url: str) -> None:
        self._nc = await nats_client.connect(url, connect_timeout=5, max_reconnect_attempts=-1,
                                             reconnect_time_wait=0.5, allow_reconnect=True, error_cb=_log_error)
        self._js = self._nc.jetstream(timeout=CALL_TIMEOUT_S)
        await self._ensure_stream(api.StreamConfig(
            name=self.stream, subjects=[self.subject], retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
        ))
        await self._ensure_stream(api.StreamConfig(
            name=self.dead_stream, subjects=[self.dead_subject], retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE, max_msgs=100_000,
        ))

    async def _ensure_stream(self, config: api.StreamConfig) -> None:
        try:
            await self._js.stream_info(config.name or "")
        except NotFoundError:
            await self._js.add_stream(config)

    def append(self, payload: bytes) -> str:
        if not self._nc.is_connected:  # reconnecting: answer now rather than after the timeout
            raise BusUnavailable("the NATS event bus is not connected (reconnecting)",
                                 hint="check that nats-server runs with JetStream (-js); the request may be retried")
        ack = self._run(self._js.publish(self.subject, payload, stream=self.stream), "append to")
        return str(ack.seq)

    def receive(self, *, consumer: str, count: int, wait_s: float) -> list[Delivery]:
        return self._run(self._fetch(count, wait_s), "read from", extra_s=wait_s)

    async def _fetch(self, count: int, wait_s: float) -> list[Delivery]:
        if self._pull is None:
            config = api.ConsumerConfig(durable_name=DURABLE, ack_policy=api.AckPolicy.EXPLICIT,
                                        ack_wait=self.reclaim_after_s, max_ack_pending=100_000,
                                        filter_subject=self.subject)
            self._pull = await self._js.pull_subscribe(self.subject, durable=DURABLE, stream=self.stream,
                                                       config=config)
        try:
            messages = await self._pull.fetch(count, timeout=max(wait_s, 0.05))
        except (NatsTimeout, asyncio.TimeoutError):
            # An empty fetch. nats-py raises its own TimeoutError when the wait ends, but a bare
            # asyncio.TimeoutError when the wait was used up before its follow-up request went
            # out (seen on a loaded machine): the same "nothing yet", not a broken bus.
            return []
        out = []
        for message in messages:
            meta = message.metadata
            key = str(meta.sequence.stream)
            self._held[key] = message
            out.append(Delivery(id=key, payload=bytes(message.data), attempts=int(meta.num_delivered)))
        return out

    def ack(self, ids: Sequence[str]) -> None:
        if ids:
            self._run(self._ack(list(ids)), "acknowledge on")

    async def _ack(self, ids: list[str]) -> None:
        for key in ids:
            message = self._held.pop(key, None)
            if message is not None:
                await message.ack()
        await self._nc.flush(timeout=CALL_TIMEOUT_S)

    def release(self, ids: Sequence[str]) -> None:
        if ids:
            self._run(self._nak(list(ids)), "hand back to")

    async def _nak(self, ids: list[str]) -> None:
        for key in ids:
            message = self._held.pop(key, None)
            if message is not None:
                await message.nak(delay=1.0)

    def park(self, payload: bytes, *, reason: str, source_id: str) -> None:
        headers = {"Cartwise-Reason": reason.replace("\n", " ")[:500], "Cartwise-Source": source_id,
                   "Cartwise-Parked-Ms": str(int(time.time() * 1000))}
        self._run(self._js.publish(self.dead_subject, payload[:MAX_PARKED_BYTES] or b"-",
                                   stream=self.dead_stream, headers=headers), "park on")

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        return self._run(self._dead_letters(limit), "read dead letters from")

    async def _dead_letters(self, limit: int) -> list[DeadLetter]:
        info = await self._js.stream_info(self.dead_stream)
        out: list[DeadLetter] = []
        seq = info.state.last_seq
        while seq >= max(info.state.first_seq, 1) and len(out) < limit:
            try:
                raw = await self._js.get_msg(self.dead_stream, seq)
            except NotFoundError:
                seq -= 1
                continue
            headers = raw.headers or {}
            out.append(DeadLetter(id=str(seq), source_id=headers.get("Cartwise-Source", ""),
                                  reason=headers.get("Cartwise-Reason", ""),
                                  parked_ms=int(headers.get("Cartwise-Parked-Ms", "0") or 0),
                                  payload=bytes(raw.data or b"")))
            seq -= 1
        return out

    def backlog(self) -> int:
        if not self._nc.is_connected:  # reconnecting: answer now rather than after the timeout
            raise BusUnavailable("the NATS event bus is not connected (reconnecting)",
                                 hint="check that nats-server runs with JetStream (-js)")
        return self._run(self._backlog(), "measure")

    async def _backlog(self) -> int:
        """What the durable consumer has not acknowledged. A work-queue stream deletes a
        message when it is acknowledged, but a nats-server killed (-9) may come back with the
        consumer's acknowledgements and without those deletions (seen with 2.9): messages
        at or below the consumer's ack floor, all acknowledged and stored, are purged
        rather than counted as a backlog that never drains."""
        stream = (await self._js.stream_info(self.stream)).state
        try:
            info = await self._js.consumer_info(self.stream, DURABLE)
        except NotFoundError:  # no consumer read yet: everything appended is waiting
            return int(stream.messages)
        waiting = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
        if stream.messages > waiting and floor >= max(stream.first_seq, 1):
            _log.info("purging %d acknowledged messages left in %s (ack floor %d)",
                      stream.messages - waiting, self.stream, floor)
            await self._js.purge_stream(self.stream, seq=floor + 1)
        return waiting

    def announce(self, notice: bytes) -> None:
        self._run(self._nc.publish(self.changes, notice), "announce on")

    def listen(self, callback: Callable[[bytes], None]) -> Callable[[], None]:
        async def handle(message: Any) -> None:
            # Off the loop: a callback may read the store.
            await asyncio.to_thread(callback, bytes(message.data))

        subscription = self._run(self._nc.subscribe(self.changes, cb=handle), "listen on")

        def stop() -> None:
            try:
                self._run(subscription.unsubscribe(), "stop listening on")
            except BusUnavailable:
                pass

        return stop

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._shutdown(), "close", extra_s=0)
        except (BusUnavailable, RuntimeError):
            pass
        self._stop_loop()

    async def _shutdown(self) -> None:
        """Close the connection, then end whatever tasks the client left on the loop."""
        nc = getattr(self, "_nc", None)
        if nc is not None and not nc.is_closed:
            await nc.close()
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def _run(self, work: Coroutine[Any, Any, T], action: str, *, extra_s: float = 0.0) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout=CALL_TIMEOUT_S + extra_s)
        except (NatsError, TimeoutError, OSError) as error:
            future.cancel()
            raise BusUnavailable(f"could not {action} the NATS event bus: {type(error).__name__}",
                                 hint="check that nats-server runs with JetStream (-js); the request may be "
                                 "retried") from error


async def _log_error(error: Exception) -> None:
    # The client reconnects by itself; callers see BusUnavailable meanwhile.
    _log.debug("NATS connection: %s: %s", type(error).__name__, error)


register_bus(["nats"], NatsBus)

__all__ = ["DURABLE", "NatsBus"]
