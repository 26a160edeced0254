"""User segments a rule can be scoped to, by name: each reads the shopper's latest events.

An answer that names no shopper (or one with no events) is a new visitor's. A new segment
is one :func:`register_segment` call; rule files name segments and are checked against
this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cartwise.errors import ValidationError
from cartwise.events.event import EventType
from cartwise.recommend import Interaction

SegmentTest = Callable[[Sequence[Interaction]], bool]
_SEGMENTS: dict[str, SegmentTest] = {}


def register_segment(name: str, test: SegmentTest) -> None:
    """Make `test(history)` (the shopper's events, newest first) the segment called `name`."""
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"segment names are letters, digits and '_', got {name!r}")
    _SEGMENTS[name] = test


def segment_names() -> list[str]:
    return sorted(_SEGMENTS)


def segments_of(history: Sequence[Interaction]) -> frozenset[str]:
    """Every segment the shopper with `history` is in."""
    return frozenset(name for name, test in _SEGMENTS.items() if test(history))


def check_segment(name: str) -> str:
    if name not in _SEGMENTS:
        raise ValidationError(f"unknown segment {name!r}", field="segment", hint=f"choose one of {segment_names()}")
    return name


def _purchased(history: Sequence[Interaction]) -> bool:
    return any(event.event_type == EventType.PURCHASE.value for event in history)


register_segment("new_visitor", lambda history: not history)
register_segment("returning", lambda history: bool(history) and not _purchased(history))
register_segment("has_purchased", _purchased)
register_segment("known", lambda history: bool(history))

__all__ = ["check_segment", "register_segment", "segment_names", "segments_of"]
