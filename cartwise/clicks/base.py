"""The protocol every click model follows, and the files they share on disk.

A click model estimates, for each impression (one item shown to one shopper in one
place), the probability of a click (or, for a click-and-purchase pair, of a purchase
through a click). It is fitted on a polars frame of impressions with a 0/1 label column
and reads its features through a :class:`~cartwise.clicks.features.FeatureSpec`, so a
caller (the impression log, a benchmark) never builds matrices itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.errors import NotTrained
from cartwise.clicks.features import FeatureEncoder, FeatureSpec


@runtime_checkable
class ClickModel(Protocol):
    """fit on impressions, predict probabilities, save to and load from a directory."""

    spec: FeatureSpec

    def fit(self, frame: pl.DataFrame, *, label: str, weight: str | None = None,
            validation: pl.DataFrame | None = None) -> Self: ...

    def predict(self, frame: pl.DataFrame, *, logged_position: bool = False) -> NDArray[np.float64]: ...

    def save(self, directory: Path | str) -> None: ...

    @classmethod
    def load(cls, directory: Path | str) -> Self: ...


def not_fitted(model: object) -> NotTrained:
    return NotTrained(f"{type(model).__name__} is not fitted yet", hint="call fit(...) or load(...) first")


def write_meta(directory: Path | str, name: str, meta: dict[str, Any], encoder: FeatureEncoder) -> None:
    """``{name}.json``: format, parameters, the encoder and any training record; written
    under a temporary name and renamed into place, after the model's other files."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".{name}.json.tmp"
    tmp.write_text(json.dumps({**meta, "encoder": encoder.to_dict()}, indent=1, sort_keys=True, default=float))
    os.replace(tmp, path / f"{name}.json")


def read_meta(directory: Path | str, name: str, format_version: int) -> tuple[dict[str, Any], FeatureEncoder]:
    """What :func:`write_meta` wrote; :class:`NotTrained` when missing or of another format."""
    path = Path(directory) / f"{name}.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise NotTrained(f"cannot read the click model {path}: {exc}", hint="fit and save it again") from None
    if meta.get("format") != format_version:
        raise NotTrained(f"{path} has format {meta.get('format')}, this Cartwise reads {format_version}",
                         hint="fit and save it again")
    return meta, FeatureEncoder.from_dict(meta["encoder"])
