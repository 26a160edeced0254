"""SequentialRecommender: a Transformer that reads a shopper's recent events in order.

SASRec-style causal self-attention over the behaviour sequence (Kang & McAuley, 2018),
with the event type and the time since the previous event as extra inputs, trained with
full softmax cross-entropy over the catalog (or gSASRec's gBCE, Petrov & Macdonald, 2023).
Item embeddings can be fused with text vectors, so an item nobody has chosen yet is still
scored from its text.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.metrics import ndcg
from cartwise.events.event import EVENT_TYPES
from cartwise.recommend.base import (
    History,
    IdMap,
    Scored,
    check_k,
    not_trained,
    per_user_excludes,
    require_columns,
)

FORMAT = 1
_NAME = "sequential"
# Fewer users with a next item than this cannot teach a Transformer anything useful.
MIN_USERS = 10
# Index 0 pads sequences; then the known event types; the last index is any other type.
_TYPES: tuple[str, ...] = ("<pad>", *EVENT_TYPES, "<other>")
_TYPE_INDEX = {name: i for i, name in enumerate(_TYPES)}
# Recency input: 0 pads, 1 marks a first event, 2 + floor(log2(1 + gap in seconds)) after
# that, so buckets are a second, minutes, hours, days, months apart; 2**30 s is 34 years.
_RECENCY_BUCKETS = 33
# Users scored per forward pass at answer and validation time (bounds memory).
_SCORE_BATCH = 1024
_ONE_THREAD_USERS = 8
_BECAUSE_MAX = 3


@dataclass(frozen=True, slots=True)
class EpochLog:
    """What one training epoch did, passed to ``on_epoch`` and kept in ``history_``."""

    epoch: int
    epochs: int
    loss: float
    validation_ndcg10: float | None
    seconds: float
    best_epoch: int


class SequentialRecommender:
    """Next-item recommender: a causal Transformer over each shopper's event sequence.

    Parameters
    ----------
    max_len:
        Most recent events read per shopper (training keeps each user's last ``max_len + 1``).
    dim, layers, heads, dropout:
        Width, depth, attention heads and dropout rate of the Transformer.
    epochs, batch_size, lr, weight_decay:
        AdamW training schedule: at most `epochs` passes over the users.
    loss:
        ``"softmax"``: cross-entropy over the full catalog at every position (the
        strongest SASRec objective in recent re-evaluations). ``"gbce"``: gSASRec's
        generalised binary cross-entropy on `negatives` uniform negatives per batch,
        calibrated by `gbce_t`; cheaper for catalogs of millions.
    patience:
        With ``validation`` given to :meth:`fit`, stop after this many epochs without a
        better validation NDCG@10 and keep the best epoch's weights.
    max_seconds:
        Stop training after this much wall time (checked after each epoch).
    seed, threads:
        Fix the seed for identical models run after run on the same machine; `threads`
        sets torch's CPU threads while fitting and scoring (None: torch's setting). On a
        machine shared with other work, start the process with ``OMP_WAIT_POLICY=PASSIVE``
        or use one thread: spinning OpenMP threads made epochs 4x slower in our runs.
    item_text_vectors:
        Optional ``item_id -> vector`` from a text encoder. Vectors are L2-normalised,
        projected to `dim` and added to the learned ID embedding. Items with a vector but
        no training events join the catalog scored by text alone; during training each
        item's ID embedding is dropped with probability `id_dropout`, so that the text
        path alone learns to predict.
    on_epoch:
        Called with an :class:`EpochLog` after each epoch (progress bars, logging).

    Learned state: ``item_ids_`` (:class:`IdMap`, the catalog), ``warm_`` (bool per item:
    seen in training), ``network_`` (the torch module), ``history_`` (list of
    :class:`EpochLog`), ``best_epoch_``, ``best_validation_ndcg10_``.
    """

    def __init__(
        self,
        *,
        max_len: int = 50,
        dim: int = 64,
        layers: int = 2,
        heads: int = 2,
        dropout: float = 0.2,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        loss: Literal["softmax", "gbce"] = "softmax",
        negatives: int = 256,
        gbce_t: float = 0.75,
        patience: int = 10,
        max_seconds: float | None = None,
        seed: int = 0,
        threads: int | None = None,
        item_text_vectors: Mapping[str, NDArray[np.floating[Any]]] | None = None,
        id_dropout: float = 0.1,
        use_event_type: bool = True,
        use_recency: bool = True,
        on_epoch: Callable[[EpochLog], None] | None = None,
    ) -> None:
        self.max_len = max_len
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.negatives = negatives
        self.gbce_t = gbce_t
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
        """Plain-JSON parameters (text vectors and the callback are not parameters to save)."""
        return {
            name: getattr(self, name)
            for name in (
                "max_len", "dim", "layers", "heads", "dropout", "epochs", "batch_size", "lr", "weight_decay",
                "loss", "negatives", "gbce_t", "patience", "max_seconds", "seed", "threads", "id_dropout",
                "use_event_type", "use_recency",
            )
        }

    def __repr__(self) -> str:
        return "SequentialRecommender(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def _check_params(self) -> None:
        for name in ("max_len", "dim", "layers", "heads", "epochs", "batch_size", "negatives", "patience"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{name} must be an integer >= 1, got {value!r}", field=name)
        if self.dim % self.heads:
            raise ValidationError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})", field="heads")
        for name in ("dropout", "id_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValidationError(f"{name} must be in [0, 1), got {value!r}", field=name)
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ValidationError(f"lr must be a finite number > 0, got {self.lr!r}", field="lr")
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise ValidationError(f"weight_decay must be >= 0, got {self.weight_decay!r}", field="weight_decay")
        if self.loss not in ("softmax", "gbce"):
            raise ValidationError(f"loss must be 'softmax' or 'gbce', got {self.loss!r}", field="loss")
        if not 0 <= self.gbce_t <= 1:
            raise ValidationError(f"gbce_t must be in [0, 1], got {self.gbce_t!r}", field="gbce_t")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValidationError(f"threads must be None or an integer >= 1, got {self.threads!r}", field="threads")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValidationError(f"max_seconds must be None or > 0, got {self.max_seconds!r}", field="max_seconds")

    # training ------------------------------------------------------------------------

    def fit(self, events: pl.DataFrame, *, validation: pl.DataFrame | None = None) -> Self:
        """Learn from `events` (``user_id, item_id, event_type, ts``; each user's events in
        ``ts`` order, ties in row order).

        `validation` holds one or more ``user_id, item_id`` rows: the item each user chose
        after their events in `events` (as :func:`cartwise.evaluate.splits.leave_last_out`
        returns). With it, every epoch is scored by NDCG@10 over the full catalog, training
        stops after `patience` epochs without improvement, and the best epoch is kept.
        """
        self._check_params()
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
        text_ids, text_matrix = _text_matrix(self.item_text_vectors)
        item_ids = IdMap(sorted(set(ordered["item_id"].unique().to_list()) | set(text_ids)))
        warm = np.zeros(len(item_ids), dtype=bool)
        warm[item_ids.indices(ordered["item_id"].unique())] = True

        sequences = _user_sequences(ordered, item_ids, self.max_len + 1)
        trainable = int((sequences.lengths >= 2).sum())
        if trainable < MIN_USERS:
            raise ValidationError(
                f"SequentialRecommender needs at least {MIN_USERS} users with 2 or more events to learn "
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
                n_items=len(item_ids), dim=self.dim, layers=self.layers, heads=self.heads, dropout=self.dropout,
                max_len=self.max_len, text_dim=0 if text_matrix is None else text_matrix.shape[1],
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
        self.network_.eval()
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
        rows = joined["_row"].to_numpy().astype(np.int64)
        targets = self.item_ids_.indices(joined["item_id"])
        if rows.size == 0:
            raise ValidationError(
                "no validation user has events in the training frame, so validation cannot score anything",
                field="validation",
                hint="validation rows need user_ids that also occur in events (see leave_last_out)",
            )
        return rows, targets

    def _train(self, sequences: _Sequences, checks: tuple[NDArray[np.int64], NDArray[np.int64]] | None) -> None:
        network = self.network_
        optimizer = torch.optim.AdamW(network.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        rng = np.random.default_rng(self.seed)
        users = np.flatnonzero(sequences.lengths >= 2)
        text = network.text_dim > 0
        n_items = len(self.item_ids_)
        # Items without training events are never a right answer here, so as softmax
        # negatives they would only learn "never recommend me"; they train nothing.
        warm_rows = torch.from_numpy(np.flatnonzero(self.warm_) + 1)
        warm_position = torch.zeros(n_items + 1, dtype=torch.int64)
        warm_position[warm_rows] = torch.arange(warm_rows.numel())
        best_state: dict[str, torch.Tensor] | None = None
        best_score, stale, started = -1.0, 0, time.perf_counter()
        for epoch in range(1, self.epochs + 1):
            began = time.perf_counter()
            network.train()
            total, count = 0.0, 0
            for batch in _batches(users, sequences.lengths, self.batch_size, rng):
                items, types, recency = sequences.window(batch, inputs=True)
                targets = sequences.window(batch, inputs=False)[0]
                keep = (targets > 0) & (items > 0)
                if text and self.id_dropout > 0:
                    drop = torch.rand(n_items + 1) < self.id_dropout
                    table = network.item_table(network.id_keep * (~drop).float())
                else:
                    table = network.item_table()
                hidden = network.encode(items, types, recency, table)[keep]
                wanted = targets[keep]
                if self.loss == "softmax":
                    loss = F.cross_entropy(hidden @ table[warm_rows].T, warm_position[wanted])
                else:
                    loss = self._gbce(hidden, wanted, table, warm_rows)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * int(wanted.numel())
                count += int(wanted.numel())

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
            if stale >= self.patience:
                break
            if self.max_seconds is not None and time.perf_counter() - started > self.max_seconds:
                break
        if best_state is not None:
            network.load_state_dict(best_state)
            self.best_validation_ndcg10_ = best_score

    def _gbce(
        self, hidden: torch.Tensor, wanted: torch.Tensor, table: torch.Tensor, warm_rows: torch.Tensor
    ) -> torch.Tensor:
        """gSASRec's gBCE: BCE with the positive's probability raised to beta, which undoes
        the overconfidence that sampling few negatives causes (Petrov & Macdonald, 2023).
        One set of uniform negatives is shared by the batch."""
        n_items = warm_rows.numel()
        k = min(self.negatives, max(n_items - 1, 1))
        negatives = warm_rows[torch.randint(0, n_items, (k,))]
        positive = (hidden * table[wanted]).sum(-1)
        negative = hidden @ table[negatives].T
        alpha = k / max(n_items - 1, 1)
        beta = alpha * (self.gbce_t * (1 - 1 / alpha) + 1 / alpha)
        clash = negatives[None, :] == wanted[:, None]
        negative_loss = (F.softplus(negative) * (~clash)).sum(-1)
        return (-beta * F.logsigmoid(positive) + negative_loss).mean()

    @torch.no_grad()
    def _validation_ndcg(self, sequences: _Sequences, rows: NDArray[np.int64], targets: NDArray[np.int64]) -> float:
        ranks = np.full(rows.size, -1, dtype=np.int64)
        table = self.network_.item_table()
        for start in range(0, rows.size, _SCORE_BATCH):
            chunk = rows[start : start + _SCORE_BATCH]
            items, types, recency = sequences.window(chunk, inputs=None)
            scores = self.network_.encode(items, types, recency, table)[:, -1] @ table[1:].T
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

    def score_full(self, histories: Sequence[History]) -> NDArray[np.float32]:
        """Score of every catalog item (columns in ``item_ids_`` order) for each history.

        Events on items outside the catalog are skipped; a history with no known item
        gets a row of zeros.
        """
        self._check_fitted()
        out = np.zeros((len(histories), len(self.item_ids_)), dtype=np.float32)
        for start, scores, known in self._score_batches(histories):
            out[start : start + scores.shape[0]][known.numpy()] = scores[known].numpy()
        return out

    def _score_batches(self, histories: Sequence[History]) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        network = self.network_
        # A few users are too little work to split: handing it to a second thread costs
        # more than it saves, and on a busy machine it waits for a core (p99 latency).
        threads = 1 if len(histories) <= _ONE_THREAD_USERS else self.threads
        with _torch_threads(threads), torch.inference_mode():
            table = network.item_table()
            for start in range(0, len(histories), _SCORE_BATCH):
                items, types, recency = self._encode_histories(histories[start : start + _SCORE_BATCH])
                scores = network.encode(items, types, recency, table)[:, -1] @ table[1:].T
                yield start, scores, items[:, -1] > 0

    def _encode_histories(self, histories: Sequence[History]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Right-aligned (items, types, recency) matrices of the last `max_len` known events."""
        width = 1
        rows: list[tuple[list[int], list[int], list[int]]] = []
        lookup = self.item_ids_.get
        for history in histories:
            events = sorted(history, key=lambda e: e.ts)
            items, types, recency = [], [], []
            previous: int | None = None
            for event in events:
                index = lookup(event.item_id)
                if index is None:
                    continue
                items.append(index + 1)
                types.append(_TYPE_INDEX.get(str(event.event_type), len(_TYPES) - 1))
                recency.append(1 if previous is None else _recency_bucket(event.ts - previous))
                previous = event.ts
            rows.append((items[-self.max_len :], types[-self.max_len :], recency[-self.max_len :]))
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
        """The `k` best next items over the whole catalog for each history (a user's
        recent events). `exclude` is one collection for every user or one per history.
        Histories with no known item get [] (the engine falls back to popularity)."""
        self._check_fitted()
        k = check_k(k)
        per_user = per_user_excludes(exclude, len(histories))
        shared = [] if per_user is not None else self.item_ids_.indices(list(exclude)).tolist()
        labels = self.item_ids_.ids
        answers: list[list[Scored]] = []
        for start, scores, known in self._score_batches(histories):
            n = scores.shape[0]
            for b in range(n):
                history = histories[start + b]
                if not known[b] or k == 0:
                    answers.append([])
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
                because = _recent_items(history, self.item_ids_)
                reason = "follows on from what you did recently" + (
                    f", last '{because[0]}'" if because else ""
                )
                answers.append(
                    [
                        Scored(item_id=labels[i], score=float(s), reason=reason, because=because)
                        for s, i in zip(top.values.tolist(), top.indices.tolist())
                        if s != -math.inf
                    ]
                )
        return answers

    def add_items(self, item_text_vectors: Mapping[str, NDArray[np.floating[Any]]]) -> list[str]:
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
        fresh = {item: vector for item, vector in item_text_vectors.items() if item not in self.item_ids_}
        ids, matrix = _text_matrix(fresh)
        if not ids or matrix is None:
            return []
        if matrix.shape[1] != network.text_dim:
            raise ValidationError(
                f"text vectors have {matrix.shape[1]} dimensions, the model was trained on {network.text_dim}",
                field="item_text_vectors",
            )
        self.item_ids_.add(ids)
        network.grow(torch.from_numpy(matrix))
        self.warm_ = np.concatenate([self.warm_, np.zeros(len(ids), dtype=bool)])
        return ids

    # persistence ---------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        """``sequential.json`` (parameters), ``sequential.npz`` (item ids) and
        ``sequential.pt`` (torch weights, loaded with ``weights_only``) in `directory`."""
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
        np.savez(path / f"{_NAME}.npz", item_ids=self.item_ids_.to_numpy(), warm=self.warm_)
        torch.save(self.network_.state_dict(), path / f"{_NAME}.pt")
        (path / f"{_NAME}.json").write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        path = Path(directory)
        try:
            meta = json.loads((path / f"{_NAME}.json").read_text())
            with np.load(path / f"{_NAME}.npz", allow_pickle=False) as arrays:
                item_ids, warm = arrays["item_ids"].tolist(), arrays["warm"]
            state = torch.load(path / f"{_NAME}.pt", weights_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise NotTrained(f"cannot read the {_NAME} model in {path}: {exc}", hint="retrain with `cartwise train`")
        if meta.get("format") != FORMAT or meta.get("event_types") != list(_TYPES):
            raise NotTrained(
                f"the {_NAME} model in {path} has format {meta.get('format')}, this Cartwise reads {FORMAT}",
                hint="retrain with `cartwise train`",
            )
        model = cls(**meta["params"])
        model.item_ids_ = IdMap(item_ids)
        model.warm_ = warm.astype(bool)
        network = _Network(
            n_items=int(meta["n_items"]), dim=model.dim, layers=model.layers, heads=model.heads,
            dropout=model.dropout, max_len=model.max_len, text_dim=int(meta["text_dim"]),
            use_event_type=model.use_event_type, use_recency=model.use_recency,
        )
        network.load_state_dict(state)
        network.eval()
        model.network_ = network
        model.best_epoch_ = int(meta["best_epoch"])
        model.best_validation_ndcg10_ = meta["best_validation_ndcg10"]
        model.history_ = [EpochLog(**log) for log in meta["history"]]
        return model


# the network -----------------------------------------------------------------------------


class _Block(nn.Module):
    """Pre-norm Transformer layer: causal multi-head attention, then a GELU feed-forward."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, m, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, m, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        x = x + self.drop(self.out(attended.transpose(1, 2).reshape(b, m, d)))
        return x + self.drop(self.ffn(self.norm2(x)))


