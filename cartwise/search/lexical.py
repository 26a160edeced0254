"""BM25 keyword search over the catalog, with filters and instant deletes.

bm25s precomputes every (token, item) BM25 weight at fit time, so a query is a sum
over a few sparse columns followed by numpy masking and a partial sort. Fields are
weighted by repeating their tokens (a title word counts as three occurrences), the
usual way to boost fields in single-field BM25.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import bm25s
import numpy as np
import polars as pl
import scipy.sparse as sp

from cartwise.errors import ModelMismatch, NotTrained, ValidationError
from cartwise.search.filters import FilterColumns, SearchFilters
from cartwise.search.identifiers import code_similarity, extract_codes
from cartwise.search.tokenize import ENGLISH_STOPWORDS, Tokenizer
from cartwise.search.understand import canonical_colour, canonical_size
from cartwise.search.vocabulary import is_common_word
from cartwise.store.frames import ITEM_SCHEMA, conform

FORMAT_VERSION = 1
_PARAMS_FILE = "lexical.json"
_ARRAYS_FILE = "lexical.npz"
_BM25_DIR = "bm25s"
_TEXT_FIELDS = ("title", "brand", "category", "attributes", "description")
# A query of at most this many words with no function word ("red heart lantern", not
# "something to keep warm in winter") is read as a noun phrase whose last noun is the head.
_MAX_PHRASE_WORDS = 5
# Endings that make a catalog word from a query word: "warm" finds "warmer", "knit" "knitting".
_DERIVING_SUFFIXES = ("er", "ers", "ing", "ed", "y")
# A query's last noun counts as its head only if at least this share of the catalog titles
# holding it end with it ("lantern", "mug", "holder": yes; "hot", "water", "red": no).
_MIN_HEAD_SHARE = 0.1
# A word of a query that may be an item id: letters, digits and the joiners ids use.
_ID_WORD = re.compile(r"[^\s,;:#()\[\]\"']+")
# Words that announce an id, so a bare number after them is read as one.
_ID_CUES = frozenset({"item", "sku", "code", "id", "no", "nr", "art", "article", "ref", "product", "stockcode",
                      "货号", "编号", "型号", "商品"})


@dataclass(frozen=True)
class SearchHit:
    """One search result.

    `matched_terms` are the query's words (lowercased, as typed: "dresses", not the
    stem "dress") whose tokens the item contains, for explanations and highlighting.
    """

    item_id: str
    score: float
    matched_terms: tuple[str, ...]


@dataclass(frozen=True)
class QueryScores:
    """One query scored against every indexed row, with what it matched on."""

    scores: np.ndarray
    tokens: tuple[str, ...]
    """Index tokens that scored (after typo correction)."""
    surfaces: dict[str, str]
    """token -> the query word it came from, as typed."""
    corrections: dict[str, str]
    """query word -> the catalog token it was corrected to."""


class LexicalIndex:
    """BM25 product search over title, brand, category, attributes and description."""

    def __init__(
        self,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        title_weight: int = 3,
        brand_weight: int = 2,
        category_weight: int = 2,
        attributes_weight: int = 1,
        description_weight: int = 1,
        max_description_chars: int | None = 2_000,
        head_weight: float = 1.0,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.title_weight = title_weight
        self.brand_weight = brand_weight
        self.category_weight = category_weight
        self.attributes_weight = attributes_weight
        self.description_weight = description_weight
        # Long descriptions are mostly boilerplate; past this length they only dilute
        # BM25's length normalisation and slow indexing.
        self.max_description_chars = max_description_chars
        # In a short product query the last noun names the product type ("lantern" in "red
        # heart lantern"); its BM25 score counts (1 + head_weight) times, so the words that
        # only describe it (colours, motifs) do not outvote it.
        self.head_weight = head_weight
        self.tokenizer = tokenizer

    def get_params(self) -> dict[str, Any]:
        return {
            "k1": self.k1,
            "b": self.b,
            "title_weight": self.title_weight,
            "brand_weight": self.brand_weight,
            "category_weight": self.category_weight,
            "attributes_weight": self.attributes_weight,
            "description_weight": self.description_weight,
            "max_description_chars": self.max_description_chars,
            "head_weight": self.head_weight,
        }

    # fitting ---------------------------------------------------------------------------

    def fit(self, items: pl.DataFrame) -> Self:
        """Index `items` (columns as in ``ITEM_SCHEMA``; only ``item_id`` is required)."""
        self._check_params()
        if not isinstance(items, pl.DataFrame):
            raise ValidationError(f"items must be a polars DataFrame, got {type(items).__name__}", field="items")
        if "item_id" not in items.columns:
            raise ValidationError("items have no 'item_id' column", field="item_id", hint="see ITEM_SCHEMA")
        items = conform(items, ITEM_SCHEMA).filter(pl.col("item_id").is_not_null())
        # The store keeps ids unique; for a frame that does not, the last row wins as in an upsert.
        items = items.unique(subset="item_id", keep="last", maintain_order=True)
        tokenizer = self.tokenizer if self.tokenizer is not None else Tokenizer()
        documents = [self._document_tokens(tokenizer, row) for row in items.select(_TEXT_FIELDS).iter_rows()]

        self.tokenizer_ = tokenizer
        self.item_ids_ = np.array(items.get_column("item_id").to_list(), dtype=np.str_)
        self.removed_ = np.zeros(len(self.item_ids_), dtype=bool)
        self.codes_ = [
            extract_codes(" ".join(filter(None, (title, _attribute_text(attributes), (description or "")[:200]))))
            for title, attributes, description in items.select("title", "attributes", "description").iter_rows()
        ]
        self.filter_columns_ = FilterColumns.from_items(items)
        self.head_share_ = _head_shares(tokenizer, items.get_column("title").to_list())
        self.content_ = content_hashes(items)
        self.avgdl_ = float(np.mean([len(d) for d in documents])) if documents else 0.0
        self.retriever_: bm25s.BM25 | None = None
        if any(documents):
            retriever = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            retriever.index(documents, show_progress=False)
            self.retriever_ = retriever
        self._build_lookups()
        return self

    def changed(self, items: pl.DataFrame) -> pl.DataFrame:
        """The rows of `items` (a whole catalog) that are new to this index or differ from
        what it indexed; empty when the index cannot tell (saved before it kept contents)."""
        self._check_fitted()
        items = conform(items, ITEM_SCHEMA)
        if getattr(self, "content_", None) is None:
            return items
        live = ~self.removed_
        indexed = pl.DataFrame({"item_id": self.item_ids_[live].astype(str), "_content": self.content_[live]})
        found = items.with_columns(pl.Series("_content", content_hashes(items)))
        return found.join(indexed, on=["item_id", "_content"], how="anti").drop("_content")

    def appended(self, items: pl.DataFrame) -> LexicalIndex:
        """A new index: this one plus `items` (new ones, and edited ones whose old row is
        hidden), leaving this one answering as it was. Only the given items are tokenised;
        their BM25 weights use this index's document frequencies and average length (a new
        word's from the given items), and the indexed items keep theirs: exactly a refit's
        weights while the catalog's statistics stand, close to them after a few edits, and
        brought back in line by the next `train` or full re-index. Costs one pass over the
        index's arrays (a copy), never a re-tokenisation of the catalog."""
        self._check_fitted()
        items = conform(items, ITEM_SCHEMA).filter(pl.col("item_id").is_not_null())
        items = items.unique(subset="item_id", keep="last", maintain_order=True)
        if items.is_empty():
            return self
        if self.retriever_ is None or getattr(self, "content_", None) is None:
            raise ValidationError("this index cannot be appended to (it was saved before it kept its statistics)",
                                  hint="re-index the catalog (`cartwise train`)")
        documents = [self._document_tokens(self.tokenizer_, row) for row in items.select(_TEXT_FIELDS).iter_rows()]
        new = copy.copy(self)
        ids = items.get_column("item_id").to_list()
        n_old, n_new = self.item_ids_.size, len(ids)
        # np.str_ arrays are fixed-width: concatenating widens them to the longest new id.
        new.item_ids_ = np.concatenate([self.item_ids_, np.array(ids, dtype=np.str_)])
        edited = [row for row in (self._row_of.get(i) for i in ids) if row is not None]
        removed = np.concatenate([self.removed_, np.zeros(n_new, dtype=bool)])
        removed[edited] = True
        new.removed_ = removed
        new.codes_ = [*self.codes_, *(
            extract_codes(" ".join(filter(None, (title, _attribute_text(attributes), (description or "")[:200]))))
            for title, attributes, description in items.select("title", "attributes", "description").iter_rows()
        )]
        new.filter_columns_ = self.filter_columns_.appended(items)
        new.content_ = np.concatenate([self.content_, content_hashes(items)])
        new.retriever_ = self._appended_retriever(documents, n_old)
        new._build_lookups()
        return new

    def _appended_retriever(self, documents: list[list[str]], n_old: int) -> bm25s.BM25:
        """A copy of the BM25 retriever with `documents` as rows ``n_old...`` (see :meth:`appended`)."""
        old = self.retriever_
        assert old is not None
        scores = old.scores
        indptr = np.asarray(scores["indptr"], dtype=np.int64)
        vocab = dict(old.vocab_dict)
        df = np.diff(indptr).astype(np.float64)
        n_docs = n_old + len(documents)
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        lengths: list[float] = []
        new_df: dict[int, int] = {}
        for offset, tokens in enumerate(documents):
            counts: dict[str, int] = {}
            for token in tokens:
                counts[token] = counts.get(token, 0) + 1
            for token, tf in counts.items():
                token_id = vocab.setdefault(token, len(vocab))
                if token_id >= df.size:
                    new_df[token_id] = new_df.get(token_id, 0) + 1
                rows.append(n_old + offset)
                cols.append(token_id)
                tfs.append(float(tf))
                lengths.append(float(len(tokens)))
        n_vocab = len(vocab)
        frequency = np.concatenate([df, np.zeros(n_vocab - df.size)])
        for token_id, count in new_df.items():
            frequency[token_id] = count
        col = np.asarray(cols, dtype=np.int64)
        tf = np.asarray(tfs)
        idf = np.log(1 + (n_docs - frequency[col] + 0.5) / (frequency[col] + 0.5)) if col.size else tf
        avgdl = self.avgdl_ or (float(np.mean([len(d) for d in documents])) if documents else 1.0)
        weights = idf * tf / (self.k1 * ((1 - self.b) + self.b * np.asarray(lengths) / max(avgdl, 1e-9)) + tf)
        dtype = np.asarray(scores["data"]).dtype
        before = sp.csc_matrix(
            (scores["data"], scores["indices"], indptr), shape=(n_old, indptr.size - 1)
        )
        before.resize((n_docs, n_vocab))
        added = sp.csc_matrix((weights.astype(dtype), (np.asarray(rows, dtype=np.int64), col)), shape=(n_docs, n_vocab))
        merged = (before + added).tocsc()
        merged.sort_indices()
        retriever = copy.copy(old)
        int_dtype = np.asarray(scores["indices"]).dtype
        retriever.scores = {
            "data": merged.data.astype(dtype), "indices": merged.indices.astype(int_dtype),
            "indptr": merged.indptr.astype(np.asarray(scores["indptr"]).dtype), "num_docs": n_docs,
        }
        retriever.vocab_dict = vocab
        retriever.unique_token_ids_set = set(vocab.values())
        return retriever

    def _check_params(self) -> None:
        for name in ("k1", "b"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValidationError(f"{name} must be a non-negative number, got {value!r}", field=name)
        if self.b > 1:
            raise ValidationError(f"b must be between 0 and 1, got {self.b!r}", field="b")
        if isinstance(self.head_weight, bool) or not isinstance(self.head_weight, (int, float)) or not (
            0 <= self.head_weight <= 10
        ):
            raise ValidationError(f"head_weight must be a number from 0 to 10, got {self.head_weight!r}",
                                  field="head_weight")
        for name in ("title_weight", "brand_weight", "category_weight", "attributes_weight", "description_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
                raise ValidationError(
                    f"{name} must be a whole number from 0 to 20 (it repeats the field's tokens), got {value!r}",
                    field=name,
                )

    def _document_tokens(self, tokenizer: Tokenizer, row: tuple[Any, ...]) -> list[str]:
        title, brand, category, attributes, description = row
        if description and self.max_description_chars is not None:
            description = description[: self.max_description_chars]
        tokens: list[str] = []
        for text, weight in (
            (title, self.title_weight),
            (brand, self.brand_weight),
            (category, self.category_weight),
            (_attribute_text(attributes), self.attributes_weight),
            (description, self.description_weight),
        ):
            if text and weight:
                tokens.extend(tokenizer.tokenize(text) * weight)
        return tokens

    def _build_lookups(self) -> None:
        self._row_of = {item_id: row for row, item_id in enumerate(self.item_ids_.tolist())}
        # Ids as a shopper types them: "85123a" is item 85123A.
        self._rows_of_id: dict[str, list[int]] = {}
        for row, item_id in enumerate(self.item_ids_.tolist()):
            self._rows_of_id.setdefault(item_id.casefold(), []).append(row)

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_ids_"):
            raise NotTrained("the search index has not been fitted", hint="call fit(items) or run `cartwise train`")

    # answering -------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        offset: int = 0,
        filters: SearchFilters | None = None,
        exclude: Collection[str] = (),
    ) -> list[SearchHit]:
        """The `k` best items for `query` after skipping `offset`, best first.

        Items are kept only if they contain at least one query token, pass `filters`,
        are not removed and not in `exclude`. Ties keep catalog order.
        """
        self._check_fitted()
        _check_page(k, offset)
        allowed = self._allowed(filters, exclude)
        return self._search_tokens(query, allowed, k=k, offset=offset)

    def search_batch(
        self, queries: Sequence[str], *, k: int = 10, filters: SearchFilters | None = None
    ) -> list[list[SearchHit]]:
        """:meth:`search` for many queries; the filter mask is built once for all of them."""
        self._check_fitted()
        _check_page(k, 0)
        allowed = self._allowed(filters, ())
        return [self._search_tokens(query, allowed, k=k, offset=0) for query in queries]

    def filter_ids(self, filters: SearchFilters | None = None) -> list[str]:
        """Ids of the live items that pass `filters`, in catalog order (browsing without a query)."""
        self._check_fitted()
        return self.item_ids_[self._allowed(filters, ())].tolist()

    def remove(self, item_ids: Collection[str]) -> None:
        """Hide items from every later answer at once; unknown ids are ignored."""
        self._check_fitted()
        rows = [row for row in (self._row_of.get(item_id) for item_id in item_ids) if row is not None]
        if not rows:
            return
        removed = self.removed_.copy()
        removed[rows] = True
        # Swapped in whole so a search running in another thread sees before or after, never half.
        self.removed_ = removed

    def __len__(self) -> int:
        """Number of searchable (fitted and not removed) items."""
        if not hasattr(self, "removed_"):
            return 0
        return int(self.removed_.size - np.count_nonzero(self.removed_))

    def _allowed(self, filters: SearchFilters | None, exclude: Collection[str]) -> np.ndarray:
        allowed = ~self.removed_
        if filters is not None and not filters.is_empty:
            allowed &= self.filter_columns_.mask(filters)
        if exclude:
            rows = [row for row in (self._row_of.get(item_id) for item_id in exclude) if row is not None]
            allowed[rows] = False
        return allowed

    def score(self, query: str, *, fuzzy: bool = True, keep: Collection[str] = ()) -> QueryScores:
        """BM25 scores of every indexed row for `query` (0 where nothing matches).

        With `fuzzy`, a word the catalog never uses is first looked for in the catalog's
        longer forms of it ("warm" matches "warmer"); failing that, a word that is not a
        common English word (nor in `keep`) is replaced by the catalog word one edit away
        (a deletion, insertion, substitution or swap) that most items contain, so
        "bluetoth speker" finds "bluetooth speaker" while "warm" never becomes "farm";
        words shorter than 4 letters and non-Latin words are left as typed. In a short
        noun-phrase query the head noun weighs more (see ``head_weight``). Rows are in
        :attr:`item_ids_` order.
        """
        self._check_fitted()
        scores = np.zeros(self.item_ids_.size, dtype=np.float32)
        retriever = self.retriever_
        if retriever is None:
            return QueryScores(scores=scores, tokens=(), surfaces={}, corrections={})
        vocab = retriever.vocab_dict
        # Unknown tokens cannot match anything; "" is bm25s's padding token, never a real one.
        # A repeated query word counts once: "usb usb cable" means "usb cable".
        surface_of: dict[str, str] = {}
        corrections: dict[str, str] = {}
        words: list[tuple[str, str]] = []  # (token searched, word as typed), query order
        for token, surface in self.tokenizer_.analyze(query):
            if not token:
                continue
            if token not in vocab and fuzzy:
                word = surface.casefold()
                derived = self._derived(word)
                if derived:
                    for form in derived:
                        surface_of.setdefault(form, surface)
                    words.append((derived[0], surface))
                    continue
                fixed = None if word in keep or is_common_word(word) else self._correct(word)
                if fixed is not None:
                    corrections[surface] = fixed
                    token = fixed
            if token in vocab:
                surface_of.setdefault(token, surface)
            words.append((token, surface))
        known = list(surface_of)
        if known:
            scores = np.asarray(retriever.get_scores(known), dtype=np.float32)
            head = self._head(query, words, corrections) if self.head_weight and len(known) > 1 else None
            if head is not None:
                scores = scores + np.float32(self.head_weight) * np.asarray(retriever.get_scores([head]), np.float32)
        return QueryScores(scores=scores, tokens=tuple(known), surfaces=surface_of, corrections=corrections)

    def _head(self, query: str, words: list[tuple[str, str]], corrected: Collection[str] = ()) -> str | None:
        """The token of the head noun of a short noun-phrase query: its last word that is
        not a colour, size or number (English puts the head last: "red heart *lantern*");
        None for a sentence, a long query (a pasted title, where every word is evidence),
        one with a number or code in it (measured on WDC Products: the code should lead),
        or one ending in Chinese."""
        if len(words) > _MAX_PHRASE_WORDS or any(w in ENGLISH_STOPWORDS for w in query.casefold().split()):
            return None
        if any(any(c.isdigit() for c in surface) for _, surface in words):
            return None  # a model number or a size says more than the type: leave BM25 as it is
        vocab = self.retriever_.vocab_dict if self.retriever_ is not None else {}
        for token, surface in reversed(words):
            if not surface.isascii() or surface in corrected:
                return None  # a guessed spelling is too uncertain to outweigh the rest
            if not _may_be_head(surface):
                continue
            # Only a word that names products in the catalog's own titles ("keep my tea
            # *hot*" ends in an adjective).
            share = self.head_share_.get(token, 0.0)
            return token if token in vocab and share >= _MIN_HEAD_SHARE else None
        return None

    def _derived(self, word: str) -> list[str]:
        """Catalog tokens of longer forms of `word` ("warm" -> "warmer"), most common first."""
        if len(word) < 3 or not word.isascii() or not word.isalpha():
            return []
        assert self.retriever_ is not None
        vocab = self.retriever_.vocab_dict
        indptr = self.retriever_.scores["indptr"]
        found = {self.tokenizer_.token_of(word + suffix) for suffix in _DERIVING_SUFFIXES}
        # Only forms that keep the word whole: stemming "candel" + "ed" gives "cand".
        found = {token for token in found if token in vocab and token.startswith(word) and token != word}
        return sorted(found, key=lambda t: (-int(indptr[vocab[t] + 1] - indptr[vocab[t]]), t))

    def id_rows(self, query: str) -> np.ndarray:
        """Rows of the items whose id is `query`, or else one of its words that looks like a
        code (a digit among at least 4 characters), compared case-insensitively: a stock
        code typed into the search box names its item."""
        self._check_fitted()
        key = query.strip().casefold()
        rows = list(self._rows_of_id.get(key, ()))
        if not rows:
            words = _ID_WORD.findall(key)
            # Among other words a bare number is more often a quantity or a year ("1000 piece
            # puzzle", "calendar 2024") than an id: it names an item only after a cue ("item
            # 22197", "sku 21733", "#21733"). A code of letters and digits ("85099b") needs none.
            cued = "#" in key or any(word.rstrip(".") in _ID_CUES for word in words)
            for word in words:
                if word != key and len(word) >= 4 and any(c.isdigit() for c in word) and (
                    cued or not word.isdigit()
                ):
                    rows.extend(self._rows_of_id.get(word, ()))
        return np.array(sorted(set(rows)), dtype=np.int64)

    def _correct(self, word: str) -> str | None:
        """The most frequent catalog token of a word one edit away from `word`, if any."""
        if len(word) < 4 or len(word) > 30 or not word.isascii() or not word.isalpha():
            return None
        assert self.retriever_ is not None
        vocab = self.retriever_.vocab_dict
        indptr = self.retriever_.scores["indptr"]
        best, best_df = None, 0
        for candidate in {self.tokenizer_.token_of(edit) for edit in _edits1(word)}:
            token_id = vocab.get(candidate)
            if token_id is not None and candidate:
                df = int(indptr[token_id + 1] - indptr[token_id])
                if df > best_df or (df == best_df and best is not None and candidate < best):
                    best, best_df = candidate, df
        return best

    def hits(self, rows: np.ndarray, scores: np.ndarray, query: QueryScores) -> list[SearchHit]:
        """Search hits for index `rows` (best first) with their `scores` and matched words."""
        if rows.size == 0:
            return []
        matched = (
            self._matched_terms(list(query.tokens), rows, query.surfaces)
            if query.tokens
            else [()] * int(rows.size)
        )
        return [
            SearchHit(item_id=str(self.item_ids_[row]), score=float(score), matched_terms=terms)
            for row, score, terms in zip(rows.tolist(), scores.tolist(), matched, strict=True)
        ]

    def rows_with(self, word: str) -> np.ndarray:
        """Boolean mask over the rows: items whose indexed text contains every token of `word`."""
        self._check_fitted()
        mask = np.zeros(self.item_ids_.size, dtype=bool)
        if self.retriever_ is None:
            return mask
        tokens = [token for token, _ in self.tokenizer_.analyze(word) if token]
        if not tokens or any(token not in self.retriever_.vocab_dict for token in tokens):
            return mask
        mask[:] = True
        for token in tokens:
            has = np.zeros(self.item_ids_.size, dtype=bool)
            has[self._posting(token)] = True
            mask &= has
        return mask

    def token_rows(self, token: str) -> np.ndarray:
        """Boolean mask over the rows: items whose indexed text holds the index token `token`."""
        self._check_fitted()
        mask = np.zeros(self.item_ids_.size, dtype=bool)
        if self.retriever_ is not None and token in self.retriever_.vocab_dict:
            mask[self._posting(token)] = True
        return mask

    def _posting(self, token: str) -> np.ndarray:
        """Rows of the items whose indexed text holds `token` (a token in the vocabulary)."""
        assert self.retriever_ is not None
        token_id = self.retriever_.vocab_dict[token]
        indptr = self.retriever_.scores["indptr"]
        return self.retriever_.scores["indices"][indptr[token_id] : indptr[token_id + 1]]

    def code_matches(self, query: str, rows: np.ndarray) -> np.ndarray:
        """How well the product codes in `query` match each row's codes (0 to 1; see
        :mod:`cartwise.search.identifiers`)."""
        self._check_fitted()
        wanted = extract_codes(query)
        out = np.zeros(rows.size, dtype=np.float64)
        if wanted:
            for i, row in enumerate(rows.tolist()):
                if self.codes_[row]:
                    out[i] = code_similarity(wanted, self.codes_[row])
        return out

    def row_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """Index rows of `item_ids` (-1 for ids not indexed)."""
        return np.fromiter((self._row_of.get(i, -1) for i in item_ids), dtype=np.int64, count=len(item_ids))

    def allowed(self, filters: SearchFilters | None = None, exclude: Collection[str] = ()) -> np.ndarray:
        """Boolean mask over the rows: live (not removed) items passing `filters`."""
        self._check_fitted()
        return self._allowed(filters, exclude)

    def _search_tokens(self, query: str, allowed: np.ndarray, *, k: int, offset: int) -> list[SearchHit]:
        scored = self.score(query, fuzzy=False)
        scores = scored.scores
        candidates = np.flatnonzero((scores > 0) & allowed)
        need = offset + k
        if candidates.size > need:
            # Keep everything tied with the need-th score so pages never disagree on ties.
            threshold = np.partition(scores[candidates], candidates.size - need)[candidates.size - need]
            candidates = candidates[scores[candidates] >= threshold]
        ranked = candidates[np.lexsort((candidates, -scores[candidates]))][offset:need]
        return self.hits(ranked, scores[ranked], scored)

    def _matched_terms(
        self, tokens: list[str], rows: np.ndarray, surface_of: dict[str, str]
    ) -> list[tuple[str, ...]]:
        """For each row, the query words (as typed) whose tokens it contains, read from
        the index's postings. Words inside a longer matched word are left out, so
        "wh-1000xm4" is not also explained as "wh", nor 连衣裙 as 连衣."""
        present = np.zeros((len(tokens), rows.size), dtype=bool)
        has_token = np.zeros(self.item_ids_.size, dtype=bool)
        for i, token in enumerate(tokens):
            posting = self._posting(token)
            has_token[posting] = True
            present[i] = has_token[rows]
            has_token[posting] = False
        matched = []
        for j in range(rows.size):
            words = list(dict.fromkeys(surface_of[t] for t, hit in zip(tokens, present[:, j], strict=True) if hit))
            matched.append(tuple(w for w in words if not any(w != other and w in other for other in words)))
        return matched

    # persistence -----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the index to `directory` (created if needed); the parameters file is
        written last, so a directory without it is an interrupted save."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.retriever_ is not None:
            staging = directory / f".{_BM25_DIR}-{uuid.uuid4().hex}"
            self.retriever_.save(staging, show_progress=False)
            final = directory / _BM25_DIR
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        arrays = {
            "item_ids": self.item_ids_,
            "removed": self.removed_,
            "codes": np.array([" ".join(codes) for codes in self.codes_], dtype=np.str_),
            "head_tokens": np.array(list(self.head_share_), dtype=np.str_),
            "head_share": np.array(list(self.head_share_.values()), dtype=np.float32),
            **({"content": self.content_, "avgdl": np.array([self.avgdl_])}
               if getattr(self, "content_", None) is not None else {}),
            **{f"filter_{name}": array for name, array in self.filter_columns_.arrays().items()},
        }
        _write_atomically(directory / _ARRAYS_FILE, lambda f: np.savez(f, **arrays))
        params = {
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "tokenizer": self.tokenizer_.get_params(),
            "n_items": int(self.item_ids_.size),
            "has_bm25": self.retriever_ is not None,
        }
        _write_atomically(directory / _PARAMS_FILE, lambda f: f.write(json.dumps(params, indent=2).encode()))

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by :meth:`save`; nothing is re-tokenised."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / _PARAMS_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise NotTrained(
                f"no readable search index in {directory}: {exc}", hint="run `cartwise train` to rebuild it"
            ) from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelMismatch(
                f"search index in {directory} has format {meta.get('format_version')}, this Cartwise reads "
                f"{FORMAT_VERSION}",
                hint="run `cartwise train` to rebuild it",
            )
        index = cls(**meta["params"], tokenizer=Tokenizer(**meta["tokenizer"]))
        with np.load(directory / _ARRAYS_FILE, allow_pickle=False) as arrays:
            index.item_ids_ = arrays["item_ids"]
            index.removed_ = arrays["removed"].astype(bool)
            index.codes_ = [tuple(str(c).split()) for c in arrays["codes"]] if "codes" in arrays.files else [
                () for _ in range(index.item_ids_.size)
            ]
            # An index saved before head shares were kept weighs every query word alike.
            index.head_share_ = (
                dict(zip(arrays["head_tokens"].tolist(), arrays["head_share"].tolist(), strict=True))
                if "head_tokens" in arrays.files else {}
            )
            # An index saved before it kept contents cannot be appended to (re-indexed whole).
            index.content_ = arrays["content"] if "content" in arrays.files else None
            index.avgdl_ = float(arrays["avgdl"][0]) if "avgdl" in arrays.files else 0.0
            index.filter_columns_ = FilterColumns.from_arrays(
                {name[len("filter_"):]: arrays[name] for name in arrays.files if name.startswith("filter_")}
            )
        index.tokenizer_ = index.tokenizer
        index.retriever_ = bm25s.BM25.load(directory / _BM25_DIR) if meta.get("has_bm25") else None
        if index.item_ids_.size != meta.get("n_items"):
            raise ModelMismatch(f"search index in {directory} is inconsistent", hint="run `cartwise train`")
        index._build_lookups()
        return index

    def __repr__(self) -> str:
        fitted = f", {len(self)} items" if hasattr(self, "item_ids_") else ""
        return f"LexicalIndex(k1={self.k1}, b={self.b}{fitted})"


