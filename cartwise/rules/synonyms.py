"""Synonyms and query rewrites for search, managed beside the rules (same file and API).

Two-way synonyms (``terms: [sneakers, trainers, 运动鞋]``) make a query naming any of them
search for all; a one-way synonym (``from: [tv], to: [television]``) makes a query naming
`from` search for `to` too, never the reverse. The words added are searched along with
the query (BM25 adds their scores), never in its place. A Latin term matches whole words,
a Chinese term any part of the query::

    synonyms:
      - {id: sneakers, terms: [sneakers, trainers, 运动鞋]}
      - {id: tv, from: [tv], to: [television]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cartwise.rules.document import Fields
from cartwise.rules.scope import normalise_query

MAX_SYNONYM_TERMS = 50


@dataclass(frozen=True)
class Synonym:
    synonym_id: str
    sources: tuple[str, ...]
    """The words that trigger it (every term of a two-way synonym)."""
    targets: tuple[str, ...]
    two_way: bool
    enabled: bool = True

    def describe(self) -> str:
        if self.two_way:
            return " = ".join(self.sources)
        return f"{' / '.join(self.sources)} -> {' / '.join(self.targets)}"


@dataclass(frozen=True)
class Rewrite:
    """A query with what synonyms added: (synonym id, the term found, the words added)."""

    text: str
    applied: tuple[tuple[str, str, tuple[str, ...]], ...]


class SynonymTable:
    """Every synonym of a rule set, compiled into one pattern over the query."""

    def __init__(self, synonyms: tuple[Synonym, ...]) -> None:
        self.synonyms = synonyms
        self._by_term: dict[str, list[Synonym]] = {}
        for synonym in synonyms:
            if not synonym.enabled:
                continue
            for term in synonym.sources:
                self._by_term.setdefault(term, []).append(synonym)
        terms = sorted(self._by_term, key=len, reverse=True)
        self._pattern = re.compile("|".join(_term_pattern(t) for t in terms)) if terms else None

    def __len__(self) -> int:
        return len(self.synonyms)

    def rewrite(self, query: str) -> Rewrite:
        """`query` with the synonyms of each term it names added (unchanged: none named)."""
        if self._pattern is None or not query:
            return Rewrite(query, ())
        folded = normalise_query(query)
        applied = []
        present = set(folded.split())
        added_all: list[str] = []
        for match in self._pattern.finditer(folded):
            term = match.group(0)
            for synonym in self._by_term.get(term, ()):
                words = tuple(w for w in synonym.targets if w != term and w not in present and w not in folded)
                if words:
                    applied.append((synonym.synonym_id, term, words))
                    added_all.extend(w for w in words if w not in added_all)
                    present.update(words)
        if not applied:
            return Rewrite(query, ())
        return Rewrite(query + " " + " ".join(added_all), tuple(applied))


def _term_pattern(term: str) -> str:
    escaped = re.escape(term)
    return rf"(?<!\w){escaped}(?!\w)" if term.isascii() else escaped


def read_synonym(fields: Fields) -> Synonym | None:
    if not fields.ok:
        return None
    before = len(fields.problems)
    synonym_id = fields.text("id", max_length=80)
    two_way = fields.has("terms")
    if two_way:
        terms = _terms(fields, "terms")
        if fields.has("from") or fields.has("to"):
            fields.problem(None, "give `terms` (two-way) or `from` and `to` (one-way), not both")
        if terms is not None and len(terms) < 2:
            fields.problem("terms", "a two-way synonym needs at least two terms")
        sources = targets = terms or ()
    else:
        sources = _terms(fields, "from") or ()
        targets = _terms(fields, "to") or ()
    fields.text("description", "", max_length=1000)
    enabled = fields.boolean("enabled", True)
    fields.finish()
    if len(fields.problems) > before:
        return None
    return Synonym(synonym_id=synonym_id, sources=tuple(sources), targets=tuple(targets), two_way=two_way,
                   enabled=bool(enabled))


def _terms(fields: Fields, key: str) -> tuple[str, ...] | None:
    raw = fields.strings(key, max_items=MAX_SYNONYM_TERMS)
    if raw is None:
        return None
    terms = tuple(dict.fromkeys(normalise_query(t) for t in raw if normalise_query(t)))
    return terms


__all__ = ["Rewrite", "Synonym", "SynonymTable", "read_synonym"]
