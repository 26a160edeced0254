"""The baseline click model: logistic regression on one-hot categoricals and standardised
numerics, with no crossed features, so it can only add up each feature's own effect."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.clicks.base import not_fitted, read_meta, write_meta
from cartwise.clicks.features import FeatureEncoder, FeatureMatrix, FeatureSpec, labels_of, weights_of

_NAME = "logistic"
_FORMAT = 1


def design_matrix(matrix: FeatureMatrix) -> sp.csr_matrix:
    """Standardised numerics, then one column per categorical value (unknown included)."""
    n = len(matrix)
    offsets = np.concatenate([[0], np.cumsum(matrix.cardinalities)[:-1]]).astype(np.int64)
    cols = (matrix.categorical + offsets).ravel()
    rows = np.repeat(np.arange(n), matrix.categorical.shape[1])
    onehot = sp.csr_matrix((np.ones(cols.size, dtype=np.float32), (rows, cols)),
                           shape=(n, int(sum(matrix.cardinalities))))
    return sp.hstack([sp.csr_matrix(matrix.numeric), onehot], format="csr")


class LogisticClickModel:
    """L2-regularised logistic regression (scikit-learn, lbfgs).

    C: inverse regularisation strength; max_iter: solver iterations; seed: kept for a
    uniform interface (lbfgs is deterministic). `validation` is accepted and unused.
    """

    def __init__(self, spec: FeatureSpec, *, C: float = 1.0, max_iter: int = 500, seed: int = 0) -> None:
        self.spec = spec
        self.C = C
        self.max_iter = max_iter
        self.seed = seed

    def get_params(self) -> dict[str, object]:
        return {"C": self.C, "max_iter": self.max_iter, "seed": self.seed}

    def fit(self, frame: pl.DataFrame, *, label: str, weight: str | None = None,
            validation: pl.DataFrame | None = None) -> Self:
        from sklearn.linear_model import LogisticRegression

        if not self.C > 0:
            raise ValidationError(f"C must be > 0, got {self.C!r}", field="C")
        y = labels_of(frame, label)
        if y.min() == y.max():
            raise ValidationError(f"label {label!r} needs both clicks and non-clicks to fit", field="label")
        self.encoder_ = FeatureEncoder(self.spec).fit(frame)
        x = design_matrix(self.encoder_.transform(frame, serving=False))
        model = LogisticRegression(C=self.C, max_iter=self.max_iter)
        model.fit(x, y, sample_weight=weights_of(frame, weight))
        self.coef_ = model.coef_.ravel().astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict(self, frame: pl.DataFrame, *, logged_position: bool = False) -> NDArray[np.float64]:
        """Click probabilities; the position is the serving one unless `logged_position`."""
        if not hasattr(self, "coef_"):
            raise not_fitted(self)
        x = design_matrix(self.encoder_.transform(frame, serving=not logged_position))
        logits = x @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))

    def save(self, directory: Path | str) -> None:
        if not hasattr(self, "coef_"):
            raise not_fitted(self)
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / f"{_NAME}.npy", self.coef_)
        write_meta(path, _NAME, {"format": _FORMAT, "params": self.get_params(), "intercept": self.intercept_},
                   self.encoder_)

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        meta, encoder = read_meta(directory, _NAME, _FORMAT)
        model = cls(encoder.spec, **meta["params"])
        model.encoder_ = encoder
        model.coef_ = np.load(Path(directory) / f"{_NAME}.npy", allow_pickle=False)
        model.intercept_ = float(meta["intercept"])
        return model
