"""Reading the assistant's knowledge from files (CSV, TSV or JSON Lines, optionally gzip) or
from records sent over HTTP, with every bad row reported by line and reason.

FAQ rows: ``question``, ``answer`` (required), ``faq_id``, ``category``, ``language``.
Document rows: ``doc_id``, ``kind``, ``text`` (required), ``item_id`` (required for the
product kinds: bullets, specs, reviews, qa, description; not allowed for a policy),
``title``. A document's text is split into passages (:func:`split_passages`).

Line numbers follow the catalog ingest's rule: the 1-based line of the file (a CSV's
header is line 1), or the 0-based index of a record sent in a request.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cartwise.assistant.knowledge import (
    DOCUMENT_KINDS,
    PRODUCT_KINDS,
    FaqEntry,
    Passage,
    split_passages,
)
from cartwise.errors import ValidationError
from cartwise.ingest.readers.files import check_path, detect_format, load_bytes
from cartwise.ingest.report import Reject
from cartwise.limits import MAX_DESCRIPTION_LENGTH, MAX_ID_LENGTH

MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 5000
MAX_REJECTS_KEPT = 1000
_ID = re.compile(rf"^[^\x00-\x1f]{{1,{MAX_ID_LENGTH}}}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
FILE_FORMATS = ("csv", "tsv", "jsonl")


@dataclass
class KnowledgeReport:
    """What one knowledge ingest did; ``rows_written + rows_rejected == rows_read``."""

    kind: str
    """faq or documents"""
    source: str
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    passages: int = 0
    rejects: list[Reject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reject(self, line: int, field_name: str | None, reason: str, value: Any = None) -> None:
        self.rows_rejected += 1
        if len(self.rejects) < MAX_REJECTS_KEPT:
            text = None if value is None else str(value)[:100]
            self.rejects.append(Reject(self.source, line, field_name, reason, text))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected,
            "passages": self.passages,
            "rejects": [r.to_dict() for r in self.rejects],
            "notes": list(self.notes),
        }


class _BadRow(Exception):
    def __init__(self, field_name: str | None, reason: str, value: Any = None) -> None:
        super().__init__(reason)
        self.field_name, self.reason, self.value = field_name, reason, value


def read_rows(path: Path | str, *, format: str = "auto") -> Iterator[tuple[int, Mapping[str, Any] | _BadRow]]:
    """Each row of a knowledge file with its line number; an unreadable line comes as a
    :class:`_BadRow` so it is reported instead of stopping the ingest."""
    path = Path(path)
    check_path(path)
    kind = detect_format(path, format)
    if kind not in FILE_FORMATS:
        raise ValidationError(
            f"knowledge files are CSV, TSV or JSON Lines, not {kind}", field="format",
            hint=f"use one of {', '.join(FILE_FORMATS)}",
        )
    data = load_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path} is not UTF-8 text (byte {exc.start})", hint="save it as UTF-8") from exc
    if kind == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, _BadRow(None, f"not valid JSON: {exc.msg}", line[:100])
                continue
            yield number, row if isinstance(row, dict) else _BadRow(None, "not a JSON object", line[:100])
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if kind == "tsv" else ",")
    header = [h.strip().lower() for h in next(reader, [])]
    if not header or len(set(header)) != len(header):
        raise ValidationError(f"{path} has an empty or repeated column name in its header", hint="fix the first line")
    start = reader.line_num + 1
    for values in reader:
        line, start = start, reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield line, _BadRow(None, f"{len(values)} fields where the header has {len(header)}")
            continue
        yield line, dict(zip(header, values, strict=True))


def _text(row: Mapping[str, Any], name: str, *, required: bool, limit: int) -> str | None:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _BadRow(name, f"{name} is missing or empty")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _BadRow(name, f"{name} must be text, got {type(value).__name__}", value)
    value = str(value).strip()
    if "\x00" in value:
        raise _BadRow(name, f"{name} contains a NUL byte (binary data?)", value)
    if len(value) > limit:
        raise _BadRow(name, f"{name} is {len(value)} characters long; the limit is {limit}", value[:100])
    return value


def _identifier(row: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = _text(row, name, required=required, limit=MAX_ID_LENGTH)
    if value is not None and not _ID.match(value):
        raise _BadRow(name, f"{name} contains control characters", value)
    return value


def stable_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def parse_faq(rows: Iterable[tuple[int, Mapping[str, Any] | _BadRow]], report: KnowledgeReport) -> list[FaqEntry]:
    """The valid FAQ entries of `rows`; the others are recorded in `report`. A question
    asked twice keeps its last row (the later line wins), with a note."""
    entries: dict[str, FaqEntry] = {}
    for line, row in rows:
        report.rows_read += 1
        try:
            if isinstance(row, _BadRow):
                raise row
            question = _text(row, "question", required=True, limit=MAX_QUESTION_CHARS)
            answer = _text(row, "answer", required=True, limit=MAX_ANSWER_CHARS)
            assert question is not None and answer is not None
            language = _text(row, "language", required=False, limit=10)
            if language is not None and not _LANGUAGE.match(language.lower()):
                raise _BadRow("language", "language must be a code such as en, zh or zh-CN", language)
            entry = FaqEntry(
                faq_id=_identifier(row, "faq_id", required=False) or stable_id("faq", question),
                question=question,
                answer=answer,
                category=_text(row, "category", required=False, limit=MAX_ID_LENGTH),
                language=language.lower() if language else None,
            )
        except _BadRow as bad:
            report.reject(line, bad.field_name, bad.reason, bad.value)
            continue
        if entry.faq_id in entries:
            report.notes.append(f"line {line}: faq_id {entry.faq_id} repeats an earlier row; the later row is kept")
        entries[entry.faq_id] = entry
    report.rows_written = report.rows_read - report.rows_rejected
    return list(entries.values())


def parse_documents(
    rows: Iterable[tuple[int, Mapping[str, Any] | _BadRow]],
    report: KnowledgeReport,
    *,
    known_items: set[str] | None = None,
) -> list[Passage]:
    """The passages of the valid documents of `rows`; bad rows are recorded in `report`.
    Documents about items not in `known_items` (when given) are kept with a note: the item
    may arrive with the next catalog ingest."""
    passages: list[Passage] = []
    unknown: list[str] = []
    for line, row in rows:
        report.rows_read += 1
        try:
            if isinstance(row, _BadRow):
                raise row
            doc_id = _identifier(row, "doc_id", required=True)
            kind = _text(row, "kind", required=True, limit=40)
            assert doc_id is not None and kind is not None
            kind = kind.lower()
            if kind not in DOCUMENT_KINDS:
                raise _BadRow("kind", f"kind must be one of {', '.join(DOCUMENT_KINDS)}", kind)
            item_id = _identifier(row, "item_id", required=False)
            if kind in PRODUCT_KINDS and item_id is None:
                raise _BadRow("item_id", f"a {kind} document is about a product: item_id is required")
            if kind not in PRODUCT_KINDS and item_id is not None:
                raise _BadRow("item_id", f"a {kind} document is about the store: leave item_id empty", item_id)
            text = _text(row, "text", required=True, limit=MAX_DESCRIPTION_LENGTH)
            title = _text(row, "title", required=False, limit=MAX_ID_LENGTH)
            assert text is not None
            pieces = split_passages(text)
            if not pieces:
                raise _BadRow("text", "text has no words")
        except _BadRow as bad:
            report.reject(line, bad.field_name, bad.reason, bad.value)
            continue
        if known_items is not None and item_id is not None and item_id not in known_items:
            unknown.append(item_id)
        passages.extend(
            Passage(passage_id=f"{doc_id}#{n}", text=piece, kind=kind, doc_id=doc_id, item_id=item_id, title=title)
            for n, piece in enumerate(pieces)
        )
    report.rows_written = report.rows_read - report.rows_rejected
    report.passages = len(passages)
    if unknown:
        shown = ", ".join(sorted(set(unknown))[:5])
        report.notes.append(f"{len(set(unknown))} item ids are not in the catalog (kept): {shown}")
    return passages


def record_rows(records: Iterable[Any]) -> Iterator[tuple[int, Mapping[str, Any] | _BadRow]]:
    """Records sent in a request, numbered from 0, as :func:`read_rows` yields file rows."""
    for index, record in enumerate(records):
        yield index, record if isinstance(record, Mapping) else _BadRow(None, "not an object")


__all__ = ["KnowledgeReport", "parse_documents", "parse_faq", "read_rows", "record_rows", "stable_id"]
