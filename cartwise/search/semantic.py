"""Item embeddings for semantic search: computed in batches, kept in the store, and
recomputed only for items whose text changed.

The vectors live in ``<store>/embeddings/<encoder>/`` (an :class:`EmbeddingCache`), apart
from model versions: a retrain re-encodes only new or edited items, and the cache is
saved every :data:`CHECKPOINT_ITEMS` items, so an interrupted encoding run resumes where
it stopped instead of starting over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from cartwise.encode import EmbeddingCache, TextEncoder, item_texts
from cartwise.vectors import VectorIndex

CHECKPOINT_ITEMS = 1024
EMBEDDINGS_DIR = "embeddings"
# Called with (items encoded so far, items to encode); (0, 0) when nothing needed encoding.
EncodeProgress = Callable[[int, int], None]


def embeddings_dir(store_root: Path, encoder: TextEncoder) -> Path:
    return Path(store_root) / EMBEDDINGS_DIR / encoder.name


def embed_catalog(
    items: pl.DataFrame,
    *,
    encoder: TextEncoder,
    directory: Path,
    on_progress: EncodeProgress | None = None,
    batch_size: int = 32,
) -> tuple[VectorIndex, dict[str, float]]:
    """A vector index over `items`, encoding only items new or changed since the last run.

    Returns the index and figures for the training report (items encoded, seconds).
    """
    started = time.perf_counter()
    ids = items.get_column("item_id").to_list()
    texts = item_texts(items.iter_rows(named=True))
    cache = EmbeddingCache.open(directory, encoder)
    pruned = cache.prune(ids)
    todo = np.flatnonzero(cache.stale(ids, texts))
    # Longest texts first within the run, so batches hold texts of similar length (less padding).
    todo = todo[np.argsort([-len(texts[i]) for i in todo], kind="stable")]
    done = 0
    if on_progress is not None:
        on_progress(0, int(todo.size))
    for start in range(0, todo.size, CHECKPOINT_ITEMS):
        chunk = todo[start : start + CHECKPOINT_ITEMS]
        chunk_texts = [texts[i] for i in chunk]

        def progress(encoded: int, _total: int, offset: int = done) -> None:
            if on_progress is not None:
                on_progress(offset + encoded, int(todo.size))

        vectors = encoder.encode_items(chunk_texts, batch_size=batch_size, on_progress=progress)
        cache.put([ids[i] for i in chunk], chunk_texts, vectors)
        cache.save(directory)
        done += int(chunk.size)
    if not todo.size and pruned:
        cache.save(directory)  # only deletions: write the smaller cache
    index = VectorIndex().add(ids, cache.get(ids)) if ids else VectorIndex()
    return index, {"encoded": float(todo.size), "seconds": round(time.perf_counter() - started, 3)}


__all__ = ["CHECKPOINT_ITEMS", "EMBEDDINGS_DIR", "embed_catalog", "embeddings_dir"]
