"""One ingest from source to store: read, map, validate, de-duplicate, flag bots, write.

Every write of one ingest (items or events, bot flags, the ingest record) happens in one
store transaction, so a crash or Ctrl-C leaves the store as it was; the report file is
written after the commit. Re-running an ingest changes nothing: identical items are not
rewritten and every event is already there under its key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from cartwise.errors import ValidationError
from cartwise.events.event import now_ms
from cartwise.ingest.bots import find_bots
from cartwise.ingest.events import EVENT_FIELDS, EVENT_REQUIRED, validate_events
from cartwise.ingest.items import ITEM_FIELDS, ITEM_REQUIRED, validate_items
from cartwise.ingest.keys import event_keys
from cartwise.ingest.mapping import ColumnMapping
from cartwise.ingest.readers import RawTable, Reader, open_reader, read_records
from cartwise.ingest.report import (
    LINE,
    IngestReport,
    combine_rejects,
    default_report_path,
    summarise,
    write_rejects,
)
from cartwise.store.base import IngestRun, Store
from cartwise.store.commits import committed, events_stored
from cartwise.store.frames import EVENT_SCHEMA, ITEM_SCHEMA

ProgressCallback = Callable[[int, int], None]
UnknownItems = Literal["keep", "reject"]
# Rows per store call: small enough for a lively progress bar, large enough to be cheap.
WRITE_BATCH = 50_000
# Rows validated at a time: bounds the memory of validation's intermediate columns.
VALIDATE_ROWS = 200_000
UNKNOWN_ITEM = "item_id is not in the catalog"


@dataclass
class _Run:
    """Bookkeeping shared by every kind of ingest."""

    kind: str
    source: str
    on_progress: ProgressCallback | None
    started_ms: int = field(default_factory=now_ms)
    started: float = field(default_factory=time.perf_counter)
    total: int = 0
    done: int = 0

    def progress(self, rows: int) -> None:
        self.done += rows
        if self.on_progress is not None:
            self.on_progress(min(self.done, self.total), self.total)


def _check_options(unknown_items: str, bot_events_per_minute: int) -> None:
    if unknown_items not in ("keep", "reject"):
        raise ValidationError(
            f"unknown_items must be 'keep' or 'reject', got {unknown_items!r}", field="unknown_items"
        )
    rate = bot_events_per_minute
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise ValidationError(
            f"bot_events_per_minute must be a whole number of at least 1, got {bot_events_per_minute!r}",
            field="bot_events_per_minute",
        )


@dataclass
class _Checked:
    """Rows after reading and validation: what is left of the source in memory."""

    valid: pl.DataFrame
    rejects: pl.DataFrame
    rows_read: int


Validator = Callable[..., tuple[pl.DataFrame, pl.DataFrame]]


def _check(table: RawTable, frame: pl.DataFrame, validate: Validator) -> _Checked:
    """Validate in slices, so the working columns of validation never span the file."""
    now = now_ms()
    slices = list(frame.iter_slices(VALIDATE_ROWS)) or [frame]
    parts = [validate(part, now_ms=now) for part in slices]
    valid = pl.concat([valid for valid, _ in parts], rechunk=True)
    rejects = combine_rejects(table.rejects, *(rejects for _, rejects in parts))
    return _Checked(valid, rejects, table.rows_read)


def _read_checked(
    reader: Reader,
    mapping: ColumnMapping,
    *,
    kind: str,
    fields: Sequence[str],
    required: Sequence[tuple[str, ...]],
    validate: Validator,
) -> _Checked:
    options: dict[str, Any] = {"kind": kind, "fields": fields, "required": required, "source": reader.source}
    plan = mapping.plan(columns=reader.columns, complete=reader.complete, **options)
    if not plan.columns:
        raise ValidationError(
            f"no column of {reader.source} would be read", hint="map at least one field to a column with --map"
        )
    table = reader.read(plan.source_columns())
    if not reader.complete:
        plan = mapping.plan(columns=table.columns, complete=True, **options)
    return _check(table, plan.select(table, fields), validate)


def _finish(
    store: Store,
    run: _Run,
    rejects: pl.DataFrame,
    *,
    written: Callable[[], int],
    rows_read: int,
    rows_valid: int,
    report_path: Path | str | None,
    warnings: int = 0,
    flagged: list[str] | None = None,
    notes: list[str] | None = None,
) -> IngestReport:
    """Write inside one transaction (`written` does the data writes), then the report."""
    store_report = default_report_path(store.workspace.reports_dir, run.kind) if rejects.height else None
    with store.transaction():
        rows_written = written()
        store.record_ingest(
            IngestRun(
                run_id=0,
                kind=run.kind,
                source=run.source,
                started_ms=run.started_ms,
                finished_ms=now_ms(),
                rows_read=rows_read,
                rows_written=rows_written,
                rows_rejected=rejects.height,
                rows_duplicate=rows_valid - rows_written,
                report_path=str(store_report or report_path or "") or None,
            )
        )
    # After the commit, never inside it: a listener that reads the store sees the rows.
    committed(store.store_id, run.kind)
    if store_report is not None:
        write_rejects(rejects, run.source, store_report)
    if report_path is not None:
        write_rejects(rejects, run.source, Path(report_path))
    kept, by_reason = summarise(rejects, run.source)
    return IngestReport(
        kind=run.kind,
        source=run.source,
        rows_read=rows_read,
        rows_written=rows_written,
        rows_duplicate=rows_valid - rows_written,
        rows_rejected=rejects.height,
        warnings=warnings,
        flagged_users=flagged or [],
        notes=notes or [],
        rejects=kept,
        rejected_by_reason=by_reason,
        seconds=time.perf_counter() - run.started,
        report_path=Path(report_path) if report_path is not None else store_report,
    )


def _case_collisions(store: Store, ids: pl.Series) -> tuple[int, list[str]]:
    """(rows, note) for ids of this ingest that differ from another id, of this ingest or
    of the catalog, only in letter case (85123A and 85123a). Both are kept, since ids are
    case-sensitive, but such pairs are usually one product keyed two ways."""
    known = pl.Series("id", list(store.item_ids()), dtype=pl.Utf8)
    every = pl.concat([ids.rename("id"), known]).unique()
    groups = (
        every.to_frame()
        .group_by(pl.col("id").str.to_lowercase().alias("folded"))
        .agg(pl.col("id").sort())
        .filter(pl.col("id").list.len() > 1)
        .sort("folded")
    )
    if groups.is_empty():
        return 0, []
    incoming = set(ids.to_list())
    clashes = [group for group in groups["id"].to_list() if incoming.intersection(group)]
    if not clashes:
        return 0, []
    rows = sum(1 for group in clashes for i in group if i in incoming)
    shown = "; ".join(" / ".join(group) for group in clashes[:5])
    more = f" and {len(clashes) - 5:,} more" if len(clashes) > 5 else ""
    note = f"{len(clashes):,} item ids differ from another only in letter case, kept as different items: {shown}{more}"
    return rows, [note]


def _store_items(store: Store, checked: _Checked, run: _Run, report_path: Path | str | None) -> IngestReport:
    run.total = checked.rows_read
    run.progress(0)
    valid, rejects = checked.valid, checked.rejects
    # The same item several times in one file: the last row is the current one.
    latest = valid.unique("item_id", keep="last", maintain_order=True).drop(LINE)
    run.progress(rejects.height + valid.height - latest.height)
    collisions, notes = _case_collisions(store, latest["item_id"])

    def written() -> int:
        total = 0
        for batch in latest.iter_slices(WRITE_BATCH):
            total += store.upsert_items(batch.select(list(ITEM_SCHEMA)))
            run.progress(batch.height)
        return total

    return _finish(
        store,
        run,
        rejects,
        written=written,
        rows_read=checked.rows_read,
        rows_valid=valid.height,
        report_path=report_path,
        warnings=collisions,
        notes=notes,
    )


def ingest_items(
    store: Store,
    source: Path | str,
    *,
    format: str = "auto",
    mapping: ColumnMapping | None = None,
    report_path: Path | str | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Load or update catalog items from a CSV, TSV, JSON Lines or Parquet file (optionally
    gzip-compressed). Valid rows are stored, bad rows reported with line and reason."""
    path = Path(source)
    run = _Run("items", str(path), on_progress)
    reader, _ = open_reader(path, format=format, allowed=("csv", "tsv", "jsonl", "parquet"))
    checked = _read_checked(
        reader,
        mapping or ColumnMapping(),
        kind="items",
        fields=ITEM_FIELDS,
        required=ITEM_REQUIRED,
        validate=validate_items,
    )
    return _store_items(store, checked, run, report_path)


