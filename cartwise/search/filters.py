"""Structured filters on search results: category, brand, price range and stock.

:class:`SearchFilters` is what a shopper asked for; :func:`parse_filters` reads it from
the ``field=value`` strings typed into the CLI and the HTTP API's ``filter=`` (once, at the
edge: typed fields such as ``price_min=`` are built into filters directly and combined with
:func:`combine_filters`); :class:`FilterColumns` holds the
indexed items' filterable columns as numpy arrays, so a filter becomes a few vectorised
comparisons per query instead of a loop over items.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from cartwise.catalog.item import category_levels, normalise_category
from cartwise.errors import ValidationError

FIELDS = ("category", "brand", "price", "in_stock")
EXAMPLES = "category=Home > Kitchen, brand=Acme, brand=Acme,Other, price<=20, price>=5, price=5..20, in_stock=true"
_EXPRESSION = re.compile(r"^\s*(?P<field>[A-Za-z_][\w-]*)\s*(?P<op><=|>=|=|<|>|:)\s*(?P<value>.*?)\s*$", re.DOTALL)
_FIELD_ALIASES = {"category": "category", "brand": "brand", "brands": "brand", "price": "price",
                  "in_stock": "in_stock", "instock": "in_stock", "in-stock": "in_stock", "stock": "in_stock"}
_TRUE = {"true", "yes", "1", "y", "t", "on"}
_FALSE = {"false", "no", "0", "n", "f", "off"}


@dataclass(frozen=True)
class SearchFilters:
    """Conditions every result must meet; the default (all None/empty) lets everything through.

    ``category`` matches the item's category path or any of its prefixes, ignoring case;
    ``brands`` is a set of allowed brands (any one matches, ignoring case); price bounds
    are inclusive and exclude items without a price.
    """

    category: str | None = None
    brands: tuple[str, ...] = field(default=())
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool | None = None

    def __post_init__(self) -> None:
        brands = self.brands
        if isinstance(brands, str):
            brands = (brands,)
        brands = tuple(b.strip() for b in (brands or ()) if isinstance(b, str) and b.strip())
        object.__setattr__(self, "brands", brands)
        if self.category is not None and not isinstance(self.category, str):
            raise ValidationError(
                f"category must be text such as 'Home > Kitchen', got {self.category!r}", field="category"
            )
        category = normalise_category(self.category) if self.category is not None else None
        object.__setattr__(self, "category", category)
        for name in ("price_min", "price_max"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValidationError(f"{name} must be a finite number such as 20, got {value!r}", field="price")
            object.__setattr__(self, name, float(value))
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValidationError(
                f"price range is empty: minimum {self.price_min:g} is above maximum {self.price_max:g}; "
                "e.g. 'price=5..20'",
                field="price",
            )

    @property
    def is_empty(self) -> bool:
        return self == SearchFilters()

    def mask(self, columns: FilterColumns) -> np.ndarray:
        """Boolean array over the indexed items: True where the item passes every condition."""
        return columns.mask(self)


def parse_filters(expressions: Sequence[str]) -> SearchFilters:
    """Read ``field=value`` expressions (see :data:`EXAMPLES`) into one :class:`SearchFilters`.

    Several expressions combine with AND; several brands (``brand=A,B`` or repeated
    ``brand=``) combine with OR, as a shop's brand checkboxes do.
    """
    if isinstance(expressions, str):
        expressions = [expressions]
    category: str | None = None
    brands: list[str] = []
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool | None = None
    for expression in expressions:
        if not isinstance(expression, str):
            raise ValidationError(
                f"a filter must be text such as 'brand=Acme', got {expression!r}", field="filter", hint=EXAMPLES
            )
        match = _EXPRESSION.match(expression)
        if match is None:
            raise ValidationError(
                f"cannot read filter {expression!r}: expected field, operator and value such as 'brand=Acme'",
                field="filter",
                hint=f"valid filters: {EXAMPLES}",
            )
        raw_field, op, value = match["field"], match["op"], match["value"]
        name = _FIELD_ALIASES.get(raw_field.lower())
        if name is None:
            raise ValidationError(
                f"unknown filter field {raw_field!r} in {expression!r}; use one of {', '.join(FIELDS)}, "
                "e.g. 'brand=Acme'",
                field=raw_field,
                hint=f"valid filters: {EXAMPLES}",
            )
        if op == ":":
            op = "="
        if name != "price" and op != "=":
            raise ValidationError(
                f"filter {name} only takes '=', got {op!r} in {expression!r}; e.g. '{_example(name)}'",
                field=name,
            )
        if not value:
            raise ValidationError(f"filter {expression!r} has no value; e.g. '{_example(name)}'", field=name)
        if name == "category":
            if not normalise_category(value):
                raise ValidationError(
                    f"category filter {expression!r} names no category; e.g. '{_example(name)}'", field=name
                )
            if category is not None and normalise_category(value).casefold() != category.casefold():
                raise ValidationError(
                    f"two different category filters ({category!r} and {value!r}); an item has one category "
                    "path, so give one, e.g. 'category=Home'",
                    field=name,
                    hint="give the common prefix instead, e.g. 'category=Home'",
                )
            category = normalise_category(value)
        elif name == "brand":
            given = [b.strip() for b in value.split(",") if b.strip()]
            if not given:
                raise ValidationError(f"filter {expression!r} names no brand; e.g. 'brand=Acme,Other'", field=name)
            brands.extend(b for b in given if b.casefold() not in {x.casefold() for x in brands})
        elif name == "in_stock":
            flag = value.lower()
            if flag not in _TRUE | _FALSE:
                raise ValidationError(
                    f"in_stock must be true or false, got {value!r}; e.g. 'in_stock=true'", field=name
                )
            if in_stock is not None and in_stock != (flag in _TRUE):
                raise ValidationError(
                    "in_stock is given both as true and as false; give one, e.g. 'in_stock=true'", field=name
                )
            in_stock = flag in _TRUE
        else:
            low, high = _price_bounds(op, value, expression)
            if low is not None:
                price_min = low if price_min is None else max(price_min, low)
            if high is not None:
                price_max = high if price_max is None else min(price_max, high)
    return SearchFilters(
        category=category, brands=tuple(brands), price_min=price_min, price_max=price_max, in_stock=in_stock
    )


def combine_filters(first: SearchFilters, second: SearchFilters) -> SearchFilters:
    """Both sets of conditions at once, as :func:`parse_filters` combines expressions: the
    brands of both (any one matches), the tighter price bounds; two different categories,
    or in_stock both true and false, are refused."""
    category = first.category
    if second.category is not None:
        if category is not None and second.category.casefold() != category.casefold():
            raise ValidationError(
                f"two different category filters ({category!r} and {second.category!r}); an item has one category "
                "path, so give one, e.g. 'category=Home'",
                field="category",
                hint="give the common prefix instead, e.g. 'category=Home'",
            )
        category = second.category
    brands = list(first.brands)
    brands.extend(b for b in second.brands if b.casefold() not in {x.casefold() for x in brands})
    if first.in_stock is not None and second.in_stock is not None and first.in_stock != second.in_stock:
        raise ValidationError(
            "in_stock is given both as true and as false; give one, e.g. 'in_stock=true'", field="in_stock"
        )
    in_stock = first.in_stock if second.in_stock is None else second.in_stock
    lows = [v for v in (first.price_min, second.price_min) if v is not None]
    highs = [v for v in (first.price_max, second.price_max) if v is not None]
    return SearchFilters(
        category=category, brands=tuple(brands), price_min=max(lows) if lows else None,
        price_max=min(highs) if highs else None, in_stock=in_stock,
    )


def describe_filters(filters: SearchFilters | None) -> dict[str, Any]:
    """The conditions in force, as the answers' ``filters`` field: only those set, brands as a list."""
    if filters is None:
        return {}
    described: dict[str, Any] = {}
    for name in ("category", "brands", "price_min", "price_max", "in_stock"):
        value = getattr(filters, name, None)
        if value not in (None, (), []):
            described[name] = list(value) if isinstance(value, tuple) else value
    return described


