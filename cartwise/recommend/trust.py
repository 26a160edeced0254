"""Trust: how much each shopper's events may move popularity and co-occurrence.

Identities are free, so counting every identity alike lets anyone buy the top of "popular":
10,000 fake shoppers with one purchase each moved the demo store's 5th most popular item
to 1st, and so did 10,000 that each also bought two random decoy items (enough history to
count in full). Popularity and item-kNN therefore multiply every event by a factor from
:func:`assess` (see :class:`TrustPolicy` for each defence and why its default is what it
is) and report what they discounted, bursts named by kind, so a store owner can see it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.recommend.base import DAY_MS, sum_by

# A store may tolerate newcomers on one item up to this many times their share of the
# whole store's score (the share cap never binds below `low_history_share`).
_STORE_SHARE_TOLERANCE = 2.0
# Bursts and reduced items named in a report (all are counted).
_REPORT_TOP = 5


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """How much low-history shoppers count. Three defences, each cheap and each bounded:

    1. **History weight**: a shopper counts ``min(1, distinct items / full_trust_items)``.
       One fake click costs nothing; a customer with a real basket costs the attacker
       real purchases. It applies only where the typical event's shopper (a median over
       *events*, which fakes cannot move without outnumbering every real event) has at
       least `full_trust_items` items: in a store of one-visit shoppers short histories
       are normal, and discounting everyone would only reorder them arbitrarily.
    2. **Bursts**: shoppers with fewer than `full_trust_items` distinct items are
       *newcomers*, dated by their first event into windows of `burst_window_days`. When
       more than `burst_min_users` newcomers of one window chose one item, and more than
       `burst_factor` times what the item would draw of that window's other newcomers at
       its share of established shoppers, they are one coordinated source and together
       count as one shopper. A real bestseller draws newcomers in proportion to its
       established buyers, alongside newcomers on other items, so it is not a burst.
    3. **Cohort bursts**: decoy items buy an identity full history trust and take it out of
       the newcomers, so every identity is also dated by its first event, whatever its
       history. When more than `burst_min_users` ids first seen in one window chose one item
       (a newcomer burst counting as one), and more than `burst_factor` times what the item
       would draw of that window's other ids at its share of the established shoppers of
       *other* windows, the cohort counts as the shoppers the item would have drawn plus one
       for the coordinated excess: capped, not collapsed, so the window's real buyers keep
       roughly their weight and a flood cannot demote an item. The baseline resists the
       flood itself: each window counts at most as many established ids as the typical
       window brings, the ids of first-pass bursts are left out of it, and a window with
       fewer than `burst_min_users` established shoppers elsewhere is not judged. Real new
       customers arrive on many items at the rates established shoppers choose them, so
       on the demo store no cohort is flagged (its largest, 25 new ids on its bestseller
       in one day, is 2.4 times what the item draws). The report gives each burst's kind
       and how alike its ids are (median distinct items, share active on one day only).
    4. **Share cap**: on every item, newcomers together may make at most
       `low_history_share` of its score (or twice the store-wide newcomer share, if that
       is higher, so a store of newcomers is not capped), but never less than
       `share_floor_users` newcomers' worth, so an item only newcomers chose keeps a
       score. This bounds a slow drip that stays under the burst threshold to +11%.

    Shoppers with `full_trust_items` or more distinct items count in full unless their
    cohort is a burst. What none of this catches is full-history fakes dripped at about the
    store's own arrival rate into every window, on an item that is already popular: they
    are the baseline. Faking those takes that many identities and purchases, every day.
    """

    full_trust_items: int = 3
    burst_window_days: float = 1.0
    burst_min_users: int = 20
    burst_factor: float = 10.0
    low_history_share: float = 0.1
    share_floor_users: int = 5

    def __post_init__(self) -> None:
        for name in ("full_trust_items", "burst_min_users", "share_floor_users"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{name} must be an integer >= 1, got {value!r}", field=name)
        for name in ("burst_window_days", "burst_factor"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
                raise ValidationError(f"{name} must be a finite number > 0, got {value!r}", field=name)
        share = self.low_history_share
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 1:
            raise ValidationError(f"low_history_share must be in (0, 1], got {share!r}", field="low_history_share")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, params: dict[str, Any] | None) -> TrustPolicy | None:
        return None if params is None else cls(**params)


@dataclass(frozen=True, slots=True)
class Assessment:
    """What :func:`assess` found: a factor per (user, item) and the bursts behind them.

    `pairs` has columns user_id, item_id, factor (history weight x burst collapse) and
    low (a newcomer); `items` has item_id and newcomers (distinct newcomers on the item,
    a burst counting as one); `bursts` has item_id, window_start_ms, kind ("newcomers":
    low-history ids collapsed to one; "cohort": every id first seen in the window, capped),
    new_users (ids), expected, median_items and one_day (the ids' distinct items, and the
    share whose events all fell within one day), one row per item and window.
    """

    pairs: pl.DataFrame
    items: pl.DataFrame
    bursts: pl.DataFrame
    full_trust_items: int
    low_history_users: int


def assess(events: pl.DataFrame, policy: TrustPolicy) -> Assessment:
    """Trust of every (user, item) pair of `events` (user_id, item_id, ts columns) under `policy`."""
    chosen = events.lazy().filter(pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null()).select(
        pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8), pl.col("ts").fill_null(0)
    )
    window = max(int(policy.burst_window_days * DAY_MS), 1)
    users = (
        chosen.group_by("user_id")
        .agg(
            pl.col("item_id").n_unique().alias("n_items"),
            pl.len().alias("n_events"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
        .collect()
    )
    # The typical event's shopper: a median over events, which fakes cannot move cheaply.
    typical = _weighted_median(users["n_items"].to_numpy(), users["n_events"].to_numpy())
    full = policy.full_trust_items if typical >= policy.full_trust_items else 1
    users = users.with_columns(
        (pl.col("n_items") / full).clip(upper_bound=1.0).alias("trust"),
        (pl.col("n_items") < policy.full_trust_items).alias("low"),
        (pl.col("first") // window).alias("bucket"),
    )
    pairs = (
        chosen.group_by("user_id", "item_id").agg(pl.len().alias("n")).collect()
        .join(users.select("user_id", "trust", "low", "bucket"), on="user_id")
    )

    # (a) Newcomers: low-history ids of one window on one item, against the item's share of
    # established shoppers.
    established = users.filter(~pl.col("low")).height
    share = (
        pairs.filter(~pl.col("low")).group_by("item_id").len()
        .select("item_id", ((pl.col("len") + 1) / (established + 1)).alias("share"))
    )
    arrivals = users.filter(pl.col("low")).group_by("bucket").len().rename({"len": "arrivals"})
    newcomers = _flag(
        pairs.filter(pl.col("low")).group_by("item_id", "bucket").len().rename({"len": "new_users"})
        .join(share, on="item_id", how="left")
        .with_columns(pl.col("share").fill_null(1 / (established + 1)))
        .join(arrivals, on="bucket")
        .with_columns((pl.col("arrivals") - pl.col("new_users")).alias("others")),
        policy,
    )
    new_bursts = newcomers.filter(pl.col("burst")).select("item_id", "bucket", "new_users", "expected")
    pairs = (
        pairs.join(
            new_bursts.select("item_id", "bucket", pl.col("new_users").alias("burst_size")),
            on=["item_id", "bucket"], how="left",
        )
        # A newcomer burst counts as one shopper: its newcomers share one shopper's trust.
        # Only its newcomers collapse; established shoppers of that day do not.
        .with_columns((pl.col("low") & pl.col("burst_size").is_not_null()).alias("in_burst"))
        .with_columns(
            pl.when(pl.col("in_burst"))
            .then(pl.col("trust") / pl.col("burst_size").cast(pl.Float64))
            .otherwise(pl.col("trust"))
            .alias("factor")
        )
        .drop("burst_size")
    )

    # (b) Cohorts: every id by the window it first appeared in, whatever its history, against
    # the item's share of the established shoppers who arrived in other windows. Decoy items
    # make a fake id established but do not dilute its cohort's concentration on the target.
    # In that baseline a window counts at most as many established ids as the typical window
    # brings, so that a flood of ids in one window can neither dilute every other item's
    # share (and have real cohorts flagged) nor pad its target's share in the other windows
    # of a longer attack. Without `burst_min_users` established shoppers outside a window
    # (a store that opened, or was imported, in one window) there is nothing to compare
    # that window with, and it is not judged.
    cohorts = _cohorts(pairs, users, policy, suspects=None)
    # Then again without the ids of those bursts in the baseline: a flood spread over several
    # windows would otherwise pad its target's share, and so its allowance, in each of them.
    suspects = cohorts.filter(pl.col("burst")).select("item_id", "bucket").join(
        pairs.select("user_id", "item_id", "bucket"), on=["item_id", "bucket"]
    ).select("user_id").unique()
    if suspects.height:
        cohorts = _cohorts(pairs, users, policy, suspects=suspects)
    # A cohort burst counts as many shoppers as the item draws of the window's other ids at
    # its baseline share (`expected`, the window's genuine buyers, as near as they can be
    # told apart) plus one for the coordinated excess. Capping rather than collapsing
    # keeps a flooded item's real buyers of that window, so a flood cannot demote it.
    cohort_bursts = cohorts.filter(pl.col("burst")).with_columns(
        ((pl.col("expected") + 1.0) / pl.col("mass")).clip(upper_bound=1.0).alias("scale")
    )
    pairs = (
        pairs.join(cohort_bursts.select("item_id", "bucket", "scale"), on=["item_id", "bucket"], how="left")
        .with_columns(
            (pl.col("factor") * pl.col("scale").fill_null(1.0)).alias("factor"),
            (pl.col("in_burst") | pl.col("scale").is_not_null()).alias("collapsed"),
        )
    )
    # One row per burst window: a cohort burst (all its ids) supersedes in the report a
    # newcomer burst (its low-history ids) on the same item and window.
    bursts = pl.concat(
        [
            cohort_bursts.select("item_id", "bucket", pl.col("ids").alias("new_users"), "expected")
            .with_columns(pl.lit("cohort").alias("kind")),
            new_bursts.join(cohort_bursts, on=["item_id", "bucket"], how="anti")
            .with_columns(pl.lit("newcomers").alias("kind")),
        ],
        how="vertical_relaxed",
    )
    # The burst's profile, for the report: how alike its ids are (distinct items each, and
    # how many did everything within one day).
    profile = (
        pairs.filter(pl.col("collapsed"))
        .join(users.select("user_id", "n_items", "first", "last"), on="user_id")
        .group_by("item_id", "bucket")
        .agg(
            pl.col("n_items").median().alias("median_items"),
            ((pl.col("last") - pl.col("first")) < DAY_MS).mean().alias("one_day"),
        )
    )
    # A burst is one source: it counts as one newcomer towards the share cap's floor.
    per_item = (
        pairs.filter(pl.col("low"))
        .group_by("item_id", "bucket")
        .agg(pl.len().alias("n"), pl.col("collapsed").any().alias("burst"))
        .group_by("item_id")
        .agg(pl.when(pl.col("burst")).then(1).otherwise(pl.col("n")).sum().alias("newcomers"))
    )
    return Assessment(
        pairs=pairs.select("user_id", "item_id", "factor", "low"),
        items=per_item,
        bursts=bursts.join(profile, on=["item_id", "bucket"], how="left").select(
            "item_id",
            (pl.col("bucket") * window).alias("window_start_ms"),
            "kind",
            "new_users",
            pl.col("expected").round(3),
            pl.col("median_items").fill_null(0.0),
            pl.col("one_day").fill_null(0.0).round(4),
        ).sort(["new_users", "item_id", "window_start_ms"], descending=[True, False, False]),
        full_trust_items=full,
        low_history_users=int(users["low"].sum()),
    )


def _cohorts(
    pairs: pl.DataFrame, users: pl.DataFrame, policy: TrustPolicy, suspects: pl.DataFrame | None
) -> pl.DataFrame:
    """Every (item, window) of first appearance, flagged by :func:`_flag` against a baseline
    of the established ids of other windows, less `suspects` (user_id)."""
    base = ~pl.col("low")
    if suspects is not None:
        flagged = suspects.select("user_id", pl.lit(True).alias("suspect"))
        users = users.join(flagged, on="user_id", how="left")
        pairs = pairs.join(flagged, on="user_id", how="left")
        base = base & pl.col("suspect").is_null()
    arrived = users.group_by("bucket").agg(pl.len().alias("arrivals"), base.sum().alias("est"))
    est = arrived["est"].to_numpy()
    typical_est = float(np.median(est[est > 0])) if (est > 0).any() else 1.0
    arrived = arrived.with_columns(
        (pl.lit(typical_est) / pl.col("est").cast(pl.Float64)).clip(upper_bound=1.0).alias("weight")
    )
    baseline = float((arrived["est"] * arrived["weight"]).sum())
    waves = (
        pairs.group_by("item_id", "bucket")
        .agg(
            # A newcomer burst already counts as one shopper: it is one id of the cohort.
            ((~pl.col("in_burst")).sum() + pl.col("in_burst").any().cast(pl.UInt32)).alias("new_users"),
            pl.len().alias("ids"),
            pl.col("factor").sum().alias("mass"),
            base.sum().alias("est_users"),
        )
        .join(arrived, on="bucket")
        .with_columns(
            (pl.col("est_users") * pl.col("weight")).alias("weighted"),
            (baseline - pl.col("est") * pl.col("weight")).alias("elsewhere"),
            (pl.col("arrivals") - pl.col("ids")).alias("others"),
        )
    )
    return _flag(
        waves.with_columns(pl.col("weighted").sum().over("item_id").alias("item_weighted"))
        .with_columns(
            ((pl.col("item_weighted") - pl.col("weighted") + 1) / (pl.col("elsewhere") + 1)).alias("share")
        ),
        policy,
    ).with_columns(pl.col("burst") & (pl.col("elsewhere") >= policy.burst_min_users))


def _flag(cohorts: pl.DataFrame, policy: TrustPolicy) -> pl.DataFrame:
    """Mark each (item, window) of `cohorts` (new_users: ids of the window on the item;
    others: the window's ids not on it; share: the item's share of the baseline shoppers) whose ids
    are more than `burst_min_users` and `burst_factor` times what the item draws of the
    window's *other* ids at its baseline share: concentration, which an attacker cannot
    raise without as many decoys. A share is taken as at most 1/2 (no item is expected to
    draw more ids than all others together), which is what every item gets in a store
    without a baseline."""
    share_of = pl.col("share").clip(upper_bound=0.5)
    return cohorts.with_columns(
        (pl.col("others") * share_of / (1 - share_of)).alias("expected")
    ).with_columns(
        (
            (pl.col("new_users") > policy.burst_min_users)
            & (pl.col("new_users") > policy.burst_factor * pl.col("expected"))
        ).alias("burst")
    )


def _weighted_median(values: NDArray[Any], weights: NDArray[Any]) -> float:
    if not values.size:
        return 0.0
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def event_factors(
    assessment: Assessment,
    frame: pl.DataFrame,
    item_index: NDArray[np.int64],
    values: NDArray[np.float64],
    policy: TrustPolicy,
    n_items: int,
) -> NDArray[np.float64]:
    """Factor of each row of `frame` (user_id, item_id; `item_index` its item's index,
    `values` what the row adds to the model before trust): history weight x burst
    collapse x the item's share cap. Rows without a user count in full."""
    joined = frame.select(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8)).join(
        assessment.pairs, on=["user_id", "item_id"], how="left", maintain_order="left"
    ).join(assessment.items, on="item_id", how="left", maintain_order="left")
    factor = joined["factor"].fill_null(1.0).to_numpy().astype(np.float64)
    low = joined["low"].fill_null(False).to_numpy().astype(bool)
    newcomers = joined["newcomers"].fill_null(0).to_numpy().astype(np.float64)
    known = item_index >= 0
    weighted = values * factor
    low_total = np.zeros(n_items)
    est_total = np.zeros(n_items)
    if n_items:
        idx, sums = sum_by(item_index[known & low], weighted[known & low], size=n_items)
        low_total[idx] = sums
        idx, sums = sum_by(item_index[known & ~low], weighted[known & ~low], size=n_items)
        est_total[idx] = sums
    everything = low_total.sum() + est_total.sum()
    store_share = low_total.sum() / everything if everything > 0 else 0.0
    share = max(policy.low_history_share, _STORE_SHARE_TOLERANCE * store_share)
    if share >= 1.0 or not n_items:
        return factor
    allowed = share / (1.0 - share) * est_total
    # Never below `share_floor_users` newcomers' worth: the cohort's mean newcomer times the floor.
    per_item_newcomers = np.zeros(n_items)
    per_item_newcomers[item_index[known & low]] = newcomers[known & low]
    floor = low_total * np.minimum(1.0, policy.share_floor_users / np.maximum(per_item_newcomers, 1.0))
    allowed = np.maximum(allowed, floor)
    cap = np.where(low_total > allowed, allowed / np.where(low_total > 0, low_total, 1.0), 1.0)
    capped = known & low
    factor[capped] *= cap[item_index[capped]]
    return factor


