"""ESMM learns a planted purchase pattern through clicks."""

from __future__ import annotations

import numpy as np

from cartwise.clicks import registry
from cartwise.clicks.calibration import auc
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
