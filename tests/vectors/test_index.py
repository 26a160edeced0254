"""VectorIndex: exact and HNSW answers agree, updates show up, filters keep recall, saves round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.errors import ValidationError
from cartwise.vectors import VectorIndex

DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = unit(rng.standard_normal((3000, DIM)).astype(np.float32))
    return [f"item-{i}" for i in range(len(vectors))], vectors


@pytest.fixture(scope="module")
def exact(data) -> VectorIndex:
    ids, vectors = data
    return VectorIndex(backend="exact").add(ids, vectors)


@pytest.fixture(scope="module")
def hnsw(data) -> VectorIndex:
    ids, vectors = data
    # A low exact_filter_below makes filtered searches walk the graph (over-fetching) too.
    return VectorIndex(backend="hnsw", exact_filter_below=5).add(ids, vectors)


def queries_near(vectors: np.ndarray, n: int, noise: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    source = rng.choice(len(vectors), n, replace=False)
    return source, unit(vectors[source] + noise * rng.standard_normal((n, DIM)).astype(np.float32))


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f) & set(t) - {None}) / max(len(set(t) - {None}), 1) for f, t in zip(found, truth)]
    return float(np.mean(hits))


def test_exact_and_hnsw_agree_on_top1(data, exact, hnsw):
    ids, vectors = data
    assert not exact.approximate and hnsw.approximate
    source, queries = queries_near(vectors, 200, noise=0.05)
    a, b = exact.search(queries, 10), hnsw.search(queries, 10)
    assert list(a.ids[:, 0]) == [ids[i] for i in source]
    assert (a.ids[:, 0] == b.ids[:, 0]).all()
    # Scores are exact cosines in both (HNSW candidates are re-scored in float32).
    np.testing.assert_allclose(a.scores[:, 0], b.scores[:, 0], atol=1e-5)
    np.testing.assert_allclose(a.scores[:, 0], np.sum(queries * vectors[source], axis=1), atol=1e-5)
    assert (np.diff(a.scores, axis=1) <= 1e-7).all()
    # Unstructured random queries are the hard case for a graph; recall still stays high.
    random_queries = unit(np.random.default_rng(2).standard_normal((100, DIM)).astype(np.float32))
    assert recall(hnsw.search(random_queries, 10).ids, exact.search(random_queries, 10).ids) > 0.9


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_add_remove_and_replace_are_reflected(data, backend):
    ids, vectors = data
    index = VectorIndex(backend=backend).add(ids[:1000], vectors[:1000])
    assert len(index) == 1000 and "item-5" in index
    assert index.remove(["item-5", "item-6", "not-there"]) == 2
    assert len(index) == 998 and "item-5" not in index
    found = index.search(vectors[[5, 6, 7]], 5).ids
    assert "item-5" not in found and "item-6" not in found and found[2, 0] == "item-7"
    index.add(["item-5"], vectors[[5]])
    assert index.search(vectors[5], 1).ids[0, 0] == "item-5"
    index.add(["item-5"], vectors[[9]])  # same id, new vector: replaced, not duplicated
    assert len(index) == 999
    top = index.search(vectors[9], 2).ids[0]
    assert set(top) == {"item-5", "item-9"}
    index.add(ids[1000:1500], vectors[1000:1500])
    assert index.search(vectors[1400], 1).ids[0, 0] == "item-1400"
    np.testing.assert_allclose(index.vectors(["item-1400"])[0], vectors[1400], atol=1e-6)


@pytest.mark.parametrize("share", [0.9, 0.5, 0.05, 0.003])
def test_filter_mask_respected_with_recall(data, exact, hnsw, share):
    ids, vectors = data
    rng = np.random.default_rng(3)
    allowed = rng.random(len(ids)) < share
    _, queries = queries_near(vectors, 100, noise=0.3)
    truth = exact.search(queries, 10, allowed=allowed)
    got = hnsw.search(queries, 10, allowed=allowed)
    allowed_ids = set(np.asarray(ids, dtype=object)[allowed])
    want = min(10, int(allowed.sum()))
    for row in got.ids:
        assert set(row[:want]) <= allowed_ids and None not in row[:want]
    for row in truth.ids:
        assert set(row[:want]) <= allowed_ids
    assert recall(got.ids, truth.ids) >= 0.95


def test_per_query_masks_and_tiny_allowed_sets(exact, hnsw, data):
    ids, vectors = data
    mask = np.zeros((2, len(ids)), dtype=bool)
    mask[0, [10, 20, 30]] = True
    mask[1, :] = True
    for index in (exact, hnsw):
        result = index.search(vectors[[10, 500]], 5, allowed=mask)
        assert set(result.ids[0, :3]) == {"item-10", "item-20", "item-30"}
        assert list(result.ids[0, 3:]) == [None, None] and np.isneginf(result.scores[0, 3:]).all()
        assert result.ids[0, 0] == "item-10" and result.ids[1, 0] == "item-500"
        nothing = index.search(vectors[:1], 5, allowed=np.zeros(len(ids), dtype=bool))
        assert list(nothing.ids[0]) == [None] * 5


def test_mask_from_ids_and_validation(exact, data):
    ids, _ = data
    mask = exact.mask(["item-1", "item-2", "nope"])
    assert mask.sum() == 2 and mask[1] and mask[2]
    with pytest.raises(ValidationError, match="allowed must have shape"):
        exact.search(np.ones(DIM), 3, allowed=np.ones(5, dtype=bool))
    with pytest.raises(ValidationError, match="boolean"):
        exact.search(np.ones(DIM), 3, allowed=np.ones(len(ids)))
    with pytest.raises(ValidationError, match="32-d"):
        VectorIndex().add(["a"], np.ones((1, DIM))).add(["b"], np.ones((1, 8)))
    with pytest.raises(ValidationError, match="unique"):
        VectorIndex().add(["a", "a"], np.ones((2, DIM)))
    with pytest.raises(ValidationError, match="NaN"):
        VectorIndex().add(["a"], np.full((1, DIM), np.nan))
    empty = VectorIndex().search(np.ones((2, DIM)), 5)
    assert empty.ids.shape == (2, 0)


def test_auto_backend_switches_at_threshold(data):
    ids, vectors = data
    index = VectorIndex(exact_below=1000).add(ids[:900], vectors[:900])
    assert not index.approximate
    index.add(ids[900:1200], vectors[900:1200])
    assert index.approximate
    index.remove(ids[:400])  # 800 left: above half the threshold, the graph is kept
    assert index.approximate and index.search(vectors[1100], 1).ids[0, 0] == "item-1100"
    index.remove(ids[400:1000])
    assert not index.approximate and len(index) == 200


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_save_load_round_trip(tmp_path, data, backend):
    ids, vectors = data
    index = VectorIndex(backend=backend).add(ids[:2000], vectors[:2000])
    index.remove(ids[:10])
    _, queries = queries_near(vectors[:2000], 50, noise=0.2)
    before = index.search(queries, 10)
    index.save(tmp_path / "index")
    index.save(tmp_path / "index")  # saving again replaces the files, leaves no stale ones
    assert len(list((tmp_path / "index").iterdir())) == (4 if backend == "hnsw" else 3)
    loaded = VectorIndex.load(tmp_path / "index")
    assert loaded.approximate == index.approximate and len(loaded) == len(index)
    after = loaded.search(queries, 10)
    assert (before.ids == after.ids).all()
    np.testing.assert_allclose(before.scores, after.scores)
    loaded.add(["new"], vectors[[0]])
    assert loaded.search(vectors[0], 1).ids[0, 0] == "new"
