"""A search request as one typed object, built once at the edge (the HTTP query string,
the CLI options, a Python call) and passed down as it is: filters are a
:class:`~cartwise.search.filters.SearchFilters`, never strings read back further in."""

from __future__ import annotations

from dataclasses import dataclass

from cartwise.errors import ValidationError
from cartwise.limits import MAX_K, MAX_OFFSET, MAX_QUERY_LENGTH
from cartwise.search.filters import SearchFilters
from cartwise.search.hybrid import MODES


def check_page(k: int, *, offset: int = 0) -> None:
    """Refuse a page size or offset out of :mod:`cartwise.limits`."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be an integer from 1 to {MAX_K}, got {k!r}", field="k")
    if not isinstance(offset, int) or offset < 0 or offset > MAX_OFFSET:
        raise ValidationError(f"offset must be an integer from 0 to {MAX_OFFSET}, got {offset!r}", field="offset")


def clean_text(text: str) -> str:
    """Typed text with control characters as spaces and runs of space collapsed."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


@dataclass(frozen=True)
class SearchRequest:
    """One search page asked for, checked against the limits; `query` is kept cleaned
    (control characters as spaces, runs of space collapsed).

    mode: "hybrid" (BM25 and semantic, fused), "lexical" or "semantic".
    understand: read prices, brands, categories, colours and sizes out of the query.
    fallback: when nothing matches, relax filters and then search by meaning only.
    facets: count categories, brands, price buckets and stock over every match.
    An empty query with filters lists the filtered items by popularity (browsing).
    """

    query: str = ""
    k: int = 10
    offset: int = 0
    filters: SearchFilters | None = None
    mode: str = "hybrid"
    understand: bool = True
    fallback: bool = True
    facets: bool = True

    def __post_init__(self) -> None:
        check_page(self.k, offset=self.offset)
        if not isinstance(self.query, str):
            raise ValidationError("query must be text", field="q")
        if self.mode not in MODES:
            raise ValidationError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}", field="mode")
        if len(self.query) > MAX_QUERY_LENGTH:
            raise ValidationError(
                f"query is {len(self.query)} characters long; the limit is {MAX_QUERY_LENGTH}", field="q"
            )
        if self.filters is not None and not isinstance(self.filters, SearchFilters):
            raise ValidationError(
                "filters must be a SearchFilters (read 'price<=20' strings with parse_filters at the edge)",
                field="filter",
            )
        object.__setattr__(self, "query", clean_text(self.query))


__all__ = ["SearchRequest", "check_page", "clean_text"]
