"""EmbeddingCache: only new or changed item texts reach the encoder; saves round-trip."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest

from cartwise.encode import EmbeddingCache, TextEncoder
from cartwise.errors import ModelMismatch, StoreError


class CountingEncoder:
    """Deterministic fake: a text's vector comes from its hash; remembers what it encoded."""

    def __init__(self, name: str = "fake", dim: int = 8) -> None:
        self.name = name
        self.dim = dim
        self.encoded: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_items(self, texts: Sequence[str], *, batch_size: int = 64, on_progress=None) -> np.ndarray:
        self.encoded.extend(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.empty((0, self.dim), np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_items(texts)


def test_only_new_and_changed_items_are_encoded(tmp_path):
    encoder = CountingEncoder()
    assert isinstance(encoder, TextEncoder)
    cache = EmbeddingCache.for_encoder(encoder)
    ids, texts = ["a", "b", "c"], ["apple", "banana", "cherry"]
    first = cache.embed(encoder, ids, texts)
    assert encoder.encoded == texts and len(cache) == 3

    encoder.encoded.clear()
    again = cache.embed(encoder, ids, texts)
    assert encoder.encoded == [] and np.array_equal(first, again)

    changed = cache.embed(encoder, ["a", "b", "c", "d"], ["apple", "blueberry", "cherry", "date"])
    assert encoder.encoded == ["blueberry", "date"]
    np.testing.assert_array_equal(changed[[0, 2]], first[[0, 2]])
    np.testing.assert_allclose(changed[1], encoder._vector("blueberry"))

    cache.save(tmp_path / "cache")
    encoder.encoded.clear()
    reopened = EmbeddingCache.open(tmp_path / "cache", encoder)
    assert len(reopened) == 4
    reopened.embed(encoder, ["c", "b"], ["cherry", "blueberry"])
    assert encoder.encoded == []
    assert reopened.prune(["a", "b"]) == 2 and "c" not in reopened and len(reopened) == 2
    np.testing.assert_allclose(reopened.get(["b"])[0], encoder._vector("blueberry"))


def test_another_encoder_starts_empty_and_mismatch_is_refused(tmp_path):
    fake = CountingEncoder()
    cache = EmbeddingCache.for_encoder(fake)
    cache.embed(fake, ["a"], ["apple"])
    cache.save(tmp_path / "cache")
    other = CountingEncoder(name="other")
    assert len(EmbeddingCache.open(tmp_path / "cache", other)) == 0
    with pytest.raises(ModelMismatch, match="holds fake vectors"):
        cache.embed(other, ["a"], ["apple"])


def test_repeated_saves_leave_one_generation_and_damage_is_reported(tmp_path):
    fake = CountingEncoder()
    cache = EmbeddingCache.for_encoder(fake)
    for i in range(3):
        cache.embed(fake, [f"id{i}"], [f"text {i}"])
        cache.save(tmp_path / "cache")
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir() if p.name != ".lock") == [".json", ".npy", ".parquet"]
    assert len(EmbeddingCache.load(tmp_path / "cache")) == 3
    for p in (tmp_path / "cache").glob("*.npy"):
        p.unlink()
    with pytest.raises(StoreError, match="missing or damaged"):
        EmbeddingCache.load(tmp_path / "cache")


def test_catalog_items_sharing_a_text_are_encoded_once(tmp_path):
    import polars as pl

    from cartwise.search.semantic import embed_catalog

    encoder = CountingEncoder()
    items = pl.DataFrame({"item_id": ["s", "m", "l", "mug"], "title": ["Tee", "Tee", "Tee", "Mug"]})
    index, figures = embed_catalog(items, encoder=encoder, directory=tmp_path / "emb")
    assert sorted(encoder.encoded) == ["Mug", "Tee"]
    assert figures["encoded"] == 2 and figures["reused"] == 2
    np.testing.assert_allclose(index.vectors(["s", "l"]), np.stack([encoder._vector("Tee")] * 2), rtol=1e-6)

    # A new variant whose text is already cached under another id is not encoded either,
    # and the copy survives a restart.
    encoder.encoded.clear()
    more = pl.concat([items, pl.DataFrame({"item_id": ["xl"], "title": ["Tee"]})])
    index, figures = embed_catalog(more, encoder=encoder, directory=tmp_path / "emb")
    assert encoder.encoded == [] and figures == {**figures, "encoded": 0, "reused": 1}
    reopened = EmbeddingCache.open(tmp_path / "emb", encoder)
    np.testing.assert_allclose(reopened.get(["xl"])[0], encoder._vector("Tee"))
