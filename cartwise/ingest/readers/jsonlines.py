"""JSON Lines files: one JSON object per line; blank lines are skipped.

polars parses a well-formed file in one pass, every requested key read as text (objects
and lists as JSON text). A file with a line that is not a JSON object, or with bytes
that are not UTF-8, is read again line by line so each bad line is reported alone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cartwise.ingest.readers.files import snippet
from cartwise.ingest.readers.records import UnreadableValue, value_text
from cartwise.ingest.readers.table import RawTable, text_frame
from cartwise.ingest.report import LINE, rejects_from_rows

# Keys of the first lines stand for the file's columns in mapping errors and checks.
_SAMPLE_LINES = 1000


class JsonLinesReader:
    """A JSON Lines file; `columns` are the keys seen in its first lines."""

    complete = False

    def __init__(self, path: Path, data: bytes) -> None:
        self.source = str(path)
        self._data = data
        keys: dict[str, None] = {}
        lines = io.BytesIO(data)
        for _ in range(_SAMPLE_LINES):
            raw = lines.readline()
            if not raw:
                break
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                keys.update(dict.fromkeys(obj))
        self.columns = list(keys)

    def read(self, columns: Sequence[str]) -> RawTable:
        wanted = list(dict.fromkeys(columns))
        fast = self._read_fast(wanted)
        frame, rejects = fast if fast is not None else self._read_slow(wanted)
        self._data = b""  # read once: let the file's bytes go before validation starts
        present = [c for c in wanted if c not in self.columns and frame[c].null_count() < frame.height]
        return RawTable(self.source, self.columns + present, frame, rejects)

    def _read_fast(self, wanted: list[str]) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        try:
            text = self._data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        nonblank = pl.Series(text.split("\n")).str.strip_chars().str.len_bytes() > 0
        lines = nonblank.arg_true() + 1
        schema: dict[str, pl.DataType] = {name: pl.Utf8() for name in wanted}
        try:
            parsed = pl.read_ndjson(io.BytesIO(self._data), schema=schema)
        except (pl.exceptions.PolarsError, OSError):
            return None
        if parsed.height != len(lines):
            return None
        frame = parsed.select(wanted).with_columns(lines.cast(pl.Int64).alias(LINE))
        return frame, rejects_from_rows([])

    def _read_slow(self, wanted: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
        values: dict[str, list[str | None]] = {name: [] for name in wanted}
        numbers: list[int] = []
        rows: list[tuple[int, str | None, str, str | None]] = []
        for index, raw in enumerate(self._data.split(b"\n")):
            line = index + 1
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                rows.append((line, None, "invalid UTF-8 bytes (save the file as UTF-8)", snippet(raw)))
                continue
            if not text:
                continue
            try:
                obj = json.loads(text)
            except ValueError as exc:
                rows.append((line, None, f"line is not valid JSON ({exc.args[0].split(':')[0]})", text[:100]))
                continue
            if not isinstance(obj, dict):
                rows.append((line, None, "line is not a JSON object", text[:100]))
                continue
            try:
                texts = {name: value_text(obj.get(name)) for name in wanted}
            except UnreadableValue as exc:
                rows.append((line, None, str(exc), text[:100]))
                continue
            numbers.append(line)
            for name in wanted:
                values[name].append(texts[name])
        return text_frame(values, numbers), rejects_from_rows(rows)
