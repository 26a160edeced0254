"""Where a rule applies: everywhere, or only in some answers (all given parts at once).

::

    scope:
      placements: [search, browse]      # search, browse, recommend, similar, bundle, alternatives
      query: {exact: [sale], contains: [sneaker], semantic: [summer outfits], threshold: 0.8}
      category: Home > Kitchen          # a category page: a search or browse filtered on it (or under it)
      segments: [new_visitor]           # see cartwise.rules.segments
      start: 2026-06-01T00:00:00Z       # a campaign's time window (either end may be left out)
      end: 2026-06-30T23:59:59Z

A query given as plain text (``query: sale``) is an exact match. Queries compare ignoring
case and repeated spaces; "contains" matches whole words in Latin text and any substring
in Chinese; "semantic" is the cosine of the query's and the phrase's text embeddings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cartwise.catalog.item import normalise_category
from cartwise.rules.document import Fields, Unreadable
from cartwise.rules.segments import segment_names

PLACEMENTS = ("search", "browse", "recommend", "similar", "bundle", "alternatives")
DEFAULT_THRESHOLD = 0.85


def normalise_query(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass(slots=True)
class AnswerContext:
    """What one answer is: the rules' scopes are tested against it."""

    placement: str
    query: str = ""
    """Normalised (:func:`normalise_query`); empty when the answer has no text."""
    category: str | None = None
    """The category page's path, casefolded (a search or browse filtered on a category)."""
    segments: frozenset[str] = frozenset()
    now_ms: int = 0
    similarity: Callable[[str], float | None] | None = None
    """The cosine of the query with a phrase (None: no text encoder, or no query)."""


@dataclass(frozen=True)
class Scope:
    """Where a rule applies (see the module docstring); empty: everywhere."""

    placements: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    semantic: tuple[str, ...] = ()
    threshold: float = DEFAULT_THRESHOLD
    categories: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    start_ms: int | None = None
    end_ms: int | None = None
    _patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    @property
    def everywhere(self) -> bool:
        return not (self.placements or self.has_query or self.categories or self.segments
                    or self.start_ms is not None or self.end_ms is not None)

    @property
    def has_query(self) -> bool:
        return bool(self.exact or self.contains or self.semantic)

    def in_time(self, now_ms: int) -> bool:
        return (self.start_ms is None or now_ms >= self.start_ms) and (self.end_ms is None or now_ms <= self.end_ms)

    def applies(self, context: AnswerContext) -> bool:
        if self.placements and context.placement not in self.placements:
            return False
        if not self.in_time(context.now_ms):
            return False
        if self.segments and not any(s in context.segments for s in self.segments):
            return False
        if self.categories:
            page = context.category
            if page is None or not any(page == c or page.startswith(c + " >") for c in self.categories):
                return False
        if self.has_query:
            return self.matches_query(context)
        return True

    def matches_query(self, context: AnswerContext) -> bool:
        query = context.query
        if not query:
            return False
        if query in self.exact:
            return True
        if any(pattern.search(query) for pattern in self._patterns):
            return True
        if self.semantic and context.similarity is not None:
            for phrase in self.semantic:
                cosine = context.similarity(phrase)
                if cosine is not None and cosine >= self.threshold:
                    return True
        return False

    def describe(self) -> str:
        parts = []
        if self.placements:
            parts.append("in " + "/".join(self.placements))
        if self.exact:
            parts.append("query is " + " or ".join(repr(q) for q in self.exact))
        if self.contains:
            parts.append("query contains " + " or ".join(repr(q) for q in self.contains))
        if self.semantic:
            parts.append("query means " + " or ".join(repr(q) for q in self.semantic))
        if self.categories:
            parts.append("category page " + " or ".join(self.categories))
        if self.segments:
            parts.append("shoppers " + "/".join(self.segments))
        if self.start_ms is not None or self.end_ms is not None:
            parts.append("from " + _when(self.start_ms) + " to " + _when(self.end_ms))
        return "; ".join(parts) or "everywhere"


def read_scope(fields: Fields | None) -> Scope:
    if fields is None or not fields.ok:
        return Scope()
    placements = fields.strings("placements", ())
    for n, placement in enumerate(placements or ()):
        if placement not in PLACEMENTS:
            fields.problem(f"placements[{n}]", f"unknown placement {placement!r}; use {', '.join(PLACEMENTS)}")
    exact, contains, semantic, threshold = (), (), (), DEFAULT_THRESHOLD
    if fields.has("query"):
        raw = fields.data["query"]
        if isinstance(raw, (str, list)):
            exact = fields.strings("query")
        else:
            query = fields.mapping("query", what="a query scope")
            if query is not None and query.ok:
                exact = query.strings("exact", ())
                contains = query.strings("contains", ())
                semantic = query.strings("semantic", ())
                threshold = query.number("threshold", DEFAULT_THRESHOLD, low=0.0, high=1.0)
                query.finish()
                if not (exact or contains or semantic):
                    query.problem(None, "give exact, contains or semantic queries")
    categories = []
    for value in fields.strings("category", ()) or ():
        path = normalise_category(value)
        if path is None:
            fields.problem("category", f"{value!r} names no category")
        else:
            categories.append(path.casefold())
    segments = fields.strings("segments", ()) or ()
    for n, segment in enumerate(segments):
        if segment not in segment_names():
            fields.problem(f"segments[{n}]", f"unknown segment {segment!r}; use {', '.join(segment_names())}")
    start = fields.read("start", lambda v, place: _time_ms(v, fields, "start"))
    end = fields.read("end", lambda v, place: _time_ms(v, fields, "end"))
    if start is not None and end is not None and end < start:
        fields.problem("end", "the campaign ends before it starts")
    fields.finish()
    exact_n = tuple(normalise_query(q) for q in exact or ())
    contains_n = tuple(normalise_query(q) for q in contains or ())
    return Scope(
        placements=tuple(placements or ()), exact=exact_n, contains=contains_n,
        semantic=tuple(semantic or ()), threshold=threshold if threshold is not None else DEFAULT_THRESHOLD,
        categories=tuple(categories), segments=tuple(segments), start_ms=start, end_ms=end,
        _patterns=tuple(_word_pattern(term) for term in contains_n),
    )


def _word_pattern(term: str) -> re.Pattern[str]:
    # Whole words in Latin text; Chinese has no spaces between words, so a substring.
    escaped = re.escape(term)
    if term.isascii():
        return re.compile(rf"(?<!\w){escaped}(?!\w)")
    return re.compile(escaped)


def _time_ms(value: Any, fields: Fields, key: str) -> int | None:
    if isinstance(value, Unreadable):
        return None  # reported where it was read
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            fields.problem(key, f"expected a date or time such as 2026-06-01T00:00:00Z, got {value!r}")
            return None
        return _time_ms(moment, fields, key)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value  # epoch milliseconds
    fields.problem(key, f"expected a date or time such as 2026-06-01T00:00:00Z, got {value!r}")
    return None


def _when(ms: int | None) -> str:
    if ms is None:
        return "(open)"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


__all__ = ["PLACEMENTS", "AnswerContext", "Scope", "normalise_query", "read_scope"]
