"""The rating predictor served end to end: trained by `Engine.train` from `rating` events,
saved with the model version, answered by the Python API, the HTTP API and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cartwise import Engine, NotTrained, ValidationError
from cartwise.api import create_app
from cartwise.cli.main import app as cli_app
from cartwise.versions import MANIFEST, ModelVersions

GROUP_SIZE, ITEMS_PER_GENRE = 12, 6
T0 = 1_700_000_000
# (user, item) pairs nobody rated: predictions for them must follow the user's group.
HELD_OUT = {("m0", "a0"): 4.5, ("m1", "b1"): 1.5, ("r0", "b0"): 4.5, ("r1", "a1"): 1.5}

CATALOG = [
    {"item_id": f"{genre}{i}", "title": f"{name} novel number {i}", "category": f"Books > {name}", "price": 10.0 + i}
    for genre, name in (("a", "Mystery"), ("b", "Romance"))
    for i in range(ITEMS_PER_GENRE)
]


def planted_events() -> tuple[list[dict], list[float]]:
    """Mystery fans (m*) rate mystery novels (a*) 4-5 and romances (b*) 1-2, romance fans
    (r*) the opposite; everyone also views and buys. A bot rates everything in a burst.
    Returns the events and the non-bot rating values."""
    rng = np.random.default_rng(7)
    events: list[dict] = []
    values: list[float] = []
    clock = T0
    for group, liked in (("m", "a"), ("r", "b")):
        for u in range(GROUP_SIZE):
            user = f"{group}{u}"
            for index in rng.permutation(len(CATALOG)):
                item_id = CATALOG[index]["item_id"]
                if (user, item_id) in HELD_OUT:
                    continue
                high = item_id.startswith(liked)
                value = float(rng.choice([4.0, 5.0]) if high else rng.choice([1.0, 2.0]))
                clock += 61  # slower than a person's limit: nobody here is a bot
                events.append({"user_id": user, "item_id": item_id, "event_type": "rating", "value": value,
                               "timestamp": clock})
                values.append(value)
            clock += 61
            events.append({"user_id": user, "item_id": f"{liked}{u % ITEMS_PER_GENRE}", "event_type": "view",
                           "timestamp": clock})
            clock += 61
            events.append({"user_id": user, "item_id": f"{liked}{(u + 1) % ITEMS_PER_GENRE}",
                           "event_type": "purchase", "timestamp": clock})
    for n, item in enumerate(CATALOG * 6):
        events.append({"user_id": "bot-1", "item_id": item["item_id"], "event_type": "rating",
                       "value": 5.0 if item["item_id"].startswith("b") else 1.0, "timestamp": clock + n // 2})
    return events, values


def build_store(path: Path, events: list[dict]) -> Engine:
    engine = Engine.open(path)
    report = engine.upsert_items(CATALOG)
    assert report.rows_rejected == 0, report.rejects
    report = engine.add_events(events)
    assert report.rows_rejected == 0, report.rejects
    return engine


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, object, list[float]]:
    events, values = planted_events()
    engine = build_store(tmp_path_factory.mktemp("ratings") / "store", events)
    report = engine.train(encoder=None, seed=0)
    return engine, report, values


@pytest.fixture(scope="module")
def engine(trained) -> Engine:
    return trained[0]


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine), headers={"X-API-Key": engine.create_key("search").secret})


@pytest.fixture
def unrated(tmp_path: Path) -> Engine:
    """A trained store whose shoppers only view and buy."""
    events, _ = planted_events()
    engine = build_store(tmp_path / "store", [e for e in events if e["event_type"] != "rating"])
    engine.train(encoder=None)
    return engine


def test_training_reports_the_rating_model_without_bots(trained) -> None:
    engine, report, values = trained
    fitted = report.ratings
    assert fitted is not None
    assert fitted.ratings == len(values) and fitted.users == 2 * GROUP_SIZE and fitted.items == len(CATALOG)
    assert fitted.validation_ratings == 2 * GROUP_SIZE
    assert fitted.validation_rmse < 0.6 * fitted.global_mean_rmse, fitted
    assert engine.model_info()["ratings"] == fitted.model_dump()


@pytest.mark.parametrize(("user_id", "item_id"), list(HELD_OUT))
def test_held_out_prediction_follows_the_planted_groups(engine: Engine, trained, user_id: str, item_id: str) -> None:
    truth = HELD_OUT[(user_id, item_id)]
    global_mean = float(np.mean(trained[2]))
    [prediction] = engine.predict_ratings(user_id, [item_id])
    assert prediction.item_id == item_id and prediction.basis == "user and item"
    assert abs(prediction.rating - truth) < 0.75, prediction
    assert abs(prediction.rating - truth) < 0.5 * abs(global_mean - truth), (prediction, global_mean)


def test_unknown_users_and_items_fall_back_and_say_so(engine: Engine, trained) -> None:
    answers = engine.predict_ratings("m0", ["a2", "b2", "no-such-item", "a2"])
    assert [a.item_id for a in answers] == ["a2", "b2", "no-such-item", "a2"]
    assert [a.basis for a in answers] == ["user and item", "user and item", "user only", "user and item"]
    assert answers[0].rating > 4 and answers[1].rating < 2 and answers[0] == answers[3]
    newcomer = engine.predict_ratings("never-rated", ["a2", "no-such-item"])
    assert [a.basis for a in newcomer] == ["item only", "global mean"]
    assert newcomer[1].rating == pytest.approx(float(np.mean(trained[2])), abs=1e-3)
    # A bot's ratings were left out of training: it is an unknown user.
    assert {a.basis for a in engine.predict_ratings("bot-1", ["a0", "b0"])} == {"item only"}


@pytest.mark.parametrize(
    ("user_id", "item_ids", "field"),
    [("m0", [], "item_ids"), ("m0", ["a0"] * 1001, "item_ids"), ("m0", ["a0", "  "], "item_ids"),
     ("", ["a0"], "user_id"), ("m0", "a0", "item_ids")],
)
def test_bad_input_is_a_validation_error_naming_the_field(engine: Engine, user_id, item_ids, field) -> None:
    with pytest.raises(ValidationError) as caught:
        engine.predict_ratings(user_id, item_ids)
    assert caught.value.field == field


def test_the_rating_model_survives_a_restart(engine: Engine) -> None:
    before = engine.predict_ratings("r1", ["a1", "b3", "a4"])
    reopened = Engine.open(engine.store.path, create=False)
    try:
        assert reopened.predict_ratings("r1", ["a1", "b3", "a4"]) == before
    finally:
        reopened.close()


def test_http_predicts_ratings(client: TestClient) -> None:
    response = client.post("/v1/ratings/predict", json={"user_id": "m0", "item_ids": ["a0", "b0", "nope"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == "m0" and [i["item_id"] for i in body["items"]] == ["a0", "b0", "nope"]
    high, low, unknown = body["items"]
    assert high["rating"] > 4 and low["rating"] < 2 and unknown["basis"] == "user only"
    assert "/v1/ratings/predict" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"user_id": "m0", "item_ids": []}, "item_ids"), ({"item_ids": ["a0"]}, "user_id"),
     ({"user_id": " ", "item_ids": ["a0"]}, "user_id"), ({"user_id": "m0", "item_ids": ["a0"] * 1001}, "item_ids"),
     ({"user_id": "m0", "item_ids": ["a0", ""]}, "item_ids.1"), ({"user_id": "m0", "items": ["a0"]}, None)],
)
def test_http_bad_input_is_422(client: TestClient, body: dict, field: str | None) -> None:
    response = client.post("/v1/ratings/predict", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "ValidationError" and error["message"]
    if field is not None:
        assert error["field"] == field


def test_no_rating_events_means_not_trained_with_a_hint(unrated: Engine) -> None:
    assert unrated.model_info()["ratings"] is None
    assert unrated.recommend("m0").items  # the rest of the models answer
    with pytest.raises(NotTrained) as caught:
        unrated.predict_ratings("m0", ["a0"])
    assert "event_type=rating" in caught.value.hint and "train" in caught.value.hint
    search_key = {"X-API-Key": unrated.create_key("search").secret}
    response = TestClient(create_app(unrated), headers=search_key).post("/v1/ratings/predict", json={"user_id": "m0", "item_ids": ["a0"]})
    assert response.status_code == 409
    assert response.json()["error"] == "NotTrained" and "event_type=rating" in response.json()["hint"]


def test_too_few_ratings_train_no_rating_model(tmp_path: Path) -> None:
    events, _ = planted_events()
    ratings = [e for e in events if e["event_type"] == "rating" and e["user_id"] != "bot-1"][:19]
    engine = build_store(tmp_path / "store", [e for e in events if e["event_type"] != "rating"] + ratings)
    assert engine.train(encoder=None).ratings is None
    engine.add_events([e for e in events if e["event_type"] == "rating"][19:20])
    assert engine.train(encoder=None).ratings.ratings == 20


def test_a_version_saved_before_rating_models_still_loads(tmp_path: Path) -> None:
    events, _ = planted_events()
    engine = build_store(tmp_path / "store", events)
    engine.train(encoder=None)
    versions = ModelVersions(models_dir=engine.workspace.models_dir, store_id=engine.store.store_id)
    version = versions.current_version()
    path = engine.workspace.models_dir / version
    assert (path / "ratings").is_dir()
    # What an older Cartwise wrote: no rating model and no "ratings" in the manifest.
    shutil.rmtree(path / "ratings")
    manifest = json.loads((path / MANIFEST).read_text())
    del manifest["ratings"]
    (path / MANIFEST).write_text(json.dumps(manifest))
    assert versions.load().ratings is None
    old = Engine.open(engine.store.path, create=False)
    assert old.recommend("m0", exclude_seen=False).items and old.similar("a0").items
    with pytest.raises(NotTrained, match="no rating predictor"):
        old.predict_ratings("m0", ["a0"])


def test_cli_trains_and_predicts_ratings(tmp_path: Path) -> None:
    events, _ = planted_events()
    store = tmp_path / "store"
    build_store(store, events).close()
    runner = CliRunner()
    trained = runner.invoke(cli_app, ["train", "--store", str(store), "--encoder", "none"], catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    assert "rating model" in trained.output and "RMSE" in trained.output
    table = runner.invoke(cli_app, ["predict-rating", "m0", "a0", "b0", "--store", str(store)],
                          catch_exceptions=False)
    assert table.exit_code == 0, table.output
    assert "predicted rating" in table.output and "user and item" in table.output
    answer = runner.invoke(cli_app, ["predict-rating", "m0", "a0", "b0", "--store", str(store), "--json"],
                           catch_exceptions=False)
    body = json.loads(answer.output)
    assert [i["item_id"] for i in body["items"]] == ["a0", "b0"]
    assert body["items"][0]["rating"] > 4 and body["items"][1]["rating"] < 2