def filter_expressions(filters: SearchFilters | None) -> str:
    """The same conditions in words a shopper can read back (and :func:`parse_filters` reads):
    ``"category=Home, brand=Acme,Other, price>=5, price<=20, in_stock=true"``."""
    parts = []
    for name, value in describe_filters(filters).items():
        if name == "category" and value:
            parts.append(f"category={value}")
        elif name == "brands":
            parts.append(f"brand={','.join(value)}")
        elif name in ("price_min", "price_max"):
            parts.append(f"price{'>=' if name == 'price_min' else '<='}{value:g}")
        elif name == "in_stock":
            parts.append(f"in_stock={str(value).lower()}")
    return ", ".join(parts)


def _example(name: str) -> str:
    return {"category": "category=Home > Kitchen", "brand": "brand=Acme", "price": "price=5..20",
            "in_stock": "in_stock=true"}[name]


def _price_bounds(op: str, value: str, expression: str) -> tuple[float | None, float | None]:
    if op in ("<", ">"):
        inclusive = "<=" if op == "<" else ">="
        raise ValidationError(
            f"price bounds are inclusive: write 'price{inclusive}{value}' instead of {expression!r}", field="price"
        )
    if op == "=" and ".." in value:
        low_text, _, high_text = value.partition("..")
        low = _price(low_text, expression) if low_text.strip() else None
        high = _price(high_text, expression) if high_text.strip() else None
        if low is None and high is None:
            raise ValidationError(f"price range {expression!r} has no bounds; e.g. 'price=5..20'", field="price")
        if low is not None and high is not None and low > high:
            raise ValidationError(
                f"price range {expression!r} is empty: {low:g} is above {high:g}; e.g. 'price=5..20'", field="price"
            )
        return low, high
    amount = _price(value, expression)
    if op == "<=":
        return None, amount
    if op == ">=":
        return amount, None
    return amount, amount


