"""Item embeddings for semantic search: computed in batches, kept in the store, and
recomputed only for items whose text changed.

The vectors live in ``<store>/embeddings/<encoder>/`` (an :class:`EmbeddingCache` in the
directory :meth:`cartwise.workspace.Workspace.embeddings_dir` names), apart from model
versions: a retrain re-encodes only new or edited items, and the cache is saved every
:data:`CHECKPOINT_ITEMS` items, so an interrupted encoding run resumes where it stopped
instead of starting over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from cartwise.encode import EmbeddingCache, TextEncoder, item_texts
from cartwise.vectors import VectorIndex

CHECKPOINT_ITEMS = 1024
# Called with (items encoded so far, items to encode); (0, 0) when nothing needed encoding.
EncodeProgress = Callable[[int, int], None]


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
    # Longest texts first: a batch encoder's cost per batch follows its longest text.
    order = sorted(range(len(ids)), key=lambda i: -len(texts[i]))
    encoded, reused = cache.update(
        encoder, [ids[i] for i in order], [texts[i] for i in order],
        batch_size=batch_size, on_progress=on_progress, save_to=directory, save_every=CHECKPOINT_ITEMS,
    )
    if pruned and not encoded and not reused:
        cache.save(directory)  # only deletions: write the smaller cache
    index = VectorIndex().add(ids, cache.get(ids)) if ids else VectorIndex()
    figures = {
        "encoded": float(encoded),
        "reused": float(reused),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return index, figures


__all__ = ["CHECKPOINT_ITEMS", "embed_catalog"]
