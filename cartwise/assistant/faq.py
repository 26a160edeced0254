"""Matching a question to the store's FAQ across paraphrases, in Chinese and English.

A question is compared with each entry's question, both embedded as E5 *queries* (the
symmetric question-to-question side of the model) and fused with BM25 over the entries'
questions, as :mod:`cartwise.assistant.ranking` fuses product evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cartwise.assistant.knowledge import FaqEntry
from cartwise.assistant.library import VectorCache
from cartwise.assistant.ranking import bm25_scores, fuse, tokenize


@dataclass(frozen=True, slots=True)
class FaqMatch:
    entry: FaqEntry
    score: float
    dense: float
    lexical: float


def match_faq(
    question_vector: NDArray[np.float32],
    question: str,
    entries: Sequence[FaqEntry],
    vectors: VectorCache,
    *,
    k: int = 3,
) -> list[FaqMatch]:
    """The `k` entries whose questions best match `question`, best first."""
    if not entries:
        return []
    questions = [entry.question for entry in entries]
    dense = vectors.get(questions, kind="query") @ question_vector
    lexical = bm25_scores(tokenize([question])[0], tokenize(questions))
    fused = fuse(dense, lexical)
    order = np.argsort(-fused, kind="stable")[:k]
    return [FaqMatch(entries[i], float(fused[i]), float(dense[i]), float(lexical[i])) for i in order]


__all__ = ["FaqMatch", "match_faq"]
