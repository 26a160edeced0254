import dataclasses

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartwise.recommend import HistoryRecommender, IdMap, Interaction, ItemKNN, Popularity, Scored, SimilarItems


def test_idmap_assigns_stable_indices():
    ids = IdMap(["b", "a", "b"])
    assert ids.ids == ["b", "a"] and len(ids) == 2
    assert ids.add(["c", "a", None]).tolist() == [2, 1, -1]
    assert ids.indices(["a", "zz", "c"]).tolist() == [1, -1, 2]
    assert ids.labels([2, 0]) == ["c", "b"]
    assert "c" in ids and "zz" not in ids and ids.get("zz") is None


def test_idmap_from_series_is_sorted_and_ignores_nulls():
    ids = IdMap.from_series(pl.Series(["z", None, "a", "z"]))
    assert ids.ids == ["a", "z"]
    assert IdMap(ids.to_numpy().tolist()) == ids


@given(st.lists(st.text(min_size=1, max_size=5), max_size=40), st.lists(st.text(min_size=1, max_size=5), max_size=40))
def test_idmap_vectorised_lookup_matches_dict_lookup(known, queries):
    ids = IdMap(known)
    expected = [ids.ids.index(q) if q in ids else -1 for q in queries]
    assert ids.indices(queries).tolist() == expected
    assert ids.indices(pl.Series(queries, dtype=pl.Utf8)).tolist() == expected


def test_idmap_large_lookup_uses_the_same_answer():
    ids = IdMap([f"i{n}" for n in range(5000)])
    queries = [f"i{n}" for n in range(0, 10000, 3)]
    got = ids.indices(queries)
    assert got.tolist() == [n if n < 5000 else -1 for n in range(0, 10000, 3)]
    assert got.dtype == np.int64


def test_results_are_immutable_values():
    scored = Scored(item_id="a", score=1.0, reason="why")
    assert scored.because == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        scored.score = 2.0  # type: ignore[misc]
    assert Interaction("a", "view", 1) == Interaction("a", "view", 1)


def test_models_satisfy_the_protocols():
    assert isinstance(ItemKNN(), HistoryRecommender) and isinstance(ItemKNN(), SimilarItems)
    assert not isinstance(Popularity(), SimilarItems)
