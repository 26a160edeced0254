"""The storage interface every back end implements.

Callers (ingest, training, the engine) only see this protocol; the embedded SQLite
store is the default and the PostgreSQL store implements the same methods; each back end
registers its URL schemes with :func:`cartwise.store.register_store`. Every back end must pass the
shared suite in ``tests/store/test_contract.py``. Bulk data
moves as polars frames with the layouts in :mod:`cartwise.store.frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from cartwise.workspace import Workspace


@dataclass(frozen=True)
class IngestRun:
    """What one ingest did, as recorded in the store."""

    run_id: int
    kind: str
    source: str
    started_ms: int
    finished_ms: int
    rows_read: int
    rows_written: int
    rows_rejected: int
    rows_duplicate: int
    report_path: str | None = None


@dataclass(frozen=True)
class StoredKey:
    """An API key as the store keeps it: never the secret, only its SHA-256 hash."""

    key_id: int
    prefix: str
    secret_sha256: str
    scope: str
    name: str | None
    created_ms: int
    revoked_ms: int | None = None
    # The key's own rate limit: requests per second and burst (None: its scope's default).
    rate_per_s: float | None = None
    burst: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One admin action as the audit log keeps it: who (an API key's prefix, or
    ``cli:<user>``; never a secret), what (an action name such as ``items.upsert``), when
    (epoch ms), on what (`target`) and a short `detail`."""

    audit_id: int
    ts: int
    actor: str
    action: str
    target: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class StoredExperiment:
    """An A/B test or interleaving experiment as the store keeps it: its id, name and
    status as columns, the whole definition as a JSON document (:mod:`cartwise.experiments`)."""

    experiment_id: str
    name: str
    status: str
    created_ms: int
    updated_ms: int
    definition: str


@dataclass(frozen=True)
class AssistantTurn:
    """One message to the shopping assistant and what it answered, as the store keeps it:
    the dashboard's log of questions and hand-offs, and the memory of each conversation
    (its last turn says which product "it" is), shared by every server of the store."""

    answer_id: str
    ts: int
    message: str
    route: str
    confidence: float
    answered: bool
    handoff: bool
    reply: str
    conversation_id: str | None = None
    user_id: str | None = None
    item_id: str | None = None
    """The product a product question was about."""
    about_item_id: str | None = None
    """The product the conversation is about after this turn (the next turn's "it")."""
    query: str | None = None
    """The search a shopping request ran."""
    turn: int = 1
    """This turn's number in its conversation (1 for the first)."""
    evidence: tuple[str, ...] = ()
    """The doc ids of the quoted evidence, best first."""
    items: tuple[str, ...] = ()
    """A shopping request's products, in order."""


@dataclass(frozen=True)
class AssistantFeedback:
    """A shopper's "was this helpful?" on one assistant answer."""

    answer_id: str
    ts: int
    helpful: bool
    comment: str | None = None


@dataclass(frozen=True)
class HandedOffQuestion:
    """Questions handed to a person, counted together when they read the same once
    case-folded with their spaces collapsed: the wording and route of the first, how many
    times, when last, and the products they were about (in order of first mention)."""

    message: str
    route: str
    times: int
    last_ms: int
    item_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoreStats:
    items: int
    deleted_items: int
    events: int
    users: int
    events_by_type: dict[str, int] = field(default_factory=dict)
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    flagged_users: int = 0
    schema_version: int = 0
    catalog_version: int = 0
    events_version: int = 0
    impressions: int = 0


