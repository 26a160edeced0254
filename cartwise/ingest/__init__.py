"""Data in: catalogs and behaviour events from files (CSV, TSV, JSON Lines, Parquet,
sequences; optionally gzip-compressed) and from in-memory records.

Rows are validated column-wise; bad rows are rejected with file, line, field and reason
(and written to a JSON Lines report), valid rows are kept, duplicates are counted and
bot-like users flagged. Each ingest is one store transaction.

An empty file (no bytes, or only whitespace) is a :class:`~cartwise.errors.ValidationError`:
it is almost always a failed export. A CSV with only its header gives a zero-row report.
"""

from cartwise.ingest.mapping import ColumnMapping
from cartwise.ingest.pipeline import (
    ingest_event_records,
    ingest_events,
    ingest_item_records,
    ingest_items,
)
from cartwise.ingest.report import IngestReport, Reject

__all__ = [
    "ColumnMapping",
    "IngestReport",
    "Reject",
    "ingest_event_records",
    "ingest_events",
    "ingest_item_records",
    "ingest_items",
]
