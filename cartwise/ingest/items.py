"""The rules a catalog row must meet, applied to whole columns of text.

They mirror :class:`cartwise.catalog.item.Item` (the same limits, category paths
normalised, currency upper-cased) and add what a file can get wrong: unparseable
numbers, booleans and JSON, impossible prices and dates.
"""

from __future__ import annotations

import polars as pl

from cartwise.events.event import CONTROL_CHARACTER
from cartwise.ingest import parsers
from cartwise.ingest.report import LINE
from cartwise.ingest.rules import Rule, split_rejects
from cartwise.limits import MAX_DESCRIPTION_LENGTH, MAX_ID_LENGTH, MAX_TITLE_LENGTH
from cartwise.store.frames import ITEM_SCHEMA

ITEM_FIELDS: tuple[str, ...] = (
    "item_id",
    "title",
    "description",
    "category",
    "brand",
    "price",
    "currency",
    "in_stock",
    "attributes",
    "created_at",
)
ITEM_REQUIRED: tuple[tuple[str, ...], ...] = (("item_id",), ("title",))
# Item sets no bound on attributes; this keeps one row's JSON within a page of text.
MAX_ATTRIBUTES_LENGTH = MAX_DESCRIPTION_LENGTH


def _too_long(name: str, limit: int) -> Rule:
    return Rule(name, pl.col(name).str.len_chars() > limit, f"{name} is longer than {limit:,} characters")


def control_characters(name: str) -> Rule:
    """Ids must be printable: NUL, newlines, escapes and other control characters are refused."""
    return Rule(
        name,
        pl.col(name).str.contains(CONTROL_CHARACTER).fill_null(False),
        f"{name} contains a control character (such as NUL, a tab or a newline)",
    )


def _missing(name: str) -> Rule:
    return Rule(name, pl.col(name).is_null(), f"{name} is missing or empty")


def validate_items(frame: pl.DataFrame, *, now_ms: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid rows in ITEM_SCHEMA plus LINE, rejected rows) from one text column per field."""
    work = frame.with_columns([parsers.text(name) for name in ITEM_FIELDS])
    work = work.with_columns(
        parsers.price("price").alias("__price"),
        parsers.boolean("in_stock").alias("__in_stock"),
        parsers.json_object_text("attributes").alias("__attributes"),
        parsers.category("category").alias("__category"),
        pl.coalesce(pl.col("currency").str.to_uppercase(), parsers.currency_mark("price")).alias("__currency"),
    )
    created = parsers.timestamps(work["created_at"], now_ms=now_ms)
    work = work.with_columns(created["ms"].alias("__created_at"), created["problem"].alias("__created_problem"))
    created_given = pl.col("created_at").is_not_null()
    rules = [
        _missing("item_id"),
        _too_long("item_id", MAX_ID_LENGTH),
        control_characters("item_id"),
        _missing("title"),
        _too_long("title", MAX_TITLE_LENGTH),
        _too_long("description", MAX_DESCRIPTION_LENGTH),
        _too_long("category", MAX_TITLE_LENGTH),
        _too_long("brand", MAX_ID_LENGTH),
        Rule("price", pl.col("price").is_not_null() & pl.col("__price").is_null(), "price is not a number"),
        Rule("price", ~pl.col("__price").is_finite(), "price is not a finite number"),
        Rule("price", pl.col("__price") < 0, "price is negative"),
        Rule(
            "currency",
            pl.col("currency").is_not_null() & ~pl.col("currency").str.contains(r"^[A-Za-z]{3}$"),
            "currency is not a 3-letter code such as EUR",
        ),
        Rule(
            "in_stock",
            pl.col("in_stock").is_not_null() & pl.col("__in_stock").is_null(),
            "in_stock is not a boolean (true/false, yes/no, 1/0)",
        ),
        Rule(
            "attributes",
            pl.col("attributes").is_not_null() & pl.col("__attributes").is_null(),
            "attributes is not a JSON object",
        ),
        Rule(
            "attributes",
            pl.col("__attributes").str.len_chars() > MAX_ATTRIBUTES_LENGTH,
            f"attributes is larger than {MAX_ATTRIBUTES_LENGTH:,} characters of JSON",
        ),
        Rule(
            "created_at",
            created_given & pl.col("__created_problem").is_not_null(),
            pl.col("__created_problem").str.replace("timestamp", "created_at", literal=True),
        ),
    ]
    valid, rejects = split_rejects(work, rules)
    valid = valid.select(
        pl.col(LINE),
        pl.col("item_id"),
        pl.col("title"),
        pl.col("description"),
        pl.col("__category").alias("category"),
        pl.col("brand"),
        pl.col("__price").alias("price"),
        pl.col("__currency").alias("currency"),
        pl.col("__in_stock").alias("in_stock"),
        pl.col("__attributes").alias("attributes"),
        pl.col("__created_at").alias("created_at"),
    ).cast(ITEM_SCHEMA)
    return valid, rejects
