"""The store side of the bus: move batches into the store, acknowledge after the commit.

A consumer reads up to `batch` messages, parks the unusable ones (not an event batch,
over :data:`~cartwise.bus.protocol.MAX_MESSAGE_BYTES`) and stores the rest in one
transaction per unknown-item policy; events refused there (an unknown item when the
sender asked for ``reject``) are parked one by one, with the reason. Only then are the
messages acknowledged. A crash between the commit and the ack redelivers messages whose
events are already stored: they are keyed (:mod:`cartwise.ingest.keys`), so nothing is
stored twice. If the store fails, the messages are handed back and retried.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

import polars as pl

from cartwise.bus.messages import EventBatch, PoisonMessage, decode
from cartwise.bus.protocol import MAX_MESSAGE_BYTES, Delivery, EventBus
from cartwise.errors import ValidationError
from cartwise.ingest.pipeline import store_checked_events
from cartwise.ingest.report import LINE
from cartwise.store import Store

_log = logging.getLogger("cartwise.bus")
# Messages read (and stored together) at a time.
DEFAULT_BATCH = 64
# Seconds a consumer waits for new messages before looking again (and at its stop flag).
DEFAULT_WAIT_S = 0.5
# Longest pause after a failure (the store or the bus down), doubling from 0.1 s.
MAX_BACKOFF_S = 5.0


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class ConsumerTotals:
    """What a consumer did since it started."""

    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    parked: int = 0
    failures: int = 0


class EventConsumer:
    """Moves event batches from `bus` into `store` (see the module docstring)."""

    def __init__(self, store: Store, bus: EventBus, *, name: str | None = None, batch: int = DEFAULT_BATCH,
                 wait_s: float = DEFAULT_WAIT_S, bot_events_per_minute: int = 60) -> None:
        if not 1 <= batch <= 10_000:
            raise ValidationError(f"batch must be from 1 to 10000 messages, got {batch}", field="batch")
        if not 0 < wait_s <= 60:
            raise ValidationError(f"wait_s must be above 0 and at most 60, got {wait_s}", field="wait_s")
        self.store = store
        self.bus = bus
        self.name = name or default_consumer_name()
        self.batch = batch
        self.wait_s = wait_s
        self.bot_events_per_minute = bot_events_per_minute
        self.totals = ConsumerTotals()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Read, store and acknowledge one round of messages; how many were handled.
        Raises what the store or the bus raised (the messages are then handed back)."""
        deliveries = self.bus.receive(consumer=self.name, count=self.batch, wait_s=self.wait_s)
        if not deliveries:
            return 0
        batches: list[tuple[Delivery, EventBatch]] = []
        for delivery in deliveries:
            try:
                if len(delivery.payload) > MAX_MESSAGE_BYTES:
                    raise PoisonMessage(f"message of {len(delivery.payload):,} bytes is over {MAX_MESSAGE_BYTES:,}")
                batches.append((delivery, decode(delivery.payload)))
            except PoisonMessage as poison:
                self.bus.park(delivery.payload, reason=str(poison), source_id=delivery.id)
                self.totals.parked += 1
                _log.warning("parked bus message %s: %s", delivery.id, poison)
        try:
            for policy in ("keep", "reject"):
                self._store([(d, b) for d, b in batches if b.unknown_items == policy], policy)
        except BaseException:
            self.totals.failures += 1
            self.bus.release([d.id for d, _ in batches])
            raise
        try:
            self.bus.ack([d.id for d in deliveries])
        except BaseException:
            # The bus went away after the commit: hand them back so that they come again
            # (stored already: keyed, so not twice) as soon as it is back, not after the reclaim time.
            self.totals.failures += 1
            self.bus.release([d.id for d in deliveries])
            raise
        self.totals.messages += len(deliveries)
        return len(deliveries)

    def _store(self, batches: list[tuple[Delivery, EventBatch]], policy: str) -> None:
        if not batches:
            return
        frames = []
        origin: list[tuple[Delivery, int]] = []
        for delivery, batch in batches:
            start = len(origin)
            frames.append(batch.rows.with_columns((pl.int_range(pl.len()) + start).alias(LINE)))
            origin.extend((delivery, row) for row in range(batch.rows.height))
        rows = pl.concat(frames, rechunk=True)
        report = store_checked_events(self.store, rows.drop("line"), source="bus", unknown_items=policy,  # type: ignore[arg-type]
                                      bot_events_per_minute=self.bot_events_per_minute)
        self.totals.stored += report.rows_written
        self.totals.duplicates += report.rows_duplicate
        for reject in report.rejects:
            delivery, row = origin[int(reject.line)]
            event = rows.row(int(reject.line), named=True)
            event.pop(LINE, None)
            payload = json.dumps(event, ensure_ascii=False).encode()
            self.bus.park(payload, reason=f"{reject.field}: {reject.reason}", source_id=f"{delivery.id}#{row}")
            self.totals.parked += 1

    def run(self, stop: threading.Event | None = None) -> None:
        """Consume until `stop` (or :meth:`stop`) is set, riding out failures with a backoff."""
        stop = stop or self._stop
        backoff = 0.1
        while not stop.is_set():
            try:
                self.poll()
                backoff = 0.1
            except Exception as error:  # noqa: BLE001 - the store or bus being down must not end the consumer
                _log.warning("event consumer %s: %s; retrying in %.1fs", self.name, error, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    def start(self) -> threading.Thread:
        """Run in a daemon thread (inside `cartwise serve`)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"cartwise-consumer-{self.name}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, *, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def drain(self, *, idle_rounds: int = 2, timeout_s: float = 60.0) -> ConsumerTotals:
        """Consume until `idle_rounds` reads in a row find nothing and the bus holds nothing
        unacknowledged (a message a dead consumer held comes back after the reclaim time),
        or `timeout_s` passes (`cartwise consume --once`)."""
        deadline = time.monotonic() + timeout_s
        idle = 0
        while time.monotonic() < deadline:
            idle = idle + 1 if self.poll() == 0 else 0
            if idle >= idle_rounds and self.bus.backlog() == 0:
                break
        return self.totals


__all__ = ["DEFAULT_BATCH", "ConsumerTotals", "EventConsumer", "default_consumer_name"]
