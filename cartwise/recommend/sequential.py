"""SequentialRecommender: a Transformer that reads a shopper's recent events in order.

SASRec-style causal self-attention over the behaviour sequence (Kang & McAuley, 2018),
with the event type and the time since the previous event as extra inputs, trained with
full softmax cross-entropy over the catalog (or gSASRec's gBCE, Petrov & Macdonald, 2023).
Item embeddings can be fused with text vectors, so an item nobody has chosen yet is still
scored from its text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from cartwise.errors import ValidationError
from cartwise.recommend.base import History, IdMap, Scored, check_k
from cartwise.recommend.neural import EpochLog, NeuralRecommender
from cartwise.recommend.neural.data import MIN_USERS, TYPES, EventTimes, Sequences
from cartwise.recommend.neural.serving import Exclusions, answering, user_states
from cartwise.recommend.neural.table import ItemTable
from cartwise.recommend.neural.training import BatchLoss

__all__ = ["FORMAT", "MIN_USERS", "EpochLog", "SequentialRecommender"]

FORMAT = 1
# Recency input: 0 pads, 1 marks a first event, 2 + floor(log2(1 + gap in seconds)) after
# that, so buckets are a second, minutes, hours, days, months apart; 2**30 s is 34 years.
_RECENCY_BUCKETS = 33
_BECAUSE_MAX = 3


class SequentialRecommender(NeuralRecommender):
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
    checkpoint_dir:
        Save the training state there after every epoch; a fit of the same data and
        parameters that finds a checkpoint resumes from it (after a crash or Ctrl-C).
        Removed when the fit completes.

    Learned state: ``item_ids_`` (:class:`IdMap`, the catalog), ``warm_`` (bool per item:
    seen in training), ``network_`` (the torch module), ``history_`` (list of
    :class:`EpochLog`), ``best_epoch_``, ``best_validation_ndcg10_``.

    ``fit``, ``add_items``, ``save`` and ``load`` are :class:`NeuralRecommender`'s; files
    are ``sequential.npz``, ``sequential.pt`` and ``sequential.json``.
    """

    _NAME = "sequential"
    _FORMAT = FORMAT
    _INTEGERS = ("max_len", "dim", "layers", "heads", "epochs", "batch_size", "negatives", "patience")

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
        checkpoint_dir: str | Path | None = None,
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
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)

    def _check_params(self) -> None:
        super()._check_params()
        if self.loss not in ("softmax", "gbce"):
            raise ValidationError(f"loss must be 'softmax' or 'gbce', got {self.loss!r}", field="loss")
        if not 0 <= self.gbce_t <= 1:
            raise ValidationError(f"gbce_t must be in [0, 1], got {self.gbce_t!r}", field="gbce_t")

    # training ------------------------------------------------------------------------

    def _training_times(self) -> EventTimes:
        return _recency_inputs

    def _new_network(self, n_items: int, text_dim: int) -> _Network:
        return _Network(
            n_items=n_items, dim=self.dim, layers=self.layers, heads=self.heads, dropout=self.dropout,
            max_len=self.max_len, text_dim=text_dim, use_event_type=self.use_event_type,
            use_recency=self.use_recency,
        )

    def _batch_loss(self, sequences: Sequences) -> BatchLoss:
        """Softmax (or gBCE) over the items seen in training: items without training
        events are never a right answer here, so as negatives they would only learn
        "never recommend me"; they train nothing."""
        warm_rows = torch.from_numpy(np.flatnonzero(self.warm_) + 1)
        warm_position = torch.zeros(len(self.item_ids_) + 1, dtype=torch.int64)
        warm_position[warm_rows] = torch.arange(warm_rows.numel())

        def loss(hidden: torch.Tensor, wanted: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, int]:
            if self.loss == "softmax":
                value = F.cross_entropy(hidden @ table[warm_rows].T, warm_position[wanted])
            else:
                value = self._gbce(hidden, wanted, table, warm_rows)
            return value, int(wanted.numel())

        return loss

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

    # answering -----------------------------------------------------------------------

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
        with answering(len(histories), self.threads):
            table = network.answer_table()
            for start, items, _, hidden in user_states(
                network, histories, self.item_ids_, self.max_len, table, _history_recency
            ):
                yield start, hidden @ network.item_vectors(table).T, items[:, -1] > 0

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
        exclusions = Exclusions(self.item_ids_, exclude, len(histories), exclude_seen)
        labels = self.item_ids_.ids
        answers: list[list[Scored]] = []
        for start, scores, known in self._score_batches(histories):
            n = scores.shape[0]
            for b in range(n):
                history = histories[start + b]
                if not known[b] or k == 0:
                    answers.append([])
                    continue
                top = exclusions.top(scores[b], k, start + b, history)
                because = _recent_items(history, self.item_ids_)
                reason = "follows on from what you did recently" + (
                    f", last '{because[0]}'" if because else ""
                )
                answers.append(
                    [
                        Scored(item_id=labels[i], score=float(s), reason=reason, because=because)
                        for s, i in top
                    ]
                )
        return answers


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


class _Network(ItemTable):
    """Item table (ID embedding + projected text, see :class:`ItemTable`) and the causal
    sequence encoder."""

    def __init__(
        self, *, n_items: int, dim: int, layers: int, heads: int, dropout: float, max_len: int,
        text_dim: int, use_event_type: bool, use_recency: bool,
    ) -> None:
        super().__init__(n_items=n_items, dim=dim, text_dim=text_dim)
        self.max_len = max_len
        self.position = nn.Embedding(max_len, dim)
        self.event_type = nn.Embedding(len(TYPES), dim, padding_idx=0) if use_event_type else None
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

    def encode(
        self, items: torch.Tensor, types: torch.Tensor, recency: torch.Tensor, table: torch.Tensor
    ) -> torch.Tensor:
        """Hidden state after each position of right-aligned sequences (0 pads the left)."""
        _, m = items.shape
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


# time inputs -----------------------------------------------------------------------------


def _recency_inputs(ordered: pl.DataFrame, first: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Recency input of each event (events sorted by user then time, `first` marks each
    user's first event)."""
    ts = ordered["ts"].to_numpy()
    gaps = np.diff(ts, prepend=ts[:1] if ts.size else ts)
    return np.where(first, 1, _recency_buckets(gaps))


def _history_recency(stamps: list[int]) -> list[int]:
    """Recency input of a history's known events from their timestamps, oldest first."""
    if not stamps:
        return []
    return [1, *(_recency_bucket(ts - previous) for previous, ts in itertools.pairwise(stamps))]


def _recency_buckets(gaps_ms: NDArray[np.int64]) -> NDArray[np.int64]:
    seconds = np.maximum(gaps_ms, 0) / 1000.0
    return np.minimum(2 + np.floor(np.log2(1.0 + seconds)).astype(np.int64), _RECENCY_BUCKETS)


def _recency_bucket(gap_ms: int) -> int:
    return min(2 + int(math.log2(1.0 + max(gap_ms, 0) / 1000.0)), _RECENCY_BUCKETS)


def _recent_items(history: History, item_ids: IdMap) -> tuple[str, ...]:
    """The newest distinct known items of a history, newest first."""
    out: list[str] = []
    for event in sorted(history, key=lambda e: e.ts, reverse=True):
        if event.item_id in item_ids and event.item_id not in out:
            out.append(event.item_id)
            if len(out) == _BECAUSE_MAX:
                break
    return tuple(out)
