"""What every recommender shares: the scored answer, the history it reads, and the id map.

Personalised recommenders take a user's recent :class:`Interaction` history, fetched at
request time, instead of a user id looked up in a trained table: that is what lets a new
event change the next answer without retraining.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.errors import NotTrained, ValidationError
from cartwise.events.event import EVENT_WEIGHTS
from cartwise.limits import HISTORY_LENGTH

if TYPE_CHECKING:
    from cartwise.vectors import VectorIndex

DAY_MS = 24 * 3600 * 1000
# Above this many ids a lookup goes through polars instead of a Python dict.
_VECTOR_LOOKUP = 2_000
_FIXED_POINT = float(2**20)


@dataclass(frozen=True, slots=True)
class Scored:
    """One recommended item: its score, a human explanation, and the item ids behind it.

    `reason` names items by id; the engine may substitute titles using `because`.
    """

    item_id: str
    score: float
    reason: str
    because: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Interaction:
    """One event of a user's history, as the engine reads it from the store."""

    item_id: str
    event_type: str
    ts: int


History = Sequence[Interaction]


@runtime_checkable
class HistoryRecommender(Protocol):
    """A model that recommends from users' recent histories, many users per call."""

    def recommend(
        self,
        histories: Sequence[History],
        *,
        k: int = 10,
        exclude: Collection[str] | Sequence[Collection[str]] = (),
        exclude_seen: bool = True,
    ) -> list[list[Scored]]: ...

    def save(self, directory: Path | str) -> None: ...


@runtime_checkable
class SimilarItems(Protocol):
    """A model that answers "items like this one", many items per call."""

    def similar(
        self, item_ids: Sequence[str], *, k: int = 10, exclude: Collection[str] = ()
    ) -> list[list[Scored]]: ...


class IdMap:
    """Two-way map between string ids and dense indices ``0..n-1``.

    Indices are stable: :meth:`add` only appends, so arrays indexed by this map can grow
    in place when online learning meets a new item.
    """

    __slots__ = ("_ids", "_index", "_series")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self._series: pl.Series | None = None
        self.add(list(ids))

    @classmethod
    def from_series(cls, values: pl.Series) -> IdMap:
        """The distinct non-null values, sorted, so that fitting is independent of row order."""
        return cls(values.drop_nulls().cast(pl.Utf8).unique().sort().to_list())

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._ids == other._ids

    def __repr__(self) -> str:
        return f"IdMap({len(self)} ids)"

    @property
    def ids(self) -> list[str]:
        """The ids in index order (do not mutate)."""
        return self._ids

    def add(self, ids: Sequence[str] | pl.Series) -> NDArray[np.int64]:
        """Append unseen ids (first appearance order) and return the index of every id given."""
        series = ids if isinstance(ids, pl.Series) else pl.Series(values=list(ids), dtype=pl.Utf8)
        fresh = series.drop_nulls().unique(maintain_order=True)
        if len(self._ids):
            fresh = fresh.filter(~fresh.is_in(self._as_series().implode()))
        if fresh.len():
            new = fresh.to_list()
            start = len(self._ids)
            self._ids.extend(new)
            self._index.update(zip(new, range(start, start + len(new))))
            self._series = None
        return self.indices(series)

    def get(self, item_id: str) -> int | None:
        return self._index.get(item_id)

    def indices(self, ids: Sequence[str] | pl.Series) -> NDArray[np.int64]:
        """Index of each id, -1 where the id is unknown (or null)."""
        if isinstance(ids, pl.Series) or len(ids) > _VECTOR_LOOKUP:
            series = ids if isinstance(ids, pl.Series) else pl.Series(values=list(ids), dtype=pl.Utf8)
            if not len(self._ids):
                return np.full(series.len(), -1, dtype=np.int64)
            mapped = series.cast(pl.Utf8).replace_strict(
                self._as_series(), pl.Series(np.arange(len(self._ids), dtype=np.int64)),
                default=-1, return_dtype=pl.Int64,
            )
            return mapped.fill_null(-1).to_numpy().astype(np.int64, copy=False)
        index = self._index
        return np.fromiter((index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))

    def labels(self, indices: Iterable[int]) -> list[str]:
        ids = self._ids
        return [ids[i] for i in indices]

    def to_numpy(self) -> NDArray[np.str_]:
        """Fixed-width unicode array: saves with ``np.savez`` and loads without pickle."""
        return np.array(self._ids, dtype=np.str_) if self._ids else np.array([], dtype="U1")

    def _as_series(self) -> pl.Series:
        if self._series is None:
            self._series = pl.Series(values=self._ids, dtype=pl.Utf8)
        return self._series


