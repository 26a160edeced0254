"""The event bus: a durable log between the HTTP API and the store.

Without a bus the API writes events to the store before acknowledging (the embedded
default). With one (``--bus redis://…`` or ``--bus nats://…``, picked by URL scheme in
:mod:`cartwise.bus.registry`), ``POST /v1/events`` validates the batch, appends it to the
bus and answers 202 once the bus acknowledged it (:mod:`cartwise.bus.publish`); a
consumer (:mod:`cartwise.bus.consumer`) moves batches into the store and acknowledges
them after the commit; poison messages are parked on a dead-letter stream with a reason.
The same bus carries the change feed (:mod:`cartwise.bus.feed`) that tells every API
process of a commit or a new model version at once.
"""

from cartwise.bus.protocol import DeadLetter, Delivery, EventBus
from cartwise.bus.registry import bus_schemes, open_bus, register_bus

__all__ = ["DeadLetter", "Delivery", "EventBus", "bus_schemes", "open_bus", "register_bus"]