def summary(
    assessment: Assessment,
    item_ids: list[str],
    before: NDArray[np.float64],
    after: NDArray[np.float64],
    discounted_events: int,
) -> dict[str, Any]:
    """What trust discounted, for the manifest and `cartwise train`: newcomers, events
    counted at less than full weight, bursts (per item: kind, ids, windows, how alike the
    ids are), and the items whose score fell most."""
    lost = before - after
    order = np.lexsort((np.arange(lost.size), -lost))[:_REPORT_TOP]
    rank_before = _ranks(before)
    rank_after = _ranks(after)
    reduced = [
        {
            "item_id": item_ids[i],
            "score_before": round(float(before[i]), 3),
            "score_after": round(float(after[i]), 3),
            "reduction": round(float(lost[i] / before[i]), 4) if before[i] > 0 else 0.0,
            "rank_before": int(rank_before[i]),
            "rank_after": int(rank_after[i]),
        }
        for i in order.tolist()
        if lost[i] > 1e-9
    ]
    total = float(before.sum())
    position = {item: i for i, item in enumerate(item_ids)}
    bursts = (
        assessment.bursts.group_by("item_id")
        .agg(
            # "cohort" if any window's burst was judged over all its new ids, whatever their
            # history (decoy items did not save them); "newcomers" if only low-history ids.
            pl.when((pl.col("kind") == "cohort").any()).then(pl.lit("cohort")).otherwise(pl.lit("newcomers"))
            .alias("kind"),
            pl.len().alias("windows"),
            pl.col("new_users").sum(),
            pl.col("window_start_ms").min().alias("first_window_ms"),
            # How alike the ids are: distinct items each, and the share that did everything
            # within one day (weighted over the item's burst windows).
            ((pl.col("median_items") * pl.col("new_users")).sum() / pl.col("new_users").sum())
            .round(1).alias("median_items"),
            ((pl.col("one_day") * pl.col("new_users")).sum() / pl.col("new_users").sum())
            .round(4).alias("one_day"),
        )
        .sort(["new_users", "item_id"], descending=[True, False])
    ).to_dicts()
    for burst in bursts:
        i = position.get(burst["item_id"])
        burst["score_reduction"] = round(float(lost[i] / before[i]), 4) if i is not None and before[i] > 0 else 0.0
    return {
        "full_trust_items": assessment.full_trust_items,
        "low_history_users": assessment.low_history_users,
        "events_discounted": int(discounted_events),
        "score_discounted": round(float(lost.sum() / total), 6) if total > 0 else 0.0,
        "burst_items": len(bursts),
        "cohort_burst_items": sum(1 for burst in bursts if burst["kind"] == "cohort"),
        "bursts": bursts[:_REPORT_TOP],
        "items_reduced": reduced,
    }


def _ranks(scores: NDArray[np.float64]) -> NDArray[np.int64]:
    """1-based popularity rank of every item (ties to the smaller index)."""
    order = np.lexsort((np.arange(scores.size), -scores))
    ranks = np.empty(scores.size, dtype=np.int64)
    ranks[order] = np.arange(1, scores.size + 1)
    return ranks
