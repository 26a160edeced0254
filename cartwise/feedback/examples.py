"""Training rows for the click models: what was shown (or would have been) and whether
the shopper took it.

From the impression log when it holds clicks: one row per item shown, labelled clicked
(and purchased) when attribution credits the answer with it. Without logged clicks, from
the events: each sampled shopper's last item event is the positive and the other items
the candidate generators proposed, from the events before it, are the negatives; the
generators are fitted on the events without those last ones, so nothing leaks.
"""

from __future__ import annotations

import polars as pl

from cartwise.events.event import EventType
from cartwise.feedback.attribution import AttributionWindows, attribute
from cartwise.recommend import Interaction, ItemKNN, Popularity

EXAMPLE_COLUMNS = (
    "user_id", "item_id", "ts", "placement", "position", "stage", "score", "lexical_score", "semantic_score",
    "clicked", "purchased",
)


def impression_examples(
    impressions: pl.DataFrame, items: pl.DataFrame, events: pl.DataFrame, *, windows: AttributionWindows | None = None
) -> pl.DataFrame:
    """One row per item shown, with `clicked` and `purchased` (0/1) from attribution."""
    credited = attribute(events, impressions, items, windows=windows)
    outcomes = credited.group_by("request_id", "position").agg(
        (pl.col("event_type") == EventType.CLICK.value).any().cast(pl.Int8).alias("clicked"),
        (pl.col("event_type") == EventType.PURCHASE.value).any().cast(pl.Int8).alias("purchased"),
    )
    rows = items.join(impressions.select("request_id", "ts", "placement", "user_id"), on="request_id", how="inner")
    return (
        rows.join(outcomes, on=["request_id", "position"], how="left")
        .with_columns(pl.col("clicked").fill_null(0), pl.col("purchased").fill_null(0),
                      pl.col("user_id").fill_null(""))
        .select(*EXAMPLE_COLUMNS, "request_id")
        .sort("ts", "request_id", "position")
    )


def event_examples(
    events: pl.DataFrame,
    items: pl.DataFrame,
    *,
    users: int = 3_000,
    candidates: int = 50,
    history: int = 50,
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(examples, the events the generators were fitted on) from the item events alone.

    Up to `users` shoppers with two or more item events are sampled; for each, the
    item-kNN and popularity generators, fitted without any sampled shopper's last event,
    propose `candidates` items each from the shopper's earlier events; the last event's
    item is `clicked` = 1 where proposed, every other candidate 0. `position` is the
    candidate's rank in its generator's list, `score` that generator's score, `stage` its
    name (history or popularity, as at serving)."""
    acts = events.filter(pl.col("item_id").is_not_null() & (pl.col("event_type") != EventType.SEARCH.value))
    ordered = acts.sort("ts").with_columns(
        pl.len().over("user_id").alias("__n"), pl.int_range(pl.len()).over("user_id").alias("__i")
    )
    eligible = ordered.filter((pl.col("__n") >= 2) & (pl.col("__i") == pl.col("__n") - 1)).select("user_id")
    sampled = eligible.sample(n=min(users, eligible.height), seed=seed, shuffle=True) if eligible.height else eligible
    is_target = pl.col("user_id").is_in(sampled["user_id"].implode()) & (pl.col("__i") == pl.col("__n") - 1)
    targets = ordered.filter(is_target).select("user_id", pl.col("item_id").alias("__target"), "ts", "event_type")
    before = ordered.filter(~is_target).drop("__n", "__i")
    knn = ItemKNN().fit(before)
    popular = Popularity().fit(before, items)
    prefixes = (
        before.filter(pl.col("user_id").is_in(sampled["user_id"].implode()))
        .sort("ts", descending=True)
        .group_by("user_id", maintain_order=True)
        .agg(pl.col("item_id").head(history), pl.col("event_type").head(history), pl.col("ts").head(history))
    )
    by_user = {
        user: [Interaction(item_id=i, event_type=t, ts=s) for i, t, s in zip(ids, kinds, stamps, strict=True)]
        for user, ids, kinds, stamps in prefixes.iter_rows()
    }
    order = targets["user_id"].to_list()
    histories = [by_user.get(user, []) for user in order]
    proposed = knn.recommend(histories, k=candidates, exclude_seen=False)
    popular_items = popular.recommend(candidates)
    rows: list[tuple[object, ...]] = []
    for (user, target, ts, _), from_knn in zip(targets.iter_rows(), proposed, strict=True):
        seen = set()
        for stage, found in (("history", from_knn), ("popularity", popular_items)):
            for position, scored in enumerate(found, start=1):
                if scored.item_id in seen:
                    continue
                seen.add(scored.item_id)
                hit = int(scored.item_id == target)
                rows.append((user, scored.item_id, ts, "recommend", position, stage, float(scored.score), hit))
    frame = pl.DataFrame(
        rows,
        schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "ts": pl.Int64, "placement": pl.Utf8, "position": pl.Int64,
                "stage": pl.Utf8, "score": pl.Float64, "clicked": pl.Int8},
        orient="row",
    ).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("lexical_score"),
        pl.lit(None, dtype=pl.Float64).alias("semantic_score"),
        pl.lit(0, dtype=pl.Int8).alias("purchased"),
    )
    return frame.select(EXAMPLE_COLUMNS).sort("ts", "user_id", "position"), before


__all__ = ["EXAMPLE_COLUMNS", "event_examples", "impression_examples"]
