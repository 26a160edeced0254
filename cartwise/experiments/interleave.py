"""Team-draft interleaving (Radlinski, Kurup and Joachims, 2008): one list from two rankings.

Like two captains picking teams, the ranker with fewer picks so far (a coin flip when
they are level) adds its best item not yet taken, until the list is full. Each item
carries the team that picked it, and a click on it is a vote for that team. Each user's
votes decide their preference (more clicks for A's items, for B's, or a tie); over users,
a ranker that is no better wins half the decided users whatever the clicks' position
bias, because both teams are equally likely to hold each position. Every shopper sees
both rankings at once, so it takes far fewer users than an A/B test to tell two rankings
apart (``bench/experiments.py`` measures how many).

The coin flips come from the request id, so an answer can be drafted again identically.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cartwise.experiments.stats import TestResult, binomial_test, sequential_test

TEAMS = (0, 1)


def draft_rng(request_id: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.blake2b(request_id.encode(), digest_size=8).digest(), "big"))


def team_draft(a: Sequence[str], b: Sequence[str], *, k: int, rng: random.Random) -> list[tuple[str, int]]:
    """Up to `k` items of rankings `a` and `b`, each with the team (0: a, 1: b) that picked it."""
    picked: list[tuple[str, int]] = []
    taken: set[str] = set()
    cursors = [0, 0]
    lists = (a, b)
    counts = [0, 0]
    while len(picked) < k:
        if counts[0] < counts[1]:
            team = 0
        elif counts[1] < counts[0]:
            team = 1
        else:
            team = rng.randrange(2)
        ranking = lists[team]
        while cursors[team] < len(ranking) and ranking[cursors[team]] in taken:
            cursors[team] += 1
        if cursors[team] >= len(ranking):
            other = 1 - team
            ranking = lists[other]
            while cursors[other] < len(ranking) and ranking[cursors[other]] in taken:
                cursors[other] += 1
            if cursors[other] >= len(ranking):
                break
            team = other
        item = lists[team][cursors[team]]
        taken.add(item)
        picked.append((item, team))
        counts[team] += 1
    return picked


def team_draft_batch(rng: np.random.Generator, n: int, k: int) -> NDArray[np.int8]:
    """Teams by position of `n` interleavings of two rankings with no item in common (the
    simulation's fast path): each pair of positions holds one item of each team, in an
    order set by a coin flip."""
    first = rng.integers(0, 2, size=(n, (k + 1) // 2), dtype=np.int8)
    teams = np.empty((n, 2 * first.shape[1]), dtype=np.int8)
    teams[:, 0::2] = first
    teams[:, 1::2] = 1 - first
    return teams[:, :k]


@dataclass(frozen=True)
class Preference:
    """Users who clicked more of A's items, of B's, and tied (with clicks), and the tests."""

    wins_a: int
    wins_b: int
    ties: int
    users: int
    share_b: float
    """B's share of the decided users (0.5: no preference)."""
    sign_test: TestResult
    sequential: TestResult


def preference(clicks_a: NDArray[np.float64], clicks_b: NDArray[np.float64], *, alpha: float = 0.05) -> Preference:
    """The preference over users, from each user's clicks credited to A's and to B's items.

    Each user scores +1 (more B clicks), -1 (more A clicks) or 0; the sign test (exact
    binomial) reads it once, the mSPRT on the mean score (with its variance under no preference) may be read at
    any time."""
    score = np.sign(clicks_b - clicks_a)
    wins_b, wins_a = int((score > 0).sum()), int((score < 0).sum())
    ties = int(((score == 0) & ((clicks_a + clicks_b) > 0)).sum())
    decided = wins_a + wins_b
    share_b = wins_b / decided if decided else 0.5
    p = binomial_test(wins_b, wins_a)
    sign = TestResult(share_b - 0.5, 0.0, 0.0, 0.0, p, p < alpha, "sign test")
    n = score.size
    if n > 1 and decided:
        # The score's variance under no preference (mean 0): the share of decided users.
        second_moment = float((score * score).mean())
        variance = second_moment / n
        tau2 = 0.05 ** 2 * second_moment
        sequential = sequential_test(float(score.mean()), variance, tau2=tau2, alpha=alpha)
    else:
        sequential = TestResult(0.0, 0.0, 0.0, 0.0, 1.0, False, "always-valid mSPRT")
    return Preference(wins_a=wins_a, wins_b=wins_b, ties=ties, users=n, share_b=share_b, sign_test=sign,
                      sequential=sequential)


__all__ = ["TEAMS", "Preference", "draft_rng", "preference", "team_draft", "team_draft_batch"]
