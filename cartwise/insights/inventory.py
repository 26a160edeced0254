"""Price and inventory: what sells at which price and in which department, items looked at
but not bought, demand lost to stock-outs, slow movers and each department's demand trend."""

from __future__ import annotations

import itertools
import math
from typing import Any

import polars as pl
from pydantic import BaseModel, Field

from cartwise.insights.snapshot import DAY_MS, INTEREST_TYPES, Snapshot

PRICE_EDGES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
Z95 = 1.959964


class InventoryReport(BaseModel):
    as_of_ms: int
    days: int
    price_bands: list[dict[str, Any]] = Field(description="items, interest (views, clicks, carts), purchases, "
                                              "revenue and conversion per price band")
    departments: list[dict[str, Any]] = Field(description="the same per top-level category")
    viewed_not_bought: list[dict[str, Any]] = Field(description="most interest for the fewest purchases")
    stock_outs: dict[str, Any] = Field(description="out-of-stock items and the demand they lost: interest "
                                       "shown in them times their department's conversion")
    slow_movers: dict[str, Any] = Field(description="in-stock items that sold before the window and not in it")
    demand_trend: list[dict[str, Any]] = Field(
        description="per department: daily purchases of the last 28 days, last week's rate against the 3 weeks "
        "before (ratio with 95% interval) and next week's expected purchases (95% Poisson interval)")


def _band_labels() -> list[str]:
    edges = ("0", *(f"{e:g}" for e in PRICE_EDGES))
    return [f"{a}–{b}" for a, b in itertools.pairwise(edges)] + [f"{PRICE_EDGES[-1]:g}+"]


def _per_item(snapshot: Snapshot, start: int, end: int) -> pl.DataFrame:
    window = snapshot.events.filter(pl.col("ts").is_between(start, end))
    counts = window.group_by("item_id").agg(
        pl.col("event_type").is_in(INTEREST_TYPES).sum().alias("interest"),
        (pl.col("event_type") == "purchase").sum().alias("purchases"),
        pl.col("revenue").sum().alias("revenue"),
    )
    labels = _band_labels()
    return (
        snapshot.items.join(counts, on="item_id", how="left")
        .with_columns(pl.col("interest").fill_null(0), pl.col("purchases").fill_null(0),
                      pl.col("revenue").fill_null(0.0))
        .with_columns(
            # The band is the number of edges at or below the price: [0, 1) is band 0.
            pl.sum_horizontal(*((pl.col("price") >= edge).cast(pl.Int64) for edge in PRICE_EDGES))
            .replace_strict(dict(enumerate(labels)), return_dtype=pl.Utf8)
            .alias("price_band"))
        .with_columns(pl.when(pl.col("price").is_null()).then(pl.lit("no price")).otherwise(pl.col("price_band"))
                      .alias("price_band"))
    )


def _summary(per_item: pl.DataFrame, key: str) -> pl.DataFrame:
    return per_item.group_by(key).agg(
        pl.len().alias("items"), pl.col("in_stock").not_().sum().alias("out_of_stock"),
        pl.col("interest").sum(), pl.col("purchases").sum(), pl.col("revenue").sum().round(2),
    ).with_columns(
        pl.when(pl.col("interest") > 0).then(pl.col("purchases") / pl.col("interest")).otherwise(None)
        .round(4).alias("conversion"))