def ingest_item_records(
    store: Store, records: Sequence[Mapping[str, Any]], *, source: str = "api"
) -> IngestReport:
    """Load or update items given as mappings (the HTTP and Python APIs); a reject's
    `line` is the record's index in `records`."""
    run = _Run("items", source, None)
    table = read_records(records, ITEM_FIELDS, source=source)
    return _store_items(store, _check(table, table.frame, validate_items), run, None)


def _store_events(
    store: Store,
    checked: _Checked,
    run: _Run,
    *,
    unknown_items: str,
    bot_events_per_minute: int | None,
    report_path: Path | str | None,
) -> IngestReport:
    run.total = checked.rows_read
    run.progress(0)
    valid = checked.valid
    catalog = pl.Series("catalog", list(store.item_ids()), dtype=pl.Utf8)
    unknown = (pl.col("item_id").is_not_null() & ~pl.col("item_id").is_in(catalog.implode())).fill_null(False)
    rejected_unknown = pl.DataFrame()
    if unknown_items == "reject":
        rejected_unknown = valid.filter(unknown).select(
            LINE,
            pl.lit("item_id").alias("field"),
            pl.lit(UNKNOWN_ITEM).alias("reason"),
            pl.col("item_id").str.slice(0, 100).alias("value"),
        )
        valid = valid.filter(~unknown)
    rejects = combine_rejects(checked.rejects, rejected_unknown)
    keys = event_keys(valid)
    first = keys.is_first_distinct()
    # Rows to insert, in key order (near-appends to the store's B-tree), as row numbers:
    # batches are gathered one at a time instead of sorting a copy of every column.
    fresh = first.arg_true()
    fresh = fresh.gather(keys.gather(fresh).arg_sort())
    warnings = valid.select((unknown & first).sum()).item() if unknown_items == "keep" else 0
    flags = None
    if bot_events_per_minute:
        actions = valid.select("user_id", "ts", "event_type", "session_id").filter(first)
        flags = find_bots(actions, events_per_minute=bot_events_per_minute)
    columns = valid.with_columns(keys).select(list(EVENT_SCHEMA))
    run.progress(rejects.height + valid.height - len(fresh))

    def written() -> int:
        total = 0
        for start in range(0, len(fresh), WRITE_BATCH):
            rows = fresh.slice(start, WRITE_BATCH)
            batch = columns.select(pl.all().gather(rows))
            total += store.insert_events(batch)
            run.progress(len(rows))
        if flags is not None and flags.height:
            store.flag_users(flags)
        return total

    report = _finish(
        store,
        run,
        rejects,
        written=written,
        rows_read=checked.rows_read,
        rows_valid=valid.height,
        report_path=report_path,
        warnings=int(warnings or 0),
        flagged=flags["user_id"].to_list() if flags is not None else [],
    )
    if report.rows_written:
        # The online layer of this process reads what the write added from the events log.
        events_stored(store.store_id, report.flagged_users)
    return report


