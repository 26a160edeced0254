"""One search page: query understanding, hybrid retrieval, facets and the zero-result fallback.

:class:`CatalogSearch` is what the engine calls per request. It reads prices, brands,
categories, colours and sizes out of the query (:mod:`cartwise.search.understand`), turns
prices into filters and the rest into boosts, runs the hybrid searcher, and when nothing
matches relaxes the query's own filters first, then the caller's, then falls back to
semantic search, saying at each step what it relaxed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cartwise.search.crosslingual import QueryTranslator, translate_parsed
from cartwise.search.currency import ExchangeRates
from cartwise.search.facets import Facets, count_facets
from cartwise.search.filters import SearchFilters, filter_expressions
from cartwise.search.hybrid import HybridHits, HybridSearcher
from cartwise.search.lexical import SearchHit
from cartwise.search.understand import Chip, ParsedQuery, QueryUnderstanding


@dataclass
class SearchOutcome:
    """Everything a search page shows, before item cards are attached."""

    text: str
    """The text that was searched (the query without its price phrases)."""
    hits: list[SearchHit]
    mode: str
    total: int
    filters: SearchFilters | None
    facets: Facets | None = None
    chips: list[Chip] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)
    lexical_scores: dict[str, float] = field(default_factory=dict)
    semantic_scores: dict[str, float] = field(default_factory=dict)


class CatalogSearch:
    """Search pages over one catalog version (see the module docstring)."""

    def __init__(
        self,
        *,
        searcher: HybridSearcher,
        understanding: QueryUnderstanding | None = None,
        brand_names: dict[str, str] | None = None,
        translator: QueryTranslator | None = None,
        currency: str | None = None,
        rates: ExchangeRates | None = None,
    ) -> None:
        self.searcher = searcher
        self.understanding = understanding
        self.brand_names = brand_names or {}
        # The catalog's prices are in `currency`; a price phrase in another one is converted
        # with `rates`, or left out (and said so) when no rate is configured.
        self.currency = currency.upper() if currency else None
        self.rates = rates or ExchangeRates()
        # Set for an English catalog: Chinese query words are searched in English.
        self.translator = translator

    @classmethod
    def for_catalog(
        cls,
        searcher: HybridSearcher,
        *,
        categories: Iterable[str],
        brands: Iterable[str],
        colours: Iterable[str] = (),
        sizes: Iterable[str] = (),
        currency: str | None = None,
        rates: ExchangeRates | None = None,
    ) -> CatalogSearch:
        brands = [b for b in brands if b]
        return cls(
            searcher=searcher,
            understanding=QueryUnderstanding(
                categories=[c for c in categories if c], brands=brands, colours=colours, sizes=sizes
            ),
            brand_names={b.strip().casefold(): b.strip() for b in brands},
            translator=QueryTranslator.for_index(searcher.lexical),
            currency=currency,
            rates=rates,
        )

    def parse(self, query: str) -> ParsedQuery | None:
        if self.understanding is None or not query:
            return None
        parsed = self.understanding.parse(query)
        if self.translator is not None:
            parsed = translate_parsed(parsed, self.translator, self.understanding)
        return parsed

    def answer(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        offset: int = 0,
        filters: SearchFilters | None = None,
        understand: bool = True,
        fallback: bool = True,
        facets: bool = True,
        parsed: ParsedQuery | None = None,
    ) -> SearchOutcome:
        """`parsed`: the query already read by :meth:`parse` (read here when None)."""
        if understand and parsed is None:
            parsed = self.parse(query)
        elif not understand:
            parsed = None
        text = parsed.text if parsed is not None else query
        query_filters, chips = self.understood_filters(parsed, filters)
        boost = self._boost(parsed)
        attempts: list[tuple[SearchFilters | None, str, str | None]] = [(query_filters, mode, None)]
        if fallback:
            if query_filters != filters:
                attempts.append((filters, mode, "ignored the price in your query"))
            if filters is not None and not filters.is_empty:
                attempts.append((None, mode, f"removed your filters ({filter_expressions(filters)})"))
            if mode == "lexical" and self.searcher.semantic:
                attempts.append((None, "semantic", "no product has these words: showing products close in meaning"))
        relaxed: list[str] = []
        first: HybridHits | None = None
        result: HybridHits | None = None
        used = query_filters
        for attempt_filters, attempt_mode, note in attempts:
            if note is not None:
                relaxed.append(note)
            used = attempt_filters
            result = self.searcher.search(
                text or query, mode=attempt_mode, k=k, offset=offset, filters=attempt_filters, boost=boost
            )
            first = first or result
            if result.hits or offset > 0:
                break
        assert result is not None and first is not None
        if not result.hits:
            # Nothing helped: report the query as asked, not the last thing tried.
            relaxed, result, used = [], first, query_filters
        return SearchOutcome(
            text=text,
            hits=result.hits,
            mode=result.mode,
            total=int(result.matching.size),
            filters=used,
            facets=count_facets(self.searcher.lexical.filter_columns_, result.matching, brand_names=self.brand_names)
            if facets
            else None,
            chips=chips,
            relaxed=relaxed,
            corrections=result.corrections,
            lexical_scores=result.lexical_scores,
            semantic_scores=result.semantic_scores,
        )

    def understood_filters(
        self, parsed: ParsedQuery | None, filters: SearchFilters | None
    ) -> tuple[SearchFilters | None, list[Chip]]:
        """The caller's filters plus the query's price range, and the chips to show (each
        saying in `applied` how it was used)."""
        if parsed is None:
            return filters, []
        base = filters or SearchFilters()
        explicit_price = base.price_min is not None or base.price_max is not None
        written, rate = parsed.price_currency, self._rate(parsed.price_currency)
        chips: list[Chip] = []
        for chip in parsed.chips:
            applied = "boost"
            if chip.kind == "price":
                if explicit_price:
                    applied = "ignored: a price filter was given"
                elif rate is None:
                    applied = f"not applied: prices are in {self.currency}; no {written} to {self.currency} rate is set"
                elif rate != 1.0:
                    applied = f"filter, converted to {self.currency} at {rate:g} per {written}"
                else:
                    applied = "filter"
            elif chip.kind == "translation":
                applied = "searched"
            chips.append(replace(chip, applied=applied))
        if explicit_price or rate is None or (parsed.price_min is None and parsed.price_max is None):
            return filters, chips
        low, high = _converted(parsed.price_min, rate), _converted(parsed.price_max, rate)
        if low is not None and high is not None and low > high:
            low, high = high, low
        return replace(base, price_min=low, price_max=high), chips

    def _rate(self, written: str | None) -> float | None:
        """How many catalog-currency units one unit of the query's currency is: 1 when the
        query gives no currency or the catalog's own (or the catalog has none), None when
        no exchange rate between them is configured."""
        if written is None or self.currency is None:
            return 1.0
        return self.rates.rate(written, self.currency)

    def _boost(self, parsed: ParsedQuery | None) -> NDArray[np.float32] | None:
        """Per index row, the share of the brands, categories, colours and sizes the query
        names that the item has (None when the query names none)."""
        if parsed is None:
            return None
        lexical = self.searcher.lexical
        columns = lexical.filter_columns_
        aspects: list[NDArray[np.bool_]] = []
        if parsed.brands:
            # The brand field or the item's text: many feeds leave the brand field empty.
            has_brand = columns.mask(SearchFilters(brands=parsed.brands))
            for brand in parsed.brands:
                has_brand |= lexical.rows_with(brand)
            aspects.append(has_brand)
        if parsed.categories:
            in_any = np.zeros(len(columns), dtype=bool)
            for category in parsed.categories[:3]:
                in_any |= columns.mask(SearchFilters(category=category))
            aspects.append(in_any)
        aspects.extend(lexical.rows_with(word) for word in (*parsed.colours, *parsed.sizes))
        if not aspects:
            return None
        return (np.sum(aspects, axis=0) / len(aspects)).astype(np.float32)


def _converted(amount: float | None, rate: float) -> float | None:
    return None if amount is None else (amount if rate == 1.0 else round(amount * rate, 2))


__all__ = ["CatalogSearch", "SearchOutcome"]
