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
    """A vector index over `items`, encoding only texts new or changed since the last run.

    Each distinct text is encoded once: items sharing a text (variants, re-listed products)
    and items whose text is already cached under another id get a copy of that vector.
    Returns the index and figures for the training report (texts encoded, items that
    reused a vector, seconds).
    """
    started = time.perf_counter()
    ids = items.get_column("item_id").to_list()
    texts = item_texts(items.iter_rows(named=True))
    cache = EmbeddingCache.open(directory, encoder)
    pruned = cache.prune(ids)
    stale = np.flatnonzero(cache.stale(ids, texts))
    copied = cache.copy_known([ids[i] for i in stale], [texts[i] for i in stale])
    members: dict[str, list[int]] = {}
    for i in stale[~copied]:
        members.setdefault(texts[i], []).append(int(i))
    # Longest texts first within the run: the encoder's cost per batch follows its longest text.
    todo = sorted(members, key=len, reverse=True)
    done = 0
    if on_progress is not None:
        on_progress(0, len(todo))
    for start in range(0, len(todo), CHECKPOINT_ITEMS):
        chunk = todo[start : start + CHECKPOINT_ITEMS]

        def progress(encoded: int, _total: int, offset: int = done) -> None:
            if on_progress is not None:
                on_progress(offset + encoded, len(todo))

        vectors = encoder.encode_items(chunk, batch_size=batch_size, on_progress=progress)
        owner = [k for k, text in enumerate(chunk) for _ in members[text]]
        rows = [i for text in chunk for i in members[text]]
        cache.put([ids[i] for i in rows], [texts[i] for i in rows], vectors[owner])
        cache.save(directory)
        done += len(chunk)
    if not todo and (copied.any() or pruned):
        cache.save(directory)
    index = VectorIndex().add(ids, cache.get(ids)) if ids else VectorIndex()
    figures = {
        "encoded": float(len(todo)),
        "reused": float(stale.size - len(todo)),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return index, figures


__all__ = ["CHECKPOINT_ITEMS", "EMBEDDINGS_DIR", "embed_catalog", "embeddings_dir"]
