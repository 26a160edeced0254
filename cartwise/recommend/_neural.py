"""What the two torch next-item models, SequentialRecommender and TwoTowerRecommender, share.

Both read each shopper's recent events (item, event type, a time input) as right-aligned
sequences, score the catalog through an item table (learned ID embedding plus a projected
text vector, so items known only by their text can be added after training), and learn
next items with AdamW, stopping early on validation NDCG@10. This module holds that
common machinery; each model keeps its own network, loss and answers.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import pickle
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, Self, TypeVar

import numpy as np
import polars as pl
import torch
from numpy.typing import NDArray
from torch import nn

from cartwise.errors import NotTrained, ValidationError
from cartwise.events.event import EVENT_TYPES
from cartwise.metrics import ndcg
from cartwise.recommend.base import (
    History,
    IdMap,
    TextVectors,
    per_user_excludes,
    require_columns,
    text_input,
)

# Fewer users with a next item than this cannot teach a neural model anything useful.
MIN_USERS = 10
# Index 0 pads sequences; then the known event types; the last index is any other type.
TYPES: tuple[str, ...] = ("<pad>", *EVENT_TYPES, "<other>")
TYPE_INDEX = {name: i for i, name in enumerate(TYPES)}
OTHER_TYPE = len(TYPES) - 1
# Users scored per forward pass at answer and validation time (bounds memory).
SCORE_BATCH = 1024
_ONE_THREAD_USERS = 8

# Time input of each event from the events sorted by user then time and the mask of each
# user's first event (None: the timestamps themselves).
EventTimes = Callable[[pl.DataFrame, NDArray[np.bool_]], NDArray[np.int64]]
# Time input of one history's known events from their timestamps, oldest first.
HistoryTimes = Callable[[list[int]], list[int]]
# Mean loss of a batch and how many (history, next item) pairs it averages, from the
# encoder's output at each pair, the wanted item rows and the item table.
BatchLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, int]]


@dataclass(frozen=True, slots=True)
class EpochLog:
    """What one training epoch did, passed to ``on_epoch`` and kept in ``history_``."""

    epoch: int
    epochs: int
    loss: float
    validation_ndcg10: float | None
    seconds: float
    best_epoch: int
    likely_seconds_left: float | None = None
    """Time left if validation stops improving now (early stopping after ``patience``
    more epochs), at the mean epoch time so far; without validation, as `most`."""
    most_seconds_left: float | None = None
    """Time left at most: the remaining epochs or the time budget, whichever ends first."""


class NeuralRecommender(Protocol):
    """The parameters and learned state that the helpers here read and set on a model."""

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

    def get_params(self) -> dict[str, Any]: ...

    def _new_network(self, n_items: int, text_dim: int) -> ItemTable: ...


Model = TypeVar("Model", bound=NeuralRecommender)


def check_params(model: NeuralRecommender, *, integers: Sequence[str], positive: Sequence[str] = ("lr",)) -> None:
    """The parameter checks both models share: `integers` >= 1, ``dim`` a multiple of
    ``heads``, dropout rates in [0, 1), `positive` finite and > 0, ``weight_decay``,
    ``threads`` and ``max_seconds``."""
    for name in integers:
        value = getattr(model, name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValidationError(f"{name} must be an integer >= 1, got {value!r}", field=name)
    if model.dim % model.heads:
        raise ValidationError(f"dim ({model.dim}) must be a multiple of heads ({model.heads})", field="heads")
    for name in ("dropout", "id_dropout"):
        value = getattr(model, name)
        if not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValidationError(f"{name} must be in [0, 1), got {value!r}", field=name)
    for name in positive:
        value = getattr(model, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValidationError(f"{name} must be a finite number > 0, got {value!r}", field=name)
    if not isinstance(model.weight_decay, (int, float)) or model.weight_decay < 0:
        raise ValidationError(f"weight_decay must be >= 0, got {model.weight_decay!r}", field="weight_decay")
    if model.threads is not None and (not isinstance(model.threads, int) or model.threads < 1):
        raise ValidationError(f"threads must be None or an integer >= 1, got {model.threads!r}", field="threads")
    if model.max_seconds is not None and not model.max_seconds > 0:
        raise ValidationError(f"max_seconds must be None or > 0, got {model.max_seconds!r}", field="max_seconds")


# text vectors ----------------------------------------------------------------------------


def add_text_items(model: NeuralRecommender, vectors: TextVectors) -> list[str]:
    """Add the items of `vectors` not yet in the model's catalog, known by their text alone
    (the network's ``grow``); returns the ids added."""
    network = model.network_
    if network.text_dim == 0:
        raise ValidationError(
            "this model was trained without item_text_vectors, so it cannot score items by text",
            field="item_text_vectors",
            hint="retrain with item_text_vectors to recommend items without events",
        )
    ids, matrix = text_input(vectors)
    fresh = [r for r, item in enumerate(ids) if item not in model.item_ids_]
    if not fresh or matrix is None:
        return []
    ids, matrix = [ids[r] for r in fresh], matrix[fresh]
    if matrix.shape[1] != network.text_dim:
        raise ValidationError(
            f"text vectors have {matrix.shape[1]} dimensions, the model was trained on {network.text_dim}",
            field="item_text_vectors",
        )
    model.item_ids_.add(ids)
    network.grow(torch.from_numpy(matrix))
    model.warm_ = np.concatenate([model.warm_, np.zeros(len(ids), dtype=bool)])
    return ids


# event sequences -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sequences:
    """Each user's last events, right-aligned in (users x width) matrices; 0 pads."""

    users: pl.Series
    lengths: NDArray[np.int64]
    items: NDArray[np.int64]
    types: NDArray[np.int64]
    times: NDArray[np.int64]

    def trainable(self) -> NDArray[np.int64]:
        """Rows with at least one next item to learn (two events or more)."""
        return np.flatnonzero(self.lengths >= 2)

    def window(
        self, rows: NDArray[np.int64], *, inputs: bool | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs (all but the last event), targets (all but the first) or, with
        ``inputs=None``, the newest `width - 1` events, cut to the longest row given."""
        width = self.items.shape[1]
        m = max(int(self.lengths[rows].max()) - (1 if inputs is not None else 0), 1)
        m = min(m, width - 1)
        cols = slice(width - m - 1, width - 1) if inputs else slice(width - m, width)
        return (
            torch.from_numpy(self.items[rows, cols]),
            torch.from_numpy(self.types[rows, cols]),
            torch.from_numpy(self.times[rows, cols]),
        )

    def targets(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """Every event of these rows that some earlier event predicts (0 elsewhere)."""
        width = self.items.shape[1]
        out = self.items[rows].copy()
        first = width - np.minimum(self.lengths[rows], width)
        out[np.arange(rows.size), first] = 0
        return out


def user_sequences(ordered: pl.DataFrame, item_ids: IdMap, width: int, times: EventTimes | None) -> Sequences:
    """Per-user matrices from events sorted by user then time."""
    item = item_ids.indices(ordered["item_id"]) + 1
    type_index = (
        ordered["event_type"]
        .replace_strict(list(TYPE_INDEX), list(TYPE_INDEX.values()), default=OTHER_TYPE, return_dtype=pl.Int64)
        .fill_null(OTHER_TYPE)
        .to_numpy()
    )
    user_codes = ordered["user_id"].to_numpy()
    n_events = ordered.height
    first = np.r_[True, user_codes[1:] != user_codes[:-1]] if n_events else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(first)
    lengths_all = np.diff(np.r_[starts, n_events]).astype(np.int64)
    clock = ordered["ts"].to_numpy() if times is None else times(ordered, first)
    n_users = starts.size
    lengths = np.minimum(lengths_all, width)
    # Position of each kept event in its user's right-aligned row.
    position = np.arange(n_events) - np.repeat(starts, lengths_all)
    column = position - (np.repeat(lengths_all, lengths_all) - width)
    kept = column >= 0
    row = np.repeat(np.arange(n_users), lengths_all)[kept]
    column = column[kept]
    matrices = np.zeros((3, n_users, width), dtype=np.int64)
    matrices[0, row, column] = item[kept]
    matrices[1, row, column] = type_index[kept]
    matrices[2, row, column] = clock[kept]
    users = pl.Series("user_id", user_codes[starts] if n_users else [], dtype=pl.Utf8)
    return Sequences(users, lengths, matrices[0], matrices[1], matrices[2])


def encode_histories(
    histories: Sequence[History], item_ids: IdMap, max_len: int, times: HistoryTimes | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-aligned (items, types, times) matrices of the last `max_len` known events of
    each history; `times` turns a history's timestamps into its time input."""
    width = 1
    rows: list[tuple[list[int], list[int], list[int]]] = []
    lookup = item_ids.get
    for history in histories:
        items, types, stamps = [], [], []
        for event in sorted(history, key=lambda e: e.ts):
            index = lookup(event.item_id)
            if index is None:
                continue
            items.append(index + 1)
            types.append(TYPE_INDEX.get(str(event.event_type), OTHER_TYPE))
            stamps.append(event.ts)
        clock = stamps if times is None else times(stamps)
        rows.append((items[-max_len:], types[-max_len:], clock[-max_len:]))
        width = max(width, len(rows[-1][0]))
    matrices = np.zeros((3, len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        n = len(row[0])
        if n:
            matrices[:, r, width - n :] = np.asarray(row, dtype=np.int64)
    return tuple(torch.from_numpy(m) for m in matrices)  # type: ignore[return-value]


# the item table --------------------------------------------------------------------------


class ItemTable(nn.Module):
    """Base of both networks: the item table, an ID embedding plus the projected text vector.

    Row 0 is padding. ``id_keep`` zeroes the ID embedding of items never seen in training:
    their ID row only ever learned "not this one", so it would bury them; their text speaks
    for them instead. Subclasses add ``encode(items, types, times, table)``.
    """

    def __init__(self, *, n_items: int, dim: int, text_dim: int) -> None:
        super().__init__()
        self.text_dim = text_dim
        self.item_id = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.register_buffer("id_keep", torch.cat([torch.zeros(1), torch.ones(n_items)]))
        if text_dim:
            self.register_buffer("text", torch.zeros(n_items + 1, text_dim))
            self.text_proj = nn.Linear(text_dim, dim, bias=False)
        self._answer_table: torch.Tensor | None = None
        # Bumped by every change of weights or catalog: a table computed across a change
        # is not cached.
        self._generation = 0

    def encode(
        self, items: torch.Tensor, types: torch.Tensor, times: torch.Tensor, table: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    def item_vectors(self, table: torch.Tensor) -> torch.Tensor:
        """The catalog rows (no padding) that encoded histories are scored against."""
        return table[1:]

    @torch.no_grad()
    def set_catalog(
        self, warm: NDArray[np.bool_], text_rows: NDArray[np.int64], text: NDArray[np.float32] | None
    ) -> None:
        """Switch off the ID of items unseen in training; put text vectors in their rows."""
        self.id_keep[1:] = torch.from_numpy(warm.astype(np.float32))
        if text is not None:
            self.text[torch.from_numpy(text_rows)] = torch.from_numpy(text)
        self._changed()

    def answer_table(self) -> torch.Tensor:
        """:meth:`item_table` for answering, computed once while weights and catalog stay
        as they are: projecting every item's text per request cost most of a one-user
        answer (2.7 of 3.3 ms on Amazon Scientific)."""
        if self.training:
            return self.item_table()
        table = self._answer_table
        if table is None:
            generation = self._generation
            with torch.no_grad():
                table = self.item_table()
            if generation == self._generation:
                self._answer_table = table
        return table

    def _changed(self) -> None:
        self._generation += 1
        self._answer_table = None

    def train(self, mode: bool = True) -> Self:
        self._changed()
        return super().train(mode)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        out = super().load_state_dict(*args, **kwargs)
        self._changed()
        return out

    def item_table(self, keep: torch.Tensor | None = None) -> torch.Tensor:
        table = self.item_id.weight * (self.id_keep if keep is None else keep)[:, None]
        if self.text_dim:
            table = table + self.text_proj(self.text)
        return table

    def training_table(self, id_dropout: float) -> torch.Tensor:
        """The item table with each ID embedding dropped with probability `id_dropout`
        (with text only), so that the text path alone learns to predict."""
        if self.text_dim and id_dropout > 0:
            drop = torch.rand(self.id_keep.shape[0]) < id_dropout
            return self.item_table(self.id_keep * (~drop).float())
        return self.item_table()

    @torch.no_grad()
    def grow(self, text: torch.Tensor) -> None:
        """Append items known by text only: zero ID embedding, ID switched off."""
        n = text.shape[0]
        weight = torch.cat([self.item_id.weight.data, torch.zeros(n, self.item_id.embedding_dim)])
        self.item_id = nn.Embedding.from_pretrained(weight, freeze=False, padding_idx=0)
        self.id_keep = torch.cat([self.id_keep, torch.zeros(n)])
        self.text = torch.cat([self.text, text.to(self.text.dtype)])
        self._changed()  # last: a table computed meanwhile must not stay cached


# training --------------------------------------------------------------------------------


def fit_network(
    model: NeuralRecommender,
    events: pl.DataFrame,
    validation: pl.DataFrame | None,
    *,
    loss: Callable[[Sequences], BatchLoss],
    times: EventTimes | None = None,
    time_checked: Literal["epoch", "batch"] = "epoch",
    needs: str = "2 or more events",
) -> None:
    """Fit `model` to `events`: sequences of its last ``max_len + 1`` events per user, the
    catalog (events' items and text-vector items), a fresh network from ``_new_network``
    under the model's seed and threads, then epochs of the per-batch loss that ``loss(sequences)``
    returns, stopping early on `validation` (see :func:`train_epochs`)."""
    if not isinstance(events, pl.DataFrame):
        raise ValidationError(f"events must be a polars DataFrame, got {type(events).__name__}", field="events")
    require_columns(events, ("user_id", "item_id", "event_type", "ts"), "events")
    ordered = (
        events.select(
            pl.col("user_id").cast(pl.Utf8),
            pl.col("item_id").cast(pl.Utf8),
            pl.col("event_type").cast(pl.Utf8),
            pl.col("ts").cast(pl.Int64).fill_null(0),
        )
        .filter(pl.col("item_id").is_not_null() & pl.col("user_id").is_not_null())
        .with_row_index("_order")
        .sort(["user_id", "ts", "_order"])
    )
    text_ids, text_matrix = text_input(model.item_text_vectors)
    item_ids = IdMap(sorted(set(ordered["item_id"].unique().to_list()) | set(text_ids)))
    warm = np.zeros(len(item_ids), dtype=bool)
    warm[item_ids.indices(ordered["item_id"].unique())] = True

    sequences = user_sequences(ordered, item_ids, model.max_len + 1, times)
    trainable = sequences.trainable().size
    if trainable < MIN_USERS:
        raise ValidationError(
            f"{type(model).__name__} needs at least {MIN_USERS} users with {needs} to learn "
            f"what comes next; these events have {trainable} such users "
            f"({ordered.height} events, {sequences.users.len()} users)",
            field="events",
            hint="ingest more events, or use ItemKNN or Popularity for a store this small",
        )

    model.item_ids_ = item_ids
    model.warm_ = warm
    model.history_ = []
    model.best_epoch_ = 0
    model.best_validation_ndcg10_ = None
    with torch_threads(model.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(model.seed)
        network = model._new_network(len(item_ids), 0 if text_matrix is None else text_matrix.shape[1])
        network.set_catalog(warm, item_ids.indices(text_ids) + 1, text_matrix)
        model.network_ = network
        checks = None if validation is None else _validation_rows(validation, sequences, item_ids)
        checkpoint = None
        if model.checkpoint_dir is not None:
            key = _fingerprint(model, ordered, validation, item_ids, text_matrix)
            checkpoint = Checkpoint(directory=model.checkpoint_dir, key=key)
        train_epochs(model, sequences, checks, loss(sequences), time_checked=time_checked, checkpoint=checkpoint)
        network.eval()


def _fingerprint(
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
        with _replacing(self.path) as tmp:
            torch.save({**state, "key": self.key}, tmp)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _validation_rows(
    validation: pl.DataFrame, sequences: Sequences, item_ids: IdMap
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(row of each validation user in `sequences`, catalog index of its target)."""
    require_columns(validation, ("user_id", "item_id"), "validation")
    users = sequences.users.to_frame("user_id").with_row_index("_row")
    joined = validation.select(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8)).join(
        users, on="user_id", how="inner"
    )
    if joined.is_empty():
        raise ValidationError(
            "no validation user has events in the training frame, so validation cannot score anything",
            field="validation",
            hint="validation rows need user_ids that also occur in events (see leave_last_out)",
        )
    return joined["_row"].to_numpy().astype(np.int64), item_ids.indices(joined["item_id"])


def train_epochs(
    model: NeuralRecommender,
    sequences: Sequences,
    checks: tuple[NDArray[np.int64], NDArray[np.int64]] | None,
    loss: BatchLoss,
    *,
    time_checked: Literal["epoch", "batch"],
    checkpoint: Checkpoint | None = None,
) -> None:
    """AdamW epochs over the trainable users in batches of similar length, each batch's
    loss on every (events so far, next event) pair; ``history_``, ``on_epoch`` and
    ``best_epoch_`` follow each epoch.

    With `checks` (validation rows and targets), each epoch is scored by NDCG@10 over the
    full catalog; training stops after ``patience`` epochs without a better score and the
    best epoch's weights are kept. ``max_seconds`` stops training when it has run out,
    checked after every epoch or (`time_checked` ``"batch"``) every batch.

    With a `checkpoint`, the whole state (weights, optimiser, random generators, best epoch
    so far, time spent) is saved after every epoch, and a matching saved state is resumed:
    the resumed run ends where an uninterrupted one would have.
    """
    network = model.network_
    optimizer = torch.optim.AdamW(network.parameters(), lr=model.lr, weight_decay=model.weight_decay)
    rng = np.random.default_rng(model.seed)
    users = sequences.trainable()
    best_state: dict[str, torch.Tensor] | None = None
    best_score, stale, started = -1.0, 0, time.perf_counter()
    first = 1
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        network.load_state_dict(saved["network"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.bit_generator.state = json.loads(saved["numpy_rng"])
        torch.set_rng_state(saved["torch_rng"])
        best_state, best_score, stale = saved["best_state"], float(saved["best_score"]), int(saved["stale"])
        model.best_epoch_ = int(saved["best_epoch"])
        model.history_ = [EpochLog(**json.loads(log)) for log in saved["history"]]
        # A run that had met its stopping rule when it was saved does not train further.
        first = model.epochs + 1 if saved.get("finished") else int(saved["epoch"]) + 1
        started -= float(saved["seconds"])

    def out_of_time() -> bool:
        return model.max_seconds is not None and time.perf_counter() - started > model.max_seconds

    for epoch in range(first, model.epochs + 1):
        began = time.perf_counter()
        network.train()
        total, count = 0.0, 0
        stopped = False
        for batch in _batches(users, sequences.lengths, model.batch_size, rng):
            items, types, times = sequences.window(batch, inputs=True)
            targets = sequences.window(batch, inputs=False)[0]
            keep = (targets > 0) & (items > 0)
            table = network.training_table(model.id_dropout)
            value, pairs = loss(network.encode(items, types, times, table)[keep], targets[keep], table)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            total += float(value.detach()) * pairs
            count += pairs
            if time_checked == "batch" and out_of_time():
                stopped = True
                break

        score = None
        if checks is not None:
            network.eval()
            score = _validation_ndcg(network, sequences, *checks)
            if score > best_score:
                best_score, stale, model.best_epoch_ = score, 0, epoch
                best_state = copy.deepcopy(network.state_dict())
            else:
                stale += 1
        else:
            model.best_epoch_ = epoch
        seconds = time.perf_counter() - began
        finished = stale >= model.patience or stopped or out_of_time() or epoch == model.epochs
        likely, most = _seconds_left(model, epoch, stale, checks is not None, finished,
                                     [h.seconds for h in model.history_] + [seconds], time.perf_counter() - started)
        log = EpochLog(epoch, model.epochs, total / max(count, 1), score, seconds, model.best_epoch_, likely, most)
        model.history_.append(log)
        if checkpoint is not None:
            checkpoint.save({
                "finished": finished,
                "epoch": epoch, "network": network.state_dict(), "optimizer": optimizer.state_dict(),
                "numpy_rng": json.dumps(rng.bit_generator.state), "torch_rng": torch.get_rng_state(),
                "best_state": best_state, "best_score": best_score, "stale": stale,
                "best_epoch": model.best_epoch_, "history": [json.dumps(asdict(h)) for h in model.history_],
                "seconds": time.perf_counter() - started,
            })
        if model.on_epoch is not None:
            model.on_epoch(log)
        if finished:
            break
    if checkpoint is not None:
        checkpoint.clear()
    if best_state is not None:
        network.load_state_dict(best_state)
        model.best_validation_ndcg10_ = best_score


def _seconds_left(
    model: NeuralRecommender, epoch: int, stale: int, validated: bool, finished: bool,
    epoch_seconds: list[float], elapsed: float,
) -> tuple[float, float]:
    """(likely, most) seconds of training left after `epoch`: see :class:`EpochLog`."""
    if finished:
        return 0.0, 0.0
    mean = sum(epoch_seconds) / len(epoch_seconds)
    most = (model.epochs - epoch) * mean
    if model.max_seconds is not None:
        most = min(most, max(model.max_seconds - elapsed, 0.0))
    likely = min((model.patience - stale) * mean, most) if validated else most
    return round(likely, 1), round(most, 1)


@torch.no_grad()
def _validation_ndcg(
    network: ItemTable, sequences: Sequences, rows: NDArray[np.int64], targets: NDArray[np.int64]
) -> float:
    ranks = np.full(rows.size, -1, dtype=np.int64)
    table = network.item_table()
    matrix = network.item_vectors(table)
    for start in range(0, rows.size, SCORE_BATCH):
        items, types, times = sequences.window(rows[start : start + SCORE_BATCH], inputs=None)
        scores = network.encode(items, types, times, table)[:, -1] @ matrix.T
        wanted = targets[start : start + SCORE_BATCH]
        known = wanted >= 0
        ranks[start : start + SCORE_BATCH][known] = _ranks(
            scores[torch.from_numpy(known)], torch.from_numpy(wanted[known])
        )
    return ndcg(ranks, 10)


def _batches(
    users: NDArray[np.int64], lengths: NDArray[np.int64], size: int, rng: np.random.Generator
) -> Iterator[NDArray[np.int64]]:
    """Shuffled batches of users of similar length: most sequences are short, and a batch
    is only as wide as its longest member, so grouping by length saves most padding."""
    shuffled = rng.permutation(users)
    pool = size * 50
    batches = []
    for start in range(0, shuffled.size, pool):
        chunk = shuffled[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + size] for i in range(0, chunk.size, size)]
    for b in rng.permutation(len(batches)):
        yield batches[b]


def _ranks(scores: torch.Tensor, targets: torch.Tensor) -> NDArray[np.int64]:
    """0-based rank of each target; ties count against it, so constant scores never hit."""
    target = scores.gather(1, targets[:, None])
    return ((scores > target).sum(1) + (scores == target).sum(1) - 1).numpy()


# answering -------------------------------------------------------------------------------


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with `threads` CPU threads, restoring torch's setting afterwards."""
    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def answering(histories: int, threads: int | None) -> Iterator[None]:
    """Inference mode with the model's threads, or one thread for a few histories: handing
    so little work to a second thread costs more than it saves, and on a busy machine it
    waits for a core (p99 latency)."""
    with torch_threads(1 if histories <= _ONE_THREAD_USERS else threads), torch.inference_mode():
        yield


def user_states(
    network: ItemTable,
    histories: Sequence[History],
    item_ids: IdMap,
    max_len: int,
    table: torch.Tensor,
    times: HistoryTimes | None = None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(first history, items, types, encoder output after the newest event) per
    `SCORE_BATCH` histories; a history with no known item has ``items[:, -1] == 0``."""
    for start in range(0, len(histories), SCORE_BATCH):
        items, types, clock = encode_histories(histories[start : start + SCORE_BATCH], item_ids, max_len, times)
        yield start, items, types, network.encode(items, types, clock, table)[:, -1]


class Exclusions:
    """What ``recommend`` leaves out of each answer: `exclude` (one collection for every
    history or one per history) and, with `exclude_seen`, the history's own items."""

    def __init__(
        self,
        item_ids: IdMap,
        exclude: Collection[str] | Sequence[Collection[str]],
        n_histories: int,
        exclude_seen: bool,
    ) -> None:
        self.item_ids = item_ids
        self.per_user = per_user_excludes(exclude, n_histories)
        self.shared = [] if self.per_user is not None else item_ids.indices(list(exclude)).tolist()
        self.exclude_seen = exclude_seen

    def banned(self, index: int, history: History) -> list[int]:
        """Catalog indices left out of the answer for history number `index`."""
        banned = list(self.shared)
        if self.per_user is not None:
            banned += self.item_ids.indices(list(self.per_user[index])).tolist()
        if self.exclude_seen:
            banned += self.item_ids.indices([e.item_id for e in history]).tolist()
        return [i for i in banned if i >= 0]

    def top(self, scores: torch.Tensor, k: int, index: int, history: History) -> list[tuple[float, int]]:
        """(score, catalog index) of the `k` best items left for history number `index`."""
        banned_index = torch.tensor(self.banned(index, history), dtype=torch.int64)
        if banned_index.numel():
            scores = scores.clone()
            scores[banned_index] = -torch.inf
        top = torch.topk(scores, min(k, scores.numel()))
        return [(s, i) for s, i in zip(top.values.tolist(), top.indices.tolist()) if s != -math.inf]


# model files -----------------------------------------------------------------------------


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
    with _replacing(path / f"{name}.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, item_ids=model.item_ids_.to_numpy(), warm=model.warm_)
    with _replacing(path / f"{name}.pt") as tmp:
        torch.save(model.network_.state_dict(), tmp)
    with _replacing(path / f"{name}.json") as tmp:
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
def _replacing(final: Path) -> Iterator[Path]:
    """A temporary path next to `final`, renamed onto it when the block succeeds."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
