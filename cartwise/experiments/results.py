"""An experiment's results, read from the impression log and the event log.

Who was in the experiment: every user with an impression whose `variant` names the
experiment (``<experiment id>/<variant>``) while it ran. Per user, from their first
exposure until the experiment stopped: their answers and items shown, the clicks credited
to those answers (:mod:`cartwise.feedback.attribution`: by request_id, else by window),
whether they put anything in the cart or bought anything (any purchase, not only of items
shown: an experiment measures what it does to the whole visit), and the revenue of their
purchases (an event's `value`, else the item's price). Users are the unit of analysis:
see :mod:`cartwise.experiments.stats` for the tests and :mod:`cartwise.experiments.verdict`
for the sentence a dashboard shows.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from cartwise.events.event import EventType
from cartwise.experiments.definition import Experiment
from cartwise.experiments.interleave import preference
from cartwise.experiments.kinds import kind_of
from cartwise.experiments.stats import (
    MIN_USERS_PER_ARM,
    SRM_ALPHA,
    Estimate,
    TestResult,
    fixed_test,
    metric_estimate,
    mixture_tau2,
    sample_ratio_mismatch,
    sequential_test,
)
from cartwise.feedback.attribution import AttributionWindows, attribute
from cartwise.store import Store

CLICK, CART, PURCHASE = EventType.CLICK.value, EventType.ADD_TO_CART.value, EventType.PURCHASE.value


class Interval(BaseModel):
    value: float
    low: float
    high: float

    @classmethod
    def of(cls, estimate: Estimate) -> Interval:
        def clean(x: float) -> float:
            return round(x, 6) if math.isfinite(x) else 0.0

        return cls(value=clean(estimate.value), low=clean(estimate.low), high=clean(estimate.high))


class ArmResult(BaseModel):
    variant: str
    kind: str
    description: str
    weight: float
    users: int = Field(description="users exposed (with at least one answer of this arm)")
    exposures: int = Field(description="answers shown")
    items_shown: int
    clicks: int
    ctr: Interval = Field(description="clicks / items shown, interval by the delta method over users")
    add_to_cart: Interval = Field(description="share of users who put an item in the cart")
    conversion: Interval = Field(description="share of users who bought")
    revenue_per_user: Interval
    revenue: float


class Comparison(BaseModel):
    variant: str = Field(description="the treatment, compared with the control")
    metric: str
    control: float
    treatment: float
    difference: float
    low: float | None = Field(description="null: too few users for an interval")
    high: float | None
    relative: float | None = Field(description="difference / control (null when the control is 0)")
    p_value: float
    significant: bool
    method: str


class SampleRatio(BaseModel):
    p_value: float
    mismatch: bool = Field(description=f"p below {SRM_ALPHA}: the split is not the one set; do not trust")
    users: dict[str, int]
    expected_share: dict[str, float]


class Interleaving(BaseModel):
    wins: dict[str, int] = Field(description="users who clicked more of each variant's items")
    ties: int
    users: int
    share: float = Field(description="the second variant's share of the users with a preference")
    p_value: float = Field(description="the exact sign test (read once, at the horizon)")
    sequential_p_value: float = Field(description="always-valid (safe to read at any time)")
    significant: bool


class ExperimentResults(BaseModel):
    experiment_id: str
    status: str
    mode: str
    metric: str
    test: str = Field(description="'sequential' (always valid) or 'fixed_horizon'")
    horizon_users: int | None
    users: int
    ready: bool = Field(description="whether the verdict may be acted on now")
    arms: list[ArmResult]
    comparisons: list[Comparison]
    srm: SampleRatio | None
    interleaving: Interleaving | None = None
    verdict: str
    decision: str = Field(description="ship, keep_running, stop, no_winner or do_not_trust")


_METRICS = ("conversion", "ctr", "add_to_cart", "revenue_per_user")


def user_table(experiment: Experiment, store: Store, *, now: int,
               windows: AttributionWindows | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per user and arm: exposures, items_shown, clicks, carted, bought, revenue, and for
    interleaving clicks per team; the impression items with their teams)."""
    start = experiment.started_ms
    # A running experiment counts everything so far (a client clock a little ahead included).
    end = experiment.stopped_ms if experiment.stopped_ms is not None else 2**62
    prefix = f"{experiment.experiment_id}/"
    impressions = store.impressions(since_ms=start).filter(
        pl.col("variant").str.starts_with(prefix) & (pl.col("ts") <= end) & pl.col("user_id").is_not_null()
    ).with_columns(pl.col("variant").str.slice(len(prefix)).alias("arm"))
    items = store.impression_items(since_ms=start).join(impressions.select("request_id"), on="request_id", how="semi")
    events = store.events().filter((pl.col("ts") >= start) & (pl.col("ts") <= end))
    credited = attribute(events, impressions, items, windows=windows)
    first = impressions.group_by("user_id").agg(
        pl.col("ts").min().alias("first_ts"), pl.col("arm").sort_by("ts").first().alias("arm"),
        pl.len().alias("exposures"),
    )
    shown = items.join(impressions.select("request_id", "user_id"), on="request_id").group_by("user_id").agg(
        pl.len().alias("items_shown"))
    clicked = credited.filter(pl.col("event_type") == CLICK).unique(["request_id", "position"]).join(
        items.select("request_id", "position", "team"), on=["request_id", "position"], how="left")
    clicks = clicked.group_by("user_id").agg(
        pl.len().alias("clicks"),
        (pl.col("team") == experiment.variants[0].name).sum().alias("clicks_a"),
        (pl.col("team") == experiment.variants[1].name).sum().alias("clicks_b"),
    )
    prices = store.items(include_deleted=True).select("item_id", pl.col("price").alias("__price"))
    after = (
        events.filter(pl.col("event_type").is_in([CART, PURCHASE]))
        .join(first.select("user_id", "first_ts"), on="user_id")
        .filter(pl.col("ts") >= pl.col("first_ts"))
        .join(prices, on="item_id", how="left")
        .group_by("user_id")
        .agg(
            (pl.col("event_type") == CART).any().cast(pl.Float64).alias("carted"),
            (pl.col("event_type") == PURCHASE).any().cast(pl.Float64).alias("bought"),
            pl.when(pl.col("event_type") == PURCHASE).then(pl.coalesce("value", "__price", pl.lit(0.0)))
            .otherwise(0.0).sum().alias("revenue"),
        )
    )
    table = (
        first.join(shown, on="user_id", how="left")
        .join(clicks, on="user_id", how="left")
        .join(after, on="user_id", how="left")
        .with_columns(pl.col("items_shown", "clicks", "clicks_a", "clicks_b").fill_null(0).cast(pl.Float64),
                      pl.col("carted", "bought", "revenue").fill_null(0.0))
    )
    return table, items


