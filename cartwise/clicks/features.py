"""What a click model sees of an impression: a typed schema of the columns
(:class:`FeatureSpec`) and the encoder that turns a polars frame of impressions into
arrays (:class:`FeatureEncoder`).

Every click model of this package reads the same schema, so the logistic baseline, the
GBDT and the deep models are compared on the same features. The ``position`` column is a
training-only feature: models learn the bias of each slot from the logs, and at serving it
is set to one constant slot (``serving_position``), so candidates are compared as if all
were shown in the same place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.errors import ValidationError

UNKNOWN = 0
"""Index of a categorical value (or history item) not seen in training, and of padding."""


@dataclass(frozen=True)
class FeatureSpec:
    """The columns of an impression frame a click model reads.

    numeric: real-valued columns (standardised; a missing value becomes the training mean).
    categorical: columns of discrete values (any type, compared as strings); values seen
    fewer than `min_count` times in training share the "unknown" index with unseen ones.
    position: the slot the item was shown in (1 = first); a categorical feature in
    training, set to `serving_position` when predicting for serving.
    history: a list column of the user's recent item ids (most recent last), and
    item: the candidate's item id column; together they feed attention over the history
    (the deep models). Both or neither.
    max_history: the most recent items of `history` kept.
    """

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    position: str | None = None
    serving_position: int = 1
    history: str | None = None
    item: str | None = None
    max_history: int = 50
    min_count: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "numeric", tuple(self.numeric))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        names = [*self.numeric, *self.categorical, *(c for c in (self.position, self.history) if c)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValidationError(f"feature columns named more than once: {repeated}", field="spec")
        if (self.history is None) != (self.item is None):
            raise ValidationError("history and item go together: name both columns or neither", field="spec")
        if not names:
            raise ValidationError("a FeatureSpec needs at least one feature column", field="spec")
        if self.max_history < 1 or self.min_count < 1:
            raise ValidationError("max_history and min_count must be >= 1", field="spec")

    @property
    def fields(self) -> tuple[str, ...]:
        """The categorical fields as encoded: `categorical`, then `position` when given."""
        return (*self.categorical, *((self.position,) if self.position else ()))

    def columns(self, *, serving: bool = False) -> list[str]:
        """The columns a frame must have (the position only outside serving)."""
        cols = [*self.numeric, *self.categorical]
        if self.position and not serving:
            cols.append(self.position)
        if self.history and self.item:
            cols += [self.history, self.item]
        elif self.item:
            cols.append(self.item)
        return list(dict.fromkeys(cols))

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric), "categorical": list(self.categorical), "position": self.position,
            "serving_position": self.serving_position, "history": self.history, "item": self.item,
            "max_history": self.max_history, "min_count": self.min_count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(**{**data, "numeric": tuple(data["numeric"]), "categorical": tuple(data["categorical"])})


@dataclass
class FeatureMatrix:
    """Encoded impressions: standardised numerics, categorical indices (0 = unknown) per
    field of :attr:`FeatureSpec.fields`, and, with a history, the history's item indices
    (0 = padding, left-aligned) and the candidate's item index."""

    numeric: NDArray[np.float32]
    categorical: NDArray[np.int64]
    cardinalities: tuple[int, ...]
    history: NDArray[np.int64] | None = None
    item: NDArray[np.int64] | None = None
    n_items: int = 0
    names: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def rows(self, index: NDArray[np.int64] | slice) -> FeatureMatrix:
        """The rows at `index` (a batch)."""
        return FeatureMatrix(
            self.numeric[index], self.categorical[index], self.cardinalities,
            None if self.history is None else self.history[index],
            None if self.item is None else self.item[index], self.n_items, self.names,
        )


def _as_strings(series: pl.Series) -> pl.Series:
    return series.cast(pl.String) if series.dtype != pl.String else series


def _vocabulary(values: pl.Series, min_count: int) -> list[str]:
    counts = values.drop_nulls().value_counts(sort=True, name="n")
    kept = counts.filter(pl.col("n") >= min_count)
    return sorted(kept[values.name].to_list())


_MAPPINGS: dict[int, tuple[Sequence[str], dict[str, int]]] = {}
# Up to this many values are looked up in Python: a request's few hundred candidates would
# otherwise pay for handing the whole vocabulary to polars on every call.
_SMALL = 2_000


def _mapping(vocabulary: Sequence[str]) -> dict[str, int]:
    """value -> index (1-based), built once per vocabulary object."""
    cached = _MAPPINGS.get(id(vocabulary))
    if cached is None or cached[0] is not vocabulary:
        cached = (vocabulary, {value: i + 1 for i, value in enumerate(vocabulary)})
        _MAPPINGS[id(vocabulary)] = cached
    return cached[1]


def _lookup(values: pl.Series, vocabulary: Sequence[str]) -> NDArray[np.int64]:
    mapping = _mapping(vocabulary)
    if values.len() <= _SMALL:
        return np.fromiter((mapping.get(v, UNKNOWN) for v in values.to_list()), dtype=np.int64, count=values.len())
    return values.replace_strict(mapping, default=UNKNOWN, return_dtype=pl.Int64).fill_null(UNKNOWN).to_numpy()


