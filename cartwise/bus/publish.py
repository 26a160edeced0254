"""The API side of the bus: validate a batch, append it, acknowledge.

An event is acknowledged (202) only after the bus acknowledged the message holding it;
rows that fail validation are answered at once, as without a bus, and never reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cartwise.bus.messages import encode
from cartwise.bus.protocol import EventBus
from cartwise.errors import ValidationError
from cartwise.ingest.pipeline import check_event_records
from cartwise.ingest.report import Reject, summarise

# A message larger than this is split (NATS refuses messages over its max_payload, 1 MiB by default).
MESSAGE_BYTES = 512 * 1024


@dataclass(frozen=True)
class Accepted:
    """What the bus took from one request."""

    received: int
    accepted: int
    rejects: list[Reject] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)


class EventPublisher:
    """Validates event batches and appends the valid rows to `bus`."""

    def __init__(self, bus: EventBus, *, message_bytes: int = MESSAGE_BYTES) -> None:
        self.bus = bus
        self.message_bytes = message_bytes

    def add_events(self, records: Sequence[Mapping[str, Any]], *, unknown_items: str = "keep",
                   source: str = "api") -> Accepted:
        if unknown_items not in ("keep", "reject"):
            raise ValidationError(f"unknown_items must be 'keep' or 'reject', got {unknown_items!r}",
                                  field="unknown_items")
        checked = check_event_records(records, source=source)
        rejects, _ = summarise(checked.rejects, source)
        ids: list[str] = []
        valid = checked.valid
        if valid.height:
            payload = encode(valid, unknown_items=unknown_items, source=source)
            if len(payload) <= self.message_bytes:
                ids.append(self.bus.append(payload))
            else:
                per_message = max(1, valid.height * self.message_bytes // len(payload))
                for part in valid.iter_slices(per_message):
                    ids.append(self.bus.append(encode(part, unknown_items=unknown_items, source=source)))
        return Accepted(received=checked.rows_read, accepted=valid.height, rejects=rejects, message_ids=ids)

    def close(self) -> None:
        self.bus.close()


__all__ = ["MESSAGE_BYTES", "Accepted", "EventPublisher"]
