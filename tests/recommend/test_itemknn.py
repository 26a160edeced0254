import math

import numpy as np
import pytest
from recommend_frames import DAY, T0, make_events

import cartwise.recommend.itemknn as itemknn_module
from cartwise.errors import NotTrained, ValidationError
from cartwise.recommend import Interaction, ItemKNN


def basket_events():
    """u1, u2 buy a+b; u3 buys a+c; u4 buys d alone; all at the same time."""
    rows = []
    for user, items in {"u1": "ab", "u2": "ab", "u3": "ac", "u4": "d"}.items():
        rows += [(user, item, "purchase", T0) for item in items]
    return make_events(rows)


def ids(scored):
    return [s.item_id for s in scored]


@pytest.mark.parametrize("shrinkage", [0.0, 10.0])
def test_similar_hand_computed(shrinkage):
    model = ItemKNN(shrinkage=shrinkage).fit(basket_events())
    # Every cell of u1..u3 has the same value, so the correlation is the phi coefficient of
    # the 4 baskets: a is in 3, b in 2, c in 1; a&b co-occur twice, a&c once.
    def phi(both, n_i, n_j, n=4):
        return (n * both - n_i * n_j) / math.sqrt(n_i * (n - n_i) * n_j * (n - n_j))

    ab = phi(2, 3, 2) * 2 / (2 + shrinkage)
    ac = phi(1, 3, 1) * 1 / (1 + shrinkage)
    assert ab == pytest.approx(1 / math.sqrt(3)) if shrinkage == 0 else True
    (from_a, from_c, from_d, unknown) = model.similar(["a", "c", "d", "nope"], k=5)
    assert ids(from_a) == ["b", "c"]
    assert [s.score for s in from_a] == pytest.approx([ab, ac], rel=1e-6)
    assert from_a[0].because == ("a",) and from_a[0].reason == "often chosen together with 'a' by 2 shoppers"
    assert ids(from_c) == ["a"] and from_c[0].score == pytest.approx(ac, rel=1e-6)
    assert from_d == [] and unknown == []
    assert model.similarity_.diagonal().sum() == 0
    assert model.support_[[0], [1]].tolist() == [2]


def test_similar_k_and_exclude():
    model = ItemKNN().fit(basket_events())
    assert ids(model.similar(["a"], k=1)[0]) == ["b"]
    assert ids(model.similar(["a"], exclude={"b"})[0]) == ["c"]
    assert model.similar(["a"], k=0) == [[]]
    with pytest.raises(ValidationError):
        model.similar(["a"], exclude="b")


def test_neighbours_are_capped_and_chunking_does_not_change_the_model(monkeypatch):
    rng = np.random.default_rng(7)
    rows = [(f"u{u}", f"i{i}", "view", T0 - int(rng.integers(0, 90)) * DAY)
            for u in range(120) for i in rng.choice(60, size=int(rng.integers(1, 15)), replace=False)]
    frame = make_events(rows)
    model = ItemKNN(neighbours=5).fit(frame)
    assert np.diff(model.similarity_.indptr).max() == 5
    monkeypatch.setattr(itemknn_module, "_CHUNK_ENTRIES", 7)
    chunked = ItemKNN(neighbours=5).fit(frame)
    np.testing.assert_array_equal(chunked.similarity_.indptr, model.similarity_.indptr)
    np.testing.assert_array_equal(chunked.similarity_.indices, model.similarity_.indices)
    np.testing.assert_array_equal(chunked.similarity_.data, model.similarity_.data)
    np.testing.assert_array_equal(chunked.support_.data, model.support_.data)


def test_recommend_scores_from_history_and_explains():
    model = ItemKNN().fit(basket_events())
    (answer,) = model.recommend([[Interaction("a", "purchase", T0)]], k=5)
    assert ids(answer) == ["b", "c"]
    assert answer[0].because == ("a",) and answer[0].reason == "because you bought 'a'"
    sim_ab = model.similar(["a"])[0][0].score
    assert answer[0].score == pytest.approx(math.log1p(8.0) * sim_ab, rel=1e-6)
    (viewed,) = model.recommend([[Interaction("a", "view", T0)]])
    assert viewed[0].reason == "because you viewed 'a'"


