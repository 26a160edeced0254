"""The deep click model: DeepFM over every feature, with DIN attention over the shopper's
recent items against the candidate when the schema names a history (PyTorch, CPU)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import torch
from numpy.typing import NDArray
from torch import nn

from cartwise.errors import NotTrained, ValidationError
from cartwise.clicks.base import not_fitted, read_meta, write_meta
from cartwise.clicks.features import FeatureEncoder, FeatureMatrix, FeatureSpec, labels_of, weights_of
from cartwise.clicks.network import DeepFMNetwork, to_tensors
from cartwise.clicks.training import TrainingRecord, train_network

_PREDICT_BATCH = 8192


def _bce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    losses = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if weights is None:
        return losses.mean()
    return (losses * weights).sum() / weights.sum()


class DeepClickModel:
    """DeepFM (+ DIN attention with a history): every feature embedded in `dim`
    dimensions, pairwise crossings by a factorisation machine, an MLP of `hidden` layers.

    Trained with Adam on binary cross-entropy (rows weighted by `weight` when given) for
    up to `epochs`; with `validation`, the epoch of lowest validation log loss is kept and
    training stops `patience` epochs after it, or once `max_seconds` are spent.
    `threads` sets PyTorch's CPU threads while fitting and predicting.
    """

    _NAME: ClassVar[str] = "deep"
    _FORMAT: ClassVar[int] = 1
    _TARGETS: ClassVar[int] = 1

    def __init__(self, spec: FeatureSpec, *, dim: int = 16, hidden: tuple[int, ...] = (64, 32),
                 dropout: float = 0.1, epochs: int = 20, batch_size: int = 512, lr: float = 3e-3,
                 weight_decay: float = 1e-6, patience: int = 2, max_seconds: float | None = None,
                 threads: int | None = None, seed: int = 0) -> None:
        self.spec = spec
        self.dim = dim
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.max_seconds = max_seconds
        self.threads = threads
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "dim", "hidden", "dropout", "epochs", "batch_size", "lr", "weight_decay", "patience", "max_seconds",
            "threads", "seed")}

    def _check_params(self) -> None:
        for name in ("dim", "epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{name} must be an integer >= 1, got {value!r}", field=name)
        if not 0 <= self.dropout < 1:
            raise ValidationError(f"dropout must be in [0, 1), got {self.dropout!r}", field="dropout")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValidationError(f"lr must be a finite number > 0, got {self.lr!r}", field="lr")

    # the parts a subclass changes ------------------------------------------------------

    def _new_network(self, matrix: FeatureMatrix) -> nn.Module:
        return DeepFMNetwork(matrix.cardinalities, matrix.numeric.shape[1], matrix.n_items, self.dim,
                             self.hidden, self.dropout)

    def _loss(self, output: Any, targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        return _bce(output, targets[:, 0], weights)

    def _probabilities(self, output: Any) -> torch.Tensor:
        """The probabilities :meth:`predict` returns, one column per output."""
        return torch.sigmoid(output).unsqueeze(1)

    # fitting and answering -------------------------------------------------------------

    def fit(self, frame: pl.DataFrame, *, label: str, weight: str | None = None,
            validation: pl.DataFrame | None = None) -> Self:
        """Learn P(`label` = 1) from the impressions in `frame`."""
        targets = labels_of(frame, label)[:, None]
        vtargets = labels_of(validation, label)[:, None] if validation is not None and validation.height else None
        return self._fit(frame, targets, weight, validation, vtargets)

    def _fit(self, frame: pl.DataFrame, targets: NDArray[np.float32], weight: str | None,
             validation: pl.DataFrame | None, validation_targets: NDArray[np.float32] | None) -> Self:
        self._check_params()
        if targets[:, 0].min() == targets[:, 0].max():
            raise ValidationError("the label needs both clicks and non-clicks to fit", field="label")
        with _threads(self.threads):
            self.encoder_ = FeatureEncoder(self.spec).fit(frame)
            matrix = self.encoder_.transform(frame, serving=False)
            self.shape_ = {"cardinalities": list(matrix.cardinalities), "n_numeric": int(matrix.numeric.shape[1]),
                           "n_items": matrix.n_items}
            torch.manual_seed(self.seed)
            network = self._new_network(matrix)
            data = to_tensors(matrix)
            y = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
            w_array = weights_of(frame, weight)
            w = None if w_array is None else torch.from_numpy(w_array)

            def batch_loss(index: torch.Tensor) -> torch.Tensor:
                batch = {key: value[index] for key, value in data.items()}
                return self._loss(network(batch), y[index], None if w is None else w[index])

            validation_loss = None
            if validation is not None and validation_targets is not None:
                vdata = to_tensors(self.encoder_.transform(validation, serving=False))
                vy = torch.from_numpy(np.ascontiguousarray(validation_targets, dtype=np.float32))
                vw_array = weights_of(validation, weight)
                vw = None if vw_array is None else torch.from_numpy(vw_array)

                def validation_loss() -> float:
                    total = 0.0
                    n = vy.shape[0]
                    for start in range(0, n, _PREDICT_BATCH):
                        part = slice(start, start + _PREDICT_BATCH)
                        out = network({key: value[part] for key, value in vdata.items()})
                        loss = self._loss(out, vy[part], None if vw is None else vw[part])
                        size = (vw[part].sum() if vw is not None else torch.tensor(float(vy[part].shape[0])))
                        total += float(loss) * float(size)
                    return total / float(vw.sum() if vw is not None else n)

            self.record_: TrainingRecord = train_network(
                network, batch_loss, matrix.numeric.shape[0], validation_loss=validation_loss, epochs=self.epochs,
                batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay, patience=self.patience,
                max_seconds=self.max_seconds, seed=self.seed,
            )
        self.network_ = network
        return self

    def _outputs(self, frame: pl.DataFrame, logged_position: bool) -> NDArray[np.float64]:
        if not hasattr(self, "network_"):
            raise not_fitted(self)
        data = to_tensors(self.encoder_.transform(frame, serving=not logged_position))
        parts = []
        with _threads(self.threads), torch.no_grad():
            self.network_.eval()
            for start in range(0, frame.height, _PREDICT_BATCH):
                part = slice(start, start + _PREDICT_BATCH)
                parts.append(self._probabilities(self.network_({k: v[part] for k, v in data.items()})))
        if not parts:
            return np.zeros((0, 1))
        return torch.cat(parts).double().numpy()

    def predict(self, frame: pl.DataFrame, *, logged_position: bool = False) -> NDArray[np.float64]:
        """Click probabilities; the position is the serving one unless `logged_position`."""
        return self._outputs(frame, logged_position)[:, 0]

    # persistence -----------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        if not hasattr(self, "network_"):
            raise not_fitted(self)
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.network_.state_dict(), path / f"{self._NAME}.pt")
        record = self.record_
        write_meta(path, self._NAME, {
            "format": self._FORMAT, "params": {**self.get_params(), "hidden": list(self.hidden)}, "shape": self.shape_,
            "record": {"train_loss": record.train_loss, "validation_loss": record.validation_loss,
                       "best_epoch": record.best_epoch, "seconds": record.seconds},
        }, self.encoder_)

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        meta, encoder = read_meta(directory, cls._NAME, cls._FORMAT)
        params = {**meta["params"], "hidden": tuple(meta["params"]["hidden"])}
        model = cls(encoder.spec, **params)
        model.encoder_ = encoder
        model.shape_ = meta["shape"]
        model.record_ = TrainingRecord(**meta["record"])
        shape = FeatureMatrix(np.zeros((0, meta["shape"]["n_numeric"]), dtype=np.float32),
                              np.zeros((0, len(meta["shape"]["cardinalities"])), dtype=np.int64),
                              tuple(meta["shape"]["cardinalities"]), n_items=meta["shape"]["n_items"])
        network = model._new_network(shape)
        try:
            network.load_state_dict(torch.load(Path(directory) / f"{cls._NAME}.pt", weights_only=True))
        except (OSError, RuntimeError) as exc:
            raise NotTrained(f"cannot read the {cls._NAME} click model in {directory}: {exc}",
                             hint="fit and save it again") from None
        network.eval()
        model.network_ = network
        return model


class _threads:
    """Sets PyTorch's CPU threads for a block, and restores them after."""

    def __init__(self, threads: int | None) -> None:
        self.threads = threads
        self.before = torch.get_num_threads()

    def __enter__(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)
