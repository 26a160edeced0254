"""Experiments end to end over HTTP: create one, send traffic as assigned users (answers
served by each user's variant, logged with it), click and buy with the answers'
request_ids, and read the per-arm numbers, the checks and the verdict; then ship or stop."""

from __future__ import annotations

import random
import time

import polars as pl
import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.access import Scope
from cartwise.api import create_app
from cartwise.experiments import Assigner

HIDE_SOCKS = {"kind": "rules", "document": {"rules": [{"id": "hide-socks", "kind": "hide", "items": ["socks"]}]}}


@pytest.fixture
def served(engine: Engine):
    keys = {scope: engine.create_key(scope, name=scope.value).secret for scope in Scope}
    client = TestClient(create_app(engine))

    def auth(scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[Scope(scope)]}"}

    return client, auth


def _events(client: TestClient, auth, events: list[dict]) -> None:
    for start in range(0, len(events), 500):
        response = client.post("/v1/events", json={"events": events[start:start + 500]}, headers=auth("events"))
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == [], response.text


def test_an_ab_test_serves_each_user_their_variant_and_reads_out_per_arm(engine: Engine, served):
    client, auth = served
    created = client.post("/v1/experiments", headers=auth("admin"), json={
        "name": "hide socks", "placements": ["recommend"], "metric": "conversion", "experiment_id": "exp-socks",
        "variants": [{"name": "control"}, {"name": "nosocks", "config": HIDE_SOCKS}],
    })
    assert created.status_code == 200, created.text
    exp = created.json()
    assert exp["status"] == "running" and exp["salt"] == exp["experiment_id"] == "exp-socks"
    assigner = Assigner(salt=exp["salt"], weights=[1, 1])
    rng = random.Random(1)
    events = []
    seen_socks = {"control": 0, "nosocks": 0}
    for n in range(500):
        user = f"visitor-{n}"
        arm = ["control", "nosocks"][assigner.arm(user)]
        assignment = client.get("/v1/experiments/assignment", params={"user_id": user, "placement": "recommend"},
                                headers=auth("search")).json()
        assert assignment["variant"] == arm and assignment["impression_variant"] == f"{exp['experiment_id']}/{arm}"
        answer = client.get(f"/v1/users/{user}/recommendations", params={"k": 4}, headers=auth("search")).json()
        items = [item["item_id"] for item in answer["items"]]
        seen_socks[arm] += "socks" in items
        now = time.time() + 1
        if rng.random() < 0.5:
            events.append({"user_id": user, "item_id": items[0], "event_type": "click", "timestamp": now,
                           "request_id": answer["request_id"], "position": 1})
        # The planted effect: users of the variant buy six times as often.
        if rng.random() < (0.3 if arm == "nosocks" else 0.05):
            events.append({"user_id": user, "item_id": items[0], "event_type": "purchase", "timestamp": now + 1,
                           "value": 10.0, "request_id": answer["request_id"], "position": 1})
    _events(client, auth, events)
    assert seen_socks["nosocks"] == 0 and seen_socks["control"] > 200  # the variant's rules answered its users
    engine.impressions.flush()
    logged = engine.store.impressions().filter(pl.col("placement") == "recommend")
    assert set(logged["variant"]) == {f"{exp['experiment_id']}/control", f"{exp['experiment_id']}/nosocks"}
    anonymous = client.get("/v1/search", params={"q": "mug"}, headers=auth("search"))
    assert anonymous.status_code == 200  # another placement: not in the experiment

    shown = client.get(f"/v1/experiments/{exp['experiment_id']}", headers=auth("admin"))
    assert shown.status_code == 200, shown.text
    results = shown.json()["results"]
    arms = {arm["variant"]: arm for arm in results["arms"]}
    assert arms["control"]["users"] + arms["nosocks"]["users"] == 500 == results["users"]
    assert sum(arm["exposures"] for arm in arms.values()) == 500
    clicks = sum(1 for e in events if e["event_type"] == "click")
    assert arms["control"]["clicks"] + arms["nosocks"]["clicks"] == clicks
    bought = {arm: len({e["user_id"] for e in events if e["event_type"] == "purchase"
                        and arm == ["control", "nosocks"][assigner.arm(e["user_id"])]}) for arm in arms}
    for arm, numbers in arms.items():
        assert numbers["conversion"]["value"] == pytest.approx(bought[arm] / numbers["users"], abs=1e-6)
        assert numbers["conversion"]["low"] < numbers["conversion"]["value"] < numbers["conversion"]["high"]
        assert numbers["revenue_per_user"]["value"] == pytest.approx(10 * bought[arm] / numbers["users"], abs=1e-6)
        assert numbers["ctr"]["value"] == pytest.approx(numbers["clicks"] / numbers["items_shown"], abs=1e-6)
    assert results["srm"]["mismatch"] is False and results["test"] == "sequential"
    conversion = next(c for c in results["comparisons"] if c["metric"] == "conversion")
    assert conversion["significant"] and conversion["low"] > 0
    assert results["decision"] == "ship" and results["verdict"].startswith("nosocks raises conversion over control")
    assert "safe to ship" in results["verdict"]

    listed = client.get("/v1/experiments", headers=auth("admin")).json()["experiments"]
    assert [e["experiment_id"] for e in listed] == [exp["experiment_id"]]
    clash = client.post("/v1/experiments", headers=auth("admin"), json={
        "name": "another", "placements": ["recommend"], "variants": [{"name": "a"}, {"name": "b"}]})
    assert clash.status_code == 422 and clash.json()["field"] == "placements"

    shipped = client.post(f"/v1/experiments/{exp['experiment_id']}/ship", json={}, headers=auth("admin"))
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["experiment"]["shipped"] == "nosocks" and "rules version" in shipped.json()["done"]
    assert [r.rule_id for r in engine.rules.current().rules] == ["hide-socks"]  # published as the store's rules
    after = client.get("/v1/users/visitor-0/recommendations", params={"k": 4}, headers=auth("search")).json()
    assert "socks" not in [i["item_id"] for i in after["items"]]
    audit = [(e.action, e.target) for e in engine.audit.entries()]
    assert ("experiments.create", exp["experiment_id"]) in audit and ("experiments.ship", exp["experiment_id"]) in audit