def resolve_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Event type -> weight as plain strings; types not listed weigh nothing."""
    chosen = EVENT_WEIGHTS if weights is None else weights
    resolved = {str(name): float(value) for name, value in chosen.items()}
    for name, value in resolved.items():
        if not math.isfinite(value) or value < 0:
            raise ValidationError(
                f"event weight for {name!r} must be a finite number >= 0, got {value}", field="weights"
            )
    return resolved


def weight_expr(weights: Mapping[str, float]) -> pl.Expr:
    """Polars expression: the weight of each row's ``event_type`` (0 for unknown types)."""
    return pl.col("event_type").cast(pl.Utf8).replace_strict(
        list(weights), list(weights.values()), default=0.0, return_dtype=pl.Float64
    ).fill_null(0.0)


def decay_expr(now_ms: int, half_life_days: float) -> pl.Expr:
    """Polars expression: ``0.5 ** (age / half_life)`` of each row's ``ts``.

    Events newer than `now_ms` count as new (weight 1) rather than more than new, and a
    missing timestamp counts as new.
    """
    age = (pl.lit(now_ms, dtype=pl.Int64) - pl.col("ts").fill_null(now_ms)).clip(lower_bound=0).cast(pl.Float64)
    return (age * (-math.log(2.0) / (half_life_days * DAY_MS))).exp()


