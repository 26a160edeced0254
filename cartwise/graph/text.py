"""Items described alike: each item's nearest items by text, for substitutes and variants.

With the store's item embeddings (the vector index `train` builds with the text encoder)
the similarity is their cosine; a store trained without an encoder falls back to TF-IDF
cosine of titles. Encoders differ in how similar unrelated texts look (e5 puts most
product pairs above 0.7), so similarities are judged against a baseline: the mean cosine
of random pairs of the catalog, giving ``strength = (cos - baseline) / (1 - baseline)``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from cartwise.graph.cooccurrence import labels
from cartwise.recommend.base import IdMap
from cartwise.vectors import VectorIndex

_WORD = re.compile(r"\w+", re.UNICODE)
# Queries searched at once in the vector index; rows of the TF-IDF product per chunk.
_BATCH = 512
# Random pairs whose mean cosine is the baseline.
_BASELINE_PAIRS = 4000


def words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text or "")]


class TextNeighbours:
    """The `neighbours` most text-similar items of every item.

    Learned state: ``similar_`` (CSR, item x item cosine, at most `neighbours` per row),
    ``baseline_`` (mean cosine of random item pairs), ``source_`` ("embeddings" or "tfidf").
    """

    def __init__(self, *, neighbours: int = 30, seed: int = 0) -> None:
        self.neighbours = neighbours
        self.seed = seed

    def fit(self, ids: IdMap, *, titles: Sequence[str], vectors: VectorIndex | None = None) -> Self:
        """`titles` aligned with `ids`; `vectors` (item id -> embedding) when the store has them."""
        n = len(ids)
        rows: list[NDArray[np.int64]] = []
        cols: list[NDArray[np.int64]] = []
        sims: list[NDArray[np.float32]] = []
        if vectors is not None and len(vectors):
            vector_ids, matrix = vectors.id_vectors()
            at = ids.indices(vector_ids)
            keep = at >= 0
            matrix, at = matrix[keep], at[keep]
            for start in range(0, at.size, _BATCH):
                found = vectors.search(matrix[start : start + _BATCH], self.neighbours + 1)
                for offset, (row_ids, row_scores) in enumerate(zip(found.ids, found.scores, strict=True)):
                    valid = np.array([i is not None for i in row_ids], dtype=bool)
                    others = ids.indices([str(i) for i in row_ids[valid]])
                    mine = others != at[start + offset]
                    rows.append(np.full(int(mine.sum()), at[start + offset], dtype=np.int64))
                    cols.append(others[mine])
                    sims.append(row_scores[valid][mine].astype(np.float32))
            norms = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            self.baseline_ = _baseline(lambda a, b: np.einsum("ij,ij->i", norms[a], norms[b]), at.size, self.seed)
            self.source_ = "embeddings"
        else:
            tfidf = _tfidf(titles)
            for start in range(0, n, _BATCH):
                block = (tfidf[start : start + _BATCH] @ tfidf.T).tocsr()
                for offset in range(block.shape[0]):
                    lo, hi = block.indptr[offset], block.indptr[offset + 1]
                    others, scores = block.indices[lo:hi], block.data[lo:hi]
                    mine = others != start + offset
                    others, scores = others[mine], scores[mine]
                    if others.size > self.neighbours:
                        top = np.argpartition(-scores, self.neighbours - 1)[: self.neighbours]
                        others, scores = others[top], scores[top]
                    rows.append(np.full(others.size, start + offset, dtype=np.int64))
                    cols.append(others.astype(np.int64))
                    sims.append(scores.astype(np.float32))

            def cosine(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.float64]:
                return np.asarray(tfidf[a].multiply(tfidf[b]).sum(axis=1)).ravel()

            self.baseline_ = _baseline(cosine, n, self.seed)
            self.source_ = "tfidf"
        concat = (lambda parts, dtype: np.concatenate(parts) if parts else np.empty(0, dtype=dtype))
        self.similar_ = sp.csr_matrix(
            (concat(sims, np.float32), (concat(rows, np.int64), concat(cols, np.int64))), shape=(n, n)
        )
        self.similar_.sort_indices()
        self.ids_ = ids
        return self

    def strength(self, cosine: NDArray[np.floating] | float) -> NDArray[np.float64]:
        """How far above the catalog's baseline a cosine is: 0 at the baseline, 1 for identical texts."""
        return (np.asarray(cosine, dtype=np.float64) - self.baseline_) / max(1.0 - self.baseline_, 1e-6)

    def neighbours_of(self, item_id: str) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """`item_id`'s nearest items by text and their cosines (empty when it has no text)."""
        index = self.ids_.get(item_id)
        if index is None or index >= self.similar_.shape[0]:
            return np.empty(0, dtype=object), np.empty(0, dtype=np.float32)
        lo, hi = self.similar_.indptr[index], self.similar_.indptr[index + 1]
        return labels(self.ids_)[self.similar_.indices[lo:hi]], self.similar_.data[lo:hi]

    def arrays(self) -> dict[str, NDArray[np.generic]]:
        return {
            "text_indptr": self.similar_.indptr,
            "text_indices": self.similar_.indices,
            "text_data": self.similar_.data,
            "text_settings": np.array([self.baseline_, self.neighbours, self.seed], dtype=np.float64),
            "text_source": np.array([self.source_]),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[np.generic]], ids: IdMap) -> TextNeighbours:
        baseline, neighbours, seed = (float(v) for v in arrays["text_settings"])
        model = cls(neighbours=int(neighbours), seed=int(seed))
        n = len(ids)
        model.similar_ = sp.csr_matrix(
            (arrays["text_data"], arrays["text_indices"], arrays["text_indptr"]), shape=(n, n)
        )
        model.baseline_ = baseline
        model.source_ = str(arrays["text_source"][0])
        model.ids_ = ids
        return model


def _tfidf(titles: Sequence[str]) -> sp.csr_matrix:
    """L2-normalised TF-IDF rows of `titles` (smoothed idf, as scikit-learn's default)."""
    vocabulary: dict[str, int] = {}
    rows, cols, values = [], [], []
    for row, title in enumerate(titles):
        for word, n in Counter(words(title)).items():
            rows.append(row)
            cols.append(vocabulary.setdefault(word, len(vocabulary)))
            values.append(float(n))
    counts = sp.csr_matrix((values, (rows, cols)), shape=(len(titles), len(vocabulary)), dtype=np.float64)
    df = np.bincount(counts.indices, minlength=len(vocabulary))
    idf = np.log((1 + len(titles)) / (1 + df)) + 1.0
    weighted = counts.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    return sp.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted


def _baseline(cosine, n: int, seed: int) -> float:  # type: ignore[no-untyped-def]
    """Mean cosine of random pairs of distinct items (0 for fewer than two items)."""
    if n < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, size=_BASELINE_PAIRS)
    b = rng.integers(0, n, size=_BASELINE_PAIRS)
    distinct = a != b
    if not distinct.any():
        return 0.0
    value = float(np.mean(cosine(a[distinct], b[distinct])))
    return value if math.isfinite(value) else 0.0


__all__ = ["TextNeighbours", "words"]
