"""Parquet files, read in record batches and turned into text columns.

Numbers and booleans become their text form, timestamps ISO 8601 text in UTC, structs
and lists JSON text, so the same validation serves every format. A row's "line" is its
1-based row number.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cartwise.errors import ValidationError
from cartwise.ingest.readers.table import RawTable
from cartwise.ingest.report import LINE, empty_rejects

_BATCH_ROWS = 256_000


def _as_text(column: pl.Series) -> pl.Series:
    """The column as the text the validation rules read."""
    dtype = column.dtype
    name = column.name
    if dtype == pl.Utf8:
        return column
    if dtype == pl.Boolean:
        return column.replace_strict({True: "true", False: "false"}, return_dtype=pl.Utf8)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return column.dt.to_string("%Y-%m-%dT%H:%M:%S%.3f")
        return column.dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.3f+00:00")
    if dtype == pl.Date:
        return column.dt.to_string("%Y-%m-%d")
    if dtype.is_nested():
        # polars encodes structs as JSON; wrap the column in one and take the value back out.
        encoded = pl.struct(name).struct.json_encode().str.json_path_match(f"$['{name}']")
        return column.to_frame().select(encoded.alias(name)).to_series()
    if dtype == pl.Binary:
        try:
            return column.cast(pl.Utf8)
        except pl.exceptions.PolarsError:
            raise ValidationError(f"binary column {name!r} does not hold UTF-8 text") from None
    return column.cast(pl.Utf8)


class ParquetReader:
    complete = True

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise ValidationError(
                f"{path} is not a readable Parquet file: {exc}", hint="check the file, or pass --format"
            ) from exc
        self.columns = list(self._file.schema_arrow.names)

    def read(self, columns: Sequence[str]) -> RawTable:
        wanted = list(dict.fromkeys(columns))
        parts = []
        try:
            for batch in self._file.iter_batches(batch_size=_BATCH_ROWS, columns=wanted):
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                parts.append(frame.select([_as_text(frame[name]) for name in wanted]))
        except (pa.ArrowException, OSError) as exc:
            raise ValidationError(f"{self.source} is damaged: {exc}", hint="export the file again") from exc
        if parts:
            frame = pl.concat(parts, how="vertical")
        else:
            frame = pl.DataFrame(schema={name: pl.Utf8() for name in wanted})
        frame = frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(LINE))
        return RawTable(self.source, list(self.columns), frame, empty_rejects())
