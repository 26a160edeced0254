"""Store back ends by URL scheme, as Gorse's ``Register(prefixes, creator)`` + ``Open(url)``.

Each back end module registers its schemes when imported (the embedded SQLite store
registers ``sqlite``), and :func:`open_store` picks one from the URL it is given, so a
PostgreSQL store is one new module and no caller changes. A location without a scheme
is a directory of the embedded default store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cartwise.errors import StoreError
from cartwise.store.base import Store

# The back end a plain directory path opens.
DEFAULT_SCHEME = "sqlite"
# `scheme://` as RFC 3986 spells a scheme; anything else (including `C:\...`) is a path.
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<location>.*)$", re.DOTALL)


class StoreOpener(Protocol):
    def __call__(self, location: str, *, create: bool) -> Store:
        """Open the store at `location` (the URL after ``scheme://``), creating it when
        `create` is true and it does not exist yet."""
        ...


@dataclass(frozen=True)
class StoreBackend:
    """A registered back end: the schemes it answers, how to open a store, and how the
    shared contract suite gets an empty store of it."""

    name: str
    schemes: tuple[str, ...]
    opener: StoreOpener
    # The URL of a new, empty store under a temporary directory for the contract suite
    # (tests/store/test_contract.py), or None where none can be made here (no server).
    scratch_url: Callable[[Path], str | None]
    # Removes what a scratch URL made outside its temporary directory (a server's schema).
    discard_scratch: Callable[[str], None] | None = None
    # What a scratch store needs, said when none can be made (e.g. which server it tried).
    scratch_needs: str = ""


_BACKENDS: dict[str, StoreBackend] = {}


def register_store(
    schemes: Sequence[str],
    opener: StoreOpener,
    *,
    scratch_url: Callable[[Path], str | None],
    name: str | None = None,
    discard_scratch: Callable[[str], None] | None = None,
    scratch_needs: str = "",
) -> StoreBackend:
    """Make `opener` the back end of URLs starting with any of `schemes` + ``://``."""
    if not schemes:
        raise ValueError("a store back end needs at least one URL scheme")
    lowered = tuple(s.lower() for s in schemes)
    backend = StoreBackend(name or lowered[0], lowered, opener, scratch_url, discard_scratch, scratch_needs)
    for scheme in lowered:
        if not _URL.match(f"{scheme}://"):
            raise ValueError(f"{scheme!r} is not a URL scheme")
        taken = _BACKENDS.get(scheme)
        if taken is not None and taken.name != backend.name:
            raise ValueError(f"URL scheme {scheme}:// is already the {taken.name} store's")
        _BACKENDS[scheme] = backend
    return backend


def store_backends() -> list[StoreBackend]:
    """Every registered back end once, in registration order."""
    return list({backend.name: backend for backend in _BACKENDS.values()}.values())


def store_schemes() -> list[str]:
    return sorted(_BACKENDS)


def split_store_url(url_or_path: Path | str) -> tuple[str | None, str]:
    """(scheme, location): ``sqlite:///srv/shop`` -> ("sqlite", "/srv/shop"); a plain
    path (a str without ``scheme://``, or any Path) -> (None, the path)."""
    match = _URL.match(url_or_path) if isinstance(url_or_path, str) else None
    if match is None:
        return None, str(url_or_path)
    return match["scheme"].lower(), match["location"]


def open_store(url_or_path: Path | str, *, create: bool = True) -> Store:
    """Open the store a URL names (``sqlite:///srv/shop``, everything after ``sqlite://``
    being the directory), or the embedded SQLite store in a directory given as a plain
    path; `create` makes a missing one."""
    scheme, location = split_store_url(url_or_path)
    if scheme is None:
        return _BACKENDS[DEFAULT_SCHEME].opener(location, create=create)
    backend = _BACKENDS.get(scheme)
    if backend is None:
        # Only the scheme is repeated: the rest of a URL may hold a password.
        known = ", ".join(f"{s}://" for s in store_schemes())
        raise StoreError(
            f"{scheme}:// stores are not available: known schemes: {known}",
            hint="pass a URL with a known scheme, or a directory path for the embedded SQLite store",
        )
    if not location:
        raise StoreError(f"the store URL {scheme}:// names no location", hint=f"e.g. {scheme}:///srv/cartwise")
    return backend.opener(location, create=create)


__all__ = [
    "DEFAULT_SCHEME",
    "StoreBackend",
    "StoreOpener",
    "open_store",
    "register_store",
    "split_store_url",
    "store_backends",
    "store_schemes",
]
