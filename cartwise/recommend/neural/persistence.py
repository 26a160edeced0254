"""Model files of a neural recommender: ``{name}.npz`` (item ids, warm flags), ``{name}.pt``
(the network's weights, read with ``weights_only``) and, written last, ``{name}.json``
(parameters and training record); every file is written under a temporary name and
renamed into place."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

from cartwise.errors import NotTrained
from cartwise.recommend.base import IdMap
from cartwise.recommend.neural.data import TYPES
from cartwise.recommend.neural.epochs import EpochLog

if TYPE_CHECKING:
    from cartwise.recommend.neural.base import NeuralRecommender

Model = TypeVar("Model", bound="NeuralRecommender")


def save_model(model: NeuralRecommender, directory: Path | str, name: str, format: int) -> None:
    """``{name}.npz`` (item ids, warm flags), ``{name}.pt`` (state dict) and, last,
    ``{name}.json`` (parameters, training record), each written under a temporary name and
    renamed into place."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": format,
        "params": model.get_params(),
        "text_dim": model.network_.text_dim,
        "n_items": len(model.item_ids_),
        "event_types": list(TYPES),
        "best_epoch": model.best_epoch_,
        "best_validation_ndcg10": model.best_validation_ndcg10_,
        "history": [asdict(log) for log in model.history_],
    }
    with replacing(path / f"{name}.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, item_ids=model.item_ids_.to_numpy(), warm=model.warm_)
    with replacing(path / f"{name}.pt") as tmp:
        torch.save(model.network_.state_dict(), tmp)
    with replacing(path / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))


def load_model(cls: type[Model], directory: Path | str, name: str, format: int) -> Model:
    """The model :func:`save_model` wrote; :class:`NotTrained` if it is missing, unreadable
    or of another format."""
    path = Path(directory)
    try:
        meta = json.loads((path / f"{name}.json").read_text())
        with np.load(path / f"{name}.npz", allow_pickle=False) as arrays:
            item_ids, warm = arrays["item_ids"].tolist(), arrays["warm"]
        state = torch.load(path / f"{name}.pt", weights_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise NotTrained(
            f"cannot read the {name} model in {path}: {exc}", hint="retrain with `cartwise train`"
        ) from None
    if meta.get("format") != format or meta.get("event_types") != list(TYPES):
        raise NotTrained(
            f"the {name} model in {path} has format {meta.get('format')}, this Cartwise reads {format}",
            hint="retrain with `cartwise train`",
        )
    model = cls(**meta["params"])
    model.item_ids_ = IdMap(item_ids)
    model.warm_ = warm.astype(bool)
    network = model._new_network(int(meta["n_items"]), int(meta["text_dim"]))
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise NotTrained(f"the {name} model in {path} does not match its parameters: {exc}",
                         hint="retrain with `cartwise train`") from None
    network.eval()
    model.network_ = network
    model.best_epoch_ = int(meta["best_epoch"])
    model.best_validation_ndcg10_ = meta["best_validation_ndcg10"]
    model.history_ = [EpochLog(**log) for log in meta["history"]]
    return model


@contextlib.contextmanager
def replacing(final: Path) -> Iterator[Path]:
    """A temporary path next to `final`, renamed onto it when the block succeeds."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
