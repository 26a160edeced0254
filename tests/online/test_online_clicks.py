"""The click model's online layer starts as the trained model and learns drift from the
labelled impressions it is given."""

from __future__ import annotations

import numpy as np

from cartwise.clicks.calibration import log_loss
from cartwise.online import OnlineClickLayer


def _stream(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The trained model says 5% for every item; now item 'hot' is clicked 30% of the time
    and the rest 2%."""
    items = [("hot" if rng.random() < 0.2 else f"cold-{rng.integers(20)}") for _ in range(n)]
    truth = np.array([0.3 if i == "hot" else 0.02 for i in items])
    return items, np.full(n, 0.05), (rng.random(n) < truth).astype(float)


def test_untrained_layer_is_the_model():
    layer = OnlineClickLayer()
    p = np.array([0.01, 0.2, 0.7])
    np.testing.assert_allclose(layer.predict(["a", "b", "c"], p), p, rtol=1e-9)


def test_layer_learns_what_runs_hot_now():
    rng = np.random.default_rng(0)
    layer = OnlineClickLayer()
    items, model, clicks = _stream(rng, 3000)
    for start in range(0, 3000, 10):
        layer.learn(items[start:start + 10], model[start:start + 10], clicks[start:start + 10])
    assert layer.updates_ == 3000
    items, model, clicks = _stream(rng, 3000)
    online = layer.predict(items, model)
    assert online[[i == "hot" for i in items]].mean() > 0.2
    assert log_loss(clicks, online) < log_loss(clicks, model) - 0.02


def test_labels_are_cascade_style_down_to_the_lowest_item_acted_on():
    from cartwise.online.clicks import labelled_impressions
    import polars as pl

    shown = pl.DataFrame({"request_id": ["r1"] * 4 + ["r2"] * 2, "ts": [5] * 6, "placement": ["home"] * 6,
                          "user_id": ["u"] * 6, "position": [1, 2, 3, 4, 1, 2], "item_id": ["a", "b", "c", "d", "e", "f"]})
    acted = pl.DataFrame({"request_id": ["r1", "r1", "r2", "r3"], "position": [3, 1, 5, 1],
                          "event_type": ["click", "purchase", "click", "click"]})
    (only,) = labelled_impressions(acted, shown)  # r2: position 5 was never shown; r3: not logged
    assert only.request_id == "r1" and only.items == ("a", "b", "c") and only.labels == (1, 0, 1)
    assert labelled_impressions(acted.with_columns(pl.lit("view").alias("event_type")), shown) == []


def test_a_server_learns_the_answers_shoppers_act_on_without_a_train(tmp_path):
    """Shoppers of one answer keep passing over `cold` for `hot` below it: the click model's
    served probabilities follow at once, for every server following the store (the layer is
    taught from the events log), and start again from the model after a train."""
    from tests.feedback.test_click_model import T, DAY, _planted

    engine = _planted(tmp_path)
    engine.train(encoder=None)
    hot, cold, other = "i0-5", "i1-5", "i2-5"
    before = engine.predict_clicks("u1", [hot, cold, other])
    assert before.online_updates == 0
    ids = engine.add_impressions([{"placement": "home_top", "items": [cold, hot, other], "user_id": f"u{u}",
                                   "timestamp": (T + 70 * DAY) // 1000} for u in range(80)])
    engine.add_events([{"user_id": f"u{u}", "item_id": hot, "event_type": "click", "request_id": rid,
                        "position": 2, "timestamp": (T + 70 * DAY) // 1000 + 30} for u, rid in enumerate(ids)])
    after = engine.predict_clicks("u1", [hot, cold, other])
    assert after.online_updates == 160  # two items labelled per answer: cold 0, hot 1
    p_before = [i.probability for i in before.items]
    p_after = [i.probability for i in after.items]
    # Half of these answers' labelled items were clicked (the model said under 1%): every
    # probability is recalibrated upwards, `hot` far more than `cold`, which shoppers pass over.
    assert p_after[0] > 10 * p_before[0]
    assert p_after[0] / p_after[1] > 3 * p_before[0] / p_before[1]
    # A purchase on an answer already learned teaches nothing more.
    engine.add_events([{"user_id": "u0", "item_id": hot, "event_type": "purchase", "request_id": ids[0],
                        "position": 2, "timestamp": (T + 70 * DAY) // 1000 + 90}])
    assert engine.predict_clicks("u1", [hot]).online_updates == 160
    engine.train(encoder=None)
    assert engine.predict_clicks("u1", [hot]).online_updates == 0
    engine.close()