def _trend(snapshot: Snapshot, end: int, departments: int) -> list[dict[str, Any]]:
    end_day = end // DAY_MS
    first = end_day - 27
    bought = snapshot.events.filter((pl.col("event_type") == "purchase") & pl.col("day").is_between(first, end_day)).join(
        snapshot.items.select("item_id", "department"), on="item_id", how="left"
    ).with_columns(pl.col("department").fill_null("(unknown)"))
    daily = bought.group_by("department", "day").agg(pl.len().alias("n"))
    top = bought.group_by("department").agg(pl.len().alias("n")).sort(["n", "department"], descending=[True, False])
    out = []
    for department in top.head(departments)["department"].to_list():
        counts = dict(daily.filter(pl.col("department") == department).select("day", "n").iter_rows())
        series = [int(counts.get(day, 0)) for day in range(first, end_day + 1)]
        recent, before = sum(series[-7:]), sum(series[:-7])
        ratio = (recent / 7) / (before / 21) if before else None
        # The log of a ratio of two Poisson rates: standard error sqrt(1/a + 1/b), half a
        # count added to each so that an empty side gives a wide interval, not a division by 0.
        spread = math.sqrt(1 / (recent + 0.5) + 1 / (before + 0.5))
        centre = math.log((recent + 0.5) / 7) - math.log((before + 0.5) / 21)
        out.append({
            "department": department, "start_day_ms": first * DAY_MS, "daily": series,
            "last_7_days": recent, "prior_21_days": before,
            "ratio": round(ratio, 3) if ratio is not None else None,
            "ratio_low": round(math.exp(centre - Z95 * spread), 3),
            "ratio_high": round(math.exp(centre + Z95 * spread), 3),
            "next_7_days": recent, "next_7_days_low": max(0, round(recent - Z95 * math.sqrt(recent), 1)),
            "next_7_days_high": round(recent + Z95 * math.sqrt(max(recent, 1)), 1),
            "direction": "up" if math.exp(centre - Z95 * spread) > 1 else
            "down" if math.exp(centre + Z95 * spread) < 1 else "steady",
        })
    return out


def inventory_report(
    snapshot: Snapshot, *, days: int = 30, end_ms: int | None = None, limit: int = 15
) -> InventoryReport:
    """The `days` before `end_ms` (default: the newest event or answer)."""
    end = end_ms if end_ms is not None else snapshot.as_of_ms
    start = end - days * DAY_MS
    per_item = _per_item(snapshot, start, end)
    bands = _summary(per_item, "price_band")
    order = {label: i for i, label in enumerate([*_band_labels(), "no price"])}
    bands = bands.with_columns(pl.col("price_band").replace_strict(order, return_dtype=pl.Int64).alias("__o")) \
        .sort("__o").drop("__o")
    departments = _summary(per_item, "department").sort(["revenue", "department"], descending=[True, False])
    conversion = departments.select("department", pl.col("conversion").fill_null(0.0).alias("dept_conversion"))
    looked = per_item.filter(pl.col("interest") >= 3).with_columns(
        (pl.col("purchases") / pl.col("interest")).round(4).alias("conversion"))
    viewed_not_bought = looked.sort(["conversion", "interest"], descending=[False, True]).head(limit)
    out = per_item.filter(pl.col("in_stock").not_()).join(conversion, on="department", how="left").with_columns(
        (pl.col("interest") * pl.col("dept_conversion").fill_null(0.0)).round(2).alias("lost_purchases"),
        (pl.col("interest") * pl.col("dept_conversion").fill_null(0.0) * pl.col("price").fill_null(0.0))
        .round(2).alias("lost_revenue"),
    )
    sold_before = snapshot.events.filter((pl.col("event_type") == "purchase") & (pl.col("ts") < start)).group_by(
        "item_id").agg(pl.col("ts").max().alias("last_sale_ms"), pl.len().alias("sales_before"))
    slow = per_item.filter(pl.col("in_stock") & (pl.col("purchases") == 0)).join(sold_before, on="item_id",
                                                                                  how="inner")
    slow = slow.with_columns(((end - pl.col("last_sale_ms")) // DAY_MS).alias("days_since_sale"))
    columns = ["item_id", "title", "department", "price", "interest", "purchases"]
    return InventoryReport(
        as_of_ms=end, days=days,
        price_bands=bands.to_dicts(), departments=departments.head(limit * 2).to_dicts(),
        viewed_not_bought=viewed_not_bought.select(*columns, "conversion").to_dicts(),
        stock_outs={
            "items": out.height,
            "with_demand": out.filter(pl.col("interest") > 0).height,
            "lost_purchases": round(float(out["lost_purchases"].sum() or 0.0), 2),
            "lost_revenue": round(float(out["lost_revenue"].sum() or 0.0), 2),
            "top": out.filter(pl.col("interest") > 0).sort(["lost_revenue", "interest"], descending=True)
            .head(limit).select(*columns, "lost_purchases", "lost_revenue").to_dicts(),
        },
        slow_movers={
            "items": slow.height,
            "top": slow.sort(["sales_before", "item_id"], descending=[True, False]).head(limit)
            .select("item_id", "title", "department", "price", "sales_before", "days_since_sale").to_dicts(),
        },
        demand_trend=_trend(snapshot, end, departments=12),
    )
