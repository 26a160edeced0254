"""The contract every registered recommender must pass (as implicit's shared test mixin):
fit, answer known, unknown and empty histories, leave the history out when asked, answer
the same after a save/load round trip and after a refit with the same seed, and beat
popularity on a planted pattern. Parametrised over the registry, so a newly registered
model is tested without an edit here; what a model cannot do is stated by its spec."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recommend_frames import T0
from test_planted_pattern import N_NOISE, N_PAIRS, planted, ranks

from cartwise.evaluate.metrics import hit_rate
from cartwise.recommend import Interaction, Scored
from cartwise.recommend import registry as recommenders
from cartwise.recommend.registry import RecommenderSpec

torch.set_num_threads(1)
# Run settings for every model that takes them: one thread and a seed (same answers on a
# refit), and few epochs for the neural ones.
SETTINGS = {"threads": 1, "seed": 0, "epochs": 12}
K = 10
ANSWERED = 60  # histories answered in the round-trip and determinism checks


@pytest.fixture(scope="module")
def data():
    return planted()


def text_vectors() -> dict[str, np.ndarray]:
    """Item text where a pair's two items share a direction (their text names the pair)
    and the noise items point elsewhere: the planted pattern, seen through text."""
    rng = np.random.default_rng(7)
    dim = N_PAIRS + N_NOISE
    out = {}
    for p in range(N_PAIRS):
        for side in "ab":
            vector = rng.normal(0, 0.05, dim).astype(np.float32)
            vector[p] += 1.0
            out[f"{side}{p}"] = vector
    for n in range(N_NOISE):
        vector = rng.normal(0, 0.05, dim).astype(np.float32)
        vector[N_PAIRS + n] += 1.0
        out[f"noise{n}"] = vector
    return out


def build(spec: RecommenderSpec) -> object:
    offered = {**SETTINGS, "item_text_vectors": text_vectors() if spec.needs_text else None}
    if spec.composite:
        members = recommenders.build_members(
            spec, lambda member: member.build(**member.settings_from(offered)), text=spec.needs_text
        )
        return spec.build(members=members, **spec.settings_from(offered))
    return spec.build(**spec.settings_from(offered))


def fit(spec: RecommenderSpec, data) -> object:
    events, items, _, _ = data
    model = build(spec)
    fitted = spec.fit(model, events, items=items, validation=None)
    assert fitted is model, f"{spec.name}: fit must return the model"
    return model


_fitted: dict[str, object] = {}


@pytest.fixture(params=recommenders.names())
def spec(request) -> RecommenderSpec:
    return recommenders.get(request.param)


@pytest.fixture
def model(spec: RecommenderSpec, data):
    """The model fitted once per run (several tests read it)."""
    if spec.name not in _fitted:
        _fitted[spec.name] = fit(spec, data)
    return _fitted[spec.name]


def answer(spec, model, histories, *, k=K, exclude_seen=True) -> list[list[Scored]]:
    return spec.answers(model).recommend(histories, k=k, exclude_seen=exclude_seen)


def check_answer(answer_: list[Scored], catalog: set[str], k: int) -> None:
    assert len(answer_) <= k
    ids = [s.item_id for s in answer_]
    assert len(set(ids)) == len(ids), "an item twice in one answer"
    assert set(ids) <= catalog, "an answer names an item outside the catalog"
    scores = [s.score for s in answer_]
    assert all(np.isfinite(scores))
    assert scores == sorted(scores, reverse=True), "answers must be best first"


def test_registered_names_are_unique_and_known(spec: RecommenderSpec) -> None:
    assert recommenders.get(spec.name) is spec
    assert spec.label and spec.help
    assert set(spec.settings) <= set(recommenders.RUN_SETTINGS)
    for member in spec.members:
        assert recommenders.get(member).name == member


def test_known_shoppers_get_k_answers(spec: RecommenderSpec, model, data) -> None:
    _, items, histories, _ = data
    catalog = set(items["item_id"].to_list())
    answers = answer(spec, model, histories)
    assert len(answers) == len(histories)
    for a in answers:
        check_answer(a, catalog, K)
    assert sum(len(a) == K for a in answers) >= 0.9 * len(answers)


def test_unknown_and_empty_histories_are_answered(spec: RecommenderSpec, model, data) -> None:
    _, items, _, _ = data
    catalog = set(items["item_id"].to_list())
    unknown = [Interaction("never-sold", "view", T0), Interaction("never-sold-either", "purchase", T0 + 1)]
    answers = answer(spec, model, [unknown, []], k=5)
    assert len(answers) == 2
    for a in answers:
        check_answer(a, catalog, 5)
    if not spec.personal:
        # The same list for everyone: the fallback shoppers without a usable history get.
        assert [s.item_id for s in answers[0]] == [s.item_id for s in answers[1]]
        assert len(answers[1]) == 5


def test_exclude_seen_leaves_out_the_history(spec: RecommenderSpec, model, data) -> None:
    _, _, histories, _ = data
    for history, a in zip(histories, answer(spec, model, histories, exclude_seen=True)):
        seen = {e.item_id for e in history}
        assert not seen & {s.item_id for s in a}


def _same(first: list[list[Scored]], second: list[list[Scored]]) -> None:
    assert [[s.item_id for s in a] for a in first] == [[s.item_id for s in a] for a in second]
    for a, b in zip(first, second):
        np.testing.assert_allclose([s.score for s in a], [s.score for s in b], rtol=1e-5, atol=1e-6)


def test_save_load_round_trip_answers_the_same(spec: RecommenderSpec, model, data, tmp_path) -> None:
    _, _, histories, _ = data
    model.save(tmp_path / spec.name)
    loaded = spec.load(tmp_path / spec.name)
    for exclude_seen in (True, False):
        _same(
            answer(spec, model, histories[:ANSWERED], exclude_seen=exclude_seen),
            answer(spec, loaded, histories[:ANSWERED], exclude_seen=exclude_seen),
        )


def test_refit_with_the_same_seed_answers_the_same(spec: RecommenderSpec, model, data) -> None:
    _, _, histories, _ = data
    again = fit(spec, data)
    _same(answer(spec, model, histories[:ANSWERED]), answer(spec, again, histories[:ANSWERED]))


def test_beats_popularity_on_the_planted_pattern(spec: RecommenderSpec, model, data) -> None:
    """Whoever looks at a_i buys b_i next (and, for text models, a_i's text names b_i)."""
    events, items, histories, targets = data
    reference = recommenders.get("popularity")
    popularity = reference.answers(reference.fit(reference.build(), events, items=items))
    pop_hr = hit_rate(ranks(popularity.recommend(histories, k=K), targets), K)
    answers = answer(spec, model, histories)
    if spec.baseline:
        # The baseline is the reference itself: it answers exactly what the reference does.
        assert [[s.item_id for s in a] for a in answers] == [
            [s.item_id for s in a] for a in popularity.recommend(histories, k=K)
        ]
        return
    model_hr = hit_rate(ranks(answers, targets), K)
    assert pop_hr <= 0.2, pop_hr
    assert model_hr - pop_hr >= 0.4, (spec.name, model_hr, pop_hr)


def test_training_evaluation_cli_and_benchmark_read_the_registry() -> None:
    """One table: a model registered there is trainable, evaluable and benchmarked."""
    from bench.recommenders import ALL_MODELS, LABELS
    from cartwise.cli.evaluate import TEXT_MODELS
    from cartwise.evaluate.recs import MODELS
    from cartwise.versions import RECOMMENDERS, recommender_class

    assert tuple(MODELS) == recommenders.names() == ALL_MODELS
    assert RECOMMENDERS == recommenders.names(personal=True)
    assert all(recommender_class(n) is recommenders.get(n).model_class() for n in RECOMMENDERS)
    assert set(TEXT_MODELS) == {n for n in recommenders.names() if recommenders.get(n).reads_text}
    assert all(LABELS[n] == recommenders.get(n).label for n in ALL_MODELS)
