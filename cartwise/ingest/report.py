"""What one ingest did: counts, rejected rows with their reasons, and the report file.

Rejected rows travel as a polars frame (:data:`REJECT_SCHEMA`) so a file with millions
of bad rows is reported without a Python object per row; the :class:`IngestReport`
keeps the first :data:`MAX_REJECTS_IN_MEMORY` as :class:`Reject` objects, the JSON
Lines file gets them all.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from cartwise.errors import StoreError

LINE = "__line"
REJECT_SCHEMA: dict[str, pl.DataType] = {
    LINE: pl.Int64(),
    "field": pl.Utf8(),
    "reason": pl.Utf8(),
    "value": pl.Utf8(),
}
MAX_REJECTS_IN_MEMORY = 10_000
VALUE_SNIPPET = 100


@dataclass(frozen=True)
class Reject:
    """One rejected row: where it was, which field was wrong and why.

    `line` is the 1-based line of a text file (the header is line 1), the 1-based row
    of a Parquet file, or the 0-based index of an in-memory record.
    """

    source: str
    line: int
    field: str | None
    reason: str
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "line": self.line,
            "field": self.field,
            "reason": self.reason,
            "value": self.value,
        }


@dataclass
class IngestReport:
    """Counts of one ingest; `rows_written + rows_duplicate + rows_rejected == rows_read`."""

    kind: str
    source: str
    rows_read: int = 0
    rows_written: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    warnings: int = 0
    flagged_users: list[str] = field(default_factory=list)
    # What the warnings were about, in words, e.g. item ids that differ only in case.
    notes: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    report_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_duplicate": self.rows_duplicate,
            "rows_rejected": self.rows_rejected,
            "warnings": self.warnings,
            "flagged_users": list(self.flagged_users),
            "notes": list(self.notes),
            "rejected_by_reason": dict(self.rejected_by_reason),
            "rejects": [r.to_dict() for r in self.rejects],
            "seconds": round(self.seconds, 3),
            "report_path": str(self.report_path) if self.report_path else None,
        }


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def rejects_from_rows(rows: list[tuple[int, str | None, str, str | None]]) -> pl.DataFrame:
    """A reject frame from (line, field, reason, value) tuples built by a reader."""
    if not rows:
        return empty_rejects()
    frame = pl.DataFrame(rows, schema=REJECT_SCHEMA, orient="row")
    return frame.with_columns(pl.col("value").str.slice(0, VALUE_SNIPPET))


def combine_rejects(*frames: pl.DataFrame) -> pl.DataFrame:
    parts = [f.select(list(REJECT_SCHEMA)).cast(REJECT_SCHEMA) for f in frames if f.height]
    if not parts:
        return empty_rejects()
    return pl.concat(parts).sort(LINE, maintain_order=True)


def summarise(rejects: pl.DataFrame, source: str) -> tuple[list[Reject], dict[str, int]]:
    """The first MAX_REJECTS_IN_MEMORY rejects as objects, and the count of every reason."""
    kept = [
        Reject(source, int(line), fld, reason, value)
        for line, fld, reason, value in rejects.head(MAX_REJECTS_IN_MEMORY).select(list(REJECT_SCHEMA)).iter_rows()
    ]
    counts = rejects.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    return kept, {str(reason): int(n) for reason, n in counts.iter_rows()}


def default_report_path(reports_dir: Path, kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return reports_dir / f"{kind}-{stamp}-{uuid.uuid4().hex[:8]}.rejects.jsonl"


def write_rejects(rejects: pl.DataFrame, source: str, path: Path) -> None:
    """Write every rejected row as one JSON object per line (source, line, field, reason, value).

    Written to a temporary name and renamed, so a reader never sees half a report.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rejects.select(
            pl.lit(source).alias("source"),
            pl.col(LINE).alias("line"),
            "field",
            "reason",
            "value",
        ).write_ndjson(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(
            f"the ingest was saved, but its report could not be written to {path}: {exc}",
            hint="check that the directory exists and is writable",
        ) from exc