def sum_by(
    key: NDArray[np.int64], values: NDArray[np.float64], *, size: int | None = None
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Sum `values` per distinct `key`: (sorted distinct keys, sums).

    Values are first rounded to multiples of 2**-20; float64 adds such numbers exactly
    (below 2**53, a billion full-weight events per key), so the sums are bit-for-bit the
    same in any row order. A threaded group-by is not even repeatable on the same input.
    With `size`, keys are indices below `size` and no sort is needed.
    """
    fixed = np.rint(np.asarray(values, dtype=np.float64) * _FIXED_POINT)
    if size is not None:
        sums = np.bincount(key, weights=fixed, minlength=size)
        present = np.flatnonzero(np.bincount(key, minlength=size))
        return present.astype(np.int64), sums[present] / _FIXED_POINT
    distinct, inverse = np.unique(key, return_inverse=True)
    return distinct.astype(np.int64), np.bincount(inverse, weights=fixed, minlength=distinct.size) / _FIXED_POINT


def require_columns(frame: pl.DataFrame, columns: Collection[str], what: str) -> None:
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise ValidationError(
            f"{what} frame lacks the columns {missing}; it has {frame.columns}",
            field=", ".join(missing),
            hint="build it with cartwise.store.frames.conform",
        )


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValidationError(f"{name} must be a finite number {bound}, got {value!r}", field=name)


def check_exclude(exclude: object) -> None:
    if isinstance(exclude, (str, bytes)):
        raise ValidationError("exclude must be a collection of item ids, not a single string", field="exclude")


def per_user_excludes(exclude: Any, n_users: int) -> list[Collection[str]] | None:
    """One exclusion collection per user when `exclude` is a sequence of that many
    non-string collections; None when it is one collection shared by all users."""
    check_exclude(exclude)
    if (
        n_users
        and isinstance(exclude, Sequence)
        and len(exclude) == n_users
        and all(isinstance(e, Collection) and not isinstance(e, (str, bytes)) for e in exclude)
    ):
        return list(exclude)
    return None


def check_k(k: int) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 0:
        raise ValidationError(f"k must be an integer >= 0, got {k!r}", field="k")
    return int(k)


def not_trained(model: object) -> NotTrained:
    return NotTrained(f"{type(model).__name__} is not fitted yet", hint="call fit(...) or load(...) first")


def write_model(directory: Path | str, name: str, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """``<name>.json`` (parameters, format) and ``<name>.npz`` (arrays, no pickle) in `directory`."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / f"{name}.npz", **arrays)
    (path / f"{name}.json").write_text(json.dumps(meta, indent=2, sort_keys=True))


def read_model(directory: Path | str, name: str, format_version: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(directory)
    try:
        meta = json.loads((path / f"{name}.json").read_text())
        with np.load(path / f"{name}.npz", allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise NotTrained(f"cannot read the {name} model in {path}: {exc}", hint="retrain with `cartwise train`")
    if meta.get("format") != format_version:
        raise NotTrained(
            f"the {name} model in {path} has format {meta.get('format')}, this Cartwise reads {format_version}",
            hint="retrain with `cartwise train`",
        )
    return meta, arrays


TextVectors = Mapping[str, NDArray[np.floating[Any]]] | tuple[Sequence[str], NDArray[np.floating[Any]]]


def text_input(vectors: TextVectors | None) -> tuple[list[str], NDArray[np.float32] | None]:
    """Ids and L2-normalised float32 rows of a mapping or an ``(ids, matrix)`` pair (checked)."""
    if vectors is None:
        return [], None
    if isinstance(vectors, tuple):
        if len(vectors) != 2:
            raise ValidationError("item_text_vectors must be a mapping or an (ids, matrix) pair",
                                  field="item_text_vectors")
        ids, matrix = [str(i) for i in vectors[0]], np.asarray(vectors[1], dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(ids):
            raise ValidationError(
                f"item_text_vectors: {len(ids)} ids need a matrix of {len(ids)} rows, got shape {matrix.shape}",
                field="item_text_vectors",
            )
        if len(set(ids)) != len(ids):
            raise ValidationError("item_text_vectors: the ids repeat", field="item_text_vectors")
        if not ids:
            return [], None
        return _text_matrix(dict(zip(ids, matrix)))
    if not isinstance(vectors, Mapping):
        raise ValidationError(
            f"item_text_vectors must be a mapping or an (ids, matrix) pair, got {type(vectors).__name__}",
            field="item_text_vectors",
        )
    return _text_matrix(vectors)


def _text_matrix(
    vectors: Mapping[str, NDArray[np.floating[Any]]],
) -> tuple[list[str], NDArray[np.float32] | None]:
    if not vectors:
        return [], None
    ids = [str(item) for item in vectors]
    try:
        matrix = np.stack([np.asarray(vectors[item], dtype=np.float32).ravel() for item in vectors])
    except ValueError as exc:
        raise ValidationError(
            f"item_text_vectors must all have the same length: {exc}", field="item_text_vectors"
        ) from None
    if not np.isfinite(matrix).all():
        raise ValidationError("item_text_vectors contain NaN or infinite values", field="item_text_vectors")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return ids, matrix / np.where(norms == 0, 1.0, norms)


def follow_catalog(model: object, index: VectorIndex) -> None:
    """Bring a trained model up to date with the catalog's text vectors in `index` (the
    engine's search index after a re-index), without retraining.

    Models that answer from a vector index (TextKNN, the blend for its members) attach to
    it, so new and edited texts count; models with their own item table (sequential,
    two-tower) add the items they do not know yet; models that read no text are left as
    they are, as are text-aware models trained without text vectors.
    """
    if not len(index):
        return
    attach = getattr(model, "attach", None)
    if attach is not None:
        attach(index)
        return
    add_items = getattr(model, "add_items", None)
    known = getattr(model, "item_ids_", None)
    if add_items is None or known is None:
        return
    fresh = np.asarray([i for i, item in enumerate(index.ids.tolist()) if item not in known], dtype=np.int64)
    if fresh.size:
        try:
            add_items((index.ids[fresh].tolist(), index.vectors_at(fresh)))
        except ValidationError:
            return  # trained without text vectors: it cannot take items by text


def history_of(events: pl.DataFrame) -> list[Interaction]:
    """A user's item events as the store hands them (newest first), as the recommenders and
    the click model take them: searches and events naming no item left out."""
    # Plain rows: a user's few dozen events, where a polars filter costs more than the loop.
    return [
        Interaction(item_id=i, event_type=t, ts=ts)
        for i, t, ts in events.select("item_id", "event_type", "ts").iter_rows()
        if i is not None and t != "search"
    ]


def histories_by_user(events: pl.DataFrame, users: Sequence[str]) -> list[list[Interaction]]:
    """Each user's newest :data:`HISTORY_LENGTH` events in `events`, newest first, as the
    engine reads them from the store (empty if none)."""
    wanted = events.filter(pl.col("user_id").is_in(list(users))).sort(
        ["user_id", "ts"], descending=[False, True]
    )
    by_user: dict[str, list[Interaction]] = {}
    for (user,), group in wanted.group_by("user_id", maintain_order=True):
        rows = group.head(HISTORY_LENGTH).select("item_id", "event_type", "ts").iter_rows()
        by_user[str(user)] = [Interaction(item_id=str(i), event_type=str(t), ts=int(ts)) for i, t, ts in rows]
    return [by_user.get(str(u), []) for u in users]
