"""`evaluate_recommenders` with text: the cold-items split shows what item text buys."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.errors import ValidationError
from cartwise.evaluate.recs import evaluate_recommenders
from tests.recommend.recommend_frames import DAY, T0, make_events, make_items


def _topics(seed: int = 0):
    """Users stay inside one of four topics; text vectors cluster by topic. Every user's last
    item is one nobody touched before, so the cold-items split keeps all test targets."""
    rng = np.random.default_rng(seed)
    topics = {t: [f"{t}{i}" for i in range(15)] for t in "abcd"}  # 10 warm, 5 cold each
    rows = []
    for u in range(80):
        topic = "abcd"[u % 4]
        warm = rng.choice(topics[topic][:10], size=5, replace=False)
        cold = topics[topic][10 + (u // 4) % 5]
        for step, item in enumerate([*warm, cold]):
            rows.append((f"u{u}", str(item), "view", T0 + u * DAY + step * 1000))
    centre = {t: rng.standard_normal(16) for t in topics}
    ids = [i for members in topics.values() for i in members]
    vectors = np.stack([centre[i[0]] + 0.3 * rng.standard_normal(16) for i in ids]).astype(np.float32)
    items = make_items((i, i[0]) for i in ids)
    return make_events(rows), items, (ids, vectors)


def test_textknn_finds_cold_items_that_collaborative_models_cannot():
    events, items, text = _topics()
    run = evaluate_recommenders(
        events, items, models=["popularity", "itemknn", "textknn"], split="cold-items",
        ks=[10], exclude_seen=True, item_text_vectors=text,
    )
    assert run.config["text_vectors"] is True and run.config["test_users"] > 0
    assert run.metrics["itemknn"]["HR@10"] == 0.0  # never saw the targets
    # A user has 10 unseen items in their topic, the target among them: a ranking by text
    # nearly always has it in the top 10; one blind to topics would hit 10 in 55 times.
    assert run.metrics["textknn"]["HR@10"] > 0.8
    assert run.metrics["popularity"]["HR@10"] < 0.3
    # Text lists stay inside one topic; popularity's mix topics, so they are more diverse.
    assert 0.0 <= run.metrics["textknn"]["diversity@10"] < run.metrics["popularity"]["diversity@10"]


def test_textknn_without_text_is_a_clear_error():
    events, items, _ = _topics()
    with pytest.raises(ValidationError, match="text embeddings") as error:
        evaluate_recommenders(events, items, models=["textknn"], split="cold-items")
    assert "text encoder" in (error.value.hint or "")
