import numpy as np
import pytest
from recommend_frames import DAY, T0, make_events, make_items

from cartwise.errors import NotTrained, ValidationError
from cartwise.recommend import Popularity

ITEMS = make_items(
    [
        ("mug", "Home > Kitchen > Mugs"),
        ("teapot", "Home > Kitchen > Tea"),
        ("rake", "Home > Garden"),
        ("dress", "Fashion > Dresses"),
        ("plain", None),
        ("unsold", "Home > Kitchen > Mugs"),
    ]
)


def events():
    return make_events(
        [
            ("u1", "mug", "purchase", T0),  # 8
            ("u2", "teapot", "view", T0 - 30 * DAY),  # 1 * 0.5
            ("u2", "teapot", "purchase", T0 - 60 * DAY),  # 8 * 0.25
            ("u3", "rake", "add_to_cart", T0 - 30 * DAY),  # 4 * 0.5
            ("u3", "dress", "click", T0),  # 2
            ("u4", "plain", "view", T0),  # 1
            ("u4", "mug", "search", T0),  # weighs nothing
            ("u5", "not-in-catalog", "purchase", T0),
        ]
    )


def test_scores_decay_from_the_newest_event():
    model = Popularity(half_life_days=30).fit(events(), ITEMS)
    assert model.now_ms_ == T0
    expected = [8.0, 2.5, 2.0, 2.0, 1.0, 0.0, 0.0]
    got = model.score(["mug", "teapot", "rake", "dress", "plain", "unsold", "not-in-catalog"])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_explicit_now_and_future_events():
    model = Popularity(half_life_days=30).fit(events(), ITEMS, now_ms=T0 + 30 * DAY)
    np.testing.assert_allclose(model.score(["mug", "teapot"]), [4.0, 1.25])
    model = Popularity(half_life_days=30).fit(events(), ITEMS, now_ms=T0 - 30 * DAY)
    assert model.score(["mug"])[0] == pytest.approx(8.0)  # newer than now counts as new, not more


def test_recommend_overall_ranks_and_skips_unchosen_items():
    model = Popularity(half_life_days=30).fit(events(), ITEMS)
    top = model.recommend(10)
    # ties (rake, dress = 2.0) go to the smaller id
    assert [s.item_id for s in top] == ["mug", "teapot", "dress", "rake", "plain"]
    assert all(s.reason == "popular with shoppers" and s.because == () for s in top)
    assert [s.item_id for s in model.recommend(2, exclude={"mug"})] == ["teapot", "dress"]
    assert model.recommend(0) == []
    with pytest.raises(ValidationError):
        model.recommend(-1)


@pytest.mark.parametrize(
    ("category", "expected", "shown"),
    [
        ("Home", ["mug", "teapot", "rake"], "Home"),
        ("home > KITCHEN", ["mug", "teapot"], "Home > Kitchen"),
        ("  home>kitchen>mugs ", ["mug"], "Home > Kitchen > Mugs"),
        ("Fashion", ["dress"], "Fashion"),
    ],
)
def test_recommend_within_any_category_prefix(category, expected, shown):
    model = Popularity(half_life_days=30).fit(events(), ITEMS)
    top = model.recommend(10, category=category)
    assert [s.item_id for s in top] == expected
    assert top[0].reason == f"popular in {shown}"


def test_unknown_category_is_empty():
    model = Popularity().fit(events(), ITEMS)
    assert model.recommend(5, category="Garden") == []  # a level, not a prefix
    assert model.recommend(5, category="Toys") == []
    assert model.recommend(5, category="Home", exclude={"mug", "teapot", "rake"}) == []


def test_custom_weights():
    model = Popularity(half_life_days=30, weights={"view": 10.0}).fit(events(), ITEMS)
    np.testing.assert_allclose(model.score(["mug", "teapot", "plain"]), [0.0, 5.0, 10.0])
    with pytest.raises(ValidationError):
        Popularity(weights={"view": -1.0}).fit(events(), ITEMS)


def test_validation_and_unfitted_use():
    with pytest.raises(NotTrained):
        Popularity().recommend(3)
    with pytest.raises(ValidationError, match="half_life_days"):
        Popularity(half_life_days=0).fit(events(), ITEMS)
    with pytest.raises(ValidationError, match="columns"):
        Popularity().fit(events().drop("ts"), ITEMS)


def test_no_events_recommends_nothing():
    model = Popularity().fit(make_events([]), ITEMS)
    assert model.recommend(5) == [] and model.recommend(5, category="Home") == []
    assert model.score(["mug"]).tolist() == [0.0]


def test_save_load_round_trip(tmp_path):
    model = Popularity(half_life_days=7, weights={"purchase": 1.0, "view": 0.5}).fit(events(), ITEMS)
    model.save(tmp_path / "pop")
    loaded = Popularity.load(tmp_path / "pop")
    assert loaded.get_params() == model.get_params()
    for category in (None, "Home", "home > kitchen", "Nope"):
        assert loaded.recommend(10, category=category) == model.recommend(10, category=category)
    np.testing.assert_array_equal(loaded.score(["mug", "x"]), model.score(["mug", "x"]))
    with pytest.raises(NotTrained):
        Popularity.load(tmp_path / "missing")


def test_fit_is_independent_of_row_order():
    frame = events()
    a = Popularity().fit(frame, ITEMS)
    b = Popularity().fit(frame.sample(fraction=1.0, shuffle=True, seed=3), ITEMS.reverse())
    np.testing.assert_array_equal(a.scores_, b.scores_)
    assert a.recommend(10, category="Home") == b.recommend(10, category="Home")
