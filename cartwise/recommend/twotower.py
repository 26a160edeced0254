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

import math
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from cartwise.recommend.base import History, Scored, TextVectors, check_k
from cartwise.recommend.neural import EpochLog, NeuralRecommender
from cartwise.recommend.neural.data import MIN_USERS, SCORE_BATCH, TYPES, Sequences
from cartwise.recommend.neural.serving import (
    Exclusions,
    answering,
    torch_threads,
    user_states,
)
from cartwise.recommend.neural.table import ItemTable
from cartwise.recommend.neural.training import BatchLoss
from cartwise.vectors import VectorIndex

__all__ = ["FORMAT", "MIN_USERS", "TextVectors", "TwoTowerRecommender"]

FORMAT = 1
# Age of an event before the newest one: bucket floor(log2(1 + seconds)), 2**31 s is 68 years.
_AGE_BUCKETS = 32
# Most (history, next item) pairs per batch: bounds the pairs x candidates logit matrix.
_MAX_PAIRS = 4096
_VERBS = {"purchase": "bought", "add_to_cart": "added to your cart", "rating": "rated", "click": "clicked on",
          "view": "viewed"}


class TwoTowerRecommender(NeuralRecommender):
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
    checkpoint_dir:
        Save the training state there after every epoch; a fit of the same data and
        parameters that finds a checkpoint resumes from it (after a crash or Ctrl-C).
        Removed when the fit completes.

    Learned state: ``item_ids_`` (:class:`IdMap`), ``warm_`` (bool per item: seen in
    training), ``item_matrix_`` (item tower, float32, one unit row per item),
    ``network_``, ``history_``, ``best_epoch_``, ``best_validation_ndcg10_``.

    ``fit``, ``add_items``, ``save`` and ``load`` are :class:`NeuralRecommender`'s; files
    are ``twotower.npz``, ``twotower.pt`` and ``twotower.json``.
    """

    _NAME = "twotower"
    _FORMAT = FORMAT
    _INTEGERS = ("max_len", "dim", "heads", "epochs", "batch_size", "patience")
    _POSITIVE = ("lr", "temperature")
    _TIME_CHECKED = "batch"
    _NEEDS = "2 or more item events"

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
        checkpoint_dir: str | Path | None = None,
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
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)

    # training ------------------------------------------------------------------------

    def _new_network(self, n_items: int, text_dim: int) -> _Network:
        return _Network(
            n_items=n_items, dim=self.dim, heads=self.heads, dropout=self.dropout, max_len=self.max_len,
            text_dim=text_dim, use_event_type=self.use_event_type, use_recency=self.use_recency,
        )

    def _batch_loss(self, sequences: Sequences) -> BatchLoss:
        """In-batch sampled softmax over at most `_MAX_PAIRS` sampled pairs of a batch."""
        # How often each item is a training target: the sampling distribution of the
        # in-batch candidates, whose log the logQ correction subtracts.
        counts = np.bincount(sequences.targets(sequences.trainable()).ravel(), minlength=len(self.item_ids_) + 1)[1:]
        share = torch.from_numpy(counts / max(counts.sum(), 1))

        def loss(users: torch.Tensor, wanted: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, int]:
            if wanted.numel() > _MAX_PAIRS:
                pick = torch.randperm(wanted.numel())[:_MAX_PAIRS]
                users, wanted = users[pick], wanted[pick]
            return self._sampled_softmax(users, wanted, table, share), int(wanted.numel())

        return loss

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

    # answering -----------------------------------------------------------------------

    def _prepare(self) -> None:
        """Precompute the item tower of the whole catalog (after fit, load, add_items)."""
        with torch_threads(self.threads), torch.inference_mode():
            table = self.network_.item_table()
            self._table = table
            self._matrix = self.network_.item_vectors(table)
        self.item_matrix_ = self._matrix.numpy()
        # Answers come from a vector index searched exactly: an HNSW graph would have to be
        # rebuilt (seconds at 40k items) at every load and every item added by text.
        self._index = VectorIndex(backend="exact").add(self.item_ids_.ids, self.item_matrix_)

    def user_vectors(self, histories: Sequence[History]) -> NDArray[np.float32]:
        """User-tower output (unit rows) of each history; zeros where no item is known."""
        self._check_fitted()
        out = np.zeros((len(histories), self.dim), dtype=np.float32)
        with answering(len(histories), self.threads):
            for start, items, _, vectors in user_states(
                self.network_, histories, self.item_ids_, self.max_len, self._table
            ):
                known = (items[:, -1] > 0).numpy()
                out[start : start + items.shape[0]][known] = vectors.numpy()[known]
        return out

    def score_full(self, histories: Sequence[History]) -> NDArray[np.float32]:
        """Cosine of every catalog item (columns in ``item_ids_`` order) with each history's
        user vector; a history with no known item gets a row of zeros."""
        vectors = self.user_vectors(histories)
        return vectors @ self.item_matrix_.T

    def recommend(
        self,
        histories: Sequence[History],
        *,
        k: int = 10,
        exclude: Collection[str] | Sequence[Collection[str]] = (),
        exclude_seen: bool = True,
    ) -> list[list[Scored]]:
        """The `k` items of the whole catalog nearest each history's user vector, found
        through a :class:`~cartwise.vectors.VectorIndex` of the item tower (exact search).
        `exclude` is one collection for every user or one per history. Histories with no
        known item get [] (the engine falls back to popularity).

        ``because`` names the history item that, read alone by the user tower, scores the
        recommended item highest: the past event the model links the item to.
        """
        self._check_fitted()
        k = check_k(k)
        histories = list(histories)
        exclusions = Exclusions(self.item_ids_, exclude, len(histories), exclude_seen)
        labels = self.item_ids_.ids
        answers: list[list[Scored]] = []
        with answering(len(histories), self.threads):
            for start, items, types, user in user_states(
                self.network_, histories, self.item_ids_, self.max_len, self._table
            ):
                chunk = histories[start : start + SCORE_BATCH]
                known = (items[:, -1] > 0).tolist()
                users = user.numpy()
                tops: list[tuple[list[float], list[int]]] = []
                for b, history in enumerate(chunk):
                    if not known[b] or k == 0:
                        tops.append(([], []))
                        continue
                    banned = set(exclusions.banned(start + b, history))
                    found = self._index.search(users[b], k + len(banned))
                    rows = self.item_ids_.indices([i for i in found.ids[0].tolist() if i is not None]).tolist()
                    top = [(float(v), r) for v, r in zip(found.scores[0].tolist(), rows) if r not in banned][:k]
                    tops.append(([v for v, _ in top], [r for _, r in top]))
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
                verb = _VERBS.get(TYPES[kind], "chose")
                answer.append(
                    Scored(item_id=labels[index], score=float(score), reason=f"because you {verb} '{name}'",
                           because=(name,))
                )
            answers.append(answer)
        return answers


# the network -----------------------------------------------------------------------------


class _Network(ItemTable):
    """Item table (ID embedding + projected text), shared by the item tower and the user
    tower's input, and the user tower: one causal attention layer with step and age
    biases, then a feed-forward layer. Row 0 of the item table is padding; ``id_keep``
    zeroes the ID embedding of items never seen in training (their text speaks for them).
    """

    def __init__(
        self, *, n_items: int, dim: int, heads: int, dropout: float, max_len: int, text_dim: int,
        use_event_type: bool, use_recency: bool,
    ) -> None:
        super().__init__(n_items=n_items, dim=dim, text_dim=text_dim)
        self.max_len = max_len
        self.heads = heads
        self.dropout = dropout
        self.event_type = nn.Embedding(len(TYPES), dim, padding_idx=0) if use_event_type else None
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

    def item_vectors(self, table: torch.Tensor) -> torch.Tensor:
        """The item tower: unit rows, so that a score is a cosine."""
        return F.normalize(table[1:], dim=-1)
