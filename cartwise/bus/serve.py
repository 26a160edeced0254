"""`cartwise serve --bus URL`: what a server process runs beside the API.

:func:`serving_bus` registers the bus change feed, opens the publisher the events route
appends to and (unless told not to) starts a consumer thread that moves events into the
store, and stops them when the server stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cartwise.bus.consumer import EventConsumer
from cartwise.bus.feed import use_bus_feed
from cartwise.bus.publish import EventPublisher
from cartwise.bus.registry import open_bus
from cartwise.store import open_store


@dataclass(frozen=True)
class ServingBus:
    feed: str  # the change feed's registered name, for Engine.open(feed=...)
    publisher: EventPublisher
    consumer: EventConsumer | None


@contextmanager
def serving_bus(store_url: Path | str, bus_url: str, *, consume: bool = True) -> Iterator[ServingBus]:
    feed = use_bus_feed(bus_url)
    store = open_store(store_url, create=False)
    publisher = EventPublisher(open_bus(bus_url, store_id=store.store_id))
    consumer = None
    try:
        if consume:
            consumer = EventConsumer(store, open_bus(bus_url, store_id=store.store_id))
            consumer.start()
        yield ServingBus(feed=feed, publisher=publisher, consumer=consumer)
    finally:
        if consumer is not None:
            consumer.stop()
            consumer.bus.close()
        publisher.close()
        store.close()


__all__ = ["ServingBus", "serving_bus"]
