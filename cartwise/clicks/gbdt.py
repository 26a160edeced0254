"""Gradient-boosted trees (LightGBM, binary objective) as a click model: trees find the
crossings of features (this category in this slot for this kind of shopper) that a
linear model cannot."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.clicks.base import not_fitted, read_meta, write_meta
from cartwise.clicks.features import FeatureEncoder, FeatureMatrix, FeatureSpec, labels_of, weights_of

_NAME = "gbdt"
_FORMAT = 1


def _dense(matrix: FeatureMatrix) -> NDArray[np.float64]:
    return np.hstack([matrix.numeric.astype(np.float64), matrix.categorical.astype(np.float64)])


class GBDTClickModel:
    """LightGBM binary classifier on the numerics and the categorical indices (split as
    categories, not as numbers).

    rounds: most boosting rounds; with `validation` training stops after
    `early_stopping` rounds without a better validation log loss. The other arguments
    are LightGBM's parameters of the same names.
    """

    def __init__(self, spec: FeatureSpec, *, rounds: int = 300, learning_rate: float = 0.05,
                 num_leaves: int = 15, min_data_in_leaf: int = 20, feature_fraction: float = 0.9,
                 lambda_l2: float = 1.0, early_stopping: int = 30, threads: int | None = None,
                 seed: int = 0) -> None:
        self.spec = spec
        self.rounds = rounds
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.lambda_l2 = lambda_l2
        self.early_stopping = early_stopping
        self.threads = threads
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "rounds", "learning_rate", "num_leaves", "min_data_in_leaf", "feature_fraction", "lambda_l2",
            "early_stopping", "threads", "seed")}

    def _lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf, "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2, "num_threads": self.threads or 0, "seed": self.seed,
            "deterministic": True, "force_row_wise": True, "verbose": -1, "metric": "binary_logloss",
        }

    def fit(self, frame: pl.DataFrame, *, label: str, weight: str | None = None,
            validation: pl.DataFrame | None = None) -> Self:
        import lightgbm as lgb

        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValidationError(f"rounds must be an integer >= 1, got {self.rounds!r}", field="rounds")
        y = labels_of(frame, label)
        if y.min() == y.max():
            raise ValidationError(f"label {label!r} needs both clicks and non-clicks to fit", field="label")
        self.encoder_ = FeatureEncoder(self.spec).fit(frame)
        matrix = self.encoder_.transform(frame, serving=False)
        n_numeric = matrix.numeric.shape[1]
        categorical = list(range(n_numeric, n_numeric + matrix.categorical.shape[1]))
        names = [f"f{i}" for i in range(n_numeric + len(categorical))]
        train = lgb.Dataset(_dense(matrix), y, weight=weights_of(frame, weight), feature_name=names,
                            categorical_feature=categorical, free_raw_data=True)
        valid_sets, callbacks = [], []
        if validation is not None and validation.height:
            vy = labels_of(validation, label)
            valid = lgb.Dataset(_dense(self.encoder_.transform(validation, serving=False)), vy,
                                weight=weights_of(validation, weight), reference=train)
            valid_sets = [valid]
            callbacks = [lgb.early_stopping(self.early_stopping, verbose=False)]
        booster = lgb.train(self._lgb_params(), train, num_boost_round=self.rounds, valid_sets=valid_sets,
                            callbacks=callbacks)
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())
        self.booster_ = booster
        return self

    def predict(self, frame: pl.DataFrame, *, logged_position: bool = False) -> NDArray[np.float64]:
        """Click probabilities; the position is the serving one unless `logged_position`."""
        if not hasattr(self, "booster_"):
            raise not_fitted(self)
        x = _dense(self.encoder_.transform(frame, serving=not logged_position))
        return np.asarray(self.booster_.predict(x, num_iteration=self.best_iteration_), dtype=np.float64)

    def save(self, directory: Path | str) -> None:
        if not hasattr(self, "booster_"):
            raise not_fitted(self)
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(path / f"{_NAME}.txt"), num_iteration=self.best_iteration_)
        write_meta(path, _NAME, {"format": _FORMAT, "params": self.get_params(),
                                 "best_iteration": self.best_iteration_}, self.encoder_)

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        import lightgbm as lgb

        meta, encoder = read_meta(directory, _NAME, _FORMAT)
        model = cls(encoder.spec, **meta["params"])
        model.encoder_ = encoder
        model.booster_ = lgb.Booster(model_file=str(Path(directory) / f"{_NAME}.txt"))
        model.best_iteration_ = int(meta["best_iteration"])
        return model
