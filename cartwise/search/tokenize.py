"""Turns product text and queries into the tokens the lexical index matches on.

Documents and queries go through the same :class:`Tokenizer`, so whatever spelling
variants it folds together (case, width, plurals, ``WH-1000XM4`` vs ``wh1000xm4``,
``红色连衣裙`` vs ``红色 连衣裙``) match each other in both directions.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Collection, Iterable
from typing import Any

import jieba
import Stemmer

# Deliberately small: product queries are short, and words such as "without", "not"
# or "top" change what a shopper wants, so only pure function words are dropped.
ENGLISH_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "if", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their", "then", "there", "these", "this", "those", "to", "was", "were", "will", "with"]
)
CHINESE_STOPWORDS = frozenset(["的", "了", "和", "与", "及", "之", "或", "是", "在"])
DEFAULT_STOPWORDS = ENGLISH_STOPWORDS | CHINESE_STOPWORDS

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
# A "word" is a run of letters or digits that are not Han characters; decimals such as
# "2.4" stay one word so "2.4 GHz" does not turn into the unrelated numbers 2 and 4.
_WORD = rf"(?:\d+(?:\.\d+)+|[^\W_{_HAN}]+)"
# Words glued by - _ . / + & form a group: model numbers (WH-1000XM4), sizes (10/100),
# compounds (wi-fi). A group is indexed joined and as its parts.
_GROUP_SEPARATORS = "-_./+&"
_TOKEN = re.compile(rf"(?P<han>[{_HAN}]+)|(?P<group>{_WORD}(?:[{re.escape(_GROUP_SEPARATORS)}]{_WORD})*)")
_GROUP_WORD = re.compile(_WORD)
# "men's" -> "mens" (the stemmer then gives "men"), instead of "men" plus a stray "s".
_APOSTROPHE = re.compile(r"(?<=[^\W\d_])['\u2019\u02bc](?=[^\W\d_])")
# "1,000" -> "1000".
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")

_jieba_lock = threading.Lock()
_jieba_ready = False


def _segment_han(run: str) -> list[str]:
    """Chinese words of a run of Han characters, in jieba's search mode.

    Search mode also emits the dictionary words inside longer words (连衣裙 -> 连衣,
    衣裙, 连衣裙), which keeps matches working when the query and the title were cut
    at different places.
    """
    global _jieba_ready
    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                # jieba logs its dictionary loading at INFO; nobody asked for that.
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_ready = True
    return jieba.lcut_for_search(run)


class Tokenizer:
    """Lowercased, NFKC-normalised, stemmed tokens for English and Chinese text.

    Never raises on odd input: anything that is not a letter, digit or Han character
    (emoji, control characters, punctuation) only separates tokens.
    """

    def __init__(
        self,
        *,
        stem: bool = True,
        stopwords: Collection[str] | None = None,
        max_token_length: int = 64,
    ) -> None:
        self.stem = stem
        self.stopwords = stopwords
        self.max_token_length = max_token_length
        self._stop = DEFAULT_STOPWORDS if stopwords is None else frozenset(w.casefold() for w in stopwords)
        self._local = threading.local()
        self._word_tokens: dict[str, str] = {}

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, so a saved index rebuilds the same tokenizer."""
        return {
            "stem": self.stem,
            "stopwords": None if self.stopwords is None else sorted(self.stopwords),
            "max_token_length": self.max_token_length,
        }

    def tokenize(self, text: str) -> list[str]:
        """Tokens of `text` in order; repeated words repeat (term frequency matters)."""
        tokens: list[str] = []
        self._analyze(text, tokens, None)
        return tokens

    def tokenize_batch(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokenize(text) for text in texts]

    def analyze(self, text: str) -> list[tuple[str, str]]:
        """``(token, word as written)`` pairs, e.g. ``("dress", "dresses")``, so an
        explanation can quote the shopper's words rather than stems."""
        tokens: list[str] = []
        surfaces: list[str] = []
        self._analyze(text, tokens, surfaces)
        return list(zip(tokens, surfaces, strict=True))

    def _analyze(self, text: str, tokens: list[str], surfaces: list[str] | None) -> None:
        # The hot loop of indexing: plain words take one dict lookup (see _word_token).
        if text is None:
            return
        if not isinstance(text, str):
            text = str(text)
        try:
            text = unicodedata.normalize("NFKC", text).casefold()
        except (ValueError, UnicodeError):
            return
        if "'" in text or "\u2019" in text or "\u02bc" in text:
            text = _APOSTROPHE.sub("", text)
        if "," in text:
            text = _THOUSANDS.sub("", text)
        cache = self._word_tokens
        for han, group in _TOKEN.findall(text):
            if han:
                for word in _segment_han(han):
                    word = word.strip()
                    if word and word not in self._stop:
                        tokens.append(word[: self.max_token_length])
                        if surfaces is not None:
                            surfaces.append(word)
                continue
            if group.isalnum():
                token = cache.get(group)
                if token is None:
                    token = self._word_token(group)
                if token:
                    tokens.append(token)
                    if surfaces is not None:
                        surfaces.append(group)
                continue
            parts = _GROUP_WORD.findall(group)
            words = ["".join(parts), *parts] if len(parts) > 1 else parts
            for i, word in enumerate(words):
                token = cache.get(word)
                if token is None:
                    token = self._word_token(word)
                if token:
                    tokens.append(token)
                    if surfaces is not None:
                        surfaces.append(group if i == 0 and len(parts) > 1 else word)

    def token_of(self, word: str) -> str:
        """The token of one lowercase word, without remembering it (for spelling candidates)."""
        cached = self._word_tokens.get(word)
        if cached is not None:
            return cached
        if word in self._stop:
            return ""
        token = self._stem(word) if self.stem and word.isalpha() else word
        return token[: self.max_token_length]

    def _word_token(self, word: str) -> str:
        """The token of one word ("" for a stopword), remembered for the next time."""
        if word in self._stop:
            token = ""
        else:
            token = self._stem(word) if self.stem and word.isalpha() else word
            token = token[: self.max_token_length]
        if len(self._word_tokens) > 500_000:
            self._word_tokens.clear()
        self._word_tokens[word] = token
        return token

    def _stem(self, word: str) -> str:
        # PyStemmer objects are not safe to share between threads, and the index may be
        # rebuilt in a background thread while requests are tokenised.
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer("english")
        return stemmer.stemWord(word)

    def __repr__(self) -> str:
        return f"Tokenizer(stem={self.stem}, max_token_length={self.max_token_length})"


__all__ = ["DEFAULT_STOPWORDS", "Tokenizer"]
