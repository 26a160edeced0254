"""What every event bus back end does (Redis Streams, NATS JetStream)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

# A message larger than this is parked unread (the API's body limit keeps real ones far below).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Bytes of a parked message kept on the dead-letter stream.
MAX_PARKED_BYTES = 256 * 1024
# Seconds a delivered message may stay unacknowledged before another consumer takes it over
# (a consumer that crashed holds it until then).
DEFAULT_RECLAIM_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to a consumer; acknowledge it with its `id` after the commit."""

    id: str
    payload: bytes
    # How many times it was delivered (1 the first time), where the bus counts.
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A parked message: why it was parked and (the start of) what it held."""

    id: str
    source_id: str
    reason: str
    parked_ms: int
    payload: bytes


class EventBus(Protocol):
    """A durable, ordered log of event batches for one store, read by a consumer group
    whose offsets survive restarts, with a dead-letter stream and a change channel."""

    def append(self, payload: bytes) -> str:
        """Append one message; returns its id once the bus has it durably (the caller
        acknowledges its own client only after this returns)."""
        ...

    def receive(self, *, consumer: str, count: int, wait_s: float) -> list[Delivery]:
        """Up to `count` messages for `consumer`: first those it was handed before a restart
        and never acknowledged, then ones another consumer left unacknowledged for longer than
        the reclaim time, then new ones (waiting up to `wait_s` for them)."""
        ...

    def ack(self, ids: Sequence[str]) -> None:
        """Mark messages done: they are never delivered again."""
        ...

    def release(self, ids: Sequence[str]) -> None:
        """Hand messages back undone (the store failed): they are delivered again."""
        ...

    def park(self, payload: bytes, *, reason: str, source_id: str) -> None:
        """Put a message (or one event of it) that can never be stored on the dead-letter
        stream, with why; `source_id` names the message it came from. The caller acks the
        message itself once it is done with it."""
        ...

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The most recently parked messages, newest first."""
        ...

    def backlog(self) -> int:
        """Messages appended but not yet acknowledged (delivered or not)."""
        ...

    def announce(self, notice: bytes) -> None:
        """Broadcast a change notice to every listener (not stored: listeners also poll)."""
        ...

    def listen(self, callback: Callable[[bytes], None]) -> Callable[[], None]:
        """Call `callback(notice)` for every announcement from now on; returns what stops it."""
        ...

    def close(self) -> None: ...


__all__ = ["DEFAULT_RECLAIM_AFTER_S", "MAX_MESSAGE_BYTES", "MAX_PARKED_BYTES", "DeadLetter", "Delivery", "EventBus"]
