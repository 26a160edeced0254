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