def ingest_events(
    store: Store,
    source: Path | str,
    *,
    format: str = "auto",
    mapping: ColumnMapping | None = None,
    unknown_items: UnknownItems = "keep",
    bot_events_per_minute: int = 60,
    report_path: Path | str | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Load behaviour events from a CSV, TSV, JSON Lines, Parquet or sequences file.

    Duplicates (same `event_id`, or the same content) are counted, not stored twice.
    Events for items not in the catalog are kept and counted as warnings, or rejected
    with ``unknown_items="reject"``. Users with more than `bot_events_per_minute`
    actions in a minute are flagged (sequence files carry no real times: not checked).
    """
    _check_options(unknown_items, bot_events_per_minute)
    path = Path(source)
    run = _Run("events", str(path), on_progress)
    reader, found = open_reader(path, format=format)
    mapping = mapping or ColumnMapping()
    if found == "sequences":
        if mapping.columns:
            raise ValidationError(
                f"{path} is a sequences file: its columns are fixed (user, then items)",
                hint="drop --map; --set FIELD=VALUE still works, e.g. --set event_type=view",
            )
        mapping = ColumnMapping(constants={"event_type": "purchase", **mapping.constants})
    checked = _read_checked(
        reader, mapping, kind="events", fields=EVENT_FIELDS, required=EVENT_REQUIRED, validate=validate_events
    )
    return _store_events(
        store,
        checked,
        run,
        unknown_items=unknown_items,
        bot_events_per_minute=None if found == "sequences" else bot_events_per_minute,
        report_path=report_path,
    )


def ingest_event_records(
    store: Store,
    records: Sequence[Mapping[str, Any]],
    *,
    source: str = "api",
    unknown_items: UnknownItems = "keep",
    bot_events_per_minute: int = 60,
) -> IngestReport:
    """Load events given as mappings (the HTTP and Python APIs); a reject's `line` is the
    record's index in `records`."""
    _check_options(unknown_items, bot_events_per_minute)
    run = _Run("events", source, None)
    table = read_records(records, EVENT_FIELDS, source=source)
    return _store_events(
        store,
        _check(table, table.frame, validate_events),
        run,
        unknown_items=unknown_items,
        bot_events_per_minute=bot_events_per_minute,
        report_path=None,
    )


@dataclass(frozen=True)
class CheckedEvents:
    """Event records read and validated, not yet stored: `valid` holds the validated
    columns (timestamps resolved, so a later store of them keys every event the same way)
    and the row's index in the request as LINE; `rejects` the refused rows."""

    valid: pl.DataFrame
    rejects: pl.DataFrame
    rows_read: int


def check_event_records(records: Sequence[Mapping[str, Any]], *, source: str = "api") -> CheckedEvents:
    """Read and validate events given as mappings, storing nothing (an event bus carries
    the valid rows to the store later: :mod:`cartwise.bus`)."""
    table = read_records(records, EVENT_FIELDS, source=source)
    checked = _check(table, table.frame, validate_events)
    return CheckedEvents(checked.valid, checked.rejects, checked.rows_read)


def store_checked_events(
    store: Store,
    valid: pl.DataFrame,
    *,
    source: str = "bus",
    unknown_items: UnknownItems = "keep",
    bot_events_per_minute: int = 60,
) -> IngestReport:
    """Store rows :func:`check_event_records` validated, in one transaction, exactly like
    :func:`ingest_event_records` would (events already stored, by key, are duplicates);
    a reject's `line` is the row's LINE."""
    _check_options(unknown_items, bot_events_per_minute)
    run = _Run("events", source, None)
    checked = _Checked(valid, pl.DataFrame(), valid.height)
    return _store_events(
        store, checked, run, unknown_items=unknown_items, bot_events_per_minute=bot_events_per_minute,
        report_path=None,
    )
