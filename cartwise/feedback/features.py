"""Point-in-time features of (shopper, item, moment) rows, for the click models.

Every feature is computed from what was known *before* the row's moment (`ts`): the
shopper's events before it, the item's events before it, the catalog. A feature that read
the whole log would leak the label (the click being predicted counts in the item's
popularity) and score well offline and badly in production.

- shopper: events so far (`user_events`), hours since the last one (`user_recency_h`),
  share of them in the item's top category (`user_category_share`), the last 20 items
  (`history`, for attention models);
- item: events so far (`item_events`), in the last 7 days (`item_recent`) and its trend
  against the 28 days before (`item_trend`), age in days (`item_age_days`), log price,
  price against its category's median (`price_vs_category`), price band, top category,
  brand; the text cosine with the shopper's last item (`text_similarity`, when item
  vectors are given);
- context (given by the caller): placement, position, stage, score, lexical and semantic
  scores of a search, and the hour of the day.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.events.event import EventType

DAY_MS = 86_400_000
HISTORY = 20

NUMERIC = (
    "user_events", "user_recency_h", "user_category_share", "item_events", "item_recent", "item_trend",
    "item_age_days", "price_log", "price_vs_category", "text_similarity", "score", "lexical_score", "semantic_score",
)
CATEGORICAL = ("placement", "stage", "category", "brand", "price_band", "hour")


def _top_category(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Utf8).str.split(">").list.first().str.strip_chars().fill_null("")


def item_table(items: pl.DataFrame) -> pl.DataFrame:
    """Catalog features per item: top category, brand, price, log price, price against the
    category's median, price band (quintile of the catalog's prices), creation time."""
    table = items.select(
        "item_id",
        _top_category("category").alias("category"),
        pl.col("brand").cast(pl.Utf8).str.to_lowercase().fill_null("").alias("brand"),
        pl.col("price").cast(pl.Float64).alias("price"),
        pl.col("created_at").cast(pl.Int64).alias("created_at"),
    )
    median = pl.col("price").median().over("category")
    prices = table["price"].drop_nulls()
    edges = [prices.quantile(q) for q in (0.2, 0.4, 0.6, 0.8)] if prices.len() else []
    band = pl.lit("none")
    if edges:
        band = (
            pl.when(pl.col("price").is_null()).then(pl.lit("none"))
            .when(pl.col("price") <= edges[0]).then(pl.lit("1"))
            .when(pl.col("price") <= edges[1]).then(pl.lit("2"))
            .when(pl.col("price") <= edges[2]).then(pl.lit("3"))
            .when(pl.col("price") <= edges[3]).then(pl.lit("4"))
            .otherwise(pl.lit("5"))
        )
    return table.with_columns(
        pl.col("price").log1p().alias("price_log"),
        (pl.col("price") / median).alias("price_vs_category"),
        band.alias("price_band"),
    )


def point_in_time(
    rows: pl.DataFrame,
    events: pl.DataFrame,
    items: pl.DataFrame,
    *,
    vectors: Mapping[str, NDArray[np.float32]] | None = None,
) -> pl.DataFrame:
    """`rows` (user_id, item_id, ts, and any context columns) with the features above.
    `events`: the store's item events (EVENT_SCHEMA); `items`: its catalog; `vectors`:
    item id -> unit text vector (optional)."""
    rows = rows.with_row_index("__row")
    catalog = item_table(items)
    acts = (
        events.filter(pl.col("item_id").is_not_null() & (pl.col("event_type") != EventType.SEARCH.value))
        .select("user_id", "item_id", "ts")
        .join(catalog.select("item_id", "category"), on="item_id", how="left")
        .with_columns(pl.col("category").fill_null(""))
        .sort("ts")
    )
    # Cumulative counts: the n-th event of a user (of an item, of a user in a category).
    user_seq = acts.with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("user_events")).select(
        "user_id", "ts", "user_events", pl.col("item_id").alias("last_item")
    )
    item_seq = acts.with_columns(pl.int_range(1, pl.len() + 1).over("item_id").alias("n")).select("item_id", "ts", "n")
    cat_seq = acts.with_columns(pl.int_range(1, pl.len() + 1).over("user_id", "category").alias("in_category")).select(
        "user_id", "category", "ts", "in_category"
    )
    base = rows.select("__row", "user_id", "item_id", "ts").join(
        catalog.select("item_id", "category"), on="item_id", how="left"
    ).with_columns(pl.col("category").fill_null("")).sort("ts")

    def before(left: pl.DataFrame, right: pl.DataFrame, by: list[str], shift_ms: int = 0, name: str | None = None):
        """The last row of `right` strictly before each left row's ts (- shift)."""
        probe = left.with_columns((pl.col("ts") - shift_ms).alias("__at")).sort("__at")
        joined = probe.join_asof(
            right.rename({"ts": "__seen"}).sort("__seen"), left_on="__at", right_on="__seen", by=by,
            strategy="backward", allow_exact_matches=False, check_sortedness=False,
        )
        return joined.drop("__at") if name is None else joined.drop("__at").rename({"n": name})

    out = before(base, user_seq, ["user_id"]).rename({"__seen": "__user_last"})
    out = before(out, cat_seq, ["user_id", "category"]).drop("__seen")
    out = before(out, item_seq, ["item_id"], name="item_events").drop("__seen")
    out = before(out, item_seq, ["item_id"], shift_ms=7 * DAY_MS, name="__week_ago").drop("__seen")
    out = before(out, item_seq, ["item_id"], shift_ms=35 * DAY_MS, name="__five_weeks_ago").drop("__seen")
    first_seen = acts.group_by("item_id").agg(pl.col("ts").min().alias("__first_seen"))
    out = (
        out.join(first_seen, on="item_id", how="left")
        .join(catalog.drop("category"), on="item_id", how="left")
        .with_columns(
            pl.col("user_events").fill_null(0),
            pl.col("item_events").fill_null(0),
            pl.col("in_category").fill_null(0),
            pl.col("__week_ago").fill_null(0),
            pl.col("__five_weeks_ago").fill_null(0),
        )
        .with_columns(
            ((pl.col("ts") - pl.col("__user_last")) / 3_600_000).alias("user_recency_h"),
            (pl.col("in_category") / pl.col("user_events").clip(lower_bound=1)).alias("user_category_share"),
            (pl.col("item_events") - pl.col("__week_ago")).alias("item_recent"),
            (
                (pl.col("item_events") - pl.col("__week_ago"))
                / ((pl.col("__week_ago") - pl.col("__five_weeks_ago")) / 4 + 1)
            ).alias("item_trend"),
            (
                (pl.col("ts") - pl.coalesce("created_at", "__first_seen", "ts")).clip(lower_bound=0) / DAY_MS
            ).alias("item_age_days"),
        )
    )
    # The shopper's last HISTORY items before ts, oldest first, for attention models.
    sequences = acts.group_by("user_id").agg(pl.col("item_id").alias("__items"))
    out = out.join(sequences, on="user_id", how="left").with_columns(
        pl.col("__items")
        .list.slice((pl.col("user_events") - HISTORY).clip(lower_bound=0), pl.col("user_events").clip(upper_bound=HISTORY))
        .fill_null(pl.lit([], dtype=pl.List(pl.String)))
        .alias("history")
    )
    similarity = np.full(out.height, np.nan)
    if vectors:
        last, cand = out["last_item"].to_list(), out["item_id"].to_list()
        for n, (a, b) in enumerate(zip(last, cand, strict=True)):
            va, vb = vectors.get(a) if a else None, vectors.get(b)
            if va is not None and vb is not None:
                similarity[n] = float(np.dot(va, vb))
    out = out.with_columns(pl.Series("text_similarity", similarity, dtype=pl.Float64).fill_nan(None))
    features = out.select(
        "__row", "user_events", "user_recency_h", "user_category_share", "item_events", "item_recent", "item_trend",
        "item_age_days", "price_log", "price_vs_category", "text_similarity", "category", "brand", "price_band",
        "history",
    )
    context = rows.with_columns(
        ((pl.col("ts") // 3_600_000) % 24).cast(pl.Utf8).alias("hour"),
        *[pl.lit(None, dtype=pl.Float64).alias(c) for c in ("score", "lexical_score", "semantic_score") if c not in rows.columns],
        *[pl.lit("").alias(c) for c in ("placement", "stage") if c not in rows.columns],
    )
    return context.join(features, on="__row", how="left").sort("__row").drop("__row")


__all__ = ["CATEGORICAL", "HISTORY", "NUMERIC", "item_table", "point_in_time"]
