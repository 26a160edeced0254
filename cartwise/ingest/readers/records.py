"""In-memory records (the HTTP API and the Python API): a list of mappings.

Values are turned into the same text the file readers produce, so one set of
validation rules serves every source. Unlike file columns, which may hold anything
else a shop exports, a record's keys are the contract: an unknown key is a typo and
rejects the row. A record's "line" is its 0-based index in the list.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from cartwise.ingest.readers.table import RawTable, text_frame
from cartwise.ingest.report import rejects_from_rows

_INVALID_TEXT = "text is not valid Unicode (an unpaired surrogate)"


class UnreadableValue(ValueError):
    """A value that has no text form (bytes that are not UTF-8, lone surrogates)."""


def value_text(value: Any) -> str | None:
    """The text form of a JSON-like value: strings as they are, JSON for objects and lists."""
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else str(value)
    elif isinstance(value, datetime):
        text = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, (bytes, bytearray)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableValue("invalid UTF-8 bytes") from None
    elif isinstance(value, (Mapping, list, tuple)):
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:  # keys that are not text, cycles
            raise UnreadableValue(f"is not JSON data ({exc})") from None
    else:
        text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnreadableValue(_INVALID_TEXT) from None
    return text


def read_records(records: Sequence[Mapping[str, Any]], fields: Sequence[str], *, source: str) -> RawTable:
    """A RawTable with one column per field; rows with unknown keys or unreadable values
    are rejected here, naming the key."""
    known = set(fields)
    values: dict[str, list[str | None]] = {name: [] for name in fields}
    lines: list[int] = []
    rows: list[tuple[int, str | None, str, str | None]] = []
    expected = ", ".join(fields)
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            rows.append((index, None, "row is not an object of field: value pairs", repr(record)[:100]))
            continue
        unknown = [key for key in record if key not in known]
        if unknown:
            key = str(unknown[0]).encode("utf-8", "backslashreplace").decode("utf-8")[:100]
            rows.append((index, key, f"unknown field {key[:50]!r}; fields are {expected}", None))
            continue
        texts: dict[str, str | None] = {}
        problem = None
        for key, value in record.items():
            try:
                texts[key] = value_text(value)
            except UnreadableValue as exc:
                problem = (index, key, f"{key} {exc}", None)
                break
        if problem:
            rows.append(problem)
            continue
        lines.append(index)
        for name in fields:
            values[name].append(texts.get(name))
    return RawTable(source, list(fields), text_frame(values, lines), rejects_from_rows(rows))
