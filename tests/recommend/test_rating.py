"""RatingPredictor on planted ratings: global mean + user bias + item bias + a rank-3 taste."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.metrics import rmse
from cartwise.recommend import RatingPredictor
from cartwise.recommend.rating import evaluate_ratings, ratings_of

N_USERS, N_ITEMS, RANK, NOISE = 300, 200, 3, 0.25


def planted(seed: int = 0) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """15% of user x item cells rated 1..5: 3.5 + user bias + item bias + P.Q + noise,
    clipped and rounded to halves. Rating events among views, as a store holds them."""
    rng = np.random.default_rng(seed)
    truth = {
        "user_bias": rng.normal(0, 0.5, N_USERS),
        "item_bias": rng.normal(0, 0.5, N_ITEMS),
        "p": rng.normal(0, 0.6, (N_USERS, RANK)),
        "q": rng.normal(0, 0.6, (N_ITEMS, RANK)),
    }
    users, items = np.nonzero(rng.random((N_USERS, N_ITEMS)) < 0.15)
    mean = 3.5 + truth["user_bias"][users] + truth["item_bias"][items] + (truth["p"][users] * truth["q"][items]).sum(1)
    value = np.clip(np.round((mean + rng.normal(0, NOISE, users.size)) * 2) / 2, 1, 5)
    frame = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in users],
            "item_id": [f"i{i}" for i in items],
            "event_type": "rating",
            "ts": np.arange(users.size, dtype=np.int64),
            "value": value,
        }
    )
    views = frame.head(500).with_columns(
        pl.lit("view").alias("event_type"), pl.lit(None, dtype=pl.Float64).alias("value")
    )
    return pl.concat([frame, views]).sample(fraction=1.0, shuffle=True, seed=seed), truth


@pytest.fixture(scope="module")
def split() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    events, _ = planted()
    ratings = events.filter(pl.col("event_type") == "rating")
    order = np.random.default_rng(1).permutation(ratings.height)
    test, validation, train = ratings[order[:1500]], ratings[order[1500:2500]], ratings[order[2500:]]
    return pl.concat([train, events.filter(pl.col("event_type") == "view")]), validation, test


def test_learns_biases_and_taste_far_below_the_baselines(split) -> None:
    train, validation, test = split
    result = evaluate_ratings(train, test, model=RatingPredictor(factors=8), validation=validation)
    assert result["global_mean"]["RMSE"] > 0.85
    assert result["bias"]["RMSE"] < result["global_mean"]["RMSE"] - 0.2
    assert result["model"]["RMSE"] < 0.5, result
    assert result["model"]["RMSE"] < result["bias"]["RMSE"] - 0.15
    assert result["model"]["MAE"] < result["bias"]["MAE"] < result["global_mean"]["MAE"]
    assert result["model"]["n"] == test.height


def test_recovers_the_planted_biases(split) -> None:
    _, truth = planted()
    model = RatingPredictor(factors=0).fit(split[0])
    users = model.user_ids_.indices([f"u{u}" for u in range(N_USERS)])
    items = model.item_ids_.indices([f"i{i}" for i in range(N_ITEMS)])
    assert np.corrcoef(model.user_bias_[users], truth["user_bias"])[0, 1] > 0.8
    assert np.corrcoef(model.item_bias_[items], truth["item_bias"])[0, 1] > 0.8


def test_validation_keeps_the_best_sweep(split) -> None:
    train, validation, _ = split
    logs = []
    model = RatingPredictor(factors=8, iterations=30, patience=2, on_iteration=logs.append)
    model.fit(train, validation=validation)
    assert logs == model.history_ and len(logs) < 30
    assert model.best_validation_rmse_ == min(log.validation_rmse for log in logs)
    held = ratings_of(validation)
    assert rmse(held["value"], model.predict(held["user_id"].to_list(), held["item_id"].to_list())) == pytest.approx(
        model.best_validation_rmse_
    )


def test_unknown_users_and_items_fall_back_to_biases(split) -> None:
    model = RatingPredictor(factors=8).fit(split[0])
    user, item = model.user_ids_.ids[0], model.item_ids_.ids[0]
    mean, u, i = model.global_mean_, model.user_bias_[0], model.item_bias_[0]
    predicted = model.predict([user, "new-user", user, "new-user"], ["new-item", item, item, "new-item"])
    low, high = model.rating_range_
    assert (low, high) == (1.0, 5.0)
    assert predicted[0] == pytest.approx(np.clip(mean + u, low, high))
    assert predicted[1] == pytest.approx(np.clip(mean + i, low, high))
    assert predicted[2] == pytest.approx(np.clip(mean + u + i + model.user_factors_[0] @ model.item_factors_[0], 1, 5))
    assert predicted[3] == pytest.approx(mean)
    everything = model.predict(
        [u for u in model.user_ids_.ids for _ in range(5)], model.item_ids_.ids[:5] * len(model.user_ids_)
    )
    assert everything.min() >= 1.0 and everything.max() <= 5.0


def test_save_load_round_trip(split, tmp_path) -> None:
    model = RatingPredictor(factors=4).fit(split[0], validation=split[1])
    model.save(tmp_path / "rating")
    loaded = RatingPredictor.load(tmp_path / "rating")
    test = split[2]
    users, items = test["user_id"].to_list() + ["nobody"], test["item_id"].to_list() + ["nothing"]
    assert np.array_equal(model.predict(users, items), loaded.predict(users, items))
    assert loaded.get_params() == model.get_params() and loaded.history_ == model.history_
    with pytest.raises(NotTrained):
        RatingPredictor.load(tmp_path / "missing")


def test_the_newest_rating_of_an_item_counts() -> None:
    frame = pl.DataFrame(
        {"user_id": ["a", "a", "b"], "item_id": ["x", "x", "x"], "ts": [2, 1, 1], "value": [5.0, 1.0, 3.0]}
    )
    assert sorted(ratings_of(frame).rows()) == [("a", "x", 5.0), ("b", "x", 3.0)]


def test_bad_input_says_what_to_do(split) -> None:
    views = split[0].filter(pl.col("event_type") == "view")
    with pytest.raises(ValidationError, match="no ratings to learn from") as caught:
        RatingPredictor().fit(views)
    assert "event_type 'rating'" in str(caught.value)
    with pytest.raises(ValidationError, match="value"):
        RatingPredictor().fit(split[0].drop("value"))
    with pytest.raises(ValidationError, match="factors"):
        RatingPredictor(factors=-1).fit(split[0])
    with pytest.raises(NotTrained):
        RatingPredictor().predict(["u1"], ["i1"])
    model = RatingPredictor(factors=2, iterations=2).fit(split[0])
    with pytest.raises(ValidationError, match="one item per user"):
        model.predict(["u1", "u2"], ["i1"])
