"""Click-through, add-to-cart and conversion rates per placement and model version.

Rates are per item shown: clicks / items shown, and so on, each shown item counted once
per kind of action however often the shopper repeated it. Each rate has its 95% Wilson
interval, so a small log says how little it knows.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from pydantic import BaseModel, Field

from cartwise.events.event import EventType
from cartwise.feedback.attribution import AttributionWindows, attribute, shown_items
from cartwise.metrics import wilson_interval
from cartwise.store import Store

GROUPINGS = ("placement", "model_version", "variant")


class Rate(BaseModel):
    """A share with its 95% confidence interval."""

    count: int
    rate: float
    low: float
    high: float

    @classmethod
    def of(cls, count: int, trials: int) -> Rate:
        low, high = wilson_interval(count, trials)
        return cls(count=count, rate=count / trials if trials else 0.0, low=low, high=high)


class PlacementRates(BaseModel):
    """What one group of answers (a placement, a model version, a variant) led to."""

    placement: str | None = None
    model_version: str | None = None
    variant: str | None = None
    answers: int = Field(description="impressions: answers shown")
    items_shown: int
    ctr: Rate = Field(description="clicked items / items shown")
    add_to_cart_rate: Rate = Field(description="items put in the cart / items shown")
    conversion: Rate = Field(description="items bought / items shown")
    answer_ctr: Rate = Field(description="answers with at least one click / answers")


class FeedbackReport(BaseModel):
    since_ms: int | None = None
    by: list[str]
    impressions: int
    items_shown: int
    attributed: dict[str, int] = Field(description="attributed events by kind")
    attributed_by: dict[str, int] = Field(description="attributed events by how: request_id or window")
    groups: list[PlacementRates]
    ctr_by_position: dict[str, Rate] = Field(
        default_factory=dict, description="CTR at positions 1-10 over all placements (position bias)"
    )
    sponsored: dict[str, Rate] = Field(
        default_factory=dict,
        description="CTR of sponsored slots and of the organic items beside them, over all placements "
        "(present when an answer held a sponsored item)",
    )
    windows_s: dict[str, float]


def feedback_report(
    store: Store,
    *,
    since_ms: int | None = None,
    by: Sequence[str] = ("placement", "model_version"),
    windows: AttributionWindows | None = None,
) -> FeedbackReport:
    """The rates of the answers shown since `since_ms` (all when None), grouped `by`
    some of placement, model_version and variant."""
    unknown = [name for name in by if name not in GROUPINGS]
    if unknown or not by:
        raise ValueError(f"group by one or more of {', '.join(GROUPINGS)}, got {list(by)!r}")
    windows = windows or AttributionWindows()
    impressions = store.impressions(since_ms=since_ms)
    items = store.impression_items(since_ms=since_ms)
    events = store.events()
    if since_ms is not None:
        events = events.filter(pl.col("ts") >= since_ms)
    credited = attribute(events, impressions, items, windows=windows)
    shown = shown_items(impressions, items)
    # Each shown item once per kind of action.
    acted = credited.unique(["request_id", "position", "event_type"]).select(
        "request_id", "position", "event_type", *by
    )
    keys = list(by)
    answers = impressions.group_by(keys).agg(pl.len().alias("answers"))
    counts = shown.group_by(keys).agg(pl.len().alias("items_shown"))
    per_kind = acted.group_by(keys).agg(
        *[(pl.col("event_type") == kind).sum().alias(kind) for kind in _KINDS],
    )
    clicked_answers = (
        acted.filter(pl.col("event_type") == EventType.CLICK.value)
        .unique("request_id")
        .group_by(keys)
        .agg(pl.len().alias("clicked_answers"))
    )
    table = (
        answers.join(counts, on=keys, how="left", nulls_equal=True)
        .join(per_kind, on=keys, how="left", nulls_equal=True)
        .join(clicked_answers, on=keys, how="left", nulls_equal=True)
        .fill_null(0)
        .sort(keys, nulls_last=True)
    )
    groups = []
    for row in table.iter_rows(named=True):
        shown_n = int(row["items_shown"])
        groups.append(
            PlacementRates(
                **{name: row[name] for name in keys},
                answers=int(row["answers"]),
                items_shown=shown_n,
                ctr=Rate.of(int(row[EventType.CLICK.value]), shown_n),
                add_to_cart_rate=Rate.of(int(row[EventType.ADD_TO_CART.value]), shown_n),
                conversion=Rate.of(int(row[EventType.PURCHASE.value]), shown_n),
                answer_ctr=Rate.of(int(row["clicked_answers"]), int(row["answers"])),
            )
        )
    positions = shown.filter(pl.col("position") <= 10).group_by("position").agg(pl.len().alias("n"))
    clicks_at = (
        acted.filter(pl.col("event_type") == EventType.CLICK.value).group_by("position").agg(pl.len().alias("c"))
    )
    by_position = {
        str(p): Rate.of(int(c), int(n))
        for p, n, c in positions.join(clicks_at, on="position", how="left").fill_null(0).sort("position").iter_rows()
    }
    sponsored: dict[str, Rate] = {}
    paid = items.filter(pl.col("stage") == "sponsored").select("request_id", "position")
    if paid.height:
        clicked = acted.filter(pl.col("event_type") == EventType.CLICK.value).select("request_id", "position")
        paid_clicks = clicked.join(paid, on=["request_id", "position"], how="semi").height
        sponsored = {
            "sponsored": Rate.of(paid_clicks, paid.height),
            "organic": Rate.of(clicked.height - paid_clicks, shown.height - paid.height),
        }
    return FeedbackReport(
        since_ms=since_ms,
        by=keys,
        impressions=impressions.height,
        items_shown=shown.height,
        attributed={kind: int((credited["event_type"] == kind).sum()) for kind in _KINDS},
        attributed_by={how: int((credited["how"] == how).sum()) for how in ("request_id", "window")},
        groups=groups,
        ctr_by_position=by_position,
        sponsored=sponsored,
        windows_s={"click": windows.click_s, "add_to_cart": windows.add_to_cart_s, "purchase": windows.purchase_s},
    )


_KINDS = (EventType.CLICK.value, EventType.ADD_TO_CART.value, EventType.PURCHASE.value)

__all__ = ["GROUPINGS", "FeedbackReport", "PlacementRates", "Rate", "feedback_report"]
