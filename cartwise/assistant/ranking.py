"""Ranking passages by how well they answer a question: dense and lexical scores, fused.

Dense: the cosine of the question's multilingual-e5 query vector and each passage's
passage vector. Lexical: BM25 (bm25s) over the passages in hand, tokenized by the search
tokenizer (jieba for Chinese, Snowball stems for English). The fused score is

    dense + LEXICAL_WEIGHT * bm25 / (bm25 + LEXICAL_HALF)

a saturating transform of BM25 (0 without a shared word, 1/2 at ``LEXICAL_HALF``), so the
score of the best passage means the same thing whatever the number of passages, and one
threshold (:mod:`cartwise.assistant.calibration`) decides whether it is good enough to answer.
The two constants were looked at on ePQA by bench/assistant.py: every weight from 0.05 to
0.2 with a half from 1 to 8 is within 0.001 NDCG@3 of the best (the folds of a 2-fold
cross-validation pick different ones), so 0.1 and 4 stay; hetPQA, never used for the
choice, shows what the lexical part adds there (+0.028 recall@5 over dense alone).

Reranked (English product questions, when a :class:`~cartwise.assistant.rerank.Reranker`
is given): the :data:`RERANK_CANDIDATES` best passages by the fused score are reordered by
the shipped LightGBM LambdaRank over the features of :mod:`cartwise.assistant.rerank`
(e5 and all-MiniLM-L6-v2 cosines, BM25, overlap, source kind, length, question cues),
trained on ePQA and hetPQA by bench/assistant_rerank.py (cross-validated there: ePQA NDCG@3
0.7149 -> 0.7259, MRR 0.8007 -> 0.8004, hetPQA recall@5 0.8698 -> 0.9045; BENCHMARKS.md).
The reranker only orders; each passage keeps its fused score, which the abstain threshold
reads (the reranker's own score separates right from wrong answers worse: AUC 0.60 vs 0.67).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import bm25s
import numpy as np
from numpy.typing import NDArray

from cartwise.search.tokenize import Tokenizer

if TYPE_CHECKING:
    from cartwise.assistant.rerank import Reranker

LEXICAL_WEIGHT = 0.1
LEXICAL_HALF = 4.0
RERANK_CANDIDATES = 40
"""Passages the reranker reorders (the fused score's best): every passage of the training
questions (at most 38 per product in hetPQA), and it bounds the MiniLM encodes per product."""

_tokenizer = Tokenizer()


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    return _tokenizer.tokenize_batch(texts)


def bm25_scores(question_tokens: list[str], passage_tokens: Sequence[list[str]]) -> NDArray[np.float32]:
    """BM25 of one question against the passages in hand (their own statistics)."""
    if not passage_tokens:
        return np.zeros(0, dtype=np.float32)
    if not question_tokens or not any(passage_tokens):
        return np.zeros(len(passage_tokens), dtype=np.float32)
    index = bm25s.BM25()
    # An empty passage would make bm25s drop it; a placeholder token keeps positions aligned.
    index.index([tokens or ["\x00"] for tokens in passage_tokens], show_progress=False)
    return np.asarray(index.get_scores(question_tokens), dtype=np.float32)


def fuse(
    dense: NDArray[np.float32],
    lexical: NDArray[np.float32],
    *,
    weight: float = LEXICAL_WEIGHT,
    half: float = LEXICAL_HALF,
) -> NDArray[np.float32]:
    """The fused score of each passage (see the module docstring)."""
    lexical = np.maximum(lexical, 0.0)
    return (dense + weight * lexical / (lexical + half)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Ranked:
    """A passage's position in the input, and its scores: `score` is the fused score (the
    one the abstain threshold reads), `rerank` the reranker's (None when not reranked)."""

    index: int
    score: float
    dense: float
    lexical: float
    rerank: float | None = None


def rank(
    question_vector: NDArray[np.float32],
    question: str,
    passage_vectors: NDArray[np.float32],
    passages: Sequence[str],
    *,
    k: int = 5,
    kinds: Sequence[str] | None = None,
    reranker: Reranker | None = None,
    minilm_cosines: Callable[[list[int]], NDArray[np.float32]] | None = None,
) -> list[Ranked]:
    """The `k` best passages for the question, best first: by the fused score, or, with a
    `reranker` (and `minilm_cosines`: the question's MiniLM cosine with each passage of the
    given positions), the :data:`RERANK_CANDIDATES` best by the fused score reordered by it."""
    if not passages:
        return []
    dense = passage_vectors @ question_vector
    question_tokens = tokenize([question])[0]
    passage_tokens = tokenize(passages)
    lexical = bm25_scores(question_tokens, passage_tokens)
    fused = fuse(dense, lexical)
    order = np.argsort(-fused, kind="stable")
    if reranker is None or minilm_cosines is None:
        return [Ranked(int(i), float(fused[i]), float(dense[i]), float(lexical[i])) for i in order[:k]]
    candidates = order[:RERANK_CANDIDATES]
    kinds = kinds if kinds is not None else ["other"] * len(passages)
    scores = reranker.rank_scores(
        question, question_tokens, [passages[i] for i in candidates],
        [passage_tokens[i] for i in candidates], [kinds[i] for i in candidates], dense[candidates],
        lexical[candidates], np.asarray(minilm_cosines([int(i) for i in candidates]), dtype=np.float32),
    )
    reordered = np.argsort(-scores, kind="stable")[:k]
    return [Ranked(int(candidates[j]), float(fused[candidates[j]]), float(dense[candidates[j]]),
                   float(lexical[candidates[j]]), float(scores[j])) for j in reordered]


__all__ = ["LEXICAL_HALF", "LEXICAL_WEIGHT", "RERANK_CANDIDATES", "Ranked", "bm25_scores", "fuse", "rank",
           "tokenize"]