class _Network(nn.Module):
    """Item table (ID embedding + projected text) and the causal sequence encoder.

    Row 0 of every item table is padding. ``id_keep`` zeroes the ID embedding of items
    never seen in training: their ID row only ever received "not this one" gradients
    from the softmax, so it would bury them; their text speaks for them instead.
    """

    def __init__(
        self, *, n_items: int, dim: int, layers: int, heads: int, dropout: float, max_len: int,
        text_dim: int, use_event_type: bool, use_recency: bool,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.text_dim = text_dim
        self.item_id = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.register_buffer("id_keep", torch.cat([torch.zeros(1), torch.ones(n_items)]))
        if text_dim:
            self.register_buffer("text", torch.zeros(n_items + 1, text_dim))
            self.text_proj = nn.Linear(text_dim, dim, bias=False)
        self.position = nn.Embedding(max_len, dim)
        self.event_type = nn.Embedding(len(_TYPES), dim, padding_idx=0) if use_event_type else None
        self.recency = nn.Embedding(_RECENCY_BUCKETS + 1, dim, padding_idx=0) if use_recency else None
        self.input_norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout) for _ in range(layers))
        self.output_norm = nn.LayerNorm(dim)
        for name, parameter in self.named_parameters():
            if parameter.dim() > 1 and name != "text_proj.weight":
                nn.init.normal_(parameter, std=0.02)
        with torch.no_grad():
            for embedding in (self.item_id, self.event_type, self.recency):
                if embedding is not None:
                    embedding.weight[0].zero_()

    def item_table(self, keep: torch.Tensor | None = None) -> torch.Tensor:
        table = self.item_id.weight * (self.id_keep if keep is None else keep)[:, None]
        if self.text_dim:
            table = table + self.text_proj(self.text)
        return table

    def encode(
        self, items: torch.Tensor, types: torch.Tensor, recency: torch.Tensor, table: torch.Tensor
    ) -> torch.Tensor:
        """Hidden state after each position of right-aligned sequences (0 pads the left)."""
        b, m = items.shape
        x = table[items] + self.position.weight[self.max_len - m :][None]
        if self.event_type is not None:
            x = x + self.event_type(types)
        if self.recency is not None:
            x = x + self.recency(recency)
        x = self.drop(self.input_norm(x))
        valid = items > 0
        # A position sees itself and the valid positions before it; a padding position
        # sees only itself, so no attention row is empty (which would give NaN).
        eye = torch.eye(m, dtype=torch.bool)
        mask = (torch.ones(m, m, dtype=torch.bool).tril() & (valid[:, None, :] | eye))[:, None]
        for block in self.blocks:
            x = block(x, mask)
        return self.output_norm(x)

    @torch.no_grad()
    def grow(self, text: torch.Tensor) -> None:
        """Append items known by text only: zero ID embedding, ID switched off."""
        n = text.shape[0]
        dim = self.item_id.embedding_dim
        weight = torch.cat([self.item_id.weight.data, torch.zeros(n, dim)])
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
    recency: NDArray[np.int64]

    def window(
        self, rows: NDArray[np.int64], *, inputs: bool | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs (all but the last event), targets (all but the first) or, with
        ``inputs=None``, the newest `width - 1` events, cut to the longest row given."""
        width = self.items.shape[1]
        m = max(int(self.lengths[rows].max()) - (1 if inputs is not None else 0), 1)
        m = min(m, width - 1)
        if inputs is None or not inputs:
            cols = slice(width - m, width)
        else:
            cols = slice(width - m - 1, width - 1)
        return (
            torch.from_numpy(self.items[rows, cols]),
            torch.from_numpy(self.types[rows, cols]),
            torch.from_numpy(self.recency[rows, cols]),
        )


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
    starts = np.flatnonzero(np.r_[True, user_codes[1:] != user_codes[:-1]]) if ordered.height else np.zeros(0, int)
    lengths_all = np.diff(np.r_[starts, ordered.height]).astype(np.int64)
    ts = ordered["ts"].to_numpy()
    first = np.zeros(ordered.height, dtype=bool)
    first[starts] = True
    gaps = np.diff(ts, prepend=ts[:1] if ts.size else ts)
    recency = np.where(first, 1, _recency_buckets(gaps))

    n_users = starts.size
    lengths = np.minimum(lengths_all, width)
    # Position of each kept event in its user's right-aligned row.
    position = np.arange(ordered.height) - np.repeat(starts, lengths_all)
    column = position - (np.repeat(lengths_all, lengths_all) - width)
    kept = column >= 0
    row = np.repeat(np.arange(n_users), lengths_all)[kept]
    column = column[kept]
    matrices = np.zeros((3, n_users, width), dtype=np.int64)
    matrices[0, row, column] = item[kept]
    matrices[1, row, column] = type_index[kept]
    matrices[2, row, column] = recency[kept]
    users = pl.Series("user_id", user_codes[starts] if n_users else [], dtype=pl.Utf8)
    return _Sequences(users, lengths, matrices[0], matrices[1], matrices[2])


def _recency_buckets(gaps_ms: NDArray[np.int64]) -> NDArray[np.int64]:
    seconds = np.maximum(gaps_ms, 0) / 1000.0
    return np.minimum(2 + np.floor(np.log2(1.0 + seconds)).astype(np.int64), _RECENCY_BUCKETS)


def _recency_bucket(gap_ms: int) -> int:
    return min(2 + int(math.log2(1.0 + max(gap_ms, 0) / 1000.0)), _RECENCY_BUCKETS)


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


def _text_matrix(
    vectors: Mapping[str, NDArray[np.floating[Any]]] | None,
) -> tuple[list[str], NDArray[np.float32] | None]:
    """Ids and L2-normalised float32 rows of a text-vector mapping (checked)."""
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


def _recent_items(history: History, item_ids: IdMap) -> tuple[str, ...]:
    """The newest distinct known items of a history, newest first."""
    out: list[str] = []
    for event in sorted(history, key=lambda e: e.ts, reverse=True):
        if event.item_id in item_ids and event.item_id not in out:
            out.append(event.item_id)
            if len(out) == _BECAUSE_MAX:
                break
    return tuple(out)




@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
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
