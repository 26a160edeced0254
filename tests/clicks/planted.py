"""Synthetic impression logs with known click rules, shared by the click model tests."""

from __future__ import annotations

import numpy as np
import polars as pl

from cartwise.clicks.features import FeatureSpec

SEGMENTS = 6


def agreement_log(n: int, *, seed: int) -> pl.DataFrame:
    """Clicks that depend only on whether the shopper's segment and the item's category
    agree (an interaction: each on its own says nothing), plus a position effect (slot 1
    clicked more) and a noise feature."""
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, SEGMENTS, n)
    category = rng.integers(0, SEGMENTS, n)
    position = rng.integers(1, 4, n)
    agree = segment == category
    rate = np.where(agree, 0.7, 0.02) * np.where(position == 1, 1.0, 0.7)
    return pl.DataFrame({
        "user_segment": [f"s{v}" for v in segment],
        "category": [f"c{v}" for v in category],
        "position": position,
        "hour": rng.integers(0, 24, n),
        "noise": rng.normal(size=n),
        "clicked": (rng.random(n) < rate).astype(np.int64),
    })


AGREEMENT_SPEC = FeatureSpec(numeric=("noise", "hour"), categorical=("user_segment", "category"), position="position")


def history_log(n: int, *, seed: int, items: int = 40, groups: int = 4) -> pl.DataFrame:
    """Each shopper's recent items come from one group; a candidate is clicked mostly when
    it is of that group. Item ids carry no group label: only the history reveals it."""
    rng = np.random.default_rng(seed)
    group_of = np.arange(items) % groups
    by_group = [np.flatnonzero(group_of == g) for g in range(groups)]
    favourite = rng.integers(0, groups, n)
    histories = [[f"i{v}" for v in rng.choice(by_group[g], size=rng.integers(2, 6))] for g in favourite]
    candidate = rng.integers(0, items, n)
    rate = np.where(group_of[candidate] == favourite, 0.7, 0.05)
    return pl.DataFrame({
        "recent": histories,
        "item_id": [f"i{v}" for v in candidate],
        "history_length": [len(h) for h in histories],
        "clicked": (rng.random(n) < rate).astype(np.int64),
    })


HISTORY_SPEC = FeatureSpec(numeric=("history_length",), categorical=("item_id",), history="recent", item="item_id")


def purchase_log(n: int, *, seed: int) -> pl.DataFrame:
    """Clicks depend on the segment-category agreement; a click turns into a purchase
    mostly when the price band suits the shopper's budget (another interaction)."""
    log = agreement_log(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    budget = rng.integers(0, 3, n)
    band = rng.integers(0, 3, n)
    buys = np.where(budget == band, 0.7, 0.03)
    purchased = log["clicked"].to_numpy() * (rng.random(n) < buys)
    return log.with_columns(
        pl.Series("budget", [f"b{v}" for v in budget]),
        pl.Series("price_band", [f"p{v}" for v in band]),
        pl.Series("purchased", purchased.astype(np.int64)),
    )


PURCHASE_SPEC = FeatureSpec(numeric=("noise",), categorical=("user_segment", "category", "budget", "price_band"),
                            position="position")
