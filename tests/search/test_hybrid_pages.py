"""Pages of hybrid and semantic results never overlap, whatever the page depth."""

from __future__ import annotations

import numpy as np
import polars as pl

from cartwise.search import HybridSearcher, LexicalIndex
from cartwise.vectors import VectorIndex


class _Encoder:
    """A deterministic stand-in for a text encoder: hashed bag of words (tests page logic only)."""

    name = "hashed-words"
    dim = 32

    def encode_queries(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, hash(word) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def test_pages_do_not_overlap_past_the_candidate_pool():
    rng = np.random.default_rng(0)
    colours, things = ["blue", "red", "green"], ["widget", "gadget", "gizmo", "tool"]
    titles = [f"{rng.choice(colours)} {rng.choice(things)} {i}" for i in range(400)]
    items = pl.DataFrame({"item_id": [f"i{i}" for i in range(400)], "title": titles})
    lexical = LexicalIndex().fit(items)
    encoder = _Encoder()
    # Small per-item noise: a real encoder gives distinct titles distinct vectors (exact ties
    # at a page boundary, e.g. duplicate titles, may still fall on either page).
    noisy = encoder.encode_queries(titles) + rng.normal(0, 0.01, (400, encoder.dim)).astype(np.float32)
    vectors = VectorIndex(backend="exact").add(items["item_id"].to_list(), noisy)
    searcher = HybridSearcher(lexical=lexical, vectors=vectors, encoder=encoder)
    for mode in ("hybrid", "semantic"):
        pages = [searcher.search("blue widget", mode=mode, k=10, offset=o) for o in range(0, 250, 10)]
        ids = [hit.item_id for page in pages for hit in page.hits]
        assert len(ids) == len(set(ids)), mode
        assert len({page.matching.size for page in pages}) == 1, mode
