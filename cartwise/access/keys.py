"""API keys: who may call the HTTP API, and for what.

A key reads ``cw_<scope>_<random>`` (192 random bits). The store keeps only its SHA-256
hash and a short prefix that names it in listings, so a copy of the store leaks no key.
Scopes: ``search`` reads answers and is safe to ship in a storefront's browser code;
``events`` writes behaviour events; ``admin`` changes the catalog, reads store
statistics and implies every other scope. ``events`` does not imply ``search``.

The Python API is not guarded by keys (in-process callers are trusted); the HTTP API
asks :class:`KeyRing` on every request, which answers from memory.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

from cartwise.access.rates import Rate
from cartwise.errors import NotFound, ValidationError
from cartwise.events.event import now_ms
from cartwise.store.base import Store, StoredKey

KEY_MARK = "cw"
PREFIX_CHARS = 8
# Longer than any key we issue; anything longer is refused without hashing it.
MAX_SECRET_LENGTH = 200


class Scope(StrEnum):
    SEARCH = "search"
    EVENTS = "events"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Scope:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValidationError(
                f"unknown scope {value!r}: use one of {', '.join(s.value for s in cls)}", field="scope"
            ) from None


def grants(held: Scope, needed: Scope) -> bool:
    """Whether a key of scope `held` may do what needs `needed`: admin may do everything."""
    return held is Scope.ADMIN or held is needed


def hash_secret(secret: str) -> str:
    """The stored form of a key. A plain SHA-256 suffices: keys are random, not passwords."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """What anyone may know about a key: everything but the secret."""

    key_id: int
    prefix: str
    scope: Scope
    name: str | None
    created_ms: int
    revoked_ms: int | None = None
    # Its own rate limit; None: the server's default for its scope.
    rate: Rate | None = None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None

    @classmethod
    def from_stored(cls, stored: StoredKey) -> ApiKey:
        rate = None
        if stored.rate_per_s is not None:
            rate = Rate(float(stored.rate_per_s), int(stored.burst or max(1, round(stored.rate_per_s))))
        return cls(stored.key_id, stored.prefix, Scope(stored.scope), stored.name, stored.created_ms, stored.revoked_ms,
                   rate)


@dataclass(frozen=True)
class NewKey:
    """A key just created: the only time its secret is known (left out of `repr`, so it
    cannot end up in a log by accident)."""

    secret: str = field(repr=False)
    key: ApiKey


class KeyRing:
    """Creates, lists, revokes and verifies the keys of one store.

    Verification is a dictionary lookup of the secret's hash. The dictionary is rebuilt
    when the store's `keys_version` moves, looked at no more than every `recheck_s`
    seconds: a key revoked here stops working at once, one revoked by another process
    (`cartwise keys revoke`, another node on the same PostgreSQL store) within that time.
    """

    def __init__(self, store: Store, *, recheck_s: float = 0.5) -> None:
        self.store = store
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._by_hash: dict[str, ApiKey] = {}
        self._version = -1
        self._checked_at = float("-inf")

    def create(self, scope: Scope | str, *, name: str | None = None, rate: Rate | None = None) -> NewKey:
        """A new key of `scope`; `rate`: its own rate limit (None: its scope's default)."""
        scope = Scope.parse(scope) if not isinstance(scope, Scope) else scope
        if name is not None and (len(name) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in name)):
            raise ValidationError("a key's name must be at most 200 characters, without control characters",
                                  field="name")
        random_part = secrets.token_urlsafe(24)
        secret = f"{KEY_MARK}_{scope.value}_{random_part}"
        prefix = f"{KEY_MARK}_{scope.value}_{random_part[:PREFIX_CHARS]}"
        stored = self.store.add_key(
            StoredKey(0, prefix, hash_secret(secret), scope.value, name or None, now_ms(),
                      rate_per_s=rate.per_s if rate else None, burst=rate.burst if rate else None)
        )
        self._reload()
        return NewKey(secret, ApiKey.from_stored(stored))

    def all_keys(self) -> list[ApiKey]:
        return [ApiKey.from_stored(k) for k in self.store.keys()]

    def revoke(self, prefix_or_id: str) -> ApiKey:
        """Revoke the key named by its prefix (as `cartwise keys list` shows it), its id
        or its whole secret; NotFound when none matches, ValidationError when it is
        already revoked."""
        stored = self._find(prefix_or_id)
        if stored.revoked_ms is not None:
            raise ValidationError(f"key {stored.prefix} is already revoked", field="key")
        self.store.revoke_key(stored.key_id, now_ms())
        self._reload()
        return ApiKey.from_stored(self._stored(stored.key_id))

    def set_rate(self, prefix_or_id: str, rate: Rate | None) -> ApiKey:
        """Give a key its own rate limit, or (None) let its scope's default apply."""
        stored = self._find(prefix_or_id)
        self.store.set_key_rate(stored.key_id, rate.per_s if rate else None, rate.burst if rate else None)
        self._reload()
        return ApiKey.from_stored(self._stored(stored.key_id))

    def _find(self, prefix_or_id: str) -> StoredKey:
        wanted = prefix_or_id.strip()
        digest = hash_secret(wanted)
        for stored in self.store.keys():
            if wanted in (stored.prefix, str(stored.key_id)) or stored.secret_sha256 == digest:
                return stored
        shown = wanted[: len(KEY_MARK) + len(Scope.SEARCH.value) + PREFIX_CHARS + 2]  # never echo a whole secret
        raise NotFound(f"no key matches {shown!r}", field="key", hint="`cartwise keys list` shows each key's prefix and id")

    def _stored(self, key_id: int) -> StoredKey:
        return next(k for k in self.store.keys() if k.key_id == key_id)

    def verify(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None."""
        if not secret or len(secret) > MAX_SECRET_LENGTH:
            return None
        if time.monotonic() - self._checked_at >= self.recheck_s:
            self._checked_at = time.monotonic()
            if self.store.keys_version() != self._version:
                self._reload()
        return self._by_hash.get(hash_secret(secret))

    def has_active_keys(self) -> bool:
        return any(k.revoked_ms is None for k in self.store.keys())

    def _reload(self) -> None:
        with self._lock:
            version = self.store.keys_version()
            self._by_hash = {
                k.secret_sha256: ApiKey.from_stored(k) for k in self.store.keys() if k.revoked_ms is None
            }
            self._version = version
            self._checked_at = time.monotonic()
