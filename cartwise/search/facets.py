"""Facet counts for a search page: categories, brands, price buckets and stock.

Counts are taken over every item matching the query under the current filters (not only
the page shown), with the filter columns the lexical index already holds as integer codes,
so counting is a few ``bincount`` calls.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from cartwise.search.filters import FilterColumns

MAX_VALUES = 20
# "Nice" price bucket edges; the buckets shown are those the matching prices fall into.
_EDGES = (0, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)


class FacetValue(BaseModel):
    value: str
    count: int


class PriceBucket(BaseModel):
    label: str
    min: float
    max: float | None = Field(description="exclusive upper bound; None for the open top bucket")
    count: int


class Facets(BaseModel):
    category: list[FacetValue] = Field(default_factory=list)
    brand: list[FacetValue] = Field(default_factory=list)
    price: list[PriceBucket] = Field(default_factory=list)
    in_stock: dict[str, int] = Field(default_factory=dict)


def count_facets(
    columns: FilterColumns, rows: NDArray[np.int64], *, brand_names: dict[str, str] | None = None
) -> Facets:
    """Facet counts over index `rows`; `brand_names` maps normalised brands to display names."""
    if rows.size == 0:
        return Facets()
    return Facets(
        category=_top(columns.category_codes[rows], columns.categories),
        brand=[
            FacetValue(value=(brand_names or {}).get(v.value, v.value), count=v.count)
            for v in _top(columns.brand_codes[rows], columns.brands)
        ],
        price=_price_buckets(columns.prices[rows]),
        in_stock={
            "true": int(np.count_nonzero(columns.in_stock[rows])),
            "false": int(rows.size - np.count_nonzero(columns.in_stock[rows])),
        },
    )


def _top(codes: NDArray[np.int32], names: list[str]) -> list[FacetValue]:
    present = codes[codes >= 0]
    if present.size == 0:
        return []
    counts = np.bincount(present, minlength=len(names))
    order = np.lexsort((np.arange(counts.size), -counts))[:MAX_VALUES]
    return [FacetValue(value=names[i], count=int(counts[i])) for i in order if counts[i] > 0]


def _price_buckets(prices: NDArray[np.float64]) -> list[PriceBucket]:
    prices = prices[np.isfinite(prices)]
    if prices.size == 0:
        return []
    edges = np.array(_EDGES, dtype=np.float64)
    which = np.searchsorted(edges, prices, side="right") - 1
    counts = np.bincount(which[which >= 0], minlength=edges.size)
    buckets = []
    for i in np.flatnonzero(counts):
        low = float(edges[i])
        high = float(edges[i + 1]) if i + 1 < edges.size else None
        label = f"{_money(low)}–{_money(high)}" if high is not None else f"{_money(low)}+"
        buckets.append(PriceBucket(label=label, min=low, max=high, count=int(counts[i])))
    return buckets


def _money(value: float) -> str:
    return f"{int(value):,}" if math.isfinite(value) and value == int(value) else f"{value:,.2f}"


__all__ = ["FacetValue", "Facets", "PriceBucket", "count_facets"]
