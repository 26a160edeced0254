"""What recommendations and search earn: rates per placement and model version over time,
revenue credited to them, the queries shoppers type and the products that sell."""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import BaseModel, Field

from cartwise.feedback.report import Rate
from cartwise.insights.snapshot import DAY_MS, Snapshot

ACTIONS = {"click": "clicks", "add_to_cart": "add_to_carts", "purchase": "purchases"}


class BusinessReport(BaseModel):
    as_of_ms: int = Field(description="the end of every window: `end_ms`, else the newest event or answer")
    days: int
    daily: list[dict[str, Any]] = Field(
        description="per day and placement: answers, items shown, clicks, add-to-carts, purchases and their rates")
    by_model_version: list[dict[str, Any]] = Field(description="the same totals per model version")
    daily_by_model_version: list[dict[str, Any]] = Field(
        default_factory=list, description="per day and model version: the same totals and rates (versions over time)")
    groups: list[dict[str, Any]] = Field(
        description="per placement and model version: CTR, add-to-cart rate and conversion with 95% Wilson intervals")
    ctr_by_position: dict[str, Rate] = Field(description="CTR at positions 1-10 with its 95% interval (position bias)")
    revenue: dict[str, Any] = Field(
        description="revenue of all purchases in the window and the part credited to each placement")
    top_queries: list[dict[str, Any]]
    zero_result_queries: list[dict[str, Any]]
    clicked_not_bought_queries: list[dict[str, Any]] = Field(description="queries with clicks but no purchase")
    top_products: list[dict[str, Any]] = Field(description="most bought in the last 7 days of the window")
    rising_products: list[dict[str, Any]] = Field(
        description="bought more in the last 7 days than the 4 weeks before would predict")


def _rates(frame: pl.DataFrame) -> pl.DataFrame:
    shown = pl.col("items_shown")
    return frame.with_columns(
        *(pl.col(name).fill_null(0) for name in ACTIONS.values()),
    ).with_columns(
        pl.when(shown > 0).then(pl.col("clicks") / shown).otherwise(None).round(5).alias("ctr"),
        pl.when(shown > 0).then(pl.col("add_to_carts") / shown).otherwise(None).round(5).alias("add_to_cart_rate"),
        pl.when(shown > 0).then(pl.col("purchases") / shown).otherwise(None).round(5).alias("conversion"),
    )


