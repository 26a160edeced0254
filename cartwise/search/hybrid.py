"""Hybrid product search: BM25 and dense (text-encoder) retrieval fused into one ranking.

Both retrievers propose their top candidates; every candidate is then scored by *both*
(the BM25 score of a dense candidate is read from the full score vector, the cosine of a
lexical candidate from the stored item vector), so an item one list missed is not
penalised as if it scored zero. Each score is normalised per query before the weighted
sum: BM25 by the query's best BM25 score (an exact model-number match keeps its lead),
the cosine by the spread between the best and the last dense candidate (cosines of one
encoder crowd into a narrow band, whose position says little, while the order inside it
says a lot). The weight was tuned on judged queries of two product-matching sets
(``bench/search.py``); reciprocal-rank fusion is available as the naive reference.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from cartwise.encode.base import TextEncoder
from cartwise.errors import ValidationError
from cartwise.search.filters import SearchFilters
from cartwise.search.lexical import LexicalIndex, QueryScores, SearchHit
from cartwise.vectors import VectorIndex

Mode = Literal["lexical", "semantic", "hybrid"]
MODES: tuple[str, ...] = ("lexical", "semantic", "hybrid")
_QUERY_CACHE = 4096
# A typo correction stands only if an item with the corrected word is among this many
# closest items by meaning to the query as typed (the encoder reads sub-words, so it still
# understands "chrismas"; it does not take "warm" for "farm").
_CORRECTION_CHECK = 50


@dataclass(frozen=True)
class Fusion:
    """How lexical and dense candidates become one ranking.

    method: "weighted" (normalised score sum, the default) or "rrf" (reciprocal-rank
    fusion, Cormack et al. 2009, kept as the naive reference).
    lexical_weight: share of the normalised BM25 score in the weighted sum.
    identifier_weight: added for an exact product-code match (less for a near variant).
    boost_weight: added for an item having every brand, category, colour and size the
    query names (a share of it for some of them).
    candidates: how many candidates each retriever proposes (at least offset + k).
    """

    method: Literal["weighted", "rrf"] = "weighted"
    lexical_weight: float = 0.5
    identifier_weight: float = 0.4
    boost_weight: float = 0.1
    candidates: int = 100
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.method not in ("weighted", "rrf"):
            raise ValidationError(f"fusion method must be 'weighted' or 'rrf', got {self.method!r}", field="method")
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise ValidationError(f"lexical_weight must be in [0, 1], got {self.lexical_weight!r}", field="fusion")
        if self.candidates < 1 or self.rrf_k < 1:
            raise ValidationError("candidates and rrf_k must be positive", field="fusion")


@dataclass
class HybridHits:
    """One page of fused results and what the page was drawn from."""

    hits: list[SearchHit]
    mode: str
    matching: NDArray[np.int64]
    """Lexical-index rows of every matching item (for facet counts and totals)."""
    corrections: dict[str, str] = field(default_factory=dict)
    lexical_scores: dict[str, float] = field(default_factory=dict)
    semantic_scores: dict[str, float] = field(default_factory=dict)


@dataclass
class Retrieval:
    """One query's candidates from each side, over the lexical index's rows, as the
    retrieval steps leave them for fusion (see :meth:`HybridSearcher.retrieve`)."""

    query: str
    mode: str
    """The mode searched: lexical when the searcher has no dense side."""
    allowed: NDArray[np.bool_]
    pool: int
    """How many candidates each side proposes (at least the page's end)."""
    query_vector: NDArray[np.float32] | None = None
    dense_rows: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    dense_scores: NDArray[np.float32] = field(default_factory=lambda: np.empty(0, np.float32))
    lexical: QueryScores | None = None
    lex_rows: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    pinned: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    corrections: dict[str, str] = field(default_factory=dict)
    matching: NDArray[np.int64] = field(default_factory=lambda: _EMPTY)
    """Rows of every matching item (totals, facets), set by fusion."""


class HybridSearcher:
    """Answers queries in lexical, semantic or hybrid mode over one catalog.

    `vectors` holds item embeddings by item id (any subset of the lexical index: items
    not embedded yet are found lexically only); `encoder` embeds the queries and must be
    the encoder the item vectors came from. Without either, every mode answers lexically.
    """

    def __init__(
        self,
        *,
        lexical: LexicalIndex,
        vectors: VectorIndex | None = None,
        encoder: TextEncoder | None = None,
        fusion: Fusion | None = None,
    ) -> None:
        self.lexical = lexical
        self.vectors = vectors if vectors is not None and len(vectors) else None
        self.encoder = encoder if self.vectors is not None else None
        self.fusion = fusion or Fusion()
        if self.vectors is not None and self.encoder is not None and self.vectors.dim != self.encoder.dim:
            raise ValidationError(
                f"item vectors are {self.vectors.dim}-d but the encoder {self.encoder.name} gives {self.encoder.dim}-d",
                hint="retrain with `cartwise train` so items and queries use the same encoder",
            )
        # lexical row -> vector row and back (-1 where the other side lacks the item)
        if self.vectors is not None:
            self._lex_of_vec = lexical.row_of(self.vectors.ids.tolist())
            self._vec_of_lex = np.full(lexical.item_ids_.size, -1, dtype=np.int64)
            present = self._lex_of_vec >= 0
            self._vec_of_lex[self._lex_of_vec[present]] = np.flatnonzero(present)
        self._query_vectors: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def clear_query_cache(self) -> None:
        """Forget remembered query vectors (benchmarks measuring encoding cost)."""
        with self._cache_lock:
            self._query_vectors.clear()

    def with_fusion(self, fusion: Fusion) -> HybridSearcher:
        """The same indexes and query-vector cache under other fusion settings (for tuning)."""
        other = HybridSearcher(lexical=self.lexical, vectors=self.vectors, encoder=self.encoder, fusion=fusion)
        other._query_vectors, other._cache_lock = self._query_vectors, self._cache_lock
        return other

    @property
    def semantic(self) -> bool:
        """Whether dense retrieval is available (item vectors and a query encoder)."""
        return self.vectors is not None and self.encoder is not None

    def query_vector(self, query: str) -> NDArray[np.float32]:
        """The query's embedding, remembered for the most recent distinct queries."""
        assert self.encoder is not None
        key = query  # exact text: the encoder's tokenizer is case-sensitive
        with self._cache_lock:
            cached = self._query_vectors.get(key)
            if cached is not None:
                self._query_vectors.move_to_end(key)
                return cached
        vector = self.encoder.encode_queries([query])[0]
        with self._cache_lock:
            self._query_vectors[key] = vector
            while len(self._query_vectors) > _QUERY_CACHE:
                self._query_vectors.popitem(last=False)
        return vector

    def search(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        offset: int = 0,
        filters: SearchFilters | None = None,
        exclude: Collection[str] = (),
        boost: NDArray[np.float32] | None = None,
    ) -> HybridHits:
        """One page of results for `query`: :meth:`retrieve`, :meth:`fuse`, then the page.

        boost: optional value per lexical row in [0, 1] (0 = neutral), e.g. the share of
        the brands, categories and colours the query mentions that the item has; adds
        ``fusion.boost_weight`` times it to the mode's normalised score.
        """
        retrieval = self.retrieve(query, mode=mode, k=k, offset=offset, filters=filters, exclude=exclude)
        rows, final = self.fuse(retrieval, boost)
        order = np.lexsort((rows, -final))
        page = order[offset : offset + k]
        lexical = retrieval.lexical
        query_scores = lexical if lexical is not None else QueryScores(np.zeros(0, np.float32), (), {}, {})
        hits = self.lexical.hits(rows[page], final[page], query_scores)
        result = HybridHits(
            hits=hits, mode=retrieval.mode, matching=retrieval.matching, corrections=retrieval.corrections
        )
        if lexical is not None:
            result.lexical_scores = {h.item_id: float(lexical.scores[r]) for h, r in zip(hits, rows[page])}
        if retrieval.query_vector is not None:
            cosines = self.cosines(retrieval.query_vector, rows[page])
            result.semantic_scores = {h.item_id: float(c) for h, c in zip(hits, cosines) if np.isfinite(c)}
        return result

    def retrieve(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        offset: int = 0,
        filters: SearchFilters | None = None,
        exclude: Collection[str] = (),
    ) -> Retrieval:
        """What fusion starts from: the allowed rows and the pool size for a page, then
        :meth:`retrieve_semantic` and :meth:`retrieve_lexical` (in that order: a typo
        correction is checked against the items close in meaning)."""
        if mode not in MODES:
            raise ValidationError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
        retrieval = self.start(query, mode=mode, k=k, offset=offset, filters=filters, exclude=exclude)
        self.retrieve_semantic(retrieval)
        self.retrieve_lexical(retrieval)
        return retrieval

    def start(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        offset: int = 0,
        filters: SearchFilters | None = None,
        exclude: Collection[str] = (),
    ) -> Retrieval:
        """An empty :class:`Retrieval` for one page of `query` (the mode is lexical when
        this searcher has no dense side)."""
        if mode != "lexical" and not self.semantic:
            mode = "lexical"
        return Retrieval(
            query=query,
            mode=mode,
            allowed=self.lexical.allowed(filters, exclude),
            pool=max(self.fusion.candidates, offset + k),
        )

    def retrieve_semantic(self, retrieval: Retrieval) -> None:
        """The dense candidates: the `pool` allowed items closest in meaning (not in lexical mode)."""
        if retrieval.mode == "lexical":
            return
        retrieval.query_vector = self.query_vector(retrieval.query)
        retrieval.dense_rows, retrieval.dense_scores = self._dense(
            retrieval.query_vector, retrieval.allowed, retrieval.pool
        )

    def retrieve_lexical(self, retrieval: Retrieval) -> None:
        """The BM25 scores of every item and the `pool` best allowed ones (not in semantic
        mode), and the items whose id the query names."""
        query = retrieval.query
        if retrieval.mode != "semantic":
            lexical = self.lexical.score(query)
            if lexical.corrections and retrieval.dense_rows.size:
                doubtful = self._unsupported_corrections(lexical, retrieval.dense_rows, retrieval.dense_scores)
                if doubtful:
                    lexical = self.lexical.score(query, keep=doubtful)
            retrieval.lexical = lexical
            retrieval.lex_rows = _top_rows(lexical.scores, retrieval.allowed, retrieval.pool)
            retrieval.corrections = dict(lexical.corrections)
        # An item id typed into the box ("85123A", "item 22197") names that item: first.
        pinned = self.lexical.id_rows(query)
        retrieval.pinned = pinned[retrieval.allowed[pinned]] if pinned.size else pinned

    def fuse(
        self, retrieval: Retrieval, boost: NDArray[np.float32] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Every candidate row and its final score (unordered), by the retrieval's mode;
        sets `retrieval.matching`, the rows that count as matches (totals, facets)."""
        mode, lexical, allowed = retrieval.mode, retrieval.lexical, retrieval.allowed
        dense_rows, dense_scores = retrieval.dense_rows, retrieval.dense_scores
        if mode == "lexical":
            assert lexical is not None
            rows, final = retrieval.lex_rows, lexical.scores[retrieval.lex_rows].astype(np.float64)
            matching = np.flatnonzero((lexical.scores > 0) & allowed)
        elif mode == "semantic":
            rows, final = dense_rows, dense_scores.astype(np.float64)
            # Matches by meaning alone: the closer half of the spread between the best and
            # the last dense candidate (cosines carry no absolute threshold across encoders).
            if dense_rows.size:
                floor, best = self._floor(dense_scores), float(dense_scores[0])
                matching = dense_rows[dense_scores >= floor + 0.5 * (best - floor)]
            else:
                matching = dense_rows
        else:
            assert lexical is not None
            rows, final = self._fuse(lexical.scores, retrieval.lex_rows, dense_rows, dense_scores, retrieval.query_vector)
            if self.fusion.method == "weighted" and self.fusion.identifier_weight and rows.size:
                final = final + self.fusion.identifier_weight * self.lexical.code_matches(retrieval.query, rows)
            # A candidate with no matching word and the weakest similarity adds nothing.
            keep = final > 0
            rows, final = rows[keep], final[keep]
            # What counts as a match (totals, facets): every word match, and the candidates
            # found by meaning alone that score at least half the best.
            strong = rows[final >= 0.5 * final.max()] if rows.size else rows
            matching = np.union1d(np.flatnonzero((lexical.scores > 0) & allowed), strong)
        if boost is not None and rows.size:
            # On each mode's own 0..1 scale, so a boost weighs the same in every mode (raw
            # cosines crowd into a band a few hundredths wide, where any boost would rule).
            if mode == "lexical":
                final = final / max(float(final.max()), 1e-9)
            elif mode == "semantic":
                floor = self._floor(dense_scores)
                final = np.clip((final - floor) / max(float(final.max()) - floor, 1e-9), 0.0, None)
            final = final + self.fusion.boost_weight * boost[rows]
        pinned = retrieval.pinned
        if pinned.size:
            top = float(final.max()) if final.size else 0.0
            others = ~np.isin(rows, pinned)
            rows = np.concatenate([pinned, rows[others]])
            final = np.concatenate([np.full(pinned.size, top + 1.0), final[others]])
            matching = np.union1d(matching, pinned)
        retrieval.matching = matching
        return rows, final

    def cosines(self, query_vector: NDArray[np.float32], rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Cosine of the query with each lexical row's vector (-inf where it has none)."""
        return self._cosines(query_vector, rows)

    # internals ------------------------------------------------------------------------

    def _unsupported_corrections(
        self, lexical: QueryScores, dense_rows: NDArray[np.int64], dense_scores: NDArray[np.float32]
    ) -> set[str]:
        """Corrected words (as typed) whose correction no item close in meaning contains
        (close: among the first candidates, in the closer half of the spread between the
        best and the last dense candidate)."""
        floor, best = self._floor(dense_scores), float(dense_scores[0])
        near = dense_rows[:_CORRECTION_CHECK][dense_scores[:_CORRECTION_CHECK] >= floor + 0.5 * (best - floor)]
        return {
            typed for typed, fixed in lexical.corrections.items()
            if not self.lexical.token_rows(fixed)[near].any()
        }

    def _floor(self, dense_scores: NDArray[np.float32]) -> float:
        """The cosine of the last of the first `fusion.candidates` dense candidates: fixed
        whatever the page, so a deeper page never rescales (and reorders) earlier ones."""
        return float(dense_scores[min(self.fusion.candidates, dense_scores.size) - 1])

    def _dense(self, query_vector: NDArray[np.float32], allowed: NDArray[np.bool_], pool: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Top `pool` allowed lexical rows by cosine, with their cosines."""
        assert self.vectors is not None
        vec_allowed = (self._lex_of_vec >= 0) & allowed[np.maximum(self._lex_of_vec, 0)]
        if not vec_allowed.any():
            return _EMPTY, np.empty(0, np.float32)
        found = self.vectors.search(query_vector, pool, allowed=vec_allowed)
        ids, scores = found.ids[0], found.scores[0]
        keep = np.array([i is not None for i in ids], dtype=bool)
        rows = self.lexical.row_of([str(i) for i in ids[keep]])
        return rows, scores[keep]

    def _cosines(self, query_vector: NDArray[np.float32], rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Cosine of the query with each lexical row's vector (-inf where it has none)."""
        assert self.vectors is not None
        out = np.full(rows.size, -np.inf, dtype=np.float32)
        vec_rows = self._vec_of_lex[rows] if rows.size else _EMPTY
        present = vec_rows >= 0
        if present.any():
            matrix = self.vectors.vectors_at(vec_rows[present])
            out[present] = matrix @ query_vector
        return out

    def _fuse(
        self,
        lex_scores: NDArray[np.float32],
        lex_rows: NDArray[np.int64],
        dense_rows: NDArray[np.int64],
        dense_scores: NDArray[np.float32],
        query_vector: NDArray[np.float32] | None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        if dense_rows.size == 0:
            return lex_rows, lex_scores[lex_rows].astype(np.float64)
        rows = np.union1d(lex_rows, dense_rows)
        if self.fusion.method == "rrf":
            score = np.zeros(rows.size, dtype=np.float64)
            for ranked in (lex_rows, dense_rows):
                position = np.searchsorted(rows, ranked)
                score[position] += 1.0 / (self.fusion.rrf_k + np.arange(1, ranked.size + 1))
            return rows, score
        top_lex = float(lex_scores[lex_rows[0]]) if lex_rows.size else 0.0
        lexical = lex_scores[rows] / top_lex if top_lex > 0 else np.zeros(rows.size, dtype=np.float32)
        # Cosines of lexical-only candidates come from their stored vectors.
        cosines = np.full(rows.size, -np.inf, dtype=np.float32)
        cosines[np.searchsorted(rows, dense_rows)] = dense_scores
        missing = ~np.isfinite(cosines)
        if missing.any() and query_vector is not None:
            cosines[missing] = self._cosines(query_vector, rows[missing])
        best, floor = float(dense_scores[0]), self._floor(dense_scores)
        spread = max(best - floor, 1e-6)
        dense = np.clip((cosines - floor) / spread, 0.0, None)
        dense[~np.isfinite(dense)] = 0.0
        weight = self.fusion.lexical_weight
        return rows, weight * lexical.astype(np.float64) + (1.0 - weight) * dense.astype(np.float64)


_EMPTY = np.empty(0, dtype=np.int64)


def _top_rows(scores: NDArray[np.float32], allowed: NDArray[np.bool_], n: int) -> NDArray[np.int64]:
    """The `n` best allowed rows with a positive score (more when tied), best first, ties by row."""
    candidates = np.flatnonzero((scores > 0) & allowed)
    if candidates.size > n:
        # Everything tied with the n-th score stays, so deeper pages never disagree on ties.
        threshold = np.partition(scores[candidates], candidates.size - n)[candidates.size - n]
        candidates = candidates[scores[candidates] >= threshold]
    return candidates[np.lexsort((candidates, -scores[candidates]))]


__all__ = ["MODES", "Fusion", "HybridHits", "HybridSearcher", "Mode", "Retrieval"]
