"""The audit log: every admin action, who did it, when and on what.

Kept in the store (so every node writes to and reads one log). Who is an API key's
prefix for the HTTP API and ``cli:<user>`` for the command line: never a key's secret.
The faces record actions (the HTTP routes and the CLI commands that change a store); the
Python API is trusted and records nothing by itself.
"""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime
from enum import StrEnum

from cartwise.access.keys import ApiKey
from cartwise.errors import ValidationError
from cartwise.events.event import now_ms
from cartwise.store.base import AuditEntry, Store

# Targets and details are short: a list of 10,000 item ids is summarised, not stored.
MAX_TEXT = 500
MAX_ENTRIES = 10_000


class AuditAction(StrEnum):
    ITEMS_UPSERT = "items.upsert"
    ITEMS_DELETE = "items.delete"
    KEYS_CREATE = "keys.create"
    KEYS_REVOKE = "keys.revoke"
    KEYS_LIMIT = "keys.limit"
    MODELS_PROMOTE = "models.promote"
    MODELS_ROLLBACK = "models.rollback"
    RULES_CHANGE = "rules.change"
    EXPERIMENTS_CREATE = "experiments.create"
    EXPERIMENTS_STOP = "experiments.stop"
    EXPERIMENTS_SHIP = "experiments.ship"
    RUNS_NOTE = "runs.note"


def key_actor(key: ApiKey | None) -> str:
    """Who an HTTP request is: its key's prefix (``anonymous`` without one)."""
    return key.prefix if key is not None else "anonymous"


def cli_actor() -> str:
    """Who a command-line action is: the operating-system user running it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = "unknown"
    return f"cli:{user}"


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def summarise(ids: list[str], *, shown: int = 10) -> str:
    """A target naming up to `shown` ids, and how many more there were."""
    head = ", ".join(ids[:shown])
    return head if len(ids) <= shown else f"{head} and {len(ids) - shown:,} more"


_AGO = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_AGO_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_since(text: str, *, now: int | None = None) -> int:
    """A time as epoch milliseconds: a duration ago (``15m``, ``2h``, ``7d``), an ISO
    date or time (``2026-12-05``, ``2026-12-05T08:00:00Z``; UTC unless it says), or
    epoch milliseconds."""
    value = text.strip()
    if (ago := _AGO.match(value.lower())) is not None:
        return (now if now is not None else now_ms()) - int(ago[1]) * _AGO_MS[ago[2]]
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{text!r} is not a time", field="since",
                              hint="e.g. 15m, 2h, 7d, 2026-12-05, 2026-12-05T08:00:00Z or epoch milliseconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


class AuditLog:
    """Appends admin actions to a store's audit log and reads them back."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, action: AuditAction | str, *, actor: str, target: str | None = None,
               detail: str | None = None) -> AuditEntry:
        action = AuditAction(action)
        if not actor or len(actor) > 100:
            raise ValidationError("an audit entry needs an actor of at most 100 characters", field="actor")
        return self.store.add_audit(AuditEntry(0, now_ms(), actor, action.value, _short(target), _short(detail)))

    def entries(self, *, since_ms: int | None = None, limit: int = 1000) -> list[AuditEntry]:
        if not 1 <= limit <= MAX_ENTRIES:
            raise ValidationError(f"limit must be from 1 to {MAX_ENTRIES:,}, not {limit}", field="limit")
        if since_ms is not None and since_ms < 0:
            raise ValidationError("since must be a time, not before 1970", field="since")
        return self.store.audit(since_ms=since_ms, limit=limit)


__all__ = ["AuditAction", "AuditLog", "cli_actor", "key_actor", "parse_since", "summarise"]
