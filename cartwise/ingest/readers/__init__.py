"""Sources of raw rows: CSV/TSV, JSON Lines, Parquet and sequence files (optionally
gzip-compressed) and in-memory records, each turned into a :class:`RawTable` of text
columns that remembers the line every row came from."""

from __future__ import annotations

from pathlib import Path

from cartwise.errors import ValidationError
from cartwise.ingest.readers.delimited import DelimitedReader
from cartwise.ingest.readers.files import FORMATS, check_path, detect_format, load_bytes
from cartwise.ingest.readers.jsonlines import JsonLinesReader
from cartwise.ingest.readers.parquet import ParquetReader
from cartwise.ingest.readers.records import read_records
from cartwise.ingest.readers.sequences import SequenceReader
from cartwise.ingest.readers.table import RawTable, Reader


def open_reader(path: Path, *, format: str = "auto", allowed: tuple[str, ...] = FORMATS) -> tuple[Reader, str]:
    """Open `path` far enough to know its columns; returns the reader and the format."""
    check_path(path)
    found = detect_format(path, format)
    if found not in allowed:
        raise ValidationError(
            f"the {found} format cannot be used here ({path})",
            field="format",
            hint=f"use one of {', '.join(allowed)}",
        )
    if found == "parquet":
        return ParquetReader(path), found
    data = load_bytes(path)
    if found == "jsonl" and data.lstrip()[:1] == b"[":
        raise ValidationError(
            f"{path} holds a JSON array; JSON Lines (one object per line) is expected",
            hint="convert it, e.g. `jq -c '.[]' file.json > file.jsonl`",
        )
    if found == "jsonl":
        return JsonLinesReader(path, data), found
    if found == "sequences":
        return SequenceReader(path, data), found
    return DelimitedReader(path, data, separator="\t" if found == "tsv" else ","), found


__all__ = ["FORMATS", "RawTable", "Reader", "open_reader", "read_records"]
