"""Cheap features of (question, passage) pairs for the learned evidence reranker.

Every feature of :data:`FEATURES` is computed from what the assistant already has per
request: the e5 cosine of the question and each passage, BM25 over the passages in hand,
the tokens, the passage's source kind and length, and cues in the question's wording.
:data:`MINILM_FEATURES` add a second encoder's view (all-MiniLM-L6-v2 cosine, its gap to
the best and its z-score within the question). bench/assistant_rerank.py measures models
over these features by cross-validation and writes the shipped one
(``--write-model``: a LightGBM LambdaRank over :data:`MODEL_FEATURES`, trained on ePQA and
hetPQA, saved as text at :data:`MODEL_PATH`); :class:`Reranker` loads it and
:func:`cartwise.assistant.ranking.rank` uses it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

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


MINILM_FEATURES = ("minilm", "minilm_gap", "minilm_z")
MODEL_FEATURES = (*FEATURES, *MINILM_FEATURES)
MODEL_PATH = Path(__file__).resolve().parent / "data" / "evidence_reranker.txt"
MINILM_ENCODER = "all-minilm-l6-v2"

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


def minilm_features(cosines: NDArray[np.float32]) -> NDArray[np.float32]:
    """One row of :data:`MINILM_FEATURES` per passage: the MiniLM cosine of the question and
    the passage, its gap to the question's best, and its z-score among the question's passages."""
    m = np.asarray(cosines, dtype=np.float32)
    if len(m) == 0:
        return np.zeros((0, len(MINILM_FEATURES)), dtype=np.float32)
    return np.column_stack([m, m - m.max(), (m - m.mean()) / max(float(m.std()), 0.02)]).astype(np.float32)


class RerankerUnavailable(RuntimeError):
    """The reranker cannot run here: lightgbm or the MiniLM encoder does not load, or the
    model file is missing or was written for other features."""


class Reranker:
    """The shipped LightGBM LambdaRank over :data:`MODEL_FEATURES`, and the MiniLM encoder
    its last three features need. Higher scores are better; they order one question's
    passages and are not probabilities."""

    def __init__(self, path: Path = MODEL_PATH, *, encoder: object | None = None) -> None:
        try:
            import lightgbm
        except ImportError as exc:
            raise RerankerUnavailable(f"lightgbm is not installed ({exc})") from exc
        if not path.exists():
            raise RerankerUnavailable(f"no reranker model at {path}")
        try:
            self.booster = lightgbm.Booster(model_file=str(path))
        except Exception as exc:  # a damaged file: LightGBMError, ValueError, ...
            raise RerankerUnavailable(f"the reranker model at {path} does not load ({exc})") from exc
        names = tuple(self.booster.feature_name())
        if names != MODEL_FEATURES:
            raise RerankerUnavailable(f"the reranker model at {path} was trained on other features: {names}")
        if encoder is None:
            from cartwise.encode import load_encoder

            try:
                encoder = load_encoder(MINILM_ENCODER)
            except Exception as exc:  # EncoderUnavailable, a broken torch install, ...
                raise RerankerUnavailable(f"the {MINILM_ENCODER} encoder does not load ({exc})") from exc
        self.encoder = encoder
        self._lock = threading.Lock()

    def score(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """One score per row of :data:`MODEL_FEATURES`."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float64)
        with self._lock:  # Booster.predict is not documented as thread-safe
            return np.asarray(self.booster.predict(features, num_threads=1), dtype=np.float64)

    def rank_scores(
        self,
        question: str,
        question_tokens: Sequence[str],
        passages: Sequence[str],
        passage_tokens: Sequence[Sequence[str]],
        kinds: Sequence[str],
        dense: NDArray[np.float32],
        lexical: NDArray[np.float32],
        minilm: NDArray[np.float32],
    ) -> NDArray[np.float64]:
        """The score of each of one question's passages (`minilm`: their MiniLM cosines)."""
        x = pair_features(question, question_tokens, passages, passage_tokens, kinds, dense, lexical)
        return self.score(np.hstack([x, minilm_features(minilm)]))


__all__ = ["FEATURES", "KINDS", "MINILM_FEATURES", "MODEL_FEATURES", "MODEL_PATH", "Reranker", "RerankerUnavailable",
           "canonical_kind", "char_ngrams", "faq_tokens", "minilm_features", "pair_features"]
