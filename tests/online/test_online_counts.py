"""The online deltas' arithmetic: decayed counters equal a refit's decayed sums, pairs are
counted once per shopper, and every object stays as it was when a newer one is made."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from cartwise.online import CoCounts, DecayedCounts
from cartwise.online.answers import popular
from cartwise.recommend.base import DAY_MS
from cartwise.recommend.popularity import Popularity

T0 = 1_700_000_000_000


def test_decayed_counts_equal_a_direct_sum_and_survive_reanchoring():
    entries = [("a", 8.0, T0 + 3 * DAY_MS), ("b", 1.0, T0 + DAY_MS), ("a", 1.0, T0 - 2 * DAY_MS)]
    counts = DecayedCounts(2.0, T0).add(entries)
    now = T0 + 5 * DAY_MS
    expected = 8.0 * 2 ** (-2 / 2) + 1.0 * 2 ** (-7 / 2)
    assert counts.at("a", now) == pytest.approx(expected)
    assert counts.at("b", now) == pytest.approx(2 ** (-4 / 2))
    assert counts.top(1) == [("a", counts.values["a"])]
    # An event 1,000 half-lives later moves the anchor; the counts at any time agree.
    far = T0 + 2000 * DAY_MS
    later = counts.add([("c", 1.0, far)])
    assert later.anchor_ms == far
    assert later.at("c", far) == pytest.approx(1.0)
    assert later.at("a", far) == pytest.approx(counts.at("a", far), abs=1e-300)
    assert "c" not in counts.values  # the older object is untouched


def test_cocounts_count_each_shopper_once_and_copy_only_changed_rows():
    empty = CoCounts(shrinkage=10.0)
    one = empty.add([("u1", "x", 0.5, (("y", 0.5), ("z", 0.25)))])
    assert one.pairs["x"] == {"y": (1, 0.25), "z": (1, 0.125)} and one.pairs["y"] == {"x": (1, 0.25)}
    assert one.add([("u1", "x", 0.5, (("y", 0.5),))]) is one  # the same shopper again: nothing new
    two = one.add([("u2", "x", 1.0, (("y", 1.0),))])
    assert two.pairs["x"]["y"] == (2, 1.25) and two.squares == {"x": 1.25}
    assert one.pairs["x"]["y"] == (1, 0.25) and not empty.pairs
    assert two.pairs["z"] is one.pairs["z"]  # an untouched row is shared, not copied
    # y: the model's norm 2; x: unknown to the model, its norm from the new shoppers alone.
    sims = two.similarity("x", lambda i: {"y": 2.0}.get(i, 0.0))
    assert sims["y"] == pytest.approx(1.25 / (math.sqrt(1.25) * 2.0) * 2 / 12)
    assert "z" not in sims  # z has no norm at all: no similarity to speak of
    assert all(0 < s <= 1 for s in sims.values())


def _events(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": [u for u, _, _ in rows], "item_id": [i for _, i, _ in rows],
         "event_type": ["purchase"] * len(rows), "ts": [t for _, _, t in rows]},
        schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "event_type": pl.Utf8, "ts": pl.Int64},
    )


def test_model_plus_online_counts_rank_as_a_refit_on_all_events():
    rng = np.random.default_rng(0)
    items = pl.DataFrame({"item_id": [f"i{n}" for n in range(30)], "category": ["c"] * 30})
    rows = [(f"u{rng.integers(50)}", f"i{min(int(rng.exponential(6)), 29)}", T0 + int(rng.integers(60 * DAY_MS)))
            for _ in range(600)]
    rows.sort(key=lambda r: r[2])
    early, late = rows[:400], rows[400:]
    base = Popularity(trust=None).fit(_events(early), items)
    full = Popularity(trust=None).fit(_events(rows), items)
    counts = DecayedCounts(base.half_life_days, base.now_ms_).add((i, 8.0, t) for _, i, t in late)

    class Deltas:  # what `popular` reads of OnlineDeltas
        popularity = counts

    fused = popular(base, Deltas(), 10)  # type: ignore[arg-type]
    refit = full.recommend(10)
    assert [s.item_id for s in fused] == [s.item_id for s in refit]
    ratio = 2 ** ((full.now_ms_ - base.now_ms_) / (base.half_life_days * DAY_MS))
    np.testing.assert_allclose([s.score for s in fused], [s.score * ratio for s in refit], rtol=1e-6)