def _price(text: str, expression: str) -> float:
    cleaned = text.strip().lstrip("$€£¥").strip()
    try:
        amount = float(cleaned)
    except ValueError:
        amount = math.nan
    if not math.isfinite(amount) or amount < 0:
        raise ValidationError(
            f"price in {expression!r} must be a non-negative number, got {text.strip()!r}; e.g. 'price<=20'",
            field="price",
        )
    return amount


class FilterColumns:
    """The filterable columns of the indexed items, aligned with the index rows.

    Categories and brands are stored as integer codes into small tables of distinct
    values, so a filter looks up the few allowed codes once and then compares arrays.
    """

    def __init__(
        self,
        *,
        categories: list[str],
        category_codes: np.ndarray,
        brands: list[str],
        brand_codes: np.ndarray,
        prices: np.ndarray,
        in_stock: np.ndarray,
    ) -> None:
        self.categories = categories
        self.category_codes = category_codes
        self.brands = brands
        self.brand_codes = brand_codes
        self.prices = prices
        self.in_stock = in_stock
        # lowercased prefix -> codes of every category path under it
        self._prefix_codes: dict[str, list[int]] = {}
        for code, path in enumerate(categories):
            for level in category_levels(path):
                self._prefix_codes.setdefault(level.casefold(), []).append(code)
        self._brand_code = {brand: code for code, brand in enumerate(brands)}

    @classmethod
    def from_items(cls, items: pl.DataFrame) -> FilterColumns:
        """Code the columns of an items frame (see ``ITEM_SCHEMA``); code -1 means missing."""
        category_codes, categories = _codes(items.get_column("category").to_list(), normalise_category)
        brand_codes, brands = _codes(items.get_column("brand").to_list(), _normalise_brand)
        prices = items.get_column("price").cast(pl.Float64).fill_nan(None).fill_null(np.nan).to_numpy()
        # A missing stock flag means in stock, as it does for an Item without `in_stock`.
        in_stock = items.get_column("in_stock").fill_null(True).to_numpy().astype(bool)
        return cls(
            categories=categories,
            category_codes=category_codes,
            brands=brands,
            brand_codes=brand_codes,
            prices=np.ascontiguousarray(prices, dtype=np.float64),
            in_stock=in_stock,
        )

    def __len__(self) -> int:
        return int(self.prices.shape[0])

    def mask(self, filters: SearchFilters | None) -> np.ndarray:
        passing = np.ones(len(self), dtype=bool)
        if filters is None:
            return passing
        if filters.category is not None:
            allowed = np.zeros(len(self.categories) + 1, dtype=bool)  # last slot: code -1 (no category)
            allowed[self._prefix_codes.get(filters.category.casefold(), [])] = True
            passing &= allowed[self.category_codes]
        if filters.brands:
            allowed = np.zeros(len(self.brands) + 1, dtype=bool)
            codes = [self._brand_code.get(_normalise_brand(b)) for b in filters.brands]
            allowed[[c for c in codes if c is not None]] = True
            passing &= allowed[self.brand_codes]
        # Comparisons with NaN are False, which is what drops items without a price.
        with np.errstate(invalid="ignore"):
            if filters.price_min is not None:
                passing &= self.prices >= filters.price_min
            if filters.price_max is not None:
                passing &= self.prices <= filters.price_max
        if filters.in_stock is not None:
            passing &= self.in_stock == filters.in_stock
        return passing

    def appended(self, items: pl.DataFrame) -> FilterColumns:
        """These columns with `items`' rows after them (a new object; new categories and
        brands join the end of their tables, so existing codes stay valid)."""
        categories, brands = list(self.categories), list(self.brands)
        category_codes = _codes_in(items.get_column("category").to_list(), normalise_category, categories)
        brand_codes = _codes_in(items.get_column("brand").to_list(), _normalise_brand, brands)
        more = FilterColumns.from_items(items)
        return FilterColumns(
            categories=categories,
            category_codes=np.concatenate([self.category_codes, category_codes]).astype(np.int32),
            brands=brands,
            brand_codes=np.concatenate([self.brand_codes, brand_codes]).astype(np.int32),
            prices=np.concatenate([self.prices, more.prices]),
            in_stock=np.concatenate([self.in_stock, more.in_stock]),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`from_arrays` needs, as plain (pickle-free) numpy arrays."""
        return {
            "categories": np.array(self.categories, dtype=np.str_),
            "category_codes": self.category_codes,
            "brands": np.array(self.brands, dtype=np.str_),
            "brand_codes": self.brand_codes,
            "prices": self.prices,
            "in_stock": self.in_stock,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> FilterColumns:
        return cls(
            categories=[str(c) for c in arrays["categories"]],
            category_codes=np.asarray(arrays["category_codes"], dtype=np.int32),
            brands=[str(b) for b in arrays["brands"]],
            brand_codes=np.asarray(arrays["brand_codes"], dtype=np.int32),
            prices=np.asarray(arrays["prices"], dtype=np.float64),
            in_stock=np.asarray(arrays["in_stock"], dtype=bool),
        )


def _normalise_brand(brand: str | None) -> str | None:
    return (brand.strip().casefold() or None) if brand else None


def _codes_in(values: list[str | None], normalise: Callable[[str | None], str | None], table: list[str]) -> np.ndarray:
    """Codes of `values` in `table`, appending the values it lacks to it; -1 for missing ones."""
    lookup = {value: code for code, value in enumerate(table)}
    out = np.empty(len(values), dtype=np.int32)
    for n, value in enumerate(values):
        norm = normalise(value)
        if norm is None:
            out[n] = -1
            continue
        if norm not in lookup:
            lookup[norm] = len(table)
            table.append(norm)
        out[n] = lookup[norm]
    return out


def _codes(values: list[str | None], normalise: Callable[[str | None], str | None]) -> tuple[np.ndarray, list[str]]:
    """Integer codes into the sorted distinct normalised values; -1 for missing ones."""
    normalised = {value: normalise(value) for value in set(values)}
    distinct = sorted({v for v in normalised.values() if v is not None})
    lookup = {value: code for code, value in enumerate(distinct)}
    code_of = {value: -1 if norm is None else lookup[norm] for value, norm in normalised.items()}
    codes = np.fromiter((code_of[value] for value in values), dtype=np.int32, count=len(values))
    return codes, distinct


__all__ = [
    "EXAMPLES",
    "FilterColumns",
    "SearchFilters",
    "combine_filters",
    "describe_filters",
    "filter_expressions",
    "parse_filters",
]