class FeatureEncoder:
    """Learns the vocabularies and numeric scales of a :class:`FeatureSpec` from training
    impressions (:meth:`fit`) and encodes frames with them (:meth:`transform`)."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec

    def fit(self, frame: pl.DataFrame) -> Self:
        spec = self.spec
        check_columns(frame, spec.columns())
        self.vocabularies_: dict[str, list[str]] = {
            name: _vocabulary(_as_strings(frame[name]), spec.min_count) for name in spec.fields
        }
        numeric = frame.select([pl.col(c).cast(pl.Float64) for c in spec.numeric])
        self.means_ = np.array([numeric[c].mean() or 0.0 for c in spec.numeric], dtype=np.float64)
        stds = np.array([numeric[c].std() or 0.0 for c in spec.numeric], dtype=np.float64)
        self.stds_ = np.where(np.isfinite(stds) & (stds > 0), stds, 1.0)
        self.items_: list[str] = []
        if spec.history and spec.item:
            items = pl.concat([
                _as_strings(frame[spec.item]),
                _as_strings(frame[spec.history].list.tail(spec.max_history).explode()).alias(spec.item),
            ])
            self.items_ = _vocabulary(items, spec.min_count)
        return self

    def transform(self, frame: pl.DataFrame, *, serving: bool = True) -> FeatureMatrix:
        """Encode `frame`. With `serving` the position column is not read: every row is
        encoded as shown at ``spec.serving_position``; without it the logged position is
        used (training, and evaluation against logged clicks)."""
        if not hasattr(self, "vocabularies_"):
            raise ValidationError("FeatureEncoder.transform before fit", hint="call fit(frame) first")
        spec = self.spec
        check_columns(frame, spec.columns(serving=serving))
        n = frame.height
        if spec.numeric:
            raw = frame.select([pl.col(c).cast(pl.Float64) for c in spec.numeric]).to_numpy().astype(np.float64)
            raw = np.where(np.isfinite(raw), raw, self.means_)
            numeric = ((raw - self.means_) / self.stds_).astype(np.float32)
        else:
            numeric = np.zeros((n, 0), dtype=np.float32)
        columns = []
        for name in spec.fields:
            if name == spec.position and serving:
                values = pl.Series(name, [str(spec.serving_position)] * n)
            else:
                values = _as_strings(frame[name])
            columns.append(_lookup(values, self.vocabularies_[name]))
        categorical = np.stack(columns, axis=1) if columns else np.zeros((n, 0), dtype=np.int64)
        cardinalities = tuple(len(self.vocabularies_[name]) + 1 for name in spec.fields)
        history = item = None
        if spec.history and spec.item:
            item = _lookup(_as_strings(frame[spec.item]), self.items_)
            history = self._histories(frame[spec.history])
        n_items = len(self.items_) + 1 if item is not None else 0
        return FeatureMatrix(numeric, categorical, cardinalities, history, item, n_items,
                             (*spec.numeric, *spec.fields))

    def _histories(self, column: pl.Series) -> NDArray[np.int64]:
        lists = column.list.tail(self.spec.max_history)
        lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
        codes = _lookup(_as_strings(lists.explode()), self.items_)
        if codes.size != lengths.sum():
            # This polars gives one null row for an empty (or null) list: drop those.
            codes = codes[np.repeat(lengths > 0, np.maximum(lengths, 1))]
        out = np.zeros((len(lengths), max(int(lengths.max(initial=0)), 1)), dtype=np.int64)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        cols = np.arange(codes.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, cols] = codes
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(), "vocabularies": self.vocabularies_, "means": self.means_.tolist(),
            "stds": self.stds_.tolist(), "items": self.items_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureEncoder:
        encoder = cls(FeatureSpec.from_dict(data["spec"]))
        encoder.vocabularies_ = {k: list(v) for k, v in data["vocabularies"].items()}
        encoder.means_ = np.asarray(data["means"], dtype=np.float64)
        encoder.stds_ = np.asarray(data["stds"], dtype=np.float64)
        encoder.items_ = list(data["items"])
        return encoder


def check_columns(frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"the impressions lack the columns {missing}", field="frame",
            hint=f"the frame has {frame.columns[:20]}",
        )


def labels_of(frame: pl.DataFrame, label: str) -> NDArray[np.float32]:
    """The 0/1 column `label` as floats; anything else is a :class:`ValidationError`."""
    check_columns(frame, [label])
    values = frame[label].cast(pl.Float64).to_numpy()
    if not np.all(np.isin(values, (0.0, 1.0))):
        raise ValidationError(f"label column {label!r} must hold only 0 and 1 (or booleans)", field="label")
    return values.astype(np.float32)


def weights_of(frame: pl.DataFrame, weight: str | None) -> NDArray[np.float32] | None:
    """The per-row sample weights in column `weight` (finite, >= 0), or None."""
    if weight is None:
        return None
    check_columns(frame, [weight])
    values = frame[weight].cast(pl.Float64).to_numpy()
    if not np.all(np.isfinite(values) & (values >= 0)) or not values.sum() > 0:
        raise ValidationError(f"weight column {weight!r} must be finite, >= 0 and not all 0", field="weight")
    return values.astype(np.float32)


def propensity_weights(propensity: Sequence[float] | NDArray[np.floating[Any]], *,
                       clip: float = 0.01) -> NDArray[np.float64]:
    """Inverse propensity weights for training (1 / max(p, `clip`)), scaled to mean 1.

    Where a log knows the probability its policy had of showing each row's item at that
    position, weighting each row by its inverse makes the training sample resemble one
    where every item was shown equally often. Clipping bounds the variance that rare
    actions would bring.
    """
    p = np.asarray(propensity, dtype=np.float64)
    if p.ndim != 1 or not np.all((p > 0) & (p <= 1)):
        raise ValidationError("propensities must be a 1-d array of probabilities in (0, 1]", field="propensity")
    w = 1.0 / np.maximum(p, clip)
    return w / w.mean()
