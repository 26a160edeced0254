"""Candidate feature rows: each member's score, share and rank, the sentinel for items a
member did not propose, repeat and recency, transitions after the last item, categories."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cartwise.rank.features import MISSING_RANK, CandidateFeatures
from cartwise.recommend import Interaction, Scored


def _events() -> pl.DataFrame:
    rows = [
        ("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3),
        ("u2", "a", 4), ("u2", "b", 5),
        ("u3", "b", 6), ("u3", "a", 7), ("u3", "d", 100),
    ]
    return pl.DataFrame({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
                         "event_type": "purchase", "ts": [r[2] for r in rows]})


@pytest.fixture(scope="module")
def features() -> CandidateFeatures:
    items = pl.DataFrame({"item_id": ["a", "b", "c", "d", "e"], "category": ["x", "x", "y", "y", ""]})
    return CandidateFeatures(members=["m1", "m2"], recent_share=0.4).fit(_events(), items=items)


def _column(features: CandidateFeatures, built, name: str) -> np.ndarray:
    return built.features[:, features.names.index(name)]


def test_member_scores_ranks_and_missing_sentinel(features: CandidateFeatures) -> None:
    history = [Interaction("a", "purchase", 10), Interaction("a", "view", 20)]
    answers = [
        [[Scored("b", 3.0, "m1 says b"), Scored("c", 1.0, "m1 says c")]],
        [[Scored("c", 0.5, "m2 says c"), Scored("e", 0.1, "m2 says e", ("a",))]],
    ]
    built = features.build([history], answers)
    assert built.items == ["b", "c", "e"]
    assert built.offsets.tolist() == [0, 3]
    np.testing.assert_allclose(_column(features, built, "m1_score")[:2], [3.0, 1.0])
    assert np.isnan(_column(features, built, "m1_score")[2])
    assert _column(features, built, "m1_rank").tolist() == [0, 1, MISSING_RANK]
    assert _column(features, built, "m2_rank").tolist() == [MISSING_RANK, 0, 1]
    np.testing.assert_allclose(_column(features, built, "m1_share")[:2], [1.0, 0.0])
    assert _column(features, built, "sources").tolist() == [1, 2, 1]
    # c: rank 1 for m1, rank 0 for m2, so m2's explanation is kept.
    assert [s.reason for s in built.lead] == ["m1 says b", "m2 says c", "m2 says e"]
    assert built.lead[2].because == ("a",)


def test_item_history_and_sequence_features(features: CandidateFeatures) -> None:
    history = [Interaction("b", "view", 50), Interaction("a", "purchase", 60), Interaction("b", "purchase", 70)]
    answers = [[[Scored("c", 1.0, "r"), Scored("b", 0.9, "r"), Scored("d", 0.8, "r"), Scored("zz", 0.1, "r")]],
               [[]]]
    built = features.build([history], answers)
    assert built.items == ["c", "b", "d", "zz"]
    col = lambda name: _column(features, built, name)  # noqa: E731
    assert col("item_count").tolist() == [1, 3, 1, 0]
    # b was chosen twice, last at the newest event; c and d never.
    assert col("repeat_count").tolist() == [0, 2, 0, 0]
    assert col("since_last_interaction")[1] == 0 and np.isnan(col("since_last_interaction")[0])
    assert col("steps_since")[1] == 0
    # Last item b: b -> c once (u1), b -> a twice (u2's a->b is the other way).
    assert col("after_last")[0] == 1 and col("after_last")[2] == 0 and np.isnan(col("after_last")[3])
    # Previous distinct item a: a -> b twice (u1, u2).
    assert col("after_previous")[1] == 2
    assert col("history_length")[0] == 3 and col("history_distinct")[0] == 2 and col("history_span")[0] == 20
    # d was last chosen at ts 100, after this history's newest event: staleness negative.
    assert col("item_staleness")[2] == 70 - 100
    # Recent categories: b, a, b are all "x"; c is "y".
    assert col("category_share")[0] == 0 and col("category_share")[1] == 1
    assert np.isnan(col("category_share")[3])


def test_empty_history_and_no_candidates(features: CandidateFeatures) -> None:
    built = features.build([[], []], [[[], [Scored("a", 1.0, "r")]], [[], []]])
    # member 1 proposes a to the second history only; member 2 nothing.
    assert built.offsets.tolist() == [0, 0, 1]
    assert built.features.shape == (1, len(features.names))


def test_round_trip(features: CandidateFeatures, tmp_path) -> None:
    features.save(tmp_path)
    loaded = CandidateFeatures.load(tmp_path)
    history = [Interaction("a", "purchase", 10), Interaction("b", "purchase", 11)]
    answers = [[[Scored("c", 1.0, "r"), Scored("a", 0.5, "r")]], [[Scored("d", 2.0, "r")]]]
    np.testing.assert_array_equal(features.build([history], answers).features,
                                  loaded.build([history], answers).features)
