"""Event buses by URL scheme, like the stores (:mod:`cartwise.store.registry`): each back
end module registers its schemes when imported and :func:`open_bus` picks one."""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Protocol

from cartwise.bus.protocol import EventBus
from cartwise.errors import ValidationError

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
# A store id as the stores make them; it names the bus's streams and subjects.
_STORE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BusOpener(Protocol):
    def __call__(self, url: str, *, store_id: str) -> EventBus:
        """Connect to the bus at `url`, using the streams of the store `store_id`."""
        ...


_BUSES: dict[str, BusOpener] = {}
# The built-in back ends, imported (and so registered) on first use: their client
# libraries stay out of commands that never touch a bus.
_BUILT_IN = {"redis": "cartwise.bus.redis", "rediss": "cartwise.bus.redis", "nats": "cartwise.bus.nats"}


def register_bus(schemes: Sequence[str], opener: BusOpener) -> None:
    """Make `opener` the bus of URLs starting with any of `schemes` + ``://``."""
    for scheme in schemes:
        _BUSES[scheme.lower()] = opener


def bus_schemes() -> list[str]:
    return sorted(set(_BUSES) | set(_BUILT_IN))


def bus_scheme(url: str) -> str:
    """The scheme of a bus URL, checked against the registered ones."""
    match = _URL.match(url or "")
    scheme = match["scheme"].lower() if match else None
    if scheme in _BUILT_IN and scheme not in _BUSES:
        importlib.import_module(_BUILT_IN[scheme])
    if scheme is None or scheme not in _BUSES:
        known = ", ".join(f"{s}://" for s in bus_schemes())
        # Only the scheme is repeated: the rest of a URL may hold a password.
        raise ValidationError(
            f"{(scheme + '://') if scheme else 'that'} is not an event bus URL", field="bus",
            hint=f"e.g. redis://127.0.0.1:6379/0 or nats://127.0.0.1:4222 (known: {known})",
        )
    return scheme


def open_bus(url: str, *, store_id: str) -> EventBus:
    """Connect to the event bus `url` names, for the store `store_id`."""
    scheme = bus_scheme(url)
    if not _STORE_ID.match(store_id):
        raise ValidationError(f"store id {store_id!r} cannot name a stream", field="store_id")
    return _BUSES[scheme](url, store_id=store_id)


__all__ = ["BusOpener", "bus_scheme", "bus_schemes", "open_bus", "register_bus"]