def content_hashes(items: pl.DataFrame) -> np.ndarray:
    """A hash of each item's indexed content (every catalog field), to find edits."""
    return conform(items, ITEM_SCHEMA).select(list(ITEM_SCHEMA)).hash_rows(seed=0).to_numpy().astype(np.uint64)


def _check_page(k: int, offset: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}", field="k")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValidationError(f"offset must be a non-negative integer, got {offset!r}", field="offset")


def _attribute_text(raw: str | None) -> str:
    """Searchable text of an attributes JSON object: its values, plus the keys of text
    values and of true flags ("color: red" -> "color red", "waterproof: true" -> "waterproof").

    Text that is not valid JSON is indexed as it is rather than dropped.
    """
    if not raw:
        return ""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return raw
    words: list[str] = []
    _collect_attribute_words(value, None, words, depth=0)
    return " ".join(words)


def _collect_attribute_words(value: Any, key: str | None, words: list[str], *, depth: int) -> None:
    if depth > 10:
        return
    if isinstance(value, dict):
        for child_key, child in value.items():
            _collect_attribute_words(child, str(child_key), words, depth=depth + 1)
    elif isinstance(value, list):
        for child in value:
            _collect_attribute_words(child, key, words, depth=depth + 1)
    elif isinstance(value, bool):
        if value and key:
            words.append(key)
    elif isinstance(value, str):
        if key:
            words.append(key)
        words.append(value)
    elif isinstance(value, (int, float)):
        words.append(str(value))


