"""Item embeddings remembered by item id and text hash, so only changed items are re-encoded.

Encoding is the slow step of indexing (tens of items per second per core), while a catalog
sync usually touches a few items. A cache belongs to one encoder: vectors of different
models are not comparable, so opening it for another encoder starts empty.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.encode.base import ProgressCallback, TextEncoder
from cartwise.encode.item_text import text_hash
from cartwise.errors import ModelMismatch, StoreError, ValidationError

FORMAT_VERSION = 1
META = "meta.json"


def _unique_ids(item_ids: Sequence[str], texts: Sequence[str]) -> list[str]:
    item_ids = [str(i) for i in item_ids]
    if len(item_ids) != len(texts):
        raise ValidationError(f"got {len(item_ids)} item ids but {len(texts)} texts")
    if len(set(item_ids)) != len(item_ids):
        raise ValidationError("item ids must be unique within one call", field="item_id")
    return item_ids


class EmbeddingCache:
    """Vectors of one encoder, keyed by ``item_id`` and the hash of the text they came from."""

    def __init__(self, *, encoder_name: str, dim: int) -> None:
        self.encoder_name = encoder_name
        self.dim = dim
        self._row: dict[str, int] = {}
        self._ids: list[str] = []
        self._hashes: list[str] = []
        self._vectors = np.empty((0, dim), dtype=np.float32)

    @classmethod
    def for_encoder(cls, encoder: TextEncoder) -> EmbeddingCache:
        return cls(encoder_name=encoder.name, dim=encoder.dim)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._row

    def stale(self, item_ids: Sequence[str], texts: Sequence[str]) -> NDArray[np.bool_]:
        """True where an item is new or its text changed since it was cached."""
        item_ids = _unique_ids(item_ids, texts)
        out = np.ones(len(item_ids), dtype=bool)
        for i, (item_id, text) in enumerate(zip(item_ids, texts)):
            row = self._row.get(item_id)
            out[i] = row is None or self._hashes[row] != text_hash(text)
        return out

    def get(self, item_ids: Sequence[str]) -> NDArray[np.float32]:
        """Cached vectors of `item_ids` (each must be cached), whatever text they came from."""
        try:
            rows = [self._row[str(i)] for i in item_ids]
        except KeyError as exc:
            raise ValidationError(f"item {exc.args[0]!r} has no cached embedding", field="item_id") from None
        return self._vectors[np.asarray(rows, dtype=np.int64)]

    def put(self, item_ids: Sequence[str], texts: Sequence[str], vectors: NDArray[np.floating]) -> None:
        """Store (or replace) the vectors of `item_ids`, computed from `texts`."""
        item_ids = _unique_ids(item_ids, texts)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(item_ids), self.dim):
            raise ValidationError(f"expected vectors of shape ({len(item_ids)}, {self.dim}), got {vectors.shape}")
        new_rows = []
        for i, (item_id, text) in enumerate(zip(item_ids, texts)):
            row = self._row.get(item_id)
            if row is None:
                self._row[item_id] = len(self._ids)
                self._ids.append(item_id)
                self._hashes.append(text_hash(text))
                new_rows.append(i)
            else:
                self._hashes[row] = text_hash(text)
                self._vectors[row] = vectors[i]
        if new_rows:
            self._vectors = np.concatenate([self._vectors, vectors[new_rows]])

    def copy_known(self, item_ids: Sequence[str], texts: Sequence[str]) -> NDArray[np.bool_]:
        """Give each item whose exact text is already cached (under any id) that vector.

        Returns True where an item was filled this way and needs no encoding: size and
        colour variants listed as separate products often share one text.
        """
        item_ids = _unique_ids(item_ids, texts)
        hashes = [text_hash(text) for text in texts]
        known = {digest: row for row, digest in enumerate(self._hashes)}
        hit = np.array([digest in known for digest in hashes], dtype=bool)
        if hit.any():
            rows = np.flatnonzero(hit)
            vectors = self._vectors[[known[hashes[i]] for i in rows]]
            self.put([item_ids[i] for i in rows], [texts[i] for i in rows], vectors)
        return hit

    def embed(
        self,
        encoder: TextEncoder,
        item_ids: Sequence[str],
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        on_progress: ProgressCallback | None = None,
    ) -> NDArray[np.float32]:
        """Vectors for all `item_ids`, encoding only new or changed texts (and caching them)."""
        self.update(encoder, item_ids, texts, batch_size=batch_size, on_progress=on_progress)
        return self.get(item_ids)

    def update(
        self,
        encoder: TextEncoder,
        item_ids: Sequence[str],
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        on_progress: ProgressCallback | None = None,
        save_to: str | os.PathLike[str] | None = None,
        save_every: int = 1024,
    ) -> tuple[int, int]:
        """Cache vectors for every new or changed item, encoding each distinct text once, in
        the order given; returns (texts encoded, items that took a vector already cached or
        encoded for another item with the same text).

        Items whose text is cached under another id get a copy of that vector. With
        `save_to`, the cache is saved after every `save_every` encoded texts, so an
        interrupted run resumes where it stopped. `on_progress` gets (texts encoded so
        far, texts to encode), first (0, total).
        """
        if encoder.name != self.encoder_name or encoder.dim != self.dim:
            raise ModelMismatch(
                f"this cache holds {self.encoder_name} vectors ({self.dim}-d), not {encoder.name} ({encoder.dim}-d)",
                hint="open a cache for this encoder with EmbeddingCache.open(directory, encoder)",
            )
        texts = list(texts)
        item_ids = _unique_ids(item_ids, texts)
        stale = np.flatnonzero(self.stale(item_ids, texts))
        copied = self.copy_known([item_ids[i] for i in stale], [texts[i] for i in stale])
        members: dict[str, list[int]] = {}
        for i in stale[~copied]:
            members.setdefault(texts[i], []).append(int(i))
        todo = list(members)
        if on_progress is not None:
            on_progress(0, len(todo))
        done = 0
        for start in range(0, len(todo), save_every):
            chunk = todo[start : start + save_every]

            def progress(encoded: int, _total: int, offset: int = done) -> None:
                if on_progress is not None:
                    on_progress(offset + encoded, len(todo))

            vectors = encoder.encode_items(chunk, batch_size=batch_size, on_progress=progress)
            owner = [k for k, text in enumerate(chunk) for _ in members[text]]
            rows = [i for text in chunk for i in members[text]]
            self.put([item_ids[i] for i in rows], [texts[i] for i in rows], vectors[owner])
            if save_to is not None:
                self.save(save_to)
            done += len(chunk)
        if save_to is not None and not todo and copied.any():
            self.save(save_to)
        return len(todo), int(stale.size) - len(todo)

    def prune(self, keep_ids: Iterable[str]) -> int:
        """Forget every item not in `keep_ids` (deleted from the catalog); returns how many."""
        keep = set(map(str, keep_ids))
        mask = np.array([item_id in keep for item_id in self._ids], dtype=bool)
        dropped = int((~mask).sum())
        if dropped:
            self._ids = [i for i, k in zip(self._ids, mask) if k]
            self._hashes = [h for h, k in zip(self._hashes, mask) if k]
            self._vectors = self._vectors[mask]
            self._row = {item_id: row for row, item_id in enumerate(self._ids)}
        return dropped

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write vectors (.npy), keys (.parquet) and meta.json into `directory`.

        Data files get fresh names and meta.json, which names them, is replaced last: an
        interrupted save leaves the previous cache readable.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        # One writer at a time (the server's re-index and a `cartwise train` may both save):
        # each save deletes the files of older generations, which must not be another
        # writer's files that its meta.json is about to name.
        with open(path / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._write(path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, path: Path) -> None:
        token = uuid.uuid4().hex[:12]
        files = {"vectors": f"vectors-{token}.npy", "keys": f"keys-{token}.parquet"}
        np.save(path / files["vectors"], self._vectors, allow_pickle=False)
        keys = pl.DataFrame(
            {"item_id": self._ids, "text_hash": self._hashes}, schema={"item_id": pl.Utf8, "text_hash": pl.Utf8}
        )
        keys.write_parquet(path / files["keys"])
        meta = {
            "format_version": FORMAT_VERSION,
            "encoder": self.encoder_name,
            "dim": self.dim,
            "count": len(self),
            "files": files,
        }
        (path / f".{META}.tmp").write_text(json.dumps(meta, indent=2))
        os.replace(path / f".{META}.tmp", path / META)
        for old in [*path.glob("vectors-*.npy"), *path.glob("keys-*.parquet")]:
            if old.name not in files.values():
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> EmbeddingCache:
        path = Path(directory)
        try:
            meta = json.loads((path / META).read_text())
            keys = pl.read_parquet(path / meta["files"]["keys"])
            vectors = np.load(path / meta["files"]["vectors"], allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"embedding cache at {path} is missing or damaged: {exc}", hint="delete it to rebuild"
            ) from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise StoreError(
                f"embedding cache at {path} has format {meta.get('format_version')}, expected {FORMAT_VERSION}",
                hint="delete it to rebuild",
            )
        if not (len(keys) == vectors.shape[0] == meta["count"]) or vectors.shape[1:] != (meta["dim"],):
            raise StoreError(
                f"embedding cache at {path} is inconsistent (interrupted save?)", hint="delete it to rebuild"
            )
        cache = cls(encoder_name=meta["encoder"], dim=int(meta["dim"]))
        cache._ids = keys["item_id"].to_list()
        cache._hashes = keys["text_hash"].to_list()
        cache._vectors = vectors.astype(np.float32, copy=False)
        cache._row = {item_id: row for row, item_id in enumerate(cache._ids)}
        return cache

    @classmethod
    def open(cls, directory: str | os.PathLike[str], encoder: TextEncoder) -> EmbeddingCache:
        """The cache saved in `directory` if it holds `encoder`'s vectors, else an empty one."""
        if not (Path(directory) / META).exists():
            return cls.for_encoder(encoder)
        cache = cls.load(directory)
        if cache.encoder_name != encoder.name or cache.dim != encoder.dim:
            return cls.for_encoder(encoder)
        return cache
