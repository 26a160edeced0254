"""The search side of one catalog version: its hybrid searcher and what the query says.

:class:`CatalogSearch` reads prices, brands, categories, colours and sizes out of a query
(:mod:`cartwise.search.understand`), turning prices into filters (converted to the
catalog's currency) and the rest into a boost per item, each reported as a chip. The
page itself (retrieval, fusion, relaxing what matched nothing) is built by the search
stages of :mod:`cartwise.serving`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from cartwise.search.crosslingual import QueryTranslator, translate_parsed
from cartwise.search.currency import ExchangeRates
from cartwise.search.filters import SearchFilters
from cartwise.search.hybrid import HybridSearcher
from cartwise.search.understand import Chip, ParsedQuery, QueryUnderstanding


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

    def boost(self, parsed: ParsedQuery | None) -> NDArray[np.float32] | None:
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


__all__ = ["CatalogSearch"]
