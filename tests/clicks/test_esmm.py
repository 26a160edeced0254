"""ESMM learns a planted purchase pattern through clicks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cartwise.clicks import registry
from cartwise.clicks.calibration import auc
from cartwise.clicks.features import FeatureSpec
from tests.clicks.planted import PURCHASE_SPEC, purchase_log


def test_esmm_learns_purchases_through_clicks() -> None:
    train, valid, test = purchase_log(10000, seed=11), purchase_log(1500, seed=12), purchase_log(4000, seed=13)
    model = registry.get("esmm").build(PURCHASE_SPEC, threads=1, epochs=15, lr=1e-2, batch_size=256)
    model.fit(train, label="clicked", conversion="purchased", validation=valid)
    clicked = test["clicked"].to_numpy()
    purchased = test["purchased"].to_numpy()
    assert auc(clicked, model.predict_ctr(test, logged_position=True)) > 0.8
    # Purchase given click depends on budget x price band: pCVR ranks the clicked rows.
    rows = clicked == 1
    assert auc(purchased[rows], model.predict_cvr(test)[rows]) > 0.75
    ctcvr = model.predict(test, logged_position=True)
    assert auc(purchased, ctcvr) > 0.85
    np.testing.assert_allclose(ctcvr, model.predict_ctr(test, logged_position=True)
                               * model.predict_cvr(test, logged_position=True),
                               rtol=1e-5)


ALI_CCP = Path(__file__).resolve().parents[3] / "shared" / "data" / "ctr_samples" / "torchrechub"


@pytest.mark.skipif(not ALI_CCP.exists(), reason="the shared CTR samples are not on this machine")
def test_esmm_reads_the_real_ali_ccp_sample() -> None:
    """Smoke test on the Ali-CCP sample's real schema (click and purchase labels, 23 sparse
    and 8 dense fields; 100 rows, 1 purchase: too small to judge quality)."""
    train = pl.read_csv(ALI_CCP / "ali-ccp_ali_ccp_train_sample.csv")
    test = pl.read_csv(ALI_CCP / "ali-ccp_ali_ccp_test_sample.csv")
    dense = tuple(c for c in train.columns if c.startswith("D"))
    sparse = tuple(c for c in train.columns if c not in dense and c not in ("click", "purchase"))
    spec = FeatureSpec(numeric=dense, categorical=sparse)
    model = registry.get("esmm").build(spec, threads=1, epochs=2).fit(train, label="click", conversion="purchase")
    ctcvr, ctr = model.predict(test), model.predict_ctr(test)
    assert ctcvr.shape == (test.height,) and np.all((ctcvr > 0) & (ctcvr < 1))
    assert np.all(ctcvr <= ctr)
