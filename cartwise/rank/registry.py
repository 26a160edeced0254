"""Rankers by name: the fused recommender's ``ranker=`` setting and the name saved with it.

A ranker orders candidate feature rows (:mod:`cartwise.rank.features`): ``fit(features,
labels, offsets, feature_names) -> self``, ``score(features)``, ``save``/``load`` to a
directory. Classes are imported when first asked for (LightGBM loads its library).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartwise.errors import ValidationError


@dataclass(frozen=True)
class RankerSpec:
    """One registered ranker.

    learns: fitted from shoppers' held-out next items (False: a fixed rule, usable
    without any, the fused recommender's fallback).
    settings: the run settings (``threads``, ``seed``) its constructor takes.
    """

    name: str
    help: str
    model_class: Callable[[], type]
    learns: bool = True
    settings: tuple[str, ...] = ()

    def build(self, **settings: Any) -> Any:
        return self.model_class()(**{k: v for k, v in settings.items() if k in self.settings})

    def load(self, directory: Path | str) -> Any:
        return self.model_class().load(directory)


_REGISTRY: dict[str, RankerSpec] = {}


def register(spec: RankerSpec) -> RankerSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"ranker {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> RankerSpec:
    spec = _REGISTRY.get(name)
    if spec is None:
        raise ValidationError(f"unknown ranker {name!r}", field="ranker", hint=f"choose one of {', '.join(_REGISTRY)}")
    return spec


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def _lambdarank() -> type:
    from cartwise.rank.ltr import LambdaRanker

    return LambdaRanker


def _equal() -> type:
    from cartwise.rank.ltr import EqualShares

    return EqualShares


register(RankerSpec(
    "lambdarank", "LightGBM LambdaRank over generator scores, popularity, repeat and sequence features",
    _lambdarank, settings=("threads", "seed"),
))
register(RankerSpec(
    "equal", "the members' rescaled scores added with equal weights (no training; the fallback)",
    _equal, learns=False,
))
