"""Resumable training: the whole training state after each epoch, saved in
``<checkpoint_dir>/checkpoint.pt`` under a key that fingerprints the data and parameters,
so a fit interrupted (a crash, Ctrl-C) resumes where it was and ends where an
uninterrupted one would have. The model's ``checkpoint_dir`` says where; this module
alone names the file inside it."""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import torch
from numpy.typing import NDArray

from cartwise.recommend.base import IdMap
from cartwise.recommend.neural.persistence import replacing

if TYPE_CHECKING:
    from cartwise.recommend.neural.base import NeuralRecommender


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The training state after an epoch, in ``directory/checkpoint.pt``, for a fit whose
    data and parameters hash to `key`; a checkpoint with another key is ignored."""

    directory: Path
    key: str

    @property
    def path(self) -> Path:
        return self.directory / "checkpoint.pt"

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
            return None  # damaged: start over, the next save replaces it
        return state if isinstance(state, dict) and state.get("key") == self.key else None

    def save(self, state: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with replacing(self.path) as tmp:
            torch.save({**state, "key": self.key}, tmp)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def fingerprint(
    model: NeuralRecommender,
    ordered: pl.DataFrame,
    validation: pl.DataFrame | None,
    item_ids: IdMap,
    text_matrix: NDArray[np.float32] | None,
) -> str:
    """What a checkpoint must match to be resumed: model class and parameters (not the
    time budget or threads), the training and validation events, catalog and text."""
    digest = hashlib.blake2b(digest_size=16)
    params = {k: v for k, v in model.get_params().items() if k not in ("max_seconds", "threads")}
    digest.update(f"{type(model).__name__} {json.dumps(params, sort_keys=True)}".encode())
    digest.update(ordered.drop("_order").hash_rows(seed=0).to_numpy().tobytes())
    if validation is not None:
        pairs = validation.select(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8))
        digest.update(pairs.hash_rows(seed=0).to_numpy().tobytes())
    digest.update("\n".join(item_ids.ids).encode())
    if text_matrix is not None:
        digest.update(np.ascontiguousarray(text_matrix).tobytes())
    return digest.hexdigest()
