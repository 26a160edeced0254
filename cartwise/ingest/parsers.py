"""Text columns into typed columns, whole columns at a time.

Each parser gives the typed value (null where the text is missing or unusable); the
validation rules compare it with the text to tell "missing" from "unparseable".
Timestamps follow :func:`cartwise.events.event.parse_timestamp_ms`: the common ISO 8601
shapes and epoch numbers are parsed by polars, and only the few remaining distinct
strings go through that function one by one.
"""

from __future__ import annotations

import polars as pl

from cartwise.catalog.item import CATEGORY_SEPARATOR
from cartwise.events.event import (
    FUTURE_TOLERANCE_MS,
    MIN_TIMESTAMP_MS,
    parse_timestamp_ms,
)

_TRUE = ("true", "t", "yes", "y", "1", "1.0")
_FALSE = ("false", "f", "no", "n", "0", "0.0")
_BOOLEANS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}

# Tried in order on the strings the previous shapes did not match.
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_OFFSET_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")

TS_MISSING = "timestamp is missing"
TS_UNPARSEABLE = "timestamp is neither ISO 8601 nor epoch seconds/milliseconds"
TS_NOT_FINITE = "timestamp is not a finite number"
TS_TOO_EARLY = "timestamp is before 1990-01-01"
TS_FUTURE = "timestamp is in the future"


def text(name: str) -> pl.Expr:
    """The column with surrounding whitespace removed; empty text counts as missing."""
    stripped = pl.col(name).str.strip_chars()
    return pl.when(stripped.str.len_bytes() > 0).then(stripped).alias(name)


def number(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False)


# Currency marks a store's export may leave in a price column: "$9.99", "£1,299.00", "199元".
_CURRENCY_MARKS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "￥": "CNY", "元": "CNY"}
_MARK_PATTERN = r"^\s*(?:[$€£¥￥]|USD|EUR|GBP|CNY|RMB)?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:元|USD|EUR|GBP|CNY|RMB)?\s*$"


def price(name: str) -> pl.Expr:
    """A price as a number, also when written with a currency mark and thousands
    separators ("$1,299.00"); anything else that is not a plain number gives null."""
    plain = pl.col(name).cast(pl.Float64, strict=False)
    marked = pl.col(name).str.extract(_MARK_PATTERN, 1)
    # Only "1,299" style grouping is a thousands separator; "12,50" is ambiguous and rejected.
    grouped = marked.str.contains(r"^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$") | ~marked.str.contains(",")
    cleaned = pl.when(grouped).then(marked.str.replace_all(",", "")).cast(pl.Float64, strict=False)
    return pl.coalesce(plain, cleaned)


def currency_mark(name: str) -> pl.Expr:
    """The ISO code implied by a currency mark in a price ("$9.99" -> "USD"), else null."""
    text = pl.col(name).str.strip_chars()
    expr = pl.lit(None, dtype=pl.Utf8)
    for mark, code in _CURRENCY_MARKS.items():
        expr = pl.when(text.str.contains(mark, literal=True)).then(pl.lit(code)).otherwise(expr)
    for code in ("USD", "EUR", "GBP", "CNY"):
        expr = pl.when(text.str.to_uppercase().str.contains(code, literal=True)).then(pl.lit(code)).otherwise(expr)
    return pl.when(text.str.to_uppercase().str.contains("RMB", literal=True)).then(pl.lit("CNY")).otherwise(expr)


def boolean(name: str) -> pl.Expr:
    return pl.col(name).str.to_lowercase().replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean)


def json_object_text(name: str) -> pl.Expr:
    """Compact JSON text of a JSON object (null for anything else), so the same object
    is stored as the same text whichever format or spacing it came in."""
    compact = pl.col(name).str.json_path_match("$")
    return pl.when(compact.str.starts_with("{")).then(compact)


def category(name: str) -> pl.Expr:
    """``" Home >Kitchen> "`` -> ``"Home > Kitchen"``, as :func:`normalise_category` does."""
    parts = (
        pl.col(name)
        .str.split(CATEGORY_SEPARATOR)
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element().str.len_bytes() > 0))
    )
    joined = parts.list.join(" > ")
    return pl.when(joined.str.len_bytes() > 0).then(joined)


def timestamps(texts: pl.Series, *, now_ms: int) -> pl.DataFrame:
    """Columns ``ms`` (epoch milliseconds) and ``problem`` (why not, or null) for `texts`.

    Numbers of 1e11 and above are milliseconds, smaller ones seconds; ISO text without an
    offset is UTC. Plausible means from 1990 to a day after `now_ms`.
    """
    texts = texts.cast(pl.Utf8)
    values = texts.cast(pl.Float64, strict=False)
    numeric_ms = pl.select(
        pl.when(values.abs() >= 1e11).then(values).otherwise(values * 1000).alias("ms")
    ).to_series()
    ms = numeric_ms.fill_null(_parse_iso(texts, values).cast(pl.Float64))
    frame = pl.DataFrame({"text": texts, "number": values, "ms": ms})
    latest = now_ms + FUTURE_TOLERANCE_MS
    return frame.select(
        pl.when(pl.col("ms").is_finite() & (pl.col("ms") >= MIN_TIMESTAMP_MS) & (pl.col("ms") <= latest))
        .then(pl.col("ms").cast(pl.Int64))
        .alias("ms"),
        pl.when(pl.col("text").is_null())
        .then(pl.lit(TS_MISSING))
        .when(pl.col("ms").is_null())
        .then(pl.lit(TS_UNPARSEABLE))
        .when(~pl.col("ms").is_finite())
        .then(pl.lit(TS_NOT_FINITE))
        .when(pl.col("ms") < MIN_TIMESTAMP_MS)
        .then(pl.lit(TS_TOO_EARLY))
        .when(pl.col("ms") > latest)
        .then(pl.lit(TS_FUTURE))
        .alias("problem"),
    )


def _parse_iso(texts: pl.Series, values: pl.Series) -> pl.Series:
    """Epoch milliseconds of the non-numeric texts that are dates (null for the rest)."""
    first = texts.str.strptime(pl.Datetime("ms"), _NAIVE_FORMATS[0], strict=False).dt.epoch("ms")
    left = texts.filter(texts.is_not_null() & values.is_null() & first.is_null()).unique()
    if left.is_empty():
        return first
    found: dict[str, int] = {}
    for fmt in _NAIVE_FORMATS[1:] + _OFFSET_FORMATS:
        if left.is_empty():
            break
        dtype = pl.Datetime("ms", "UTC") if fmt.endswith("%z") else pl.Datetime("ms")
        candidates = left.str.replace(r"[Zz]$", "+00:00") if fmt.endswith("%z") else left
        parsed = candidates.str.strptime(dtype, fmt, strict=False).dt.epoch("ms")
        hit = parsed.is_not_null()
        found.update(zip(left.filter(hit).to_list(), parsed.filter(hit).to_list(), strict=True))
        left = left.filter(~hit)
    for value in left.to_list():  # rare shapes: the reference parser decides
        try:
            found[value] = parse_timestamp_ms(value)
        except (ValueError, OverflowError):
            pass
    if not found:
        return first
    extra = texts.replace_strict(list(found), list(found.values()), default=None, return_dtype=pl.Int64)
    return first.fill_null(extra)