def _may_be_head(word: str) -> bool:
    """Whether a word may name a product type: not a colour, size or number."""
    return word.isascii() and word.isalpha() and len(word) >= 3 and not canonical_colour(word) and not (
        canonical_size(word)
    )


def _head_shares(tokenizer: Tokenizer, titles: Sequence[str | None]) -> dict[str, float]:
    """For each token that ends some title (after trailing colours, sizes and numbers:
    "ALARM CLOCK RED" ends with "clock"), the share of the titles holding it that end with
    it, smoothed so a word seen once is not a sure head."""
    holding: dict[str, int] = {}
    ending: dict[str, int] = {}
    for title in titles:
        if not title:
            continue
        words = tokenizer.analyze(title)
        for token in {token for token, _ in words if token}:
            holding[token] = holding.get(token, 0) + 1
        head = next((token for token, surface in reversed(words) if token and _may_be_head(surface)), None)
        if head is not None:
            ending[head] = ending.get(head, 0) + 1
    return {token: count / (holding[token] + 2) for token, count in ending.items()}


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits1(word: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion from `word`."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = [a + b[1:] for a, b in splits if b]
    swaps = [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
    replaces = [a + c + b[1:] for a, b in splits if b for c in _LETTERS]
    inserts = [a + c + b for a, b in splits for c in _LETTERS]
    return set(deletes + swaps + replaces + inserts)


def _write_atomically(path: Path, write: Any) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "wb") as f:
        write(f)
    os.replace(temporary, path)


__all__ = ["LexicalIndex", "QueryScores", "SearchHit"]