def test_stopping_serves_everyone_the_store_again_and_keeps_the_results(engine: Engine, served):
    client, auth = served
    exp = client.post("/v1/experiments", headers=auth("admin"), json={
        "name": "nosocks search", "placements": ["search"], "horizon_users": 1000,
        "variants": [{"name": "control"}, {"name": "nosocks", "config": HIDE_SOCKS, "weight": 3}],
    }).json()
    for n in range(40):
        assert client.get("/v1/search", params={"q": "wool socks", "user_id": f"s-{n}"},
                          headers=auth("search")).status_code == 200
    detail = client.get(f"/v1/experiments/{exp['experiment_id']}", headers=auth("admin")).json()["results"]
    assert detail["test"] == "fixed_horizon" and detail["decision"] == "keep_running" and not detail["ready"]
    assert detail["verdict"].startswith("not enough data yet")
    assert detail["srm"]["expected_share"] == {"control": 0.25, "nosocks": 0.75}
    stopped = client.post(f"/v1/experiments/{exp['experiment_id']}/stop", json={"reason": "done"},
                          headers=auth("admin"))
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    for n in range(40):
        found = client.get("/v1/search", params={"q": "wool socks", "user_id": f"s-{n}"}, headers=auth("search"))
        assert "socks" in [i["item_id"] for i in found.json()["items"]]
    engine.impressions.flush()
    late = engine.store.impressions().tail(40)
    assert late["variant"].null_count() == 40
    again = client.get(f"/v1/experiments/{exp['experiment_id']}", headers=auth("admin")).json()["results"]
    assert again["users"] == detail["users"] == 40
    assert client.post(f"/v1/experiments/{exp['experiment_id']}/stop", headers=auth("admin")).status_code == 422
    assert client.post(f"/v1/experiments/{exp['experiment_id']}/ship", headers=auth("admin")).status_code == 422


def test_interleaving_credits_each_click_to_the_team_that_placed_the_item(engine: Engine, served):
    """Both rankings in one list: shoppers who click socks whenever they see them credit
    the control, the only team that ever shows socks."""
    client, auth = served
    exp = client.post("/v1/experiments", headers=auth("admin"), json={
        "name": "interleave socks", "placements": ["recommend"], "mode": "interleave",
        "variants": [{"name": "control"}, {"name": "nosocks", "config": HIDE_SOCKS}],
    }).json()
    events = []
    for n in range(150):
        user = f"ilv-{n}"
        answer = client.get(f"/v1/users/{user}/recommendations", params={"k": 4}, headers=auth("search")).json()
        items = [item["item_id"] for item in answer["items"]]
        assert len(items) == len(set(items)) == 4
        if "socks" in items:
            events.append({"user_id": user, "item_id": "socks", "event_type": "click", "timestamp": time.time() + 1,
                           "request_id": answer["request_id"], "position": items.index("socks") + 1})
    _events(client, auth, events)
    engine.impressions.flush()
    teams = engine.store.impression_items().join(
        engine.store.impressions().filter(pl.col("placement") == "recommend"), on="request_id")
    assert set(teams["team"]) == {"control", "nosocks"}
    assert set(teams.filter(pl.col("item_id") == "socks")["team"]) == {"control"}
    results = client.get(f"/v1/experiments/{exp['experiment_id']}", headers=auth("admin")).json()["results"]
    found = results["interleaving"]
    assert found["wins"] == {"control": len(events), "nosocks": 0} and found["users"] == 150
    assert found["significant"] and results["decision"] == "stop", found
    assert results["verdict"].startswith("control's ranking is preferred")