def test_exclude_seen_and_exclusions():
    model = ItemKNN().fit(basket_events())
    history = [Interaction("a", "view", T0), Interaction("b", "view", T0)]
    assert ids(model.recommend([history])[0]) == ["c"]
    assert set(ids(model.recommend([history], exclude_seen=False)[0])) == {"a", "b", "c"}
    assert model.recommend([history], exclude={"c"}) == [[]]
    per_user = model.recommend([history, [Interaction("a", "view", T0)]], exclude=[set(), {"b"}])
    assert ids(per_user[0]) == ["c"] and ids(per_user[1]) == ["c"]
    shared = model.recommend([history, [Interaction("a", "view", T0)]], exclude=["c"])
    assert shared[0] == [] and ids(shared[1]) == ["b"]


def test_unknown_and_empty_histories_keep_their_place():
    model = ItemKNN().fit(basket_events())
    answers = model.recommend(
        [[], [Interaction("nope", "purchase", T0)], [Interaction("a", "search", T0)], [Interaction("c", "view", T0)]]
    )
    assert answers[:3] == [[], [], []]
    assert ids(answers[3]) == ["a"]
    assert model.recommend([]) == []
    assert model.recommend([[Interaction("a", "view", T0)]], k=0) == [[]]


def test_recent_history_counts_more():
    rows = []
    for u in range(5):
        rows += [(f"p{u}", "a", "purchase", T0), (f"p{u}", "b", "purchase", T0)]
        rows += [(f"q{u}", "x", "purchase", T0), (f"q{u}", "y", "purchase", T0)]
    model = ItemKNN(history_half_life_days=7).fit(make_events(rows))
    old_a = [Interaction("a", "view", T0 - 30 * DAY), Interaction("x", "view", T0)]
    old_x = [Interaction("a", "view", T0), Interaction("x", "view", T0 - 30 * DAY)]
    assert [ids(r) for r in model.recommend([old_a, old_x])] == [["y", "b"], ["b", "y"]]
    # A purchase outweighs a view of the same age.
    mixed = [Interaction("a", "view", T0), Interaction("x", "purchase", T0)]
    assert ids(model.recommend([mixed])[0]) == ["y", "b"]


def test_because_names_every_large_contributor():
    rows = []
    for u in range(4):
        rows += [(f"u{u}", "a", "purchase", T0), (f"u{u}", "b", "purchase", T0), (f"u{u}", "t", "purchase", T0)]
        rows += [(f"other{u}", "x", "purchase", T0)]
    model = ItemKNN(shrinkage=0).fit(make_events(rows))
    (answer,) = model.recommend([[Interaction("a", "purchase", T0), Interaction("b", "view", T0)]])
    assert ids(answer) == ["t"]
    assert answer[0].score == pytest.approx(math.log1p(8.0) + math.log1p(1.0), rel=1e-6)  # correlation 1
    assert answer[0].because == ("a", "b")
    assert answer[0].reason == "because you bought 'a' and viewed 'b'"


def test_dense_and_sparse_scoring_agree(monkeypatch):
    rng = np.random.default_rng(11)
    rows = [(f"u{u}", f"i{i}", str(rng.choice(["view", "click", "purchase"])), T0 - int(rng.integers(0, 60)) * DAY)
            for u in range(200) for i in rng.choice(80, size=int(rng.integers(1, 12)), replace=False)]
    frame = make_events(rows)
    model = ItemKNN(neighbours=20).fit(frame)
    histories = [
        [Interaction(i, t, ts) for _, i, t, ts in group.select("user_id", "item_id", "event_type", "ts").iter_rows()]
        for _, group in frame.group_by("user_id", maintain_order=True)
    ]
    monkeypatch.setattr(itemknn_module, "_DENSE_MAX", 10**12)
    monkeypatch.setattr(itemknn_module, "_DENSE_FACTOR", 10**6)
    dense = model.recommend(histories, k=15, exclude=["i1", "i2"])
    monkeypatch.setattr(itemknn_module, "_DENSE_MAX", 0)
    sparse = model.recommend(histories, k=15, exclude=["i1", "i2"])
    assert dense == sparse
    assert sum(map(len, dense)) > 100
    monkeypatch.setattr(itemknn_module, "_BATCH_USERS", 7)
    assert model.recommend(histories, k=15, exclude=["i1", "i2"]) == dense


