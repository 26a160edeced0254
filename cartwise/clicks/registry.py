"""Click models by name: how to build each, which run settings it takes, whether it needs
a conversion column, and its one-line help. Training, the benchmark (``bench/clicks.py``)
and, later, the CLI read this table, so a model is defined once. Model classes are
imported when first asked for: the deep ones load PyTorch, the GBDT LightGBM."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartwise.errors import ValidationError
from cartwise.clicks.features import FeatureSpec

# Settings of a run a model may take, by these names in its constructor.
RUN_SETTINGS = ("threads", "seed", "max_seconds")


@dataclass(frozen=True)
class ClickModelSpec:
    """One registered click model.

    name: what configuration and the benchmark call it; label: its name in tables;
    help: one line for the CLI; model_class: imports and returns the class.
    settings: the run settings (:data:`RUN_SETTINGS`) its constructor takes.
    conversion: it predicts purchases through clicks and its ``fit`` takes a
    ``conversion=`` column (ESMM); ``predict`` then gives pCTCVR and ``predict_ctr`` pCTR.
    baseline: the reference the others must beat on a planted interaction.
    """

    name: str
    label: str
    help: str
    model_class: Callable[[], type]
    settings: tuple[str, ...] = ("seed",)
    conversion: bool = False
    baseline: bool = False

    def build(self, spec: FeatureSpec, **params: Any) -> Any:
        """A new, unfitted model reading `spec`; `params` go to its constructor."""
        return self.model_class()(spec, **params)

    def load(self, directory: Path | str) -> Any:
        return self.model_class().load(directory)

    def settings_from(self, offered: Mapping[str, object]) -> dict[str, object]:
        """The settings among `offered` this model takes (None values left out)."""
        return {key: value for key, value in offered.items() if key in self.settings and value is not None}


_REGISTRY: dict[str, ClickModelSpec] = {}


def register(spec: ClickModelSpec) -> ClickModelSpec:
    """Add `spec`; a name already taken or an unknown run setting is an error."""
    if spec.name in _REGISTRY:
        raise ValueError(f"click model {spec.name!r} is already registered")
    unknown = sorted(set(spec.settings) - set(RUN_SETTINGS))
    if unknown:
        raise ValueError(f"click model {spec.name!r} names unknown run settings {unknown}; known: {RUN_SETTINGS}")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> ClickModelSpec:
    spec = _REGISTRY.get(name)
    if spec is None:
        raise ValidationError(f"unknown click model {name!r}", field="click_model",
                              hint=f"choose one of {', '.join(_REGISTRY)}")
    return spec


def names(*, conversion: bool | None = None) -> tuple[str, ...]:
    """Registered names in registration order; only the click-and-purchase ones (or only
    the others) when `conversion` is given."""
    return tuple(n for n, s in _REGISTRY.items() if conversion is None or s.conversion == conversion)


def _logistic() -> type:
    from cartwise.clicks.logistic import LogisticClickModel

    return LogisticClickModel


def _gbdt() -> type:
    from cartwise.clicks.gbdt import GBDTClickModel

    return GBDTClickModel


def _deep() -> type:
    from cartwise.clicks.deep import DeepClickModel

    return DeepClickModel


def _esmm() -> type:
    from cartwise.clicks.esmm import ESMM

    return ESMM


register(ClickModelSpec(
    "logistic", "Logistic regression", "one-hot categoricals and standardised numerics, no crossings",
    _logistic, baseline=True,
))
register(ClickModelSpec(
    "gbdt", "GBDT (LightGBM)", "gradient-boosted trees on the same features", _gbdt, settings=("threads", "seed"),
))
register(ClickModelSpec(
    "deep", "DeepFM (+DIN)", "DeepFM, with attention over the shopper's recent items when there is a history",
    _deep, settings=RUN_SETTINGS,
))
register(ClickModelSpec(
    "esmm", "ESMM (CTR x CVR)", "click and purchase-through-click towers trained on every impression", _esmm,
    settings=RUN_SETTINGS, conversion=True,
))
