"""TextKNN: recommends by text alone, including items no one has touched yet."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.errors import ValidationError
from cartwise.recommend import Interaction
from cartwise.recommend.textknn import TextKNN


def _vectors() -> dict[str, np.ndarray]:
    # Two topics: tea things along axis 0, shoes along axis 1, with small differences.
    rng = np.random.default_rng(0)
    out = {}
    for i in range(10):
        out[f"tea-{i}"] = np.array([1.0, 0.0, 0.0]) + rng.normal(0, 0.05, 3)
        out[f"shoe-{i}"] = np.array([0.0, 1.0, 0.0]) + rng.normal(0, 0.05, 3)
    return out


def history(*items: str) -> list[Interaction]:
    return [Interaction(item_id=i, event_type="view", ts=1_700_000_000_000 - n) for n, i in enumerate(items)]


def test_recommends_items_of_the_same_topic_and_names_the_reason():
    model = TextKNN(item_text_vectors=_vectors()).fit()
    answer = model.recommend([history("tea-0", "tea-1")], k=5)[0]
    assert all(s.item_id.startswith("tea-") for s in answer)
    assert {"tea-0", "tea-1"}.isdisjoint(s.item_id for s in answer)
    assert answer[0].because[0] in {"tea-0", "tea-1"} and "described like" in answer[0].reason
    # The newest event weighs most: a shoe viewed last pulls shoes ahead.
    mixed = model.recommend([history("shoe-0", "tea-0")], k=1)[0]
    assert mixed[0].item_id.startswith("shoe-")


def test_new_items_are_recommended_from_their_text_alone():
    vectors = _vectors()
    model = TextKNN(item_text_vectors=vectors).fit()
    assert model.add_items({"tea-new": vectors["tea-3"] + 0.001}) == ["tea-new"]
    assert model.add_items({"tea-new": np.array([0.0, 1.0, 0.0])}) == []
    ranked = [s.item_id for s in model.recommend([history("tea-3")], k=3)[0]]
    assert "tea-new" in ranked


def test_save_load_round_trip(tmp_path):
    model = TextKNN(item_text_vectors=_vectors(), history=5).fit()
    model.save(tmp_path / "m")
    loaded = TextKNN.load(tmp_path / "m")
    users = [history("tea-0"), history("shoe-2", "tea-4"), history("unknown")]
    assert model.recommend(users, k=4) == loaded.recommend(users, k=4)
    assert loaded.recommend([history("unknown")], k=3) == [[]]


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValidationError, match="item_text_vectors"):
        TextKNN().fit()
    with pytest.raises(ValidationError, match="recency_decay"):
        TextKNN(item_text_vectors=_vectors(), recency_decay=0).fit()
    with pytest.raises(ValidationError):
        TextKNN(item_text_vectors={"a": np.array([np.nan, 1.0])}).fit()


def test_one_users_history_is_never_excluded_from_another_users_answer():
    # Many users per call (evaluation, recommend-batch) answer as one call each would.
    model = TextKNN(item_text_vectors=_vectors()).fit()
    histories = [history("tea-0", "tea-1"), history("tea-2"), history("shoe-0")]
    together = model.recommend(histories, k=9)
    alone = [model.recommend([h], k=9)[0] for h in histories]
    assert [[s.item_id for s in a] for a in together] == [[s.item_id for s in a] for a in alone]
    assert "tea-0" in {s.item_id for s in together[1]}


def test_answers_from_a_shared_vector_index():
    from cartwise.vectors import VectorIndex

    vectors = _vectors()
    index = VectorIndex().add(list(vectors), np.stack(list(vectors.values())))
    shared = TextKNN.over(index)
    own = TextKNN(item_text_vectors=vectors).fit()
    h = [history("shoe-3", "tea-0")]
    assert [s.item_id for s in shared.recommend(h, k=8)[0]] == [s.item_id for s in own.recommend(h, k=8)[0]]


def test_the_profile_follows_timestamps_not_the_order_passed():
    model = TextKNN(item_text_vectors=_vectors(), history=1).fit()
    newest_first = history("shoe-0", "tea-0")  # shoe-0 is the newest event
    oldest_first = list(reversed(newest_first))
    for events in (newest_first, oldest_first):
        assert model.recommend([events], k=1)[0][0].item_id.startswith("shoe-")