def _arrays(table: pl.DataFrame, arm: str) -> dict[str, np.ndarray]:
    rows = table.filter(pl.col("arm") == arm)
    return {name: rows[name].to_numpy().astype(np.float64)
            for name in ("items_shown", "clicks", "carted", "bought", "revenue", "exposures")}


def _metric(data: dict[str, np.ndarray], metric: str) -> tuple[np.ndarray, np.ndarray | None]:
    if metric == "ctr":
        return data["clicks"], data["items_shown"]
    column = {"conversion": "bought", "add_to_cart": "carted", "revenue_per_user": "revenue"}[metric]
    return data[column], None


def compare(control: dict[str, np.ndarray], treatment: dict[str, np.ndarray], metric: str, *, alpha: float,
            sequential: bool) -> tuple[Estimate, Estimate, TestResult]:
    num_c, den_c = _metric(control, metric)
    num_t, den_t = _metric(treatment, metric)
    est_c = metric_estimate(num_c, den_c, alpha=alpha)
    est_t = metric_estimate(num_t, den_t, alpha=alpha)
    difference = est_t.value - est_c.value
    variance = est_c.se ** 2 + est_t.se ** 2
    if not math.isfinite(variance):
        return est_c, est_t, TestResult(difference, math.inf, -math.inf, math.inf, 1.0, False, "too few users")
    if sequential:
        pooled_sd = math.sqrt(variance / (1 / max(num_c.size, 1) + 1 / max(num_t.size, 1)))
        test = sequential_test(difference, variance, tau2=mixture_tau2(pooled_sd), alpha=alpha)
    else:
        test = fixed_test(difference, variance, alpha=alpha)
    return est_c, est_t, test


