"""CSV and TSV files: a header line, then one record per line (or several, when a quoted
field holds line breaks).

The fast path lets polars parse the file and finds, with numpy over the raw bytes,
where every record starts (its line number) and how many fields it has, so ragged rows,
blank lines and rows with bytes that are not UTF-8 are told apart without a Python
loop per row. A file polars refuses (broken quoting) is read again with the standard
``csv`` module, one record at a time, which recovers at the next line after each error.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from cartwise.errors import ValidationError
from cartwise.ingest.readers.files import snippet
from cartwise.ingest.readers.table import RawTable, text_frame
from cartwise.ingest.report import LINE, combine_rejects, rejects_from_rows

_QUOTE = ord('"')
_NEWLINE = ord("\n")
_CR = ord("\r")
_SCAN_BYTES = 1 << 22
_INVALID_UTF8 = "invalid UTF-8 bytes (save the file as UTF-8)"


@dataclass(frozen=True)
class _Layout:
    """Where the records of a delimited file are: computed from byte positions only.

    A newline ends a record unless an odd number of quote characters precede it (it is
    inside a quoted field); a separator counts unless it is inside quotes. This is the
    CSV quoting rule for files whose quotes are well formed, which polars has checked.
    """

    line_starts: np.ndarray  # byte offset where each physical line starts
    line_ends: np.ndarray  # byte offset of each line's newline (or the end of the data)
    first_line: np.ndarray  # per record: index of its first physical line
    last_line: np.ndarray  # per record: index of its last physical line
    fields: np.ndarray  # per record: number of fields
    blank: np.ndarray  # per record: an empty line

    @classmethod
    def scan(cls, data: bytes, separator: str) -> _Layout | None:
        raw = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(raw == _NEWLINE)
        if not data.endswith(b"\n"):
            ends = np.append(ends, len(data))
        starts = np.concatenate(([0], ends[:-1] + 1))
        per_line = _count_per_line(raw, starts, ends, ord(separator))
        if b'"' in data:
            quotes = np.flatnonzero(raw == _QUOTE)
            inside_at_end = (np.searchsorted(quotes, ends) & 1).astype(bool)
            if inside_at_end[-1]:
                return None  # a quote that never closes
            # Only lines holding a quote, or starting inside a quoted field, can have
            # quoted separators: correct just those, keeping the common case cheap.
            starts_inside = np.concatenate(([False], inside_at_end[:-1]))
            fix = np.union1d(np.searchsorted(ends, quotes), np.flatnonzero(starts_inside))
            per_line[fix] -= _quoted_separators(raw, quotes, starts[fix], ends[fix], ord(separator))
            last_line = np.flatnonzero(~inside_at_end)
            first_line = np.concatenate(([0], last_line[:-1] + 1))
            fields = np.add.reduceat(per_line, first_line) + 1
        else:
            last_line = first_line = np.arange(len(ends))
            fields = per_line + 1
        size = ends[last_line] - starts[first_line]
        first_byte = raw[np.minimum(starts[first_line], len(raw) - 1)]
        blank = (size == 0) | ((size == 1) & (first_byte == _CR))
        return cls(starts, ends, first_line, last_line, fields, blank)

    @property
    def records(self) -> int:
        return len(self.first_line)


class DelimitedReader:
    """A CSV (``separator=","``) or TSV (``"\\t"``) file with a header line."""

    complete = True

    def __init__(self, path: Path, data: bytes, *, separator: str = ",") -> None:
        self.source = str(path)
        self._data = data
        self._separator = separator
        header_end = data.find(b"\n")
        header = data if header_end < 0 else data[:header_end]
        try:
            header_text = header.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise ValidationError(
                f"the header line of {path} is not UTF-8 text", hint="save the file as UTF-8"
            ) from None
        try:
            names = next(csv.reader([header_text], delimiter=separator, strict=True))
        except (csv.Error, StopIteration) as exc:
            raise ValidationError(
                f"cannot read the header line of {path}: {exc}", hint="the first line must name the columns"
            ) from exc
        self.columns = [name.strip() for name in names]

    def read(self, columns: Sequence[str]) -> RawTable:
        positions = {name: self._position(name) for name in dict.fromkeys(columns)}
        fast = self._read_fast(positions)
        frame, rejects = fast if fast is not None else self._read_slow(positions)
        self._data = b""  # read once: let the file's bytes go before validation starts
        return RawTable(self.source, list(self.columns), frame, rejects)

    def _position(self, name: str) -> int:
        found = [i for i, column in enumerate(self.columns) if column == name]
        if len(found) > 1:
            raise ValidationError(
                f"column {name!r} appears {len(found)} times in the header of {self.source}",
                hint="rename the duplicates so each column has its own name",
            )
        return found[0]

    def _ragged(self, fields: int) -> str:
        return f"row has {fields} field{'s' if fields != 1 else ''}, the header has {len(self.columns)}"

    # fast path ---------------------------------------------------------------------

    def _read_fast(self, positions: dict[str, int]) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        data = self._data
        layout = _Layout.scan(data, self._separator)
        if layout is None or layout.fields[0] != len(self.columns):
            return None
        try:
            data.decode("utf-8")
            bad_lines = np.zeros(0, dtype=np.int64)
        except UnicodeDecodeError:
            bad_lines = _invalid_utf8_lines(data)
        wanted = sorted(set(positions.values())) or [0]
        try:
            parsed = pl.read_csv(
                data,
                has_header=True,
                separator=self._separator,
                quote_char='"',
                infer_schema=False,
                columns=wanted,
                truncate_ragged_lines=True,
                encoding="utf8-lossy" if bad_lines.size else "utf8",
                raise_if_empty=False,
            )
        except (pl.exceptions.PolarsError, OSError):
            return None
        if parsed.height != layout.records - 1:
            return None
        by_position = dict(zip(wanted, parsed.columns, strict=True))
        lines = layout.first_line[1:] + 1
        frame = parsed.select(
            pl.Series(LINE, lines, dtype=pl.Int64),
            *(pl.col(by_position[p]).alias(name) for name, p in positions.items()),
        )
        blank = layout.blank[1:]
        ragged = ~blank & (layout.fields[1:] != len(self.columns))
        bad_utf8 = np.zeros(len(blank), dtype=bool)
        if bad_lines.size:
            records = np.searchsorted(layout.last_line, bad_lines)
            bad_utf8[records[records > 0] - 1] = True
        drop = blank | ragged | bad_utf8
        if not drop.any():
            return frame, rejects_from_rows([])
        rows: list[tuple[int, str | None, str, str | None]] = []
        for i in np.flatnonzero((ragged | bad_utf8) & ~blank):
            start = layout.line_starts[layout.first_line[i + 1]]
            raw = data[start : layout.line_ends[layout.last_line[i + 1]]]
            reason = _INVALID_UTF8 if bad_utf8[i] else self._ragged(int(layout.fields[i + 1]))
            rows.append((int(lines[i]), None, reason, snippet(raw)))
        return frame.filter(pl.Series(~drop)), rejects_from_rows(rows)

    # slow path ---------------------------------------------------------------------

    def _read_slow(self, positions: dict[str, int]) -> tuple[pl.DataFrame, pl.DataFrame]:
        lines = self._data.decode("utf-8", "surrogateescape").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        values: dict[str, list[str | None]] = {name: [] for name in positions}
        numbers: list[int] = []
        rows: list[tuple[int, str | None, str, str | None]] = []
        width = len(self.columns)
        for index, fields, error in _records(lines, 1, self._separator):
            line = index + 1
            if error is not None:
                rows.append((line, None, error, _readable(lines[index])))
                continue
            if not fields:
                continue  # a blank line
            if len(fields) != width:
                rows.append((line, None, self._ragged(len(fields)), _readable(self._separator.join(fields))))
                continue
            try:
                "\x1f".join(fields).encode("utf-8")
            except UnicodeEncodeError:
                rows.append((line, None, _INVALID_UTF8, _readable(self._separator.join(fields))))
                continue
            numbers.append(line)
            for name, position in positions.items():
                values[name].append(fields[position])
        return text_frame(values, numbers), combine_rejects(rejects_from_rows(rows))


class _Feed:
    """Lines handed to ``csv.reader`` one at a time, remembering how many were taken."""

    def __init__(self, lines: list[str], position: int) -> None:
        self.lines = lines
        self.position = position

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1] + "\n"


def _records(lines: list[str], first: int, separator: str) -> Iterator[tuple[int, list[str], str | None]]:
    """(index of the record's first line, fields, error) for every record from `first`.

    After a quoting error the record's first line is reported and reading starts again
    on the next line, so one stray quote costs one row, not the rest of the file.
    """
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # huge fields are rejected by length later, with a reason
    try:
        position = first
        while position < len(lines):
            feed = _Feed(lines, position)
            reader = csv.reader(feed, delimiter=separator, strict=True)
            while True:
                start = feed.position
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield start, [], f"malformed CSV: {exc}"
                    position = start + 1
                    break
                yield start, fields, None
    finally:
        csv.field_size_limit(limit)


def _count_per_line(raw: np.ndarray, starts: np.ndarray, ends: np.ndarray, byte: int) -> np.ndarray:
    """How often `byte` occurs on each line, a few MiB at a time so the positions found
    never take much memory however large the file."""
    counts = np.empty(len(ends), dtype=np.int64)
    first = 0
    while first < len(ends):
        stop = max(int(np.searchsorted(starts, starts[first] + _SCAN_BYTES)), first + 1)
        found = np.flatnonzero(raw[starts[first] : ends[stop - 1]] == byte) + starts[first]
        counts[first:stop] = np.diff(np.searchsorted(found, ends[first:stop]), prepend=0)
        first = stop
    return counts


def _quoted_separators(
    raw: np.ndarray, quotes: np.ndarray, starts: np.ndarray, ends: np.ndarray, sep: int
) -> np.ndarray:
    """Per line (given by byte spans): separators inside quotes, i.e. after an odd number
    of quote characters in the file."""
    sizes = ends - starts
    if sizes.sum() > len(raw) // 4:  # mostly quoted (e.g. every field quoted): one pass
        seps = np.flatnonzero(raw == sep)
    else:
        index = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(sizes.sum())
        seps = index[raw[index] == sep]
    quoted = seps[(np.searchsorted(quotes, seps) & 1).astype(bool)]
    return np.searchsorted(quoted, ends) - np.searchsorted(quoted, starts)


def _invalid_utf8_lines(data: bytes) -> np.ndarray:
    """0-based indexes of the lines holding bytes that are not UTF-8."""
    text = data.decode("utf-8", "surrogateescape")
    found: list[int] = []
    line, previous = 0, 0
    for match in re.finditer("[\udc80-\udcff]+", text):
        line += text.count("\n", previous, match.start())
        previous = match.start()
        if not found or found[-1] != line:
            found.append(line)
    return np.asarray(found, dtype=np.int64)


def _readable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:100]
