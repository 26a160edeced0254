"""A large source file as a run of smaller files, ingested one after the other, so the
rows of only one piece are in memory at a time; their reports combined into one whose
rejected rows carry their lines in the whole file.

Text files are cut between records (a quoted CSV field may span lines: the csv module
reads whole records, and each record keeps its lines, so a piece's line N is the whole
file's line N + offset); Parquet files are cut into batches of rows. Duplicates across
pieces are still found (each piece is checked against what the store already holds).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

from cartwise.errors import ValidationError
from cartwise.ingest.report import IngestReport

CHUNK_ROWS = 100_000
"""Rows per piece: what one piece holds in memory (about 50 MB of events)."""


def _text(path: Path) -> IO[str]:
    raw = path.open("rb")
    head = raw.read(2)
    raw.seek(0)
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw  # type: ignore[assignment]
    # surrogateescape: bytes that are not UTF-8 travel to the piece unchanged, for the
    # reader to report on the right line.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")


def pieces(path: Path, format: str, *, rows: int | None = None) -> Iterator[tuple[Path, int]]:
    """(piece file, line offset) for each piece of `rows` rows (default
    :data:`CHUNK_ROWS`) of `path`; a piece is removed once the next one is asked for."""
    rows = rows or CHUNK_ROWS
    if format == "parquet":
        yield from _parquet_pieces(path, rows)
    elif format == "jsonl":
        yield from _line_pieces(path, rows)
    else:
        yield from _delimited_pieces(path, "\t" if format == "tsv" else ",", rows)


def _piece_path(path: Path, n: int) -> Path:
    return path.with_name(f"{path.stem}.part{n}{path.suffix}")


def _emit(path: Path, n: int, write: Callable[[IO[str]], None]) -> Path:
    piece = _piece_path(path, n)
    with piece.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out:
        write(out)
    return piece


def _line_pieces(path: Path, rows: int) -> Iterator[tuple[Path, int]]:
    with _text(path) as source:
        n, offset, buffer = 0, 0, []
        for line in source:
            buffer.append(line)
            if len(buffer) == rows:
                piece = _emit(path, n, lambda out, lines=buffer: out.writelines(lines))
                yield piece, offset
                piece.unlink(missing_ok=True)
                n, offset, buffer = n + 1, offset + rows, []
        if buffer or n == 0:
            piece = _emit(path, n, lambda out, lines=buffer: out.writelines(lines))
            yield piece, offset
            piece.unlink(missing_ok=True)


def _delimited_pieces(path: Path, delimiter: str, rows: int) -> Iterator[tuple[Path, int]]:
    with _text(path) as source:
        reader = csv.reader(source, delimiter=delimiter, strict=False)
        header = next(reader, None)
        if header is None:  # empty: the reader of the whole file says so
            yield path, 0
            return
        first_line = reader.line_num + 1  # the line the next record starts on
        n, records = 0, []
        for record in _records(reader, path):
            records.append(record)
            if len(records) == rows:
                yield from _write_records(path, n, delimiter, header, records, first_line)
                first_line = reader.line_num + 1
                n, records = n + 1, []
        if records or n == 0:
            yield from _write_records(path, n, delimiter, header, records, first_line)


def _records(reader: Iterator[list[str]], path: Path) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        line = getattr(reader, "line_num", 0)
        raise ValidationError(f"{path} line {line}: malformed CSV: {exc}",
                              hint="check the quoting of that line") from exc


def _write_records(
    path: Path, n: int, delimiter: str, header: list[str], records: list[list[str]], first_line: int
) -> Iterator[tuple[Path, int]]:
    def write(out: IO[str]) -> None:
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(records)

    piece = _emit(path, n, write)
    # The piece's header is its line 1 and its first record line 2.
    yield piece, first_line - 2
    piece.unlink(missing_ok=True)


def _parquet_pieces(path: Path, rows: int) -> Iterator[tuple[Path, int]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowException, OSError):
        yield path, 0  # not readable as Parquet: the reader of the whole file says why
        return
    if source.metadata.num_rows <= rows:
        yield path, 0
        return
    offset = 0
    for n, batch in enumerate(source.iter_batches(batch_size=rows)):
        piece = _piece_path(path, n)
        pq.write_table(pa.Table.from_batches([batch]), piece)
        yield piece, offset
        piece.unlink(missing_ok=True)
        offset += batch.num_rows


def combine(reports: list[tuple[IngestReport, int]], *, source: str) -> IngestReport:
    """One report for the whole file from its pieces' reports and line offsets."""
    first = reports[0][0]
    whole = IngestReport(kind=first.kind, source=source)
    for report, offset in reports:
        whole.rows_read += report.rows_read
        whole.rows_written += report.rows_written
        whole.rows_duplicate += report.rows_duplicate
        whole.rows_rejected += report.rows_rejected
        whole.warnings += report.warnings
        whole.seconds += report.seconds
        whole.flagged_users.extend(u for u in report.flagged_users if u not in whole.flagged_users)
        whole.notes.extend(note for note in report.notes if note not in whole.notes)
        whole.rejects.extend(replace(r, source=source, line=r.line + offset) for r in report.rejects)
        for reason, count in report.rejected_by_reason.items():
            whole.rejected_by_reason[reason] = whole.rejected_by_reason.get(reason, 0) + count
    return whole


__all__ = ["CHUNK_ROWS", "combine", "pieces"]
