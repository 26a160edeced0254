"""The common output of every reader: text columns, the line each row came from, and
the rows the reader itself could not read (bad bytes, ragged rows, broken JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from cartwise.ingest.report import LINE


@dataclass
class RawTable:
    """Rows as text (`None` for missing values), one String column per requested source
    column plus :data:`~cartwise.ingest.report.LINE`; validation turns text into types."""

    source: str
    columns: list[str]
    frame: pl.DataFrame
    rejects: pl.DataFrame

    @property
    def rows_read(self) -> int:
        return self.frame.height + self.rejects.height


class Reader(Protocol):
    """A source opened far enough to know its columns, then read for the ones needed.

    `complete` is False where `columns` is only a sample (JSON Lines: keys of the first
    lines), so a mapping to a column missing there is checked again after reading.
    """

    source: str
    columns: list[str]
    complete: bool

    def read(self, columns: Sequence[str]) -> RawTable: ...


def text_frame(columns: dict[str, list[str | None]], lines: list[int]) -> pl.DataFrame:
    """A RawTable frame from Python lists (the slow, row-by-row readers)."""
    data: dict[str, object] = {LINE: pl.Series(LINE, lines, dtype=pl.Int64)}
    for name, values in columns.items():
        data[name] = pl.Series(name, values, dtype=pl.Utf8)
    return pl.DataFrame(data)
