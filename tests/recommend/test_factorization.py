"""ALS and BPR must learn the planted pairs better than popularity, and round-trip."""

import numpy as np
import pytest
from test_planted_pattern import planted, ranks

from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.metrics import hit_rate
from cartwise.recommend import Popularity
from cartwise.recommend.factorization import ALS, BPR

MODELS = [
    lambda: ALS(factors=32, iterations=15, threads=1),
    lambda: BPR(factors=32, iterations=300, learning_rate=0.1, threads=1),
]


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.mark.parametrize("make", MODELS, ids=["als", "bpr"])
def test_beats_popularity_on_planted_pairs(make, data):
    events, items, histories, targets = data
    popularity = Popularity().fit(events, items)
    pop_hr = hit_rate(ranks([popularity.recommend(10, exclude={e.item_id for e in h}) for h in histories], targets), 10)
    model = make().fit(events)
    model_hr = hit_rate(ranks(model.recommend(histories, k=10), targets), 10)
    assert model_hr - pop_hr >= 0.3, (model_hr, pop_hr)


@pytest.mark.parametrize("make", MODELS, ids=["als", "bpr"])
def test_save_load_round_trip_and_determinism(make, data, tmp_path):
    events, _, histories, _ = data
    model = make().fit(events)
    again = make().fit(events)
    np.testing.assert_allclose(model.score_full(histories[:20]), again.score_full(histories[:20]), rtol=1e-5)
    model.save(tmp_path)
    loaded = type(model).load(tmp_path)
    np.testing.assert_allclose(model.score_full(histories[:20]), loaded.score_full(histories[:20]), rtol=1e-6)
    assert [s.item_id for s in model.recommend(histories[:5], k=5)[0]] == [
        s.item_id for s in loaded.recommend(histories[:5], k=5)[0]
    ]


def test_empty_history_and_unfitted_model(data):
    events, _, histories, _ = data
    with pytest.raises(NotTrained):
        ALS().recommend(histories[:1])
    model = ALS(factors=8, iterations=3, threads=1).fit(events)
    assert model.recommend([[]], k=5) == [[]]
    seen = {e.item_id for e in histories[0]}
    assert not seen & {s.item_id for s in model.recommend(histories[:1], k=50)[0]}


def test_too_little_data_is_explained():
    import polars as pl

    with pytest.raises(ValidationError, match="at least 2 users"):
        ALS().fit(pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "event_type": ["view"], "ts": [1]}))