def test_session_co_occurrence():
    frame = make_events(
        [
            ("u1", "a", "view", T0, "s1"), ("u1", "b", "view", T0, "s1"), ("u1", "c", "view", T0 + DAY, "s2"),
            ("u2", "a", "view", T0, "s3"), ("u2", "b", "view", T0, "s3"),
            ("u3", "a", "view", T0, None), ("u3", "c", "view", T0, None),
            ("u4", "d", "view", T0, "s4"),
        ]
    )
    by_user = ItemKNN(by="user").fit(frame)
    by_session = ItemKNN(by="session").fit(frame)
    # By user, a & c go together for u1 (across sessions) and u3: 2 of 4 users, more than chance.
    assert by_user.support_[[0], [2]].tolist() == [2]
    assert ids(by_user.similar(["c"])[0]) == ["a"]
    # By session only u3 (no session id, so grouped by user) has both: 1 of 5, less than chance.
    assert by_session.similar(["c"]) == [[]]
    assert ids(by_session.similar(["a"])[0]) == ["b"]
    assert by_session.similar(["a"])[0][0].reason == "often chosen together with 'a' by 2 sessions"


def test_save_load_round_trip(tmp_path):
    model = ItemKNN(neighbours=3, shrinkage=2.0, weights={"purchase": 5.0, "view": 1.0}, by="session")
    model.fit(basket_events())
    model.save(tmp_path / "knn")
    loaded = ItemKNN.load(tmp_path / "knn")
    assert loaded.get_params() == model.get_params()
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(loaded.similarity_, name), getattr(model.similarity_, name))
    histories = [[Interaction("a", "purchase", T0)], [Interaction("b", "view", T0), Interaction("c", "view", 1)]]
    assert loaded.recommend(histories) == model.recommend(histories)
    assert loaded.similar(["a", "b", "zz"]) == model.similar(["a", "b", "zz"])
    with pytest.raises(NotTrained):
        ItemKNN.load(tmp_path / "missing")


def test_fit_is_deterministic_and_independent_of_row_order():
    rng = np.random.default_rng(3)
    rows = [(f"u{u}", f"i{i}", "purchase", T0 - int(rng.integers(0, 400)) * DAY)
            for u in range(150) for i in rng.choice(50, size=int(rng.integers(2, 10)), replace=False)]
    frame = make_events(rows)
    a = ItemKNN(neighbours=10).fit(frame)
    b = ItemKNN(neighbours=10).fit(frame.sample(fraction=1.0, shuffle=True, seed=5))
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(a.similarity_, name), getattr(b.similarity_, name))
    history = [Interaction("i3", "purchase", T0), Interaction("i7", "view", T0 - DAY)]
    assert a.recommend([history], k=20) == b.recommend([history], k=20)


def test_validation_and_edge_cases():
    with pytest.raises(NotTrained):
        ItemKNN().similar(["a"])
    with pytest.raises(NotTrained):
        ItemKNN().recommend([[Interaction("a", "view", T0)]])
    for bad in (dict(neighbours=0), dict(shrinkage=-1), dict(by="week"), dict(half_life_days=float("nan"))):
        with pytest.raises(ValidationError):
            ItemKNN(**bad).fit(basket_events())
    empty = ItemKNN().fit(make_events([]))
    assert empty.similar(["a"]) == [[]]
    assert empty.recommend([[Interaction("a", "view", T0)]]) == [[]]


def test_affinity_is_the_recommend_score_of_every_item():
    rng = np.random.default_rng(3)
    rows = [(f"u{u}", f"i{rng.integers(30)}", str(rng.choice(["view", "purchase"])), T0 - int(rng.integers(20)) * DAY)
            for u in range(60) for _ in range(6)]
    model = ItemKNN(history_half_life_days=7).fit(make_events(rows))
    history = [Interaction("i1", "view", T0), Interaction("i2", "purchase", T0 - 5 * DAY),
               Interaction("i1", "purchase", T0 - 9 * DAY), Interaction("unknown", "view", T0 + DAY)]
    (ranked,) = model.recommend([history], k=1000, exclude_seen=False)
    affinity = model.affinity(history)
    assert affinity == pytest.approx({s.item_id: s.score for s in ranked if s.score > 0}, rel=1e-9)
    assert model.affinity([]) == {}
    assert model.affinity([Interaction("unknown", "view", T0)]) == {}
