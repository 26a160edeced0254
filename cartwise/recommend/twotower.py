"""TwoTowerRecommender: a user tower over the recent history, an item tower over ids and text.

The user tower reads a shopper's last events (item, event type) with one causal
self-attention layer whose logits carry learned biases for "how many events ago" and
"how long before the newest event" (log-time buckets), then a feed-forward layer. The
item tower is the item's ID embedding plus its projected text vector. Both towers end
L2-normalised, so a score is a cosine. Training is in-batch sampled softmax over the
distinct targets of a batch, with the logQ correction (Yi et al., RecSys 2019) for how
likely each item is to be among them, and a temperature. After fitting, the item tower
is precomputed once for the whole catalog: answering is one user-tower pass and one
matrix product.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.metrics import ndcg
from cartwise.recommend.base import (
    History,
    IdMap,
    Scored,
    check_k,
    not_trained,
    per_user_excludes,
    require_columns,
)
from cartwise.recommend.sequential import (
    _TYPE_INDEX,
    _TYPES,
    EpochLog,
    _batches,
    _ranks,
    _text_matrix,
    _torch_threads,
)

FORMAT = 1
_NAME = "twotower"
MIN_USERS = 10
# Age of an event before the newest one: bucket floor(log2(1 + seconds)), 2**31 s is 68 years.
_AGE_BUCKETS = 32
# Most (history, next item) pairs per batch: bounds the pairs x candidates logit matrix.
_MAX_PAIRS = 4096
_SCORE_BATCH = 1024
_ONE_THREAD_USERS = 8
_VERBS = {"purchase": "bought", "add_to_cart": "added to your cart", "rating": "rated", "click": "clicked on",
          "view": "viewed"}

TextVectors = Mapping[str, NDArray[np.floating[Any]]] | tuple[Sequence[str], NDArray[np.floating[Any]]]


class TwoTowerRecommender:
    """Two-tower retrieval model: user tower over the recent history, item tower over
    item ids and optional text vectors, dot product (cosine) over the full catalog.

    Parameters
    ----------
    max_len:
        Most recent events the user tower reads.
    dim, heads, dropout:
        Embedding width, attention heads of the user tower, dropout rate.
    temperature:
        Softmax temperature on cosine scores (smaller: sharper).
    logq_correction:
        Subtract the log-probability that an item is among a batch's candidates from its
        logit, so that popular items are not over-punished as negatives.
    epochs, batch_size, lr, weight_decay:
        AdamW schedule; a batch is `batch_size` users with all their next-item pairs
        (at most 4096 pairs, sampled). On Amazon Beauty lr 5e-3 learned faster per
        minute than 1e-2 (2 CPU cores, validation NDCG@10 0.050 after 16 epochs, 300 s).
    patience:
        With ``validation`` given to :meth:`fit`: stop after this many epochs without a
        better validation NDCG@10 and keep the best epoch's weights.
    max_seconds:
        Stop training after this much wall time (checked after every batch).
    seed, threads:
        Same seed and threads, same model; `threads` sets torch's CPU threads while
        fitting and scoring (None: torch's setting).
    item_text_vectors:
        ``item_id -> vector`` or ``(ids, matrix)`` from a text encoder. Vectors are
        L2-normalised, projected to `dim` and added to the ID embedding; items with a
        vector and no training events join the catalog, scored by text alone. While
        training, each item's ID embedding is dropped with probability `id_dropout`.
    use_event_type, use_recency:
        Feed the event type; bias attention by the age of each event.
    on_epoch:
        Called with an :class:`~cartwise.recommend.sequential.EpochLog` after each epoch.

    Learned state: ``item_ids_`` (:class:`IdMap`), ``warm_`` (bool per item: seen in
    training), ``item_matrix_`` (item tower, float32, one unit row per item),
    ``network_``, ``history_``, ``best_epoch_``, ``best_validation_ndcg10_``.
    """

    def __init__(
        self,
        *,
        max_len: int = 50,
        dim: int = 64,
        heads: int = 2,
        dropout: float = 0.1,
        temperature: float = 0.05,
        logq_correction: bool = True,
        epochs: int = 100,
        batch_size: int = 256,
        lr: float = 5e-3,
        weight_decay: float = 0.0,
        patience: int = 5,
        max_seconds: float | None = None,
        seed: int = 0,
        threads: int | None = None,
        item_text_vectors: TextVectors | None = None,
        id_dropout: float = 0.1,
        use_event_type: bool = True,
        use_recency: bool = True,
        on_epoch: Callable[[EpochLog], None] | None = None,
    ) -> None:
        self.max_len = max_len
        self.dim = dim
        self.heads = heads
        self.dropout = dropout
        self.temperature = temperature
        self.logq_correction = logq_correction
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.max_seconds = max_seconds
        self.seed = seed
        self.threads = threads
        self.item_text_vectors = item_text_vectors
        self.id_dropout = id_dropout
        self.use_event_type = use_event_type
        self.use_recency = use_recency
        self.on_epoch = on_epoch

    def get_params(self) -> dict[str, Any]:
        """Plain-JSON parameters (text vectors and the callback are not saved as parameters)."""
        return {
            name: getattr(self, name)
            for name in (
                "max_len", "dim", "heads", "dropout", "temperature", "logq_correction", "epochs", "batch_size",
                "lr", "weight_decay", "patience", "max_seconds", "seed", "threads", "id_dropout",
                "use_event_type", "use_recency",
            )
        }

    def __repr__(self) -> str:
        return "TwoTowerRecommender(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def _check_params(self) -> None:
        for name in ("max_len", "dim", "heads", "epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{name} must be an integer >= 1, got {value!r}", field=name)
        if self.dim % self.heads:
            raise ValidationError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})", field="heads")
        for name in ("dropout", "id_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValidationError(f"{name} must be in [0, 1), got {value!r}", field=name)
        for name in ("lr", "temperature"):
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
        """Learn from `events` (``user_id, item_id, event_type, ts``): every event of a
        user is a next item to predict from the events before it.

        `validation` holds ``user_id, item_id`` rows: the item each user chose after their
        events in `events` (:func:`cartwise.evaluate.splits.leave_last_out`). With it,
        each epoch is scored by NDCG@10 over the full catalog, training stops after
        `patience` epochs without improvement, and the best epoch is kept.
        """
        self._check_params()
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
        text_ids, text_matrix = _text_input(self.item_text_vectors)
        item_ids = IdMap(sorted(set(ordered["item_id"].unique().to_list()) | set(text_ids)))
        warm = np.zeros(len(item_ids), dtype=bool)
        warm[item_ids.indices(ordered["item_id"].unique())] = True

        sequences = _user_sequences(ordered, item_ids, self.max_len + 1)
        trainable = int((sequences.lengths >= 2).sum())
        if trainable < MIN_USERS:
            raise ValidationError(
                f"TwoTowerRecommender needs at least {MIN_USERS} users with 2 or more item events to learn "
                f"what comes next; these events have {trainable} such users "
                f"({ordered.height} events, {sequences.users.len()} users)",
                field="events",
                hint="ingest more events, or use ItemKNN or Popularity for a store this small",
            )

        self.item_ids_ = item_ids
        self.warm_ = warm
        self.history_: list[EpochLog] = []
        self.best_epoch_ = 0
        self.best_validation_ndcg10_: float | None = None
        with _torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = _Network(
                n_items=len(item_ids), dim=self.dim, heads=self.heads, dropout=self.dropout, max_len=self.max_len,
                text_dim=0 if text_matrix is None else text_matrix.shape[1],
                use_event_type=self.use_event_type, use_recency=self.use_recency,
            )
            with torch.no_grad():
                network.id_keep[1:] = torch.from_numpy(warm.astype(np.float32))
                if text_matrix is not None:
                    rows = item_ids.indices(text_ids) + 1
                    network.text[torch.from_numpy(rows)] = torch.from_numpy(text_matrix)
            self.network_ = network
            checks = None if validation is None else self._validation_rows(validation, sequences)
            self._train(sequences, checks)
            network.eval()
            self._prepare()
        return self

    def _validation_rows(
        self, validation: pl.DataFrame, sequences: _Sequences
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
        return joined["_row"].to_numpy().astype(np.int64), self.item_ids_.indices(joined["item_id"])

    def _train(self, sequences: _Sequences, checks: tuple[NDArray[np.int64], NDArray[np.int64]] | None) -> None:
        network = self.network_
        optimizer = torch.optim.AdamW(network.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        rng = np.random.default_rng(self.seed)
        users = np.flatnonzero(sequences.lengths >= 2)
        text = network.text_dim > 0
        n_items = len(self.item_ids_)
        # How often each item is a training target: the sampling distribution of the
        # in-batch candidates, whose log the logQ correction subtracts.
        counts = np.bincount(sequences.targets(users).ravel(), minlength=n_items + 1)[1:]
        share = torch.from_numpy(counts / max(counts.sum(), 1))
        best_state: dict[str, torch.Tensor] | None = None
        best_score, stale, started = -1.0, 0, time.perf_counter()
        out_of_time = False
        for epoch in range(1, self.epochs + 1):
            began = time.perf_counter()
            network.train()
            total, count = 0.0, 0
            for batch in _batches(users, sequences.lengths, self.batch_size, rng):
                items, types, ts = sequences.window(batch, inputs=True)
                targets = sequences.window(batch, inputs=False)[0]
                keep = (targets > 0) & (items > 0)
                if text and self.id_dropout > 0:
                    drop = torch.rand(n_items + 1) < self.id_dropout
                    table = network.item_table(network.id_keep * (~drop).float())
                else:
                    table = network.item_table()
                users_out = network.encode(items, types, ts, table)[keep]
                wanted = targets[keep]
                if wanted.numel() > _MAX_PAIRS:
                    pick = torch.randperm(wanted.numel())[:_MAX_PAIRS]
                    users_out, wanted = users_out[pick], wanted[pick]
                loss = self._sampled_softmax(users_out, wanted, table, share)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * int(wanted.numel())
                count += int(wanted.numel())
                if self.max_seconds is not None and time.perf_counter() - started > self.max_seconds:
                    out_of_time = True
                    break

            score = None
            if checks is not None:
                network.eval()
                score = self._validation_ndcg(sequences, *checks)
                if score > best_score:
                    best_score, stale, self.best_epoch_ = score, 0, epoch
                    best_state = copy.deepcopy(network.state_dict())
                else:
                    stale += 1
            else:
                self.best_epoch_ = epoch
            log = EpochLog(epoch, self.epochs, total / max(count, 1), score, time.perf_counter() - began,
                           self.best_epoch_)
            self.history_.append(log)
            if self.on_epoch is not None:
                self.on_epoch(log)
            if stale >= self.patience or out_of_time:
                break
            if self.max_seconds is not None and time.perf_counter() - started > self.max_seconds:
                break
        if best_state is not None:
            network.load_state_dict(best_state)
            self.best_validation_ndcg10_ = best_score

    def _sampled_softmax(
        self, users: torch.Tensor, wanted: torch.Tensor, table: torch.Tensor, share: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy over the batch's distinct targets, logQ-corrected."""
        candidates, label = torch.unique(wanted, return_inverse=True)
        items = F.normalize(table[candidates], dim=-1)
        logits = users @ items.T / self.temperature
        if self.logq_correction:
            # Probability that an item is among the candidates of a batch of this many pairs.
            p = share[candidates - 1].clamp(min=1e-12)
            inclusion = -torch.expm1(wanted.numel() * torch.log1p(-p.clamp(max=1 - 1e-12)))
            logits = logits - torch.log(inclusion.clamp(min=1e-12)).float()[None, :]
        return F.cross_entropy(logits, label)

    @torch.no_grad()
    def _validation_ndcg(self, sequences: _Sequences, rows: NDArray[np.int64], targets: NDArray[np.int64]) -> float:
        ranks = np.full(rows.size, -1, dtype=np.int64)
        table = self.network_.item_table()
        matrix = F.normalize(table[1:], dim=-1)
        for start in range(0, rows.size, _SCORE_BATCH):
            chunk = rows[start : start + _SCORE_BATCH]
            items, types, ts = sequences.window(chunk, inputs=None)
            scores = self.network_.encode(items, types, ts, table)[:, -1] @ matrix.T
            wanted = targets[start : start + _SCORE_BATCH]
            known = wanted >= 0
            ranks[start : start + _SCORE_BATCH][known] = _ranks(
                scores[torch.from_numpy(known)], torch.from_numpy(wanted[known])
            )
        return ndcg(ranks, 10)

    # answering -----------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise not_trained(self)

    def _prepare(self) -> None:
        """Precompute the item tower of the whole catalog (after fit, load, add_items)."""
        with _torch_threads(self.threads), torch.inference_mode():
            table = self.network_.item_table()
            self._table = table
            self._matrix = F.normalize(table[1:], dim=-1)
        self.item_matrix_ = self._matrix.numpy()

    def user_vectors(self, histories: Sequence[History]) -> NDArray[np.float32]:
        """User-tower output (unit rows) of each history; zeros where no item is known."""
        self._check_fitted()
        out = np.zeros((len(histories), self.dim), dtype=np.float32)
        with _torch_threads(1 if len(histories) <= _ONE_THREAD_USERS else self.threads), torch.inference_mode():
            for start in range(0, len(histories), _SCORE_BATCH):
                items, types, ts = self._encode_histories(histories[start : start + _SCORE_BATCH])
                vectors = self.network_.encode(items, types, ts, self._table)[:, -1]
                known = (items[:, -1] > 0).numpy()
                out[start : start + items.shape[0]][known] = vectors.numpy()[known]
        return out

    def score_full(self, histories: Sequence[History]) -> NDArray[np.float32]:
        """Cosine of every catalog item (columns in ``item_ids_`` order) with each history's
        user vector; a history with no known item gets a row of zeros."""
        vectors = self.user_vectors(histories)
        return vectors @ self.item_matrix_.T

    def _encode_histories(self, histories: Sequence[History]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Right-aligned (items, types, ts) matrices of the last `max_len` known events."""
        width = 1
        rows: list[tuple[list[int], list[int], list[int]]] = []
        lookup = self.item_ids_.get
        other = len(_TYPES) - 1
        for history in histories:
            items, types, stamps = [], [], []
            for event in sorted(history, key=lambda e: e.ts):
                index = lookup(event.item_id)
                if index is None:
                    continue
                items.append(index + 1)
                types.append(_TYPE_INDEX.get(str(event.event_type), other))
                stamps.append(int(event.ts))
            rows.append((items[-self.max_len :], types[-self.max_len :], stamps[-self.max_len :]))
            width = max(width, len(rows[-1][0]))
        matrices = np.zeros((3, len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            n = len(row[0])
            if n:
                matrices[:, r, width - n :] = np.asarray(row, dtype=np.int64)
        return tuple(torch.from_numpy(m) for m in matrices)  # type: ignore[return-value]

    def recommend(
        self,
        histories: Sequence[History],
        *,
        k: int = 10,
        exclude: Collection[str] | Sequence[Collection[str]] = (),
        exclude_seen: bool = True,
    ) -> list[list[Scored]]:
        """The `k` items of the whole catalog nearest each history's user vector.
        `exclude` is one collection for every user or one per history. Histories with no
        known item get [] (the engine falls back to popularity).

        ``because`` names the history item that, read alone by the user tower, scores the
        recommended item highest: the past event the model links the item to.
        """
        self._check_fitted()
        k = check_k(k)
        histories = list(histories)
        per_user = per_user_excludes(exclude, len(histories))
        shared = [] if per_user is not None else [i for i in self.item_ids_.indices(list(exclude)).tolist() if i >= 0]
        labels = self.item_ids_.ids
        answers: list[list[Scored]] = []
        threads = 1 if len(histories) <= _ONE_THREAD_USERS else self.threads
        with _torch_threads(threads), torch.inference_mode():
            for start in range(0, len(histories), _SCORE_BATCH):
                chunk = histories[start : start + _SCORE_BATCH]
                items, types, ts = self._encode_histories(chunk)
                user = self.network_.encode(items, types, ts, self._table)[:, -1]
                scores = user @ self._matrix.T
                known = (items[:, -1] > 0).tolist()
                tops: list[tuple[list[float], list[int]]] = []
                for b, history in enumerate(chunk):
                    if not known[b] or k == 0:
                        tops.append(([], []))
                        continue
                    banned = list(shared)
                    if per_user is not None:
                        banned += self.item_ids_.indices(list(per_user[start + b])).tolist()
                    if exclude_seen:
                        banned += self.item_ids_.indices([e.item_id for e in history]).tolist()
                    row = scores[b]
                    banned_index = torch.tensor([i for i in banned if i >= 0], dtype=torch.int64)
                    if banned_index.numel():
                        row = row.clone()
                        row[banned_index] = -torch.inf
                    top = torch.topk(row, min(k, row.numel()))
                    finite = [(s, i) for s, i in zip(top.values.tolist(), top.indices.tolist()) if s != -math.inf]
                    tops.append(([s for s, _ in finite], [i for _, i in finite]))
                answers += self._explain(chunk, items, types, tops, labels)
        return answers

    def _explain(
        self,
        histories: Sequence[History],
        items: torch.Tensor,
        types: torch.Tensor,
        tops: list[tuple[list[float], list[int]]],
        labels: list[str],
    ) -> list[list[Scored]]:
        """Scored answers with ``because``: per user, each distinct history item (with its
        newest event type) is run through the user tower alone; the one whose vector is
        nearest the recommended item is named."""
        singles: dict[tuple[int, int], int] = {}
        per_user: list[list[tuple[int, int]]] = []
        items_l, types_l = items.tolist(), types.tolist()
        for b, (_, chosen) in enumerate(tops):
            newest: dict[int, int] = {}
            if chosen:
                for item, kind in zip(items_l[b], types_l[b]):
                    if item > 0:
                        newest.pop(item, None)
                        newest[item] = kind
            pairs = list(newest.items())
            per_user.append(pairs)
            for pair in pairs:
                singles.setdefault(pair, len(singles))
        if singles:
            keys = list(singles)
            single_items = torch.tensor([[i] for i, _ in keys], dtype=torch.int64)
            single_types = torch.tensor([[t] for _, t in keys], dtype=torch.int64)
            single_vectors = self.network_.encode(
                single_items, single_types, torch.zeros_like(single_items), self._table
            )[:, -1]
        answers: list[list[Scored]] = []
        for b, (scores, chosen) in enumerate(tops):
            if not chosen:
                answers.append([])
                continue
            pairs = per_user[b]
            vectors = single_vectors[torch.tensor([singles[p] for p in pairs], dtype=torch.int64)]
            closeness = self._matrix[torch.tensor(chosen, dtype=torch.int64)] @ vectors.T
            nearest = closeness.argmax(dim=1).tolist()
            answer = []
            for score, index, near in zip(scores, chosen, nearest):
                item, kind = pairs[near]
                name = labels[item - 1]
                verb = _VERBS.get(_TYPES[kind], "chose")
                answer.append(
                    Scored(item_id=labels[index], score=float(score), reason=f"because you {verb} '{name}'",
                           because=(name,))
                )
            answers.append(answer)
        return answers

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
        ids, matrix = _text_input(item_text_vectors)
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
        """``twotower.npz`` (item ids), ``twotower.pt`` (torch weights, loaded with
        ``weights_only``) and, written last, ``twotower.json`` (parameters) in `directory`.
        Each file is written under a temporary name and renamed into place."""
        self._check_fitted()
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "params": self.get_params(),
            "text_dim": self.network_.text_dim,
            "n_items": len(self.item_ids_),
            "event_types": list(_TYPES),
            "best_epoch": self.best_epoch_,
            "best_validation_ndcg10": self.best_validation_ndcg10_,
            "history": [asdict(log) for log in self.history_],
        }
        with _replacing(path / f"{_NAME}.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, item_ids=self.item_ids_.to_numpy(), warm=self.warm_)
        with _replacing(path / f"{_NAME}.pt") as tmp:
            torch.save(self.network_.state_dict(), tmp)
        with _replacing(path / f"{_NAME}.json") as tmp:
            tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        path = Path(directory)
        try:
            meta = json.loads((path / f"{_NAME}.json").read_text())
            with np.load(path / f"{_NAME}.npz", allow_pickle=False) as arrays:
                item_ids, warm = arrays["item_ids"].tolist(), arrays["warm"]
            state = torch.load(path / f"{_NAME}.pt", weights_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise NotTrained(
                f"cannot read the {_NAME} model in {path}: {exc}", hint="retrain with `cartwise train`"
            ) from None
        if meta.get("format") != FORMAT or meta.get("event_types") != list(_TYPES):
            raise NotTrained(
                f"the {_NAME} model in {path} has format {meta.get('format')}, this Cartwise reads {FORMAT}",
                hint="retrain with `cartwise train`",
            )
        model = cls(**meta["params"])
        model.item_ids_ = IdMap(item_ids)
        model.warm_ = warm.astype(bool)
        network = _Network(
            n_items=int(meta["n_items"]), dim=model.dim, heads=model.heads, dropout=model.dropout,
            max_len=model.max_len, text_dim=int(meta["text_dim"]),
            use_event_type=model.use_event_type, use_recency=model.use_recency,
        )
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            raise NotTrained(f"the {_NAME} model in {path} does not match its parameters: {exc}",
                             hint="retrain with `cartwise train`") from None
        network.eval()
        model.network_ = network
        model.best_epoch_ = int(meta["best_epoch"])
        model.best_validation_ndcg10_ = meta["best_validation_ndcg10"]
        model.history_ = [EpochLog(**log) for log in meta["history"]]
        model._prepare()
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


# the network -----------------------------------------------------------------------------


class _Network(nn.Module):
    """Item table (ID embedding + projected text), shared by the item tower and the user
    tower's input, and the user tower: one causal attention layer with step and age
    biases, then a feed-forward layer. Row 0 of the item table is padding; ``id_keep``
    zeroes the ID embedding of items never seen in training (their text speaks for them).
    """

    def __init__(
        self, *, n_items: int, dim: int, heads: int, dropout: float, max_len: int, text_dim: int,
        use_event_type: bool, use_recency: bool,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.heads = heads
        self.dropout = dropout
        self.text_dim = text_dim
        self.item_id = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.register_buffer("id_keep", torch.cat([torch.zeros(1), torch.ones(n_items)]))
        if text_dim:
            self.register_buffer("text", torch.zeros(n_items + 1, text_dim))
            self.text_proj = nn.Linear(text_dim, dim, bias=False)
        self.event_type = nn.Embedding(len(_TYPES), dim, padding_idx=0) if use_event_type else None
        self.steps_bias = nn.Embedding(max_len, 1)
        self.age_bias = nn.Embedding(_AGE_BUCKETS, 1) if use_recency else None
        self.input_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.output_norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)
        for name, parameter in self.named_parameters():
            if parameter.dim() > 1 and name != "text_proj.weight" and not name.endswith("_bias.weight"):
                nn.init.normal_(parameter, std=0.02)
            elif name.endswith(".bias") and "norm" not in name:
                # A random output bias would point every user the same way at the start.
                nn.init.zeros_(parameter)
        with torch.no_grad():
            self.steps_bias.weight.zero_()
            if self.age_bias is not None:
                self.age_bias.weight.zero_()
            for embedding in (self.item_id, self.event_type):
                if embedding is not None:
                    embedding.weight[0].zero_()

    def item_table(self, keep: torch.Tensor | None = None) -> torch.Tensor:
        table = self.item_id.weight * (self.id_keep if keep is None else keep)[:, None]
        if self.text_dim:
            table = table + self.text_proj(self.text)
        return table

    def encode(self, items: torch.Tensor, types: torch.Tensor, ts: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Unit user vectors after each position of right-aligned sequences (0 pads the left):
        position t reads the valid events 0..t."""
        b, m = items.shape
        x = table[items]
        if self.event_type is not None:
            x = x + self.event_type(types)
        x = self.drop(self.input_norm(x))
        valid = items > 0
        eye = torch.eye(m, dtype=torch.bool)
        allowed = torch.ones(m, m, dtype=torch.bool).tril() & (valid[:, None, :] | eye)
        positions = torch.arange(m)
        steps = (positions[:, None] - positions[None, :]).clamp(0, self.max_len - 1)
        bias = self.steps_bias.weight[steps, 0][None].expand(b, m, m)
        if self.age_bias is not None:
            age_s = (ts[:, :, None] - ts[:, None, :]).clamp(min=0).double() / 1000.0
            bucket = torch.floor(torch.log2(1.0 + age_s)).long().clamp(0, _AGE_BUCKETS - 1)
            bias = bias + self.age_bias.weight[bucket, 0]
        mask = bias.masked_fill(~allowed, -math.inf)[:, None]
        d = x.shape[-1]
        q, k, v = self.qkv(x).view(b, m, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
        )
        h = x + self.drop(self.attn_out(attended.transpose(1, 2).reshape(b, m, d)))
        h = h + self.drop(self.ffn(self.ffn_norm(h)))
        return F.normalize(self.output(self.output_norm(h)), dim=-1)

    @torch.no_grad()
    def grow(self, text: torch.Tensor) -> None:
        """Append items known by text only: zero ID embedding, ID switched off."""
        n = text.shape[0]
        weight = torch.cat([self.item_id.weight.data, torch.zeros(n, self.item_id.embedding_dim)])
        self.item_id = nn.Embedding.from_pretrained(weight, freeze=False, padding_idx=0)
        self.id_keep = torch.cat([self.id_keep, torch.zeros(n)])
        self.text = torch.cat([self.text, text.to(self.text.dtype)])


# data preparation ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sequences:
    """Each user's last events, right-aligned in (users x width) matrices; 0 pads."""

    users: pl.Series
    lengths: NDArray[np.int64]
    items: NDArray[np.int64]
    types: NDArray[np.int64]
    ts: NDArray[np.int64]

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
            torch.from_numpy(self.ts[rows, cols]),
        )

    def targets(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """Every event of these rows that some earlier event predicts (0 elsewhere)."""
        width = self.items.shape[1]
        out = self.items[rows].copy()
        first = width - np.minimum(self.lengths[rows], width)
        out[np.arange(rows.size), first] = 0
        return out


def _user_sequences(ordered: pl.DataFrame, item_ids: IdMap, width: int) -> _Sequences:
    """Per-user matrices from events sorted by user then time."""
    item = item_ids.indices(ordered["item_id"]) + 1
    type_index = (
        ordered["event_type"]
        .replace_strict(list(_TYPE_INDEX), list(_TYPE_INDEX.values()), default=len(_TYPES) - 1,
                        return_dtype=pl.Int64)
        .fill_null(len(_TYPES) - 1)
        .to_numpy()
    )
    user_codes = ordered["user_id"].to_numpy()
    n_events = ordered.height
    starts = np.flatnonzero(np.r_[True, user_codes[1:] != user_codes[:-1]]) if n_events else np.zeros(0, np.int64)
    lengths_all = np.diff(np.r_[starts, n_events]).astype(np.int64)
    n_users = starts.size
    lengths = np.minimum(lengths_all, width)
    position = np.arange(n_events) - np.repeat(starts, lengths_all)
    column = position - (np.repeat(lengths_all, lengths_all) - width)
    kept = column >= 0
    row = np.repeat(np.arange(n_users), lengths_all)[kept]
    column = column[kept]
    matrices = np.zeros((3, n_users, width), dtype=np.int64)
    matrices[0, row, column] = item[kept]
    matrices[1, row, column] = type_index[kept]
    matrices[2, row, column] = ordered["ts"].to_numpy()[kept]
    users = pl.Series("user_id", user_codes[starts] if n_users else [], dtype=pl.Utf8)
    return _Sequences(users, lengths, matrices[0], matrices[1], matrices[2])


def _text_input(vectors: TextVectors | None) -> tuple[list[str], NDArray[np.float32] | None]:
    """Ids and L2-normalised float32 rows of a mapping or an ``(ids, matrix)`` pair."""
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
