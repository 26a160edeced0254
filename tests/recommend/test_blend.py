"""BlendRecommender: tuned fusion beats each member when each sees only part of the truth."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from recommend_frames import T0, make_events

from cartwise.errors import ValidationError
from cartwise.evaluate.metrics import hit_rate
from cartwise.evaluate.splits import leave_last_out
from cartwise.recommend import ItemKNN
from cartwise.recommend import registry as recommenders
from cartwise.recommend.base import histories_by_user
from cartwise.recommend.blend import BlendRecommender
from cartwise.recommend.textknn import TextKNN

MINUTE = 60_000


def two_kinds_of_users(seed: int = 7):
    """Chain users view chains a_p -> b_p -> c_p (co-occurrence explains them; their item
    texts are random). Topic users browse one of four topics and then two new products of
    that topic nobody touched before (only text explains them). Each user's last event is
    the test target, the one before the validation target."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(160):
        user, t = f"chain{u}", T0 + u * 100 * MINUTE
        chains = rng.choice(40, size=3, replace=False)
        for p in chains:
            for step in "abc":
                t += MINUTE
                rows.append((user, f"{step}{p}", "view", t))
    topics = "wxyz"
    for u in range(160):
        user, t = f"topic{u}", T0 + (200 + u) * 100 * MINUTE
        topic = topics[u % 4]
        for i in rng.choice(10, size=5, replace=False):
            t += MINUTE
            rows.append((user, f"{topic}warm{i}", "view", t))
        for i in ((u // 4) % 5, 5 + (u // 4) % 5):
            t += MINUTE
            rows.append((user, f"{topic}cold{i}", "view", t))
    ids = [f"{s}{p}" for p in range(40) for s in "abc"]
    ids += [f"{t}{kind}{i}" for t in topics for kind in ("warm", "cold") for i in range(10)]
    centre = {t: rng.standard_normal(32) for t in topics}
    vectors = np.stack(
        [centre[i[0]] + 0.3 * rng.standard_normal(32) if i[0] in centre else rng.standard_normal(32) for i in ids]
    ).astype(np.float32)
    return make_events(rows), (ids, vectors)


def _members(text):
    return {"itemknn": ItemKNN(), "textknn": TextKNN(item_text_vectors=text)}


def _test_hit_rate(model, split, users, targets):
    histories = histories_by_user(pl.concat([split.train, split.validation]), users)
    answers = model.recommend(histories, k=10)
    ranks = [next((r for r, s in enumerate(a) if s.item_id == t), -1) for a, t in zip(answers, targets)]
    return hit_rate(np.asarray(ranks), 10)


def test_tuned_blend_beats_each_member():
    events, text = two_kinds_of_users()
    split = leave_last_out(events)
    users, targets = split.test["user_id"].to_list(), split.test["item_id"].to_list()
    blend = BlendRecommender(members=_members(text)).fit(split.train, validation=split.validation)
    alone = {name: _test_hit_rate(model, split, users, targets) for name, model in blend.members.items()}
    fused = _test_hit_rate(blend, split, users, targets)
    # Each member explains one kind of user only.
    assert 0.3 < alone["itemknn"] < 0.6 and 0.3 < alone["textknn"] < 0.6, alone
    assert fused > max(alone.values()) + 0.15, (fused, alone)
    assert 0.0 < blend.weights_["itemknn"] < 1.0 and sum(blend.weights_.values()) == pytest.approx(1.0)
    assert blend.tuning_["validation_ndcg10"] >= max(blend.tuning_["member_validation_ndcg10"].values())
    # Explanations come from the member that contributed most: a chain's next step is
    # explained by the item-kNN, which names the item behind it.
    history = histories_by_user(split.train, ["chain0"])
    answer = blend.recommend(history, k=1)[0][0]
    knn = blend.members["itemknn"].recommend(history, k=1)[0][0]
    assert (answer.item_id, answer.reason, answer.because) == (knn.item_id, knn.reason, knn.because)


def test_blend_saves_loads_and_is_deterministic(tmp_path):
    events, text = two_kinds_of_users()
    split = leave_last_out(events)
    first = BlendRecommender(members=_members(text)).fit(split.train, validation=split.validation)
    second = BlendRecommender(members=_members(text)).fit(split.train, validation=split.validation)
    assert first.weights_ == second.weights_
    first.save(tmp_path / "blend")
    loaded = recommenders.get("blend").load(tmp_path / "blend")  # members found in the registry
    histories = histories_by_user(split.train, split.test["user_id"].to_list()[:20])
    assert loaded.weights_ == first.weights_
    assert [[s.item_id for s in a] for a in loaded.recommend(histories, k=5)] == [
        [s.item_id for s in a] for a in first.recommend(histories, k=5)
    ]


def test_fixed_weights_and_bad_arguments():
    events, text = two_kinds_of_users()
    blend = BlendRecommender(members=_members(text), weights={"itemknn": 1.0, "textknn": 0.0}).fit(events)
    history = histories_by_user(events, ["chain1"])
    assert [s.item_id for s in blend.recommend(history, k=5)[0]] == [
        s.item_id for s in blend.members["itemknn"].recommend(history, k=5)[0]
    ]
    with pytest.raises(ValidationError, match="at least one member"):
        BlendRecommender(members={})
    with pytest.raises(ValidationError, match="weights"):
        BlendRecommender(members=_members(text), weights={"itemknn": 1.0})
    with pytest.raises(ValidationError, match="non-negative"):
        BlendRecommender(members=_members(text), weights={"itemknn": -1.0, "textknn": 2.0})


def test_the_first_answers_do_not_depend_on_how_many_are_asked_for():
    events, text = two_kinds_of_users()
    split = leave_last_out(events)
    blend = BlendRecommender(members=_members(text), depth=20).fit(split.train, validation=split.validation)
    histories = histories_by_user(split.train, split.test["user_id"].to_list())
    short = blend.recommend(histories, k=10)
    long = blend.recommend(histories, k=150)
    assert [[s.item_id for s in a] for a in short] == [[s.item_id for s in a[:10]] for a in long]


def test_tuning_in_chunks_of_users_chooses_the_same(monkeypatch):
    import cartwise.recommend.blend as blend_module

    events, text = two_kinds_of_users()
    split = leave_last_out(events)
    whole = BlendRecommender(members=_members(text)).fit(split.train, validation=split.validation)
    monkeypatch.setattr(blend_module, "TUNING_CHUNK", 7)
    chunked = BlendRecommender(members=_members(text)).fit(split.train, validation=split.validation)
    assert chunked.weights_ == whole.weights_ and chunked.tuning_ == whole.tuning_
