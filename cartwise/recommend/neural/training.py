"""The training loop both neural models share: the catalog and sequences from the events,
a fresh network under the model's seed, then AdamW epochs over batches of similar length,
scored on validation NDCG@10 after each epoch for early stopping, with a checkpoint after
each epoch when the model has a ``checkpoint_dir``."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl
import torch
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.metrics import ndcg
from cartwise.recommend.base import IdMap, require_columns, text_input
from cartwise.recommend.neural.checkpoint import Checkpoint, fingerprint
from cartwise.recommend.neural.data import (
    MIN_USERS,
    SCORE_BATCH,
    EventTimes,
    Sequences,
    length_batches,
    user_sequences,
)
from cartwise.recommend.neural.epochs import EpochLog
from cartwise.recommend.neural.serving import torch_threads
from cartwise.recommend.neural.table import ItemTable

if TYPE_CHECKING:
    from cartwise.recommend.neural.base import NeuralRecommender

# Mean loss of a batch and how many (history, next item) pairs it averages, from the
# encoder's output at each pair, the wanted item rows and the item table.
BatchLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, int]]


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
            key = fingerprint(model, ordered, validation, item_ids, text_matrix)
            checkpoint = Checkpoint(directory=model.checkpoint_dir, key=key)
        train_epochs(model, sequences, checks, loss(sequences), time_checked=time_checked, checkpoint=checkpoint)
        network.eval()


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
        for batch in length_batches(users, sequences.lengths, model.batch_size, rng):
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


def _ranks(scores: torch.Tensor, targets: torch.Tensor) -> NDArray[np.int64]:
    """0-based rank of each target; ties count against it, so constant scores never hit."""
    target = scores.gather(1, targets[:, None])
    return ((scores > target).sum(1) + (scores == target).sum(1) - 1).numpy()
