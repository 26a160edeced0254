"""What every registered click model must do: satisfy the protocol, survive a save/load
round trip with identical predictions, and treat the position as training-only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cartwise.clicks import registry
from cartwise.clicks.base import ClickModel
from cartwise.clicks.features import FeatureEncoder, FeatureSpec, propensity_weights
from cartwise.errors import NotTrained, ValidationError
from tests.clicks.planted import AGREEMENT_SPEC, HISTORY_SPEC, PURCHASE_SPEC, agreement_log, history_log, purchase_log

QUICK = {"logistic": {}, "gbdt": {"threads": 1, "rounds": 30}, "deep": {"threads": 1, "epochs": 2},
         "esmm": {"threads": 1, "epochs": 2}}


def _fit(name: str, frame: pl.DataFrame, spec: FeatureSpec) -> ClickModel:
    entry = registry.get(name)
    model = entry.build(spec, **QUICK[name])
    if entry.conversion:
        return model.fit(frame, label="clicked", conversion="purchased")
    return model.fit(frame, label="clicked")


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    return purchase_log(1500, seed=7)


@pytest.mark.parametrize("name", registry.names())
def test_save_load_round_trip(name: str, log: pl.DataFrame, tmp_path: Path) -> None:
    model = _fit(name, log, PURCHASE_SPEC)
    assert isinstance(model, ClickModel)
    model.save(tmp_path / name)
    loaded = registry.get(name).load(tmp_path / name)
    for logged in (False, True):
        np.testing.assert_array_equal(model.predict(log, logged_position=logged),
                                      loaded.predict(log, logged_position=logged))
    assert loaded.get_params() == model.get_params()


def test_deep_with_history_round_trip(tmp_path: Path) -> None:
    log = history_log(600, seed=8)
    model = registry.get("deep").build(HISTORY_SPEC, threads=1, epochs=1).fit(log, label="clicked")
    model.save(tmp_path)
    np.testing.assert_array_equal(model.predict(log), registry.get("deep").load(tmp_path).predict(log))


@pytest.mark.parametrize("name", ["logistic", "gbdt", "deep"])
def test_position_is_constant_at_serving(name: str) -> None:
    """Serving predictions do not read the position column (it may be absent) and equal
    the logged-position predictions of the same rows shown in slot 1."""
    log = agreement_log(3000, seed=9)
    params = {**QUICK[name], **({"epochs": 4, "lr": 1e-2} if name == "deep" else {})}
    model = registry.get(name).build(AGREEMENT_SPEC, **params).fit(log, label="clicked")
    serving = model.predict(log.drop("position"))
    np.testing.assert_allclose(serving, model.predict(log.with_columns(pl.lit(1).alias("position")),
                                                      logged_position=True), rtol=1e-6)
    # The planted slot effect was learnt: the same rows predicted lower in slot 3.
    lower = model.predict(log.with_columns(pl.lit(3).alias("position")), logged_position=True)
    assert lower.mean() < serving.mean()


def test_unfitted_and_bad_input() -> None:
    model = registry.get("gbdt").build(AGREEMENT_SPEC)
    with pytest.raises(NotTrained):
        model.predict(agreement_log(10, seed=0))
    with pytest.raises(ValidationError, match="lack the columns"):
        model.fit(agreement_log(50, seed=0).drop("category"), label="clicked")
    with pytest.raises(ValidationError):
        registry.get("no-such-model")
    with pytest.raises(ValidationError):
        FeatureSpec(categorical=("a",), history="recent")


def test_encoder_unknowns_history_and_weights() -> None:
    spec = FeatureSpec(numeric=("x",), categorical=("c",), history="h", item="i", max_history=2)
    train = pl.DataFrame({"x": [1.0, 3.0], "c": ["a", "b"], "h": [["p", "q", "r"], []], "i": ["p", "z"]})
    encoder = FeatureEncoder(spec).fit(train)
    test = pl.DataFrame({"x": [None, 2.0], "c": ["a", "new"], "h": [["q", "unseen"], []], "i": ["r", "p"]},
                        schema_overrides={"x": pl.Float64})
    m = encoder.transform(test)
    assert encoder.items_ == ["p", "q", "r", "z"]
    assert m.categorical[:, 0].tolist() == [1, 0]  # an unseen category is "unknown" (0)
    assert m.history.tolist() == [[2, 0], [0, 0]]  # kept the last 2; unseen and padding are 0
    assert m.item.tolist() == [3, 1]
    assert m.numeric[:, 0].tolist() == [0.0, 0.0]  # missing -> the mean; 2.0 is the mean
    w = propensity_weights([0.5, 0.25, 0.001], clip=0.01)
    assert w.mean() == pytest.approx(1.0) and w[2] / w[0] == pytest.approx(50.0)


def test_sample_weights_change_the_fit() -> None:
    log = agreement_log(3000, seed=10)
    weighted = log.with_columns(pl.when(pl.col("category") == "c0").then(20.0).otherwise(1.0).alias("w"))
    plain = registry.get("logistic").build(AGREEMENT_SPEC).fit(weighted, label="clicked")
    heavy = registry.get("logistic").build(AGREEMENT_SPEC).fit(weighted, label="clicked", weight="w")
    assert not np.allclose(plain.predict(log), heavy.predict(log))
