"""The assistant's knowledge on disk: one JSON file in the store's workspace
(``assistant/knowledge.json``), replaced atomically on every ingest, and the texts'
vectors (``assistant/vectors-<encoder>.npz``), so a text is encoded once.

An ingest of FAQ entries adds or replaces entries by ``faq_id``; an ingest of documents
replaces every passage of each ``doc_id`` it carries. Readers get an immutable
:class:`KnowledgeBase`; a new one is loaded when the file changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cartwise.assistant.knowledge import FaqEntry, Passage
from cartwise.assistant.sources import (
    KnowledgeReport,
    parse_documents,
    parse_faq,
    read_rows,
    record_rows,
)
from cartwise.encode.base import TextEncoder
from cartwise.errors import StoreError
from cartwise.workspace import Workspace

KNOWLEDGE_FILE = "knowledge.json"
FORMAT_VERSION = 1
MAX_VECTORS = 200_000
"""Most vectors one cache holds (about 300 MB at 384 dimensions)."""


@dataclass(frozen=True)
class KnowledgeBase:
    """FAQ entries and document passages, as of one version of the knowledge file."""

    faq: tuple[FaqEntry, ...] = ()
    passages: tuple[Passage, ...] = ()
    _by_item: dict[str | None, tuple[Passage, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        grouped: dict[str | None, list[Passage]] = defaultdict(list)
        for passage in self.passages:
            grouped[passage.item_id].append(passage)
        object.__setattr__(self, "_by_item", {key: tuple(value) for key, value in grouped.items()})

    def item_passages(self, item_id: str) -> tuple[Passage, ...]:
        """The passages of documents about `item_id` (bullets, specs, reviews, Q&A)."""
        return self._by_item.get(item_id, ())

    @property
    def store_passages(self) -> tuple[Passage, ...]:
        """Passages of the store's own documents (policies)."""
        return self._by_item.get(None, ())


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class KnowledgeStore:
    """The knowledge file of one store's workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.directory = workspace.assistant_dir
        self.path = self.directory / KNOWLEDGE_FILE
        self._lock = threading.Lock()
        self._loaded: tuple[tuple[int, int], KnowledgeBase] | None = None

    def load(self) -> KnowledgeBase:
        """The knowledge as the file now stands (empty before the first ingest)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return KnowledgeBase()
        key = (stat.st_mtime_ns, stat.st_size)
        loaded = self._loaded
        if loaded is not None and loaded[0] == key:
            return loaded[1]
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            base = KnowledgeBase(
                faq=tuple(FaqEntry(**entry) for entry in raw["faq"]),
                passages=tuple(Passage(**passage) for passage in raw["passages"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.path} is unreadable: {exc}", hint="ingest the FAQ and documents again") from exc
        self._loaded = (key, base)
        return base

    def _save(self, base: KnowledgeBase) -> None:
        payload = {
            "version": FORMAT_VERSION,
            "faq": [entry.to_dict() for entry in base.faq],
            "passages": [passage.to_dict() for passage in base.passages],
        }
        atomic_write(self.path, json.dumps(payload, ensure_ascii=False).encode("utf-8"))

    def add_faq(self, entries: Sequence[FaqEntry]) -> KnowledgeBase:
        with self._lock:
            base = self.load()
            merged = {entry.faq_id: entry for entry in base.faq}
            merged.update((entry.faq_id, entry) for entry in entries)
            new = KnowledgeBase(faq=tuple(merged.values()), passages=base.passages)
            self._save(new)
            return new

    def add_passages(self, passages: Sequence[Passage]) -> KnowledgeBase:
        with self._lock:
            base = self.load()
            replaced = {passage.doc_id for passage in passages}
            kept = [p for p in base.passages if p.doc_id not in replaced]
            new = KnowledgeBase(faq=base.faq, passages=(*kept, *passages))
            self._save(new)
            return new

    def ingest_faq(self, source: Path | str | Iterable[Any], *, format: str = "auto") -> KnowledgeReport:
        """Add the FAQ entries of a file (or of records sent in a request)."""
        if isinstance(source, str | Path):
            report, rows = KnowledgeReport("faq", str(source)), read_rows(source, format=format)
        else:
            report, rows = KnowledgeReport("faq", "api"), record_rows(source)
        entries = parse_faq(rows, report)
        if entries:
            self.add_faq(entries)
        return report

    def ingest_documents(
        self, source: Path | str | Iterable[Any], *, format: str = "auto", known_items: set[str] | None = None
    ) -> KnowledgeReport:
        """Add the documents of a file (or of records sent in a request), split into passages."""
        if isinstance(source, str | Path):
            report, rows = KnowledgeReport("documents", str(source)), read_rows(source, format=format)
        else:
            report, rows = KnowledgeReport("documents", "api"), record_rows(source)
        passages = parse_documents(rows, report, known_items=known_items)
        if passages:
            self.add_passages(passages)
        return report


class VectorCache:
    """Vectors of texts by (kind, text), for one encoder, kept in memory and on disk.

    `kind` is "passage" or "query": E5 embeds the two sides differently.
    """

    def __init__(self, encoder: TextEncoder, directory: Path | None) -> None:
        self.encoder = encoder
        self.path = directory / f"vectors-{encoder.name}.npz" if directory is not None else None
        self._vectors: dict[str, NDArray[np.float32]] = {}
        self._lock = threading.Lock()
        self._dirty = False
        if self.path is not None and self.path.exists():
            try:
                with np.load(self.path) as saved:
                    keys, matrix = saved["keys"], saved["vectors"]
                self._vectors = {str(k): matrix[i] for i, k in enumerate(keys)}
            except (OSError, ValueError, KeyError):
                self._vectors = {}  # a damaged cache is rebuilt, not fatal

    @staticmethod
    def _key(kind: str, text: str) -> str:
        return kind[0] + hashlib.sha1(text.encode()).hexdigest()

    def get(self, texts: Sequence[str], *, kind: str = "passage") -> NDArray[np.float32]:
        """One row per text; texts not seen before are encoded now (in one batch)."""
        keys = [self._key(kind, text) for text in texts]
        if not keys:
            return np.empty((0, self.encoder.dim), dtype=np.float32)
        with self._lock:
            rows = {key: self._vectors[key] for key in keys if key in self._vectors}
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in rows))
        if missing:
            if kind == "passage":
                fresh = self.encoder.encode_items(missing, batch_size=32)
            else:
                fresh = self.encoder.encode_queries(missing)
            with self._lock:
                for text, row in zip(missing, fresh, strict=True):
                    rows[self._key(kind, text)] = self._vectors[self._key(kind, text)] = row
                self._dirty = True
                # Oldest first out: a text asked about again is encoded again.
                for key in list(self._vectors)[: max(0, len(self._vectors) - MAX_VECTORS)]:
                    del self._vectors[key]
        return np.stack([rows[key] for key in keys])

    def save(self) -> None:
        """Write the vectors to disk if any were added since the last save."""
        if self.path is None or not self._dirty:
            return
        with self._lock:
            keys = list(self._vectors)
            matrix = np.stack([self._vectors[k] for k in keys]) if keys else np.empty((0, self.encoder.dim), np.float32)
            self._dirty = False
        import io

        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(keys), vectors=matrix)
        atomic_write(self.path, buffer.getvalue())


__all__ = ["KnowledgeBase", "KnowledgeStore", "VectorCache", "atomic_write"]
