"""Cheap features of (question, passage) pairs for the learned evidence reranker.

Every feature is computed from what the assistant already has per request: the e5 cosine
of the question and each passage, BM25 over the passages in hand, the tokens, the passage's
source kind and length, and cues in the question's wording. No extra encoder runs.
bench/assistant_rerank.py measures models over these features by cross-validation and
writes the shipped one (:mod:`cartwise.assistant.ranking` loads it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

# Source kinds of the benchmark data (ePQA, hetPQA) and of the assistant's passages, mapped
# to one vocabulary: attribute (attributes, specifications), bullet, description, review,
# qa (community Q&A), other (titles, policies, anything else).
KINDS = ("attribute", "bullet", "description", "review", "qa")
_KIND_OF = {
    "attribute": "attribute", "specs": "attribute",
    "bullet": "bullet", "bullets": "bullet",
    "description": "description", "desc": "description", "catalog_description": "description",
    "review": "review", "reviews": "review",
    "cqa": "qa", "qa": "qa",
}

_YES_NO = re.compile(
    r"^\s*(is|are|does|do|did|can|could|will|would|should|has|have|was|were|may)\b", re.IGNORECASE)
_AMOUNT = re.compile(
    r"\b(how (many|much|long|big|tall|wide|heavy|high|deep|thick|far)|what (size|is the size|are the dimensions"
    r"|is the weight|weight|length|width|height)|dimensions?|measure\w*|size|inch\w*|cm|mm|lbs?|pounds?|"
    r"ounces?|oz|watts?|volts?|capacity)\b|多少|几|多大|多长|多重|尺寸|尺码|容量",
    re.IGNORECASE)
_DIGIT = re.compile(r"\d")

FEATURES = (
    "dense", "dense_gap", "dense_z", "bm25_sat", "bm25_rel", "overlap", "log_tokens", "log_passages",
    *(f"kind_{k}" for k in KINDS), "kind_other",
    "q_yes_no", "q_amount", "p_digit", "q_amount_p_digit", "dense_is_top",
)


_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_WORD = re.compile(r"[^\W_]+")


def char_ngrams(text: str, n: tuple[int, ...] = (1, 2)) -> list[str]:
    """Character n-grams of each run of Han characters (Chinese words are not cut: a
    paraphrase often splits differently), and the lowercased other words as they are."""
    import unicodedata

    text = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for run in _HAN_RUN.findall(text):
        for size in n:
            out.extend(run[i : i + size] for i in range(len(run) - size + 1))
    out.extend(w for w in _WORD.findall(_HAN_RUN.sub(" ", text)))
    return out


def faq_tokens(texts: Sequence[str]) -> list[list[str]]:
    """Tokens for matching questions to questions: the search tokenizer's tokens outside
    Chinese (stemmed English words, numbers) and character unigrams and bigrams of the
    Chinese runs (AFQMC: better than jieba's words, bench/assistant_rerank.py)."""
    from cartwise.assistant.ranking import tokenize

    return [[t for t in words if not _HAN_RUN.search(t)] + [g for run in _HAN_RUN.findall(text)
            for g in char_ngrams(run)] for text, words in zip(texts, tokenize(texts), strict=True)]


def canonical_kind(kind: str) -> str:
    return _KIND_OF.get(kind.strip().lower(), "other")


def pair_features(
    question: str,
    question_tokens: Sequence[str],
    passages: Sequence[str],
    passage_tokens: Sequence[Sequence[str]],
    kinds: Sequence[str],
    dense: NDArray[np.float32],
    lexical: NDArray[np.float32],
) -> NDArray[np.float32]:
    """One row of :data:`FEATURES` per passage of one question."""
    n = len(passages)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    dense = np.asarray(dense, dtype=np.float32)
    lexical = np.maximum(np.asarray(lexical, dtype=np.float32), 0.0)
    asked = set(question_tokens)
    amount = 1.0 if _AMOUNT.search(question) else 0.0
    out[:, 0] = dense
    out[:, 1] = dense - dense.max()
    out[:, 2] = (dense - dense.mean()) / max(float(dense.std()), 0.02)
    out[:, 3] = lexical / (lexical + 4.0)
    top = float(lexical.max())
    out[:, 4] = lexical / top if top > 0 else 0.0
    out[:, 5] = [len(asked & set(t)) / len(asked) if asked else 0.0 for t in passage_tokens]
    out[:, 6] = np.log1p([len(t) for t in passage_tokens])
    out[:, 7] = np.log(n)
    for row, kind in enumerate(kinds):
        k = canonical_kind(kind)
        out[row, 8 + (KINDS.index(k) if k in KINDS else len(KINDS))] = 1.0
    out[:, 14] = 1.0 if _YES_NO.search(question) else 0.0
    out[:, 15] = amount
    digits = np.array([1.0 if _DIGIT.search(p) else 0.0 for p in passages], dtype=np.float32)
    out[:, 16] = digits
    out[:, 17] = amount * digits
    out[int(np.argmax(dense)), 18] = 1.0
    return out


__all__ = ["FEATURES", "KINDS", "canonical_kind", "char_ngrams", "faq_tokens", "pair_features"]
