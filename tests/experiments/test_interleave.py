"""Team-draft interleaving: a fair draft, unbiased under a random clicker, and it finds
the better of two rankers."""

from __future__ import annotations

import random

import numpy as np

from cartwise.experiments import preference, team_draft
from cartwise.experiments.interleave import draft_rng
from cartwise.experiments.simulate import (
    SharedPool,
    interleaving_power,
    simulate_interleaving,
)
from cartwise.experiments.stats import binomial_interval


def test_each_team_picks_its_best_item_left_and_the_teams_stay_level():
    a = ["a1", "s1", "a2", "s2", "a3", "a4"]
    b = ["s1", "b1", "s2", "b2", "b3", "b4"]
    for seed in range(200):
        drafted = team_draft(a, b, k=6, rng=random.Random(seed))
        items = [item for item, _ in drafted]
        assert len(items) == len(set(items)) == 6
        for team, ranking in ((0, a), (1, b)):
            mine = [item for item, t in drafted if t == team]
            assert mine == sorted(mine, key=ranking.index)  # in the team's own order
        counts = [0, 0]
        for _, team in drafted:
            counts[team] += 1
            assert abs(counts[0] - counts[1]) <= 1


def test_a_short_list_lets_the_other_team_fill_the_answer():
    drafted = team_draft(["x"], ["y1", "y2", "y3"], k=4, rng=random.Random(1))
    assert sorted(item for item, _ in drafted) == ["x", "y1", "y2", "y3"]
    assert team_draft([], [], k=3, rng=random.Random(1)) == []


def test_the_draft_is_the_same_for_the_same_request_id():
    a, b = list("abcdefgh"), list("hgfedcba")
    assert team_draft(a, b, k=8, rng=draft_rng("r-1")) == team_draft(a, b, k=8, rng=draft_rng("r-1"))


def test_identical_rankings_split_the_top_position_evenly():
    """Same list for both teams: who owns position 1 is a coin flip, so a clicker who
    only ever clicks the top item credits each team half the time."""
    ranking = [f"i{n}" for n in range(10)]
    owners = [team_draft(ranking, ranking, k=10, rng=random.Random(s))[0][1] for s in range(4000)]
    low, high = binomial_interval(2000, 4000, level=0.999)
    assert low <= owners.count(1) <= high


def test_a_random_clicker_prefers_neither_ranker_at_the_nominal_rate():
    rng = np.random.default_rng(5)
    rejected = simulate_interleaving(rng, experiments=1000, users=400, pair=_pair(), random_clicker=True)
    _, high = binomial_interval(50, 1000)
    # The exact sign test is discrete, so a little conservative: at most 5%, but not far below.
    assert 20 <= rejected * 1000 <= high
    # And with the real draft over rankings of shared candidates:
    shared = interleaving_power(rng, experiments=150, users=120, pool=SharedPool(), random_clicker=True)
    _, high = binomial_interval(round(0.05 * 150), 150, level=0.999)
    assert shared * 150 <= high


def test_the_better_ranker_is_detected():
    rng = np.random.default_rng(6)
    found = interleaving_power(rng, experiments=60, users=2000, pool=SharedPool(quality_b=2.0))
    assert found >= 0.8  # about 0.8 at 1,000 users: 2,000 leave room for the simulation's own noise
    clicks_a = np.array([0, 1, 0, 2, 0, 0] * 50, dtype=float)
    clicks_b = np.array([1, 0, 1, 3, 0, 2] * 50, dtype=float)
    pref = preference(clicks_a, clicks_b)
    assert (pref.wins_b, pref.wins_a, pref.ties) == (200, 50, 0) and pref.sign_test.significant
    assert pref.sequential.significant and pref.share_b == 0.8


def _pair():
    from cartwise.experiments.simulate import RankingPair

    return RankingPair()
