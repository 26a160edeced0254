"""Each click model must learn a planted interaction; the logistic baseline, which has no
crossed features, must not (its AUC stays near 0.5)."""

from __future__ import annotations

import pytest

from cartwise.clicks import registry
from cartwise.clicks.calibration import auc
from tests.clicks.planted import AGREEMENT_SPEC, HISTORY_SPEC, agreement_log, history_log

FAST = {"logistic": {}, "gbdt": {"threads": 1}, "deep": {"threads": 1, "epochs": 10, "batch_size": 256, "lr": 1e-2}}


@pytest.fixture(scope="module")
def agreement() -> tuple:
    return agreement_log(6000, seed=1), agreement_log(1000, seed=2), agreement_log(3000, seed=3)


@pytest.mark.parametrize("name", ["logistic", "gbdt", "deep"])
def test_segment_category_agreement(name: str, agreement: tuple) -> None:
    train, valid, test = agreement
    model = registry.get(name).build(AGREEMENT_SPEC, **FAST[name])
    model.fit(train, label="clicked", validation=valid)
    score = auc(test["clicked"].to_numpy(), model.predict(test, logged_position=True))
    if registry.get(name).baseline:
        assert 0.4 < score < 0.6, f"logistic regression cannot see the interaction, yet AUC {score:.3f}"
    else:
        assert score > 0.8, f"{name} did not learn the agreement: AUC {score:.3f}"


def test_attention_learns_the_history_pattern() -> None:
    """Only the history tells which items a shopper clicks: the deep model's attention
    finds it; the logistic baseline (item id and history length) cannot."""
    train, valid, test = history_log(8000, seed=4), history_log(1000, seed=5), history_log(3000, seed=6)
    deep = registry.get("deep").build(HISTORY_SPEC, threads=1, epochs=12, batch_size=256, lr=5e-3, dim=8)
    deep.fit(train, label="clicked", validation=valid)
    logistic = registry.get("logistic").build(HISTORY_SPEC).fit(train, label="clicked")
    y = test["clicked"].to_numpy()
    assert auc(y, deep.predict(test)) > 0.8
    assert auc(y, logistic.predict(test)) < 0.6