class Store(Protocol):
    """Persistent catalog, event log and model directory of one store."""

    path: Path

    @property
    def store_id(self) -> str:
        """A random id fixed at creation: models trained here refuse to load elsewhere."""
        ...

    @property
    def workspace(self) -> Workspace:
        """The directory of the store's files (models, embeddings, reports, ...); every
        back end has one, even one whose data lives in a server."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all (a crash leaves no trace)."""
        ...

    def upsert_items(self, items: pl.DataFrame) -> int:
        """Insert or replace items (undeleting them); returns rows written."""
        ...

    def delete_items(self, item_ids: Sequence[str]) -> int:
        """Mark items deleted; their events stay. Returns how many existed."""
        ...

    def insert_events(self, events: pl.DataFrame) -> int:
        """Append events, ignoring those whose event_key is already stored; returns rows added."""
        ...

    def insert_impressions(self, impressions: pl.DataFrame, items: pl.DataFrame) -> int:
        """Append answers shown to shoppers (IMPRESSION_SCHEMA) and their items in order
        (IMPRESSION_ITEM_SCHEMA), in one transaction; an impression whose request_id is
        already stored is ignored. Returns impressions added. Models do not change with
        impressions, so no version is bumped."""
        ...

    def impressions(self, *, since_ms: int | None = None) -> pl.DataFrame:
        """Impressions shown at or after `since_ms` (all when None), oldest first."""
        ...

    def impression_items(self, *, since_ms: int | None = None) -> pl.DataFrame:
        """The items of those impressions, by request and position."""
        ...

    def impressions_of(self, request_ids: Sequence[str]) -> pl.DataFrame:
        """The items shown by the impressions `request_ids` name (those logged), in order
        of request and position (SHOWN_SCHEMA)."""
        ...

    def flag_users(self, flags: pl.DataFrame) -> int:
        """Record users that look like bots (columns user_id, reason, peak_per_minute)."""
        ...

    def record_ingest(self, run: IngestRun) -> int: ...

    def items(self, *, include_deleted: bool = False) -> pl.DataFrame: ...

    def get_items(self, item_ids: Sequence[str]) -> pl.DataFrame: ...

    def item_ids(self, *, include_deleted: bool = False) -> set[str]: ...

    def events(self, *, exclude_flagged: bool = True) -> pl.DataFrame: ...

    def user_events(self, user_id: str, *, limit: int = 100) -> pl.DataFrame:
        """A user's most recent events, newest first."""
        ...

    def recent_events(self, user_ids: Sequence[str], *, limit: int = 100) -> pl.DataFrame:
        """Each of `user_ids`' most recent `limit` events in one read, by user, newest first
        (what :meth:`user_events` gives for each, at once)."""
        ...

    def popular_queries(self, *, limit: int = 1000) -> list[tuple[str, float]]:
        """The most searched queries (search events of unflagged users) with their counts."""
        ...

    def commits_since(self, version: int, *, limit: int = 1000) -> list[tuple[int, int]]:
        """(events version, events stamped with it) for the first `limit` commits that
        stored events after `version`, oldest first: the events log's table of contents.
        Every event a commit stores is stamped with the events version it left the store
        at, and writers of events take turns, so the stamps follow commit order."""
        ...

    def events_since(self, version: int, *, through: int) -> pl.DataFrame:
        """The events committed after events version `version` up to `through` (inclusive),
        in commit order (LOGGED_EVENT_SCHEMA: the columns of EVENT_SCHEMA and `committed`)."""
        ...

    def flagged_users(self) -> pl.DataFrame: ...

    def ingest_runs(self, *, limit: int = 20) -> list[IngestRun]: ...

    def stats(self) -> StoreStats: ...

    def add_key(self, key: StoredKey) -> StoredKey:
        """Store a new API key (its `key_id` is assigned here) and bump `keys_version`."""
        ...

    def keys(self) -> list[StoredKey]:
        """Every API key, revoked ones included, oldest first."""
        ...

    def revoke_key(self, key_id: int, revoked_ms: int) -> bool:
        """Mark a key revoked; False when it does not exist or already was."""
        ...

    def set_key_rate(self, key_id: int, rate_per_s: float | None, burst: int | None) -> bool:
        """Change a key's own rate limit (None: its scope's default) and bump
        `keys_version`; False when the key does not exist."""
        ...

    def keys_version(self) -> int:
        """Bumped by every key created or revoked, so servers drop cached keys."""
        ...

    def add_audit(self, entry: AuditEntry) -> AuditEntry:
        """Append an admin action to the audit log (its `audit_id` is assigned here)."""
        ...

    def audit(self, *, since_ms: int | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Audit entries at or after `since_ms` (all when None), oldest first, at most
        `limit` of them (the newest when there are more)."""
        ...

    def put_experiment(self, experiment: StoredExperiment) -> None:
        """Create or replace an experiment by its id and bump `experiments_version`."""
        ...

    def experiments(self) -> list[StoredExperiment]:
        """Every experiment, oldest first."""
        ...

    def experiments_version(self) -> int:
        """Bumped by every experiment created or changed, so servers reload them."""
        ...

    def add_assistant_turns(self, turns: Sequence[AssistantTurn]) -> int:
        """Append assistant turns in one transaction; a turn whose answer_id is already
        stored is ignored. Returns turns added."""
        ...

    def assistant_turns(self, *, since_ms: int | None = None) -> list[AssistantTurn]:
        """Turns at or after `since_ms` (all when None), oldest first."""
        ...

    def assistant_turn(self, answer_id: str) -> AssistantTurn | None:
        """The turn that gave `answer_id`, if stored."""
        ...

    def last_assistant_turn(self, conversation_id: str) -> AssistantTurn | None:
        """The newest turn of a conversation, if any."""
        ...

    def assistant_turns_of(self, answer_ids: Sequence[str]) -> list[AssistantTurn]:
        """The stored turns among `answer_ids`, oldest first."""
        ...

    def assistant_counts(self, *, since_ms: int | None = None) -> list[tuple[str, bool, bool, int]]:
        """(route, answered, handed off, turns) of the turns at or after `since_ms`, counted
        in the store (the dashboard's totals without reading every turn)."""
        ...

    def assistant_handoffs(self, *, since_ms: int | None = None, limit: int = 50) -> list[HandedOffQuestion]:
        """The questions handed off at or after `since_ms`, grouped, most asked first (then
        the most recent), at most `limit` groups, grouped and counted in the store."""
        ...

    def add_assistant_feedback(self, feedback: Sequence[AssistantFeedback]) -> int:
        """Append ratings of assistant answers; one already stored (same answer and time)
        is ignored. Returns ratings added."""
        ...

    def assistant_feedback(self, *, since_ms: int | None = None) -> list[AssistantFeedback]:
        """Ratings at or after `since_ms` (all when None), oldest first."""
        ...

    def versions(self) -> tuple[int, int]:
        """(catalog_version, events_version): bumped by every committed write, so
        indexes and caches know when they are stale."""
        ...

    def close(self) -> None: ...