def _actions(snapshot: Snapshot, start_ms: int, end_ms: int, keys: list[str]) -> pl.DataFrame:
    """Distinct (answer, item) pairs per kind of action, counted per `keys`."""
    done = snapshot.attributed.filter(pl.col("impression_ts").is_between(start_ms, end_ms)).with_columns(
        (pl.col("impression_ts") // DAY_MS).alias("day"))
    counts = (
        done.unique(["request_id", "item_id", "event_type"])
        .group_by([*keys, "event_type"]).agg(pl.len().alias("n"))
    )
    if counts.is_empty():
        return pl.DataFrame(schema={**{k: done.schema[k] for k in keys}, **dict.fromkeys(ACTIONS.values(), pl.Int64)})
    wide = counts.pivot(on="event_type", index=keys, values="n")
    for kind, name in ACTIONS.items():
        wide = wide.rename({kind: name}) if kind in wide.columns else wide.with_columns(pl.lit(0).alias(name))
    return wide.select(*keys, *ACTIONS.values()).cast(dict.fromkeys(ACTIONS.values(), pl.Int64))


def _grouped(snapshot: Snapshot, start_ms: int, end_ms: int, keys: list[str]) -> pl.DataFrame:
    answers = snapshot.answers.filter(pl.col("ts").is_between(start_ms, end_ms))
    shown = answers.group_by(keys).agg(pl.len().alias("answers"), pl.col("shown").sum().alias("items_shown"))
    return _rates(shown.join(_actions(snapshot, start_ms, end_ms, keys), on=keys, how="left")).sort(keys)


def _with_intervals(frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in frame.iter_rows(named=True):
        shown = int(row["items_shown"])
        rows.append({**{k: row[k] for k in ("placement", "model_version", "answers", "items_shown")},
                     "ctr": Rate.of(int(row["clicks"]), shown).model_dump(),
                     "add_to_cart_rate": Rate.of(int(row["add_to_carts"]), shown).model_dump(),
                     "conversion": Rate.of(int(row["purchases"]), shown).model_dump()})
    return rows


def _positions(snapshot: Snapshot, start_ms: int, end_ms: int) -> dict[str, Rate]:
    window = snapshot.answers.filter(pl.col("ts").is_between(start_ms, end_ms)).select("request_id")
    shown = snapshot.impression_items.join(window, on="request_id", how="semi").filter(pl.col("position") <= 10)
    per_position = shown.group_by("position").agg(pl.len().alias("n"))
    clicks = (
        snapshot.attributed.filter((pl.col("event_type") == "click") & pl.col("position").is_not_null()
                                   & pl.col("impression_ts").is_between(start_ms, end_ms))
        .unique(["request_id", "position"]).group_by("position").agg(pl.len().alias("c"))
    )
    joined = per_position.join(clicks, on="position", how="left").fill_null(0).sort("position")
    return {str(p): Rate.of(int(c), int(n)) for p, n, c in joined.select("position", "n", "c").iter_rows()}


def _queries(snapshot: Snapshot, start_ms: int, end_ms: int, limit: int) -> dict[str, list[dict[str, Any]]]:
    searches = snapshot.answers.filter(
        pl.col("ts").is_between(start_ms, end_ms) & pl.col("query").is_not_null() & (pl.col("query").str.strip_chars() != "")
    ).with_columns(pl.col("query").str.strip_chars().str.to_lowercase().alias("q"))
    done = (
        snapshot.attributed.join(searches.select("request_id", "q"), on="request_id", how="inner")
        .unique(["request_id", "item_id", "event_type"])
        .group_by("q").agg(
            (pl.col("event_type") == "click").sum().alias("clicks"),
            (pl.col("event_type") == "purchase").sum().alias("purchases"),
        )
    )
    per_query = (
        searches.group_by("q").agg(pl.len().alias("searches"), (pl.col("shown") == 0).sum().alias("zero_results"),
                                   pl.col("ts").max().alias("last_ms"))
        .join(done, on="q", how="left")
        .with_columns(pl.col("clicks").fill_null(0), pl.col("purchases").fill_null(0))
        .rename({"q": "query"})
    )
    return {
        "top_queries": per_query.sort(["searches", "query"], descending=[True, False]).head(limit).to_dicts(),
        "zero_result_queries": per_query.filter(pl.col("zero_results") > 0)
        .sort(["zero_results", "query"], descending=[True, False]).head(limit).to_dicts(),
        "clicked_not_bought_queries": per_query.filter((pl.col("clicks") > 0) & (pl.col("purchases") == 0))
        .sort(["clicks", "query"], descending=[True, False]).head(limit).to_dicts(),
    }


def _products(snapshot: Snapshot, end: int, limit: int) -> dict[str, list[dict[str, Any]]]:
    """Top sellers of the last week; rising: last week against the 4 weeks before, scaled
    to a week, with one purchase added to each side so a first sale is not infinite growth."""
    week = end - 7 * DAY_MS
    bought = snapshot.events.filter((pl.col("event_type") == "purchase") & pl.col("ts").is_between(end - 35 * DAY_MS, end))
    per_item = bought.group_by("item_id").agg(
        (pl.col("ts") > week).sum().alias("last_7_days"),
        (pl.col("ts") <= week).sum().alias("prior_28_days"),
        pl.col("revenue").filter(pl.col("ts") > week).sum().round(2).alias("revenue_7_days"),
    ).join(snapshot.items.select("item_id", "title", "price", "in_stock"), on="item_id", how="left")
    top = per_item.filter(pl.col("last_7_days") > 0).sort(["last_7_days", "item_id"], descending=[True, False])
    rising = (
        per_item.with_columns(
            ((pl.col("last_7_days") + 1) / (pl.col("prior_28_days") / 4 + 1)).round(3).alias("growth"))
        .filter((pl.col("last_7_days") >= 3) & (pl.col("growth") > 1.5))
        .sort(["growth", "item_id"], descending=[True, False])
    )
    return {"top_products": top.head(limit).to_dicts(), "rising_products": rising.head(limit).to_dicts()}


def business_report(
    snapshot: Snapshot, *, days: int = 30, end_ms: int | None = None, limit: int = 15
) -> BusinessReport:
    """The `days` before `end_ms` (default: the newest event or answer)."""
    end = end_ms if end_ms is not None else snapshot.as_of_ms
    start = end - days * DAY_MS
    daily = _grouped(snapshot, start, end, ["day", "placement"]).with_columns((pl.col("day") * DAY_MS).alias("day_ms"))
    versions = _grouped(snapshot, start, end, ["model_version"])
    versions_daily = _grouped(snapshot, start, end, ["day", "model_version"]).with_columns(
        (pl.col("day") * DAY_MS).alias("day_ms"))
    groups = _with_intervals(_grouped(snapshot, start, end, ["placement", "model_version"]))
    purchases = snapshot.events.filter((pl.col("event_type") == "purchase") & pl.col("ts").is_between(start, end))
    credited = (
        snapshot.attributed.filter((pl.col("event_type") == "purchase") & pl.col("ts").is_between(start, end))
        .join(purchases.select("event_key", "revenue"), on="event_key", how="inner")
        .group_by("placement").agg(pl.col("revenue").sum().round(2), pl.len().alias("purchases"))
        .sort("revenue", descending=True)
    )
    total = float(purchases["revenue"].sum() or 0.0)
    revenue = {
        "total": round(total, 2),
        "purchases": purchases.height,
        "by_placement": credited.to_dicts(),
        "credited_share": round(float(credited["revenue"].sum() or 0.0) / total, 5) if total else None,
    }
    return BusinessReport(
        as_of_ms=end, days=days, daily=daily.drop("day").to_dicts(),
        by_model_version=versions.to_dicts(), daily_by_model_version=versions_daily.drop("day").to_dicts(), groups=groups, ctr_by_position=_positions(snapshot, start, end),
        revenue=revenue,
        **_queries(snapshot, start, end, limit), **_products(snapshot, end, limit),
    )
