"""NeuralRecommender: what the torch next-item models share as estimators.

Parameters are the keyword arguments of a subclass's ``__init__``; ``fit`` runs the
shared training loop with the subclass's network (``_new_network``) and loss
(``_batch_loss``); ``add_items``, ``save`` and ``load`` are the same for every model. A
subclass keeps its own network, loss and answers.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import polars as pl
import torch
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.recommend.base import IdMap, TextVectors, not_trained, text_input
from cartwise.recommend.neural.data import EventTimes, Sequences
from cartwise.recommend.neural.epochs import EpochLog
from cartwise.recommend.neural.persistence import load_model, save_model
from cartwise.recommend.neural.table import ItemTable
from cartwise.recommend.neural.training import BatchLoss, fit_network

# Arguments of ``__init__`` that are not parameters to save: data, a callback, a place.
_NOT_PARAMS = ("item_text_vectors", "on_epoch", "checkpoint_dir")


class NeuralRecommender:
    """Base of the torch next-item models (:class:`~cartwise.recommend.sequential.SequentialRecommender`,
    :class:`~cartwise.recommend.twotower.TwoTowerRecommender`).

    A subclass sets the class attributes below, stores its keyword arguments in
    ``__init__`` and defines ``_new_network`` and ``_batch_loss``; ``_prepare`` runs after
    ``fit``, ``load`` and ``add_items`` added items (precomputed answer state).
    """

    _NAME: ClassVar[str]
    """Stem of the model files (``{_NAME}.json``, ``.npz``, ``.pt``)."""
    _FORMAT: ClassVar[int]
    _INTEGERS: ClassVar[tuple[str, ...]]
    """Parameters that must be integers >= 1."""
    _POSITIVE: ClassVar[tuple[str, ...]] = ("lr",)
    """Parameters that must be finite numbers > 0."""
    _TIME_CHECKED: ClassVar[Literal["epoch", "batch"]] = "epoch"
    """When ``max_seconds`` is checked."""
    _NEEDS: ClassVar[str] = "2 or more events"
    """What a user needs to teach the model a next item (for the error message)."""

    max_len: int
    dim: int
    heads: int
    dropout: float
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    max_seconds: float | None
    seed: int
    threads: int | None
    item_text_vectors: TextVectors | None
    id_dropout: float
    on_epoch: Callable[[EpochLog], None] | None
    checkpoint_dir: Path | None
    item_ids_: IdMap
    warm_: NDArray[np.bool_]
    network_: Any
    history_: list[EpochLog]
    best_epoch_: int
    best_validation_ndcg10_: float | None

    def get_params(self) -> dict[str, Any]:
        """Plain-JSON parameters: the ``__init__`` arguments but text vectors, the
        callback and the checkpoint directory."""
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self" and name not in _NOT_PARAMS}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def _check_params(self) -> None:
        """`_INTEGERS` >= 1, ``dim`` a multiple of ``heads``, dropout rates in [0, 1),
        `_POSITIVE` finite and > 0, ``weight_decay``, ``threads`` and ``max_seconds``."""
        for name in self._INTEGERS:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{name} must be an integer >= 1, got {value!r}", field=name)
        if self.dim % self.heads:
            raise ValidationError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})", field="heads")
        for name in ("dropout", "id_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValidationError(f"{name} must be in [0, 1), got {value!r}", field=name)
        for name in self._POSITIVE:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValidationError(f"{name} must be a finite number > 0, got {value!r}", field=name)
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise ValidationError(f"weight_decay must be >= 0, got {self.weight_decay!r}", field="weight_decay")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValidationError(f"threads must be None or an integer >= 1, got {self.threads!r}", field="threads")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValidationError(f"max_seconds must be None or > 0, got {self.max_seconds!r}", field="max_seconds")

    # training ------------------------------------------------------------------------

    def fit(self, events: pl.DataFrame, *, validation: pl.DataFrame | None = None) -> Self:
        """Learn from `events` (``user_id, item_id, event_type, ts``): every event of a user
        is a next item to predict from the events before it (each user's events in ``ts``
        order, ties in row order).

        `validation` holds one or more ``user_id, item_id`` rows: the item each user chose
        after their events in `events` (as :func:`cartwise.evaluate.splits.leave_last_out`
        returns). With it, every epoch is scored by NDCG@10 over the full catalog, training
        stops after `patience` epochs without improvement, and the best epoch is kept.
        """
        self._check_params()
        fit_network(
            self, events, validation, loss=self._batch_loss, times=self._training_times(),
            time_checked=self._TIME_CHECKED, needs=self._NEEDS,
        )
        self._prepare()
        return self

    def _new_network(self, n_items: int, text_dim: int) -> ItemTable:
        raise NotImplementedError

    def _batch_loss(self, sequences: Sequences) -> BatchLoss:
        raise NotImplementedError

    def _training_times(self) -> EventTimes | None:
        """Time input of each training event (None: its timestamp)."""
        return None

    def _prepare(self) -> None:
        """Answer state computed once from the network (after fit, load, add_items)."""

    # answering -----------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise not_trained(self)

    def add_items(self, item_text_vectors: TextVectors) -> list[str]:
        """Add new catalog items scored from their text alone (no retraining); ids already
        in the catalog are left as they are. Returns the ids added."""
        self._check_fitted()
        network = self.network_
        if network.text_dim == 0:
            raise ValidationError(
                "this model was trained without item_text_vectors, so it cannot score items by text",
                field="item_text_vectors",
                hint="retrain with item_text_vectors to recommend items without events",
            )
        ids, matrix = text_input(item_text_vectors)
        fresh = [r for r, item in enumerate(ids) if item not in self.item_ids_]
        if not fresh or matrix is None:
            return []
        ids, matrix = [ids[r] for r in fresh], matrix[fresh]
        if matrix.shape[1] != network.text_dim:
            raise ValidationError(
                f"text vectors have {matrix.shape[1]} dimensions, the model was trained on {network.text_dim}",
                field="item_text_vectors",
            )
        self.item_ids_.add(ids)
        network.grow(torch.from_numpy(matrix))
        self.warm_ = np.concatenate([self.warm_, np.zeros(len(ids), dtype=bool)])
        self._prepare()
        return ids

    # persistence ---------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        """``{_NAME}.npz`` (item ids), ``{_NAME}.pt`` (torch weights, loaded with
        ``weights_only``) and, written last, ``{_NAME}.json`` (parameters) in `directory`,
        e.g. ``sequential.json``. Each file is written under a temporary name and renamed
        into place."""
        self._check_fitted()
        save_model(self, directory, self._NAME, self._FORMAT)

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        """The model :meth:`save` wrote; :class:`~cartwise.errors.NotTrained` if it is
        missing, unreadable or of another format."""
        model = load_model(cls, directory, cls._NAME, cls._FORMAT)
        model._prepare()
        return model
