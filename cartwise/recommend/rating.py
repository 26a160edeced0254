"""RatingPredictor: explicit star ratings by biased matrix factorisation, and RMSE/MAE glue.

``rating = global mean + user bias + item bias + user factors . item factors``, fitted
to squared error by alternating least squares: with one side fixed, every user's (or
item's) factors and bias are one small ridge regression, solved in closed form for all
of them at once. Ratings are events of type ``rating`` whose score is in ``value``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.events.event import EventType
from cartwise.metrics import mae, rmse
from cartwise.recommend.base import (
    IdMap,
    not_trained,
    read_model,
    require_columns,
    write_model,
)

FORMAT = 1
_NAME = "rating"
# Outer products per block of the normal-equation build: bounds memory at 64 MB.
_BLOCK_FLOATS = 8_000_000
# A validation RMSE gain smaller than this counts towards `patience`.
_TOLERANCE = 1e-4


@dataclass(frozen=True, slots=True)
class IterationLog:
    """What one ALS iteration reached, kept in ``history_``."""

    iteration: int
    train_rmse: float
    validation_rmse: float | None
    best_iteration: int


class RatingPredictor:
    """Biased matrix factorisation of explicit ratings, fitted by alternating least squares.

    Parameters
    ----------
    factors:
        Latent dimensions; 0 fits the biases alone (the classic baseline predictor).
    regularization:
        L2 weight on a user's (item's) factors, times its number of ratings (ALS-WR,
        Zhou et al., 2008), so heavy raters are not shrunk less than light ones.
    bias_regularization:
        L2 weight on each bias: a user with n ratings gets ``sum(residuals) / (n + this)``,
        so a bias from few ratings is pulled towards zero.
    iterations:
        At most this many ALS sweeps (users, then items).
    patience:
        With ``validation`` given to :meth:`fit`: stop after this many sweeps without a
        lower validation RMSE and keep the best sweep's parameters.
    seed:
        Seeds the initial item factors.
    on_iteration:
        Called with an :class:`IterationLog` after each sweep.

    Learned state: ``user_ids_``, ``item_ids_`` (:class:`IdMap`), ``global_mean_``,
    ``user_bias_``, ``item_bias_``, ``user_factors_``, ``item_factors_``, ``rating_range_``
    (lowest and highest training rating: predictions are clipped to it), ``history_``,
    ``best_iteration_``, ``best_validation_rmse_``.
    """

    def __init__(
        self,
        *,
        factors: int = 16,
        regularization: float = 0.1,
        bias_regularization: float = 5.0,
        iterations: int = 20,
        patience: int = 3,
        seed: int = 0,
        on_iteration: Callable[[IterationLog], None] | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.iterations = iterations
        self.patience = patience
        self.seed = seed
        self.on_iteration = on_iteration

    def get_params(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in ("factors", "regularization", "bias_regularization", "iterations", "patience", "seed")
        }

    def __repr__(self) -> str:
        return "RatingPredictor(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def _check_params(self) -> None:
        for name, low in (("factors", 0), ("iterations", 1), ("patience", 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}", field=name)
        for name in ("regularization", "bias_regularization"):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0:
                raise ValidationError(f"{name} must be a finite number >= 0, got {value!r}", field=name)
        if self.factors and not self.regularization > 0:
            raise ValidationError("regularization must be > 0 when factors > 0", field="regularization")

    # training ------------------------------------------------------------------------

    def fit(self, ratings: pl.DataFrame, *, validation: pl.DataFrame | None = None) -> Self:
        """Learn from `ratings` (``user_id, item_id, value``; with an ``event_type`` column
        only ``rating`` rows count, with ``ts`` a user's newest rating of an item wins).

        With `validation` (same columns), every sweep is scored by RMSE, training stops
        after `patience` sweeps without improvement and the best sweep is kept.
        """
        self._check_params()
        frame = ratings_of(ratings, "ratings")
        if frame.is_empty():
            raise ValidationError(
                "no ratings to learn from: the frame has no rows with a user, an item and a numeric value"
                + (" among its 'rating' events" if "event_type" in ratings.columns else ""),
                field="ratings",
                hint="ratings are events with event_type 'rating' and the score in 'value'; ingest some first",
            )
        users = IdMap.from_series(frame["user_id"])
        items = IdMap.from_series(frame["item_id"])
        u = users.indices(frame["user_id"])
        i = items.indices(frame["item_id"])
        r = frame["value"].to_numpy().astype(np.float64)
        checks = None
        if validation is not None:
            held = ratings_of(validation, "validation")
            if held.is_empty():
                raise ValidationError("the validation frame has no ratings", field="validation")
            checks = (users.indices(held["user_id"]), items.indices(held["item_id"]), held["value"].to_numpy())

        self.user_ids_, self.item_ids_ = users, items
        self.global_mean_ = float(r.mean())
        self.rating_range_ = (float(r.min()), float(r.max()))
        rng = np.random.default_rng(self.seed)
        k = int(self.factors)
        self.user_factors_ = np.zeros((len(users), k))
        self.item_factors_ = rng.normal(scale=0.1, size=(len(items), k))
        self.user_bias_ = np.zeros(len(users))
        self.item_bias_ = np.zeros(len(items))
        self.history_: list[IterationLog] = []
        self.best_iteration_ = 0
        self.best_validation_rmse_: float | None = None

        by_user = np.lexsort((i, u))
        by_item = np.lexsort((u, i))
        best: tuple[NDArray[np.float64], ...] | None = None
        best_score, stale = math.inf, 0
        for iteration in range(1, self.iterations + 1):
            residual = r - self.global_mean_ - self.item_bias_[i]
            self.user_factors_, self.user_bias_ = _ridge_side(
                u[by_user], residual[by_user], self.item_factors_[i[by_user]], len(users),
                self.regularization, self.bias_regularization,
            )
            residual = r - self.global_mean_ - self.user_bias_[u]
            self.item_factors_, self.item_bias_ = _ridge_side(
                i[by_item], residual[by_item], self.user_factors_[u[by_item]], len(items),
                self.regularization, self.bias_regularization,
            )
            train_rmse = rmse(r, self._predict_indices(u, i, clip=False))
            score = None if checks is None else rmse(checks[2], self._predict_indices(checks[0], checks[1]))
            if score is not None:
                # Gains below _TOLERANCE still keep the better sweep but count as stalling.
                stale = 0 if score < best_score - _TOLERANCE else stale + 1
                if score < best_score:
                    best_score, self.best_iteration_ = score, iteration
                    best = (self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_)
            else:
                self.best_iteration_ = iteration
            log = IterationLog(iteration, train_rmse, score, self.best_iteration_)
            self.history_.append(log)
            if self.on_iteration is not None:
                self.on_iteration(log)
            if stale >= self.patience:
                break
        if best is not None:
            self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_ = best
            self.best_validation_rmse_ = best_score
        return self

    # answering -----------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_bias_"):
            raise not_trained(self)

    def _predict_indices(
        self, u: NDArray[np.int64], i: NDArray[np.int64], *, clip: bool = True
    ) -> NDArray[np.float64]:
        """Predictions for index pairs; -1 (unknown) contributes no bias and no factors."""
        known_u, known_i = u >= 0, i >= 0
        uu, ii = np.where(known_u, u, 0), np.where(known_i, i, 0)
        out = np.full(u.shape, self.global_mean_, dtype=np.float64)
        if len(self.user_ids_):
            out += np.where(known_u, self.user_bias_[uu], 0.0)
        if len(self.item_ids_):
            out += np.where(known_i, self.item_bias_[ii], 0.0)
        both = known_u & known_i
        if self.user_factors_.shape[1] and both.any():
            out[both] += np.einsum("nk,nk->n", self.user_factors_[uu[both]], self.item_factors_[ii[both]])
        return np.clip(out, *self.rating_range_) if clip else out

    def predict(self, user_ids: Sequence[str], item_ids: Sequence[str]) -> NDArray[np.float64]:
        """Predicted rating of each (user, item) pair. An unknown user gets the global mean
        plus the item's bias, an unknown item the mean plus the user's bias, both unknown
        the global mean; every prediction is clipped to the training ratings' range."""
        self._check_fitted()
        users, items = list(user_ids), list(item_ids)
        if len(users) != len(items):
            raise ValidationError(
                f"predict needs one item per user: got {len(users)} user ids and {len(items)} item ids",
                field="item_ids",
            )
        return self._predict_indices(self.user_ids_.indices(users), self.item_ids_.indices(items))

    # persistence ---------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        """``rating.json`` (parameters, global mean, range) and ``rating.npz`` (ids, biases,
        factors; no pickle) in `directory`."""
        self._check_fitted()
        write_model(
            directory,
            _NAME,
            {
                "format": FORMAT,
                "params": self.get_params(),
                "global_mean": self.global_mean_,
                "rating_range": list(self.rating_range_),
                "best_iteration": self.best_iteration_,
                "best_validation_rmse": self.best_validation_rmse_,
                "history": [asdict(log) for log in self.history_],
            },
            {
                "user_ids": self.user_ids_.to_numpy(),
                "item_ids": self.item_ids_.to_numpy(),
                "user_bias": self.user_bias_,
                "item_bias": self.item_bias_,
                "user_factors": self.user_factors_,
                "item_factors": self.item_factors_,
            },
        )

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        meta, arrays = read_model(directory, _NAME, FORMAT)
        model = cls(**meta["params"])
        model.user_ids_ = IdMap(arrays["user_ids"].tolist())
        model.item_ids_ = IdMap(arrays["item_ids"].tolist())
        model.user_bias_ = arrays["user_bias"]
        model.item_bias_ = arrays["item_bias"]
        model.user_factors_ = arrays["user_factors"]
        model.item_factors_ = arrays["item_factors"]
        model.global_mean_ = float(meta["global_mean"])
        low, high = meta["rating_range"]
        model.rating_range_ = (float(low), float(high))
        model.best_iteration_ = int(meta["best_iteration"])
        model.best_validation_rmse_ = meta["best_validation_rmse"]
        model.history_ = [IterationLog(**log) for log in meta["history"]]
        return model


def ratings_of(frame: pl.DataFrame, what: str = "ratings") -> pl.DataFrame:
    """``user_id, item_id, value`` rows of a ratings or events frame: only ``rating``
    events when there is an ``event_type`` column, rows with a finite value, and the
    newest rating of each (user, item) (by ``ts`` when present, else the last row)."""
    if not isinstance(frame, pl.DataFrame):
        raise ValidationError(f"{what} must be a polars DataFrame, got {type(frame).__name__}", field=what)
    require_columns(frame, ("user_id", "item_id", "value"), what)
    rows = frame
    if "event_type" in rows.columns:
        rows = rows.filter(pl.col("event_type").cast(pl.Utf8) == EventType.RATING.value)
    order = [pl.col("ts").cast(pl.Int64).fill_null(0)] if "ts" in rows.columns else []
    rows = rows.select(
        pl.col("user_id").cast(pl.Utf8),
        pl.col("item_id").cast(pl.Utf8),
        pl.col("value").cast(pl.Float64),
        *[o.alias("_ts") for o in order],
    ).filter(
        pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null() & pl.col("value").is_finite()
    )
    rows = rows.with_row_index("_order")
    keys = ["_ts", "_order"] if order else ["_order"]
    return (
        rows.sort(keys)
        .unique(["user_id", "item_id"], keep="last", maintain_order=True)
        .select("user_id", "item_id", "value")
    )


def _ridge_side(
    groups: NDArray[np.int64],
    target: NDArray[np.float64],
    other: NDArray[np.float64],
    n_groups: int,
    regularization: float,
    bias_regularization: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per group (rows sorted by group), the ridge solution of ``target ~ other . w + b``:
    factor weights get ``regularization * n`` and the bias ``bias_regularization``."""
    k = other.shape[1]
    x = np.hstack([other, np.ones((target.size, 1))])
    counts = np.bincount(groups, minlength=n_groups)
    rhs = np.zeros((n_groups, k + 1))
    for c in range(k + 1):
        rhs[:, c] = np.bincount(groups, weights=x[:, c] * target, minlength=n_groups)
    ridge = np.diag(np.concatenate([np.full(k, regularization), [0.0]]))
    solution = np.zeros((n_groups, k + 1))
    starts = np.r_[0, np.cumsum(counts)]
    present = np.flatnonzero(counts)
    ends = starts[present + 1]
    per_block = max(1, _BLOCK_FLOATS // ((k + 1) ** 2))
    g = 0
    while g < present.size:
        # Whole groups, as many as fit in one block (at least one).
        end = max(int(np.searchsorted(ends, starts[present[g]] + per_block, side="right")), g + 1)
        chunk = present[g:end]
        lo, hi = starts[chunk[0]], ends[end - 1]
        gram = np.add.reduceat(np.einsum("ni,nj->nij", x[lo:hi], x[lo:hi]), starts[chunk] - lo, axis=0)
        gram += counts[chunk, None, None] * ridge[None]
        gram[:, k, k] += bias_regularization
        solution[chunk] = np.linalg.solve(gram, rhs[chunk][..., None])[..., 0]
        g = end
    return solution[:, :k], solution[:, k]


# evaluation --------------------------------------------------------------------------


def evaluate_ratings(
    train: pl.DataFrame,
    test: pl.DataFrame,
    *,
    model: RatingPredictor | None = None,
    validation: pl.DataFrame | None = None,
) -> dict[str, dict[str, float]]:
    """RMSE and MAE on `test` of a rating model fitted on `train` (default
    :class:`RatingPredictor`; with `validation` for early stopping) and of two
    baselines: the global mean of `train`, and the user + item bias predictor.

    Returns ``{"model": {"RMSE", "MAE"}, "global_mean": {...}, "bias": {...}}``; the
    model's entry also says how many test ratings were scored (``"n"``).
    """
    held = ratings_of(test, "test")
    if held.is_empty():
        raise ValidationError("the test frame has no ratings to score", field="test",
                              hint="ratings are events with event_type 'rating' and the score in 'value'")
    fitted = (model or RatingPredictor()).fit(train, validation=validation)
    baseline = RatingPredictor(factors=0, bias_regularization=fitted.bias_regularization,
                               iterations=min(fitted.iterations, 10)).fit(train)
    truth = held["value"].to_numpy()
    users, items = held["user_id"].to_list(), held["item_id"].to_list()
    mean = np.clip(np.full(truth.size, fitted.global_mean_), *fitted.rating_range_)
    out = {}
    for name, predicted in (
        ("model", fitted.predict(users, items)),
        ("global_mean", mean),
        ("bias", baseline.predict(users, items)),
    ):
        out[name] = {"RMSE": rmse(truth, predicted), "MAE": mae(truth, predicted)}
    out["model"]["n"] = float(truth.size)
    return out
