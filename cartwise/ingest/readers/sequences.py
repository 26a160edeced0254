"""Interaction sequences: lines ``user item1 item2 ...`` in time order, as in the Amazon
Beauty/Sports benchmark files.

Each item becomes one event. The files carry no times, so events get synthetic ones: a
fixed base plus one minute per position in the user's sequence (continuing where the
user's previous line stopped), which keeps the order and makes re-runs produce the same
events. A row here is one (user, item) pair; a line with a user but no items is one
rejected row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import polars as pl

from cartwise.ingest.readers.files import snippet
from cartwise.ingest.readers.table import RawTable
from cartwise.ingest.report import LINE, rejects_from_rows

SEQUENCE_BASE_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
SEQUENCE_STEP_MS = 60_000
SEQUENCE_COLUMNS = ("user_id", "item_id", "timestamp")


class SequenceReader:
    complete = True
    columns: ClassVar[list[str]] = list(SEQUENCE_COLUMNS)

    def __init__(self, path: Path, data: bytes) -> None:
        self.source = str(path)
        self._data = data

    def read(self, columns: Sequence[str]) -> RawTable:
        """All three columns, whichever are asked for: they are what the format has."""
        rows: list[tuple[int, str | None, str, str | None]] = []
        try:
            texts: list[str | None] = self._data.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            texts = []
            for index, raw in enumerate(self._data.split(b"\n")):
                try:
                    texts.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    texts.append(None)
                    rows.append((index + 1, None, "invalid UTF-8 bytes (save the file as UTF-8)", snippet(raw)))
        tokens = (
            pl.DataFrame({"text": pl.Series(texts, dtype=pl.Utf8)})
            .with_row_index(LINE, offset=1)
            .with_columns(pl.col(LINE).cast(pl.Int64), pl.col("text").str.strip_chars())
            .filter(pl.col("text").str.len_bytes() > 0)
            .with_columns(pl.col("text").str.replace_all(r"\s+", " ").str.split(" "))
        )
        lonely = tokens.filter(pl.col("text").list.len() < 2)
        for line, parts in lonely.iter_rows():
            rows.append((int(line), "item_id", "line has a user but no items", " ".join(parts)))
        events = (
            tokens.filter(pl.col("text").list.len() >= 2)
            .select(
                LINE,
                pl.col("text").list.first().alias("user_id"),
                pl.col("text").list.slice(1).alias("item_id"),
            )
            .explode("item_id")
            .with_columns(
                (SEQUENCE_BASE_MS + pl.int_range(pl.len(), dtype=pl.Int64).over("user_id") * SEQUENCE_STEP_MS)
                .cast(pl.Utf8)
                .alias("timestamp")
            )
        )
        self._data = b""  # read once: let the file's bytes go before validation starts
        return RawTable(self.source, list(SEQUENCE_COLUMNS), events, rejects_from_rows(rows))