def test_bad_input_is_422_naming_the_field(engine: Engine, served):
    client, auth = served
    bad = [
        ({"name": "x", "placements": ["search"], "variants": [{"name": "a"}]}, "variants"),
        ({"name": "x", "placements": ["search"], "variants": [{"name": "a"}, {"name": "b", "weight": -1}]},
         "variants.1.weight"),
        ({"name": "x", "placements": ["search"], "variants": [{"name": "a"}, {"name": "b",
                                                                              "config": {"kind": "rules",
                                                                                         "version": 99}}]},
         "variants.1.config.version"),
        ({"name": "x", "placements": ["search"], "variants": [{"name": "a"}, {"name": "b",
                                                                              "config": {"kind": "model",
                                                                                         "version": "v-none"}}]},
         "variants.1.config.version"),
        ({"name": "x", "placements": ["search"], "mode": "bandit", "variants": [{"name": "a"}, {"name": "b"}]},
         "mode"),
        ({"name": "x", "placements": ["search"], "variants": [{"name": "a"}, {"name": "b"}], "extra": 1}, "extra"),
        ({"placements": ["search"], "variants": [{"name": "a"}, {"name": "b"}]}, "name"),
    ]
    for body, field in bad:
        response = client.post("/v1/experiments", json=body, headers=auth("admin"))
        assert response.status_code == 422 and response.json()["field"] == field, (body, response.text)
    assert client.get("/v1/experiments/exp-nope", headers=auth("admin")).status_code == 404
    missing = client.get("/v1/experiments/assignment", params={"placement": "search"}, headers=auth("search"))
    assert missing.status_code == 422 and missing.json()["field"] == "user_id"
    none = client.get("/v1/experiments/assignment", params={"user_id": "u", "placement": "home_top"},
                      headers=auth("search")).json()
    assert none["experiment_id"] is None and none["variant"] is None
    assert engine.store.experiments() == []


def test_a_model_variant_answers_from_its_model_version(engine: Engine):
    live = engine.model_info()["version"]
    engine.train(encoder=None, recommender="itemknn")
    newer = engine.model_info()["version"]
    engine.promote(live, reason="the test keeps the first one live")
    experiment = engine.experiments.create(name="models", placements=["recommend"], variants=[
        {"name": "live"}, {"name": "newer", "config": {"kind": "model", "version": newer}}])
    assigner = Assigner(salt=experiment.salt, weights=[1, 1])
    users = [f"m-{n}" for n in range(30)]
    for user in users:
        engine.recommend(user, k=3)
    engine.impressions.flush()
    logged = engine.store.impressions()
    by_user = dict(zip(logged["user_id"], logged["model_version"], strict=True))
    for user in users:
        assert by_user[user] == (newer if assigner.arm(user) == 1 else live)
    _, done = engine.experiments.ship(experiment.experiment_id, shipyard=engine, variant="newer")
    assert done == f"promoted model version {newer}" and engine.model_info()["version"] == newer


def test_a_front_end_reports_its_own_interleaved_lists_with_their_teams(engine: Engine, served):
    """A page the front end drafted itself: it posts each item's team, and clicks are
    credited to the teams it reported."""
    client, auth = served
    exp = client.post("/v1/experiments", headers=auth("admin"), json={
        "name": "home page", "placements": ["home_top"], "mode": "interleave",
        "variants": [{"name": "old"}, {"name": "new"}],
    }).json()
    label = client.get("/v1/experiments/assignment", params={"user_id": "fe-0", "placement": "home_top"},
                       headers=auth("search")).json()["impression_variant"]
    assert label == f"{exp['experiment_id']}/interleave"
    impressions, events = [], []
    for n in range(120):
        impressions.append({"placement": "home_top", "user_id": f"fe-{n}", "items": ["mug-red", "teapot"],
                            "teams": ["new", "old"] if n % 2 else ["old", "new"], "variant": label,
                            "request_id": f"fe-request-{n}"})
        # Shoppers click the teapot: credited to whichever team the front end says placed it.
        events.append({"user_id": f"fe-{n}", "item_id": "teapot", "event_type": "click",
                       "timestamp": time.time(), "request_id": f"fe-request-{n}", "position": 2})
    sent = client.post("/v1/impressions", json={"impressions": impressions}, headers=auth("events"))
    assert sent.status_code == 200, sent.text
    _events(client, auth, events)
    found = client.get(f"/v1/experiments/{exp['experiment_id']}", headers=auth("admin")).json()["results"]
    assert found["interleaving"]["wins"] == {"old": 60, "new": 60}
    assert found["decision"] == "keep_running" and not found["interleaving"]["significant"]
    bad = client.post("/v1/impressions", headers=auth("events"), json={"impressions": [
        {"placement": "home_top", "items": ["mug-red", "teapot"], "teams": ["old"]}]})
    assert bad.status_code == 422 and "teams" in bad.json()["message"]