def experiment_results(experiment: Experiment, store: Store, *, now: int,
                       windows: AttributionWindows | None = None) -> ExperimentResults:
    from cartwise.experiments.verdict import verdict  # the verdict reads these results

    table, items = user_table(experiment, store, now=now, windows=windows)
    arms = experiment.variants
    names = [v.name for v in arms]
    sequential = experiment.horizon_users is None
    alpha = experiment.alpha / max(1, len(arms) - 1)  # Bonferroni over the treatments
    data = {name: _arrays(table, name) for name in names}
    arm_results = []
    interleaving = None
    if experiment.mode == "interleave":
        team_items = items.group_by("team").agg(pl.len().alias("n"))
        shown_by_team = dict(team_items.iter_rows())
        for n, variant in enumerate(arms):
            clicks = float(table["clicks_a" if n == 0 else "clicks_b"].sum()) if table.height else 0.0
            shown_n = int(shown_by_team.get(variant.name, 0))
            rate = clicks / shown_n if shown_n else 0.0
            arm_results.append(_arm(variant, users=table.height, exposures=int(table["exposures"].sum())
                                    if table.height else 0, items_shown=shown_n, clicks=int(clicks),
                                    ctr=Interval(value=round(rate, 6), low=round(rate, 6), high=round(rate, 6))))
        a = table["clicks_a"].to_numpy().astype(np.float64) if table.height else np.zeros(0)
        b = table["clicks_b"].to_numpy().astype(np.float64) if table.height else np.zeros(0)
        pref = preference(a, b, alpha=experiment.alpha)
        interleaving = Interleaving(
            wins={names[0]: pref.wins_a, names[1]: pref.wins_b}, ties=pref.ties, users=pref.users,
            share=round(pref.share_b, 6), p_value=pref.sign_test.p_value, sequential_p_value=pref.sequential.p_value,
            significant=pref.sequential.significant if sequential else pref.sign_test.significant,
        )
        srm = None
        comparisons: list[Comparison] = []
    else:
        for variant in arms:
            d = data[variant.name]
            arm_results.append(ArmResult(
                variant=variant.name, kind=variant.kind, description=kind_of(variant.config).describe(variant.config),
                weight=variant.weight, users=int(d["bought"].size), exposures=int(d["exposures"].sum()),
                items_shown=int(d["items_shown"].sum()), clicks=int(d["clicks"].sum()),
                ctr=Interval.of(metric_estimate(d["clicks"], d["items_shown"], alpha=experiment.alpha)),
                add_to_cart=Interval.of(metric_estimate(d["carted"], None, alpha=experiment.alpha)),
                conversion=Interval.of(metric_estimate(d["bought"], None, alpha=experiment.alpha)),
                revenue_per_user=Interval.of(metric_estimate(d["revenue"], None, alpha=experiment.alpha)),
                revenue=round(float(d["revenue"].sum()), 2),
            ))
        users = [int(data[name]["bought"].size) for name in names]
        p = sample_ratio_mismatch(users, [v.weight for v in arms])
        total_weight = sum(v.weight for v in arms)
        srm = SampleRatio(p_value=p, mismatch=p < SRM_ALPHA, users=dict(zip(names, users, strict=True)),
                          expected_share={v.name: round(v.weight / total_weight, 6) for v in arms})
        comparisons = []
        enough = min(users) >= MIN_USERS_PER_ARM
        for variant in arms[1:]:
            for metric in _METRICS:
                est_c, est_t, test = compare(data[names[0]], data[variant.name], metric, alpha=alpha,
                                             sequential=sequential)
                comparisons.append(Comparison(
                    variant=variant.name, metric=metric, control=round(est_c.value, 6),
                    treatment=round(est_t.value, 6), difference=round(test.difference, 6),
                    low=round(test.low, 6) if math.isfinite(test.low) else None,
                    high=round(test.high, 6) if math.isfinite(test.high) else None,
                    relative=round(test.difference / est_c.value, 6) if est_c.value else None,
                    p_value=round(test.p_value, 8), significant=bool(test.significant and enough),
                    method=test.method,
                ))
    results = ExperimentResults(
        experiment_id=experiment.experiment_id, status=experiment.status, mode=experiment.mode,
        metric=experiment.metric, test="sequential" if sequential else "fixed_horizon",
        horizon_users=experiment.horizon_users, users=table.height, ready=False, arms=arm_results,
        comparisons=comparisons, srm=srm, interleaving=interleaving, verdict="", decision="keep_running",
    )
    text, decision, ready = verdict(experiment, results)
    return results.model_copy(update={"verdict": text, "decision": decision, "ready": ready})


def _arm(variant: object, *, users: int, exposures: int, items_shown: int, clicks: int, ctr: Interval) -> ArmResult:
    from cartwise.experiments.definition import Variant

    assert isinstance(variant, Variant)
    zero = Interval(value=0.0, low=0.0, high=0.0)
    return ArmResult(variant=variant.name, kind=variant.kind, description=kind_of(variant.config).describe(variant.config),
                     weight=variant.weight, users=users, exposures=exposures, items_shown=items_shown, clicks=clicks,
                     ctr=ctr, add_to_cart=zero, conversion=zero, revenue_per_user=zero, revenue=0.0)


__all__ = ["ArmResult", "Comparison", "ExperimentResults", "Interleaving", "Interval", "SampleRatio",
           "experiment_results", "user_table"]
