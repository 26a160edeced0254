"""Experiments on a PostgreSQL store: defined in one process, routed by another, exposures
(with interleaving teams) and results read back. Skipped when no PostgreSQL server answers
(``$CARTWISE_TEST_POSTGRESQL``)."""

from __future__ import annotations

import time

import polars as pl
import pytest

from cartwise import Engine
from cartwise.experiments import Assigner
from cartwise.store.postgres import (
    DEFAULT_TEST_SERVER,
    TEST_SERVER_ENV,
    _scratch_url,
    drop_store,
)
from tests.conftest import CATALOG, planted_events

HIDE_SOCKS = {"kind": "rules", "document": {"rules": [{"id": "hide-socks", "kind": "hide", "items": ["socks"]}]}}


@pytest.fixture
def url(tmp_path):
    made = _scratch_url(tmp_path)
    if made is None:
        pytest.skip(f"no PostgreSQL server answered at ${TEST_SERVER_ENV} (default {DEFAULT_TEST_SERVER})")
    engine = Engine.open(made)
    assert engine.upsert_items(CATALOG).rows_rejected == 0
    assert engine.add_events(planted_events()).rows_rejected == 0
    engine.train(encoder=None)
    engine.close()
    yield made
    drop_store(made)


def test_an_experiment_made_in_one_process_is_served_and_read_in_another(url):
    admin = Engine.open(url, create=False, log_impressions=False)
    ab = admin.experiments.create(experiment_id="exp-pg", name="hide socks", placements=["recommend"],
                                  variants=[{"name": "control"}, {"name": "nosocks", "config": HIDE_SOCKS}])
    admin.experiments.create(experiment_id="exp-pg-ilv", name="interleave", placements=["similar"],
                             mode="interleave", variants=[{"name": "control"}, {"name": "nosocks",
                                                                                "config": HIDE_SOCKS}])
    server = Engine.open(url, create=False)
    assigner = Assigner(salt=ab.salt, weights=[1, 1])
    clicks = []
    for n in range(60):
        user = f"pg-{n}"
        answer = server.recommend(user, k=4)
        items = [i.item_id for i in answer.items]
        assert ("socks" in items) == (assigner.arm(user) == 0)
        clicks.append({"user_id": user, "item_id": items[0], "event_type": "click", "timestamp": time.time(),
                       "request_id": answer.request_id, "position": 1})
        server.similar("mug-red", k=4, user_id=user)
    assert server.add_events(clicks).rows_rejected == 0
    server.close()
    shown = admin.store.impression_items().join(admin.store.impressions(), on="request_id")
    assert set(shown.filter(pl.col("placement") == "similar")["team"].drop_nulls()) <= {"control", "nosocks"}
    assert shown.filter(pl.col("placement") == "similar")["team"].null_count() == 0
    assert set(shown.filter(pl.col("placement") == "recommend")["variant"]) == {"exp-pg/control", "exp-pg/nosocks"}
    results = admin.experiments.results("exp-pg")
    assert sum(arm.users for arm in results.arms) == 60 and sum(arm.clicks for arm in results.arms) == 60
    assert results.srm is not None and not results.srm.mismatch
    stopped = admin.experiments.stop("exp-pg")
    other = Engine.open(url, create=False, log_impressions=False)
    assert [e.status for e in other.experiments.all()] == ["stopped", "running"] and stopped.stopped_ms is not None
    other.close()
    admin.close()
