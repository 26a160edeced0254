"""LightGCN: item embeddings smoothed over the shopper-item graph (He et al., SIGIR 2020).

Shoppers and items are the two sides of one bipartite graph, an edge wherever a shopper
chose an item. Each layer replaces every node's embedding by the degree-normalised sum of
its neighbours' (no weights, no non-linearity); a node's final embedding is the mean of its
layers, and a shopper-item score is their dot product, trained by BPR on sampled negatives.

Answers fold a history in instead of reading a trained shopper row, so a new event or a new
shopper counts at once, as with the other generators: the shopper's vector is the one
whose scores over the final item embeddings best fit their history, by the least squares
of implicit ALS (Hu, Koren and Volinsky, 2008): every item a target of 0 with confidence 1,
the history's items a target of 1 with confidence ``1 + fold_in_alpha x recency``, recency
halving every ``history_half_life_days`` before the history's newest event (as ALS and
item-kNN weigh a history: on Online Retail it lifted NDCG@10 with seen items excluded from
0.042 to 0.051). Summing the history's item layers instead (the graph's own rule for a new
node, its own layer 0 unknown) let the most popular items of a history decide every
answer: 1% HR@10 on the planted pairs of ``tests/recommend`` against 91% for this fold-in,
and NDCG@10 0.058 against 0.072 on Amazon Scientific (seen excluded), from the same trained
model. Early stopping scores the same fold-in (BENCHMARKS.md has the figures).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.metrics import ndcg
from cartwise.recommend.base import (
    DAY_MS,
    History,
    IdMap,
    Scored,
    check_k,
    not_trained,
    read_model,
    resolve_weights,
    weight_expr,
    write_model,
)
from cartwise.recommend.factorization import evidence_matrix
from cartwise.recommend.neural.checkpoint import Checkpoint
from cartwise.recommend.neural.epochs import EpochLog
from cartwise.recommend.neural.serving import Exclusions, answering, torch_threads

__all__ = ["FORMAT", "LightGCN"]

FORMAT = 1
_NAME = "lightgcn"
# An epoch makes at least this many optimiser steps: on a small store one batch of
# `batch_size` edges would be the whole epoch, and a few epochs would learn nothing.
MIN_STEPS_PER_EPOCH = 16
MIN_BATCH = 64
# Users scored per matrix product at validation time (bounds memory).
_SCORE_BATCH = 2048
# Negatives that hit one of the shopper's own items are drawn again, at most this often.
_RESAMPLE_ROUNDS = 3
_INTEGERS = ("dim", "layers", "epochs", "batch_size", "negatives", "patience")


class LightGCN:
    """Graph-convolution recommender over the shopper-item graph, served by fold-in.

    Parameters
    ----------
    dim, layers:
        Embedding width and number of propagation layers (the paper's best is 3).
    epochs, batch_size, lr, reg:
        Adam on the BPR loss over every training edge once per epoch, `batch_size` edges
        (each with one uniform negative item) per step, or fewer so that an epoch makes
        :data:`MIN_STEPS_PER_EPOCH` steps; `reg` is the L2 penalty on the layer-0
        embeddings of each batch (the paper's 1e-4).
    negatives:
        Uniform negative items per training edge (the BPR loss is their mean).
    fold_in_alpha, fold_in_reg, history_half_life_days:
        Answer-time fold-in (module docstring): the confidence added to a history item
        chosen at the history's newest event, the ridge penalty as a fraction of the item
        embeddings' mean squared value per dimension (so that it does not depend on their
        scale), and the days over which an item's confidence halves.
    patience:
        With ``validation`` given to :meth:`fit`, stop after this many epochs without a
        better validation NDCG@10 (every item ranked, the shopper folded in from their
        training items as answers are) and keep the best epoch.
    max_seconds:
        Stop training after this much wall time (checked after each epoch; None: no limit).
    seed, threads:
        Same seed, same model; `threads` sets torch's CPU threads while fitting and
        scoring (None: torch's setting).
    on_epoch:
        Called with an :class:`~cartwise.recommend.neural.EpochLog` after each epoch.
    checkpoint_dir:
        Save the training state there after every epoch; a fit of the same data and
        parameters resumes from it. Removed when the fit completes.

    Every item event but searches is an edge (a shopper and an item are joined once,
    whatever the number or kind of their events).

    Learned state: ``item_ids_`` (:class:`IdMap`), ``item_vectors_`` (float32, items x dim:
    the mean of each item's layers), ``history_`` (:class:`EpochLog` per epoch),
    ``best_epoch_``, ``best_validation_ndcg10_``. The shoppers' trained embeddings are not
    kept: answers fold histories in.
    """

    def __init__(
        self,
        *,
        dim: int = 64,
        layers: int = 3,
        epochs: int = 40,
        batch_size: int = 4096,
        lr: float = 5e-3,
        reg: float = 1e-4,
        negatives: int = 1,
        fold_in_alpha: float = 10.0,
        fold_in_reg: float = 0.1,
        history_half_life_days: float = 7.0,
        patience: int = 3,
        max_seconds: float | None = 600.0,
        seed: int = 0,
        threads: int | None = None,
        on_epoch: Callable[[EpochLog], None] | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        self.dim = dim
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.reg = reg
        self.negatives = negatives
        self.fold_in_alpha = fold_in_alpha
        self.fold_in_reg = fold_in_reg
        self.history_half_life_days = history_half_life_days
        self.patience = patience
        self.max_seconds = max_seconds
        self.seed = seed
        self.threads = threads
        self.on_epoch = on_epoch
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)

    def get_params(self) -> dict[str, Any]:
        """Plain-JSON parameters: the ``__init__`` arguments but the callback and the
        checkpoint directory."""
        return {
            "dim": self.dim, "layers": self.layers, "epochs": self.epochs, "batch_size": self.batch_size,
            "lr": self.lr, "reg": self.reg, "negatives": self.negatives,
            "fold_in_alpha": self.fold_in_alpha, "fold_in_reg": self.fold_in_reg,
            "history_half_life_days": self.history_half_life_days, "patience": self.patience, "max_seconds": self.max_seconds,
            "seed": self.seed, "threads": self.threads,
        }

    def __repr__(self) -> str:
        return f"LightGCN({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def _check_params(self) -> None:
        for name in _INTEGERS:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{name} must be an integer >= 1, got {value!r}", field=name)
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not (
            math.isfinite(self.lr) and self.lr > 0
        ):
            raise ValidationError(f"lr must be a finite number > 0, got {self.lr!r}", field="lr")
        for name in ("reg", "fold_in_alpha", "fold_in_reg"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
                math.isfinite(value) and value >= 0
            ):
                raise ValidationError(f"{name} must be a finite number >= 0, got {value!r}", field=name)
        half_life = self.history_half_life_days
        if not isinstance(half_life, (int, float)) or isinstance(half_life, bool) or not (
            math.isfinite(half_life) and half_life > 0
        ):
            raise ValidationError(f"history_half_life_days must be a finite number > 0, got {half_life!r}",
                                  field="history_half_life_days")
        if self.max_seconds is not None and not (
            isinstance(self.max_seconds, (int, float)) and not isinstance(self.max_seconds, bool)
            and self.max_seconds > 0
        ):
            raise ValidationError(f"max_seconds must be None or > 0, got {self.max_seconds!r}", field="max_seconds")
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1
        ):
            raise ValidationError(f"threads must be None or an integer >= 1, got {self.threads!r}", field="threads")

    # training ------------------------------------------------------------------------

    def fit(self, events: pl.DataFrame, *, validation: pl.DataFrame | None = None) -> Self:
        """Learn from `events` (``user_id, item_id, event_type, ts``).

        `validation` holds ``user_id, item_id`` rows: the item each shopper chose after
        their events in `events` (:func:`cartwise.evaluate.splits.leave_last_out`). With
        it, every epoch is scored by NDCG@10 of that item, the shopper folded in from their
        training items, and training stops after `patience` epochs without improvement,
        keeping the best epoch.
        """
        self._check_params()
        if not isinstance(events, pl.DataFrame):
            raise ValidationError(f"events must be a polars DataFrame, got {type(events).__name__}", field="events")
        users, items, evidence, _ = evidence_matrix(
            events, weights=resolve_weights(None), half_life_days=1e9, now_ms=None
        )
        graph = (evidence > 0).astype(np.float32).tocsr()
        graph.eliminate_zeros()
        if len(users) < 2 or len(items) < 2:
            raise ValidationError(
                f"LightGCN needs at least 2 shoppers and 2 items with events, got {len(users)} and {len(items)}",
                field="events", hint="ingest more events, or use ItemKNN or Popularity for a store this small",
            )
        checks = None if validation is None else _validation_rows(validation, users, items)
        recency = None if checks is None else self._recency(events, users, items)
        self.item_ids_ = items
        self.history_: list[EpochLog] = []
        self.best_epoch_ = 0
        self.best_validation_ndcg10_: float | None = None
        checkpoint = None
        if self.checkpoint_dir is not None:
            checkpoint = Checkpoint(self.checkpoint_dir, self._fingerprint(graph, users, items, validation))
        with torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = _Network(graph, self.dim, self.layers)
            self._train(network, graph, checks, recency, checkpoint)
            self.item_vectors_ = network.item_vectors()
        self._prepare()
        return self

    def _fingerprint(
        self, graph: sp.csr_matrix, users: IdMap, items: IdMap, validation: pl.DataFrame | None
    ) -> str:
        """What a checkpoint must match to be resumed: parameters (not the time budget or
        threads), the graph and its ids, and the validation pairs."""
        digest = hashlib.blake2b(digest_size=16)
        params = {k: v for k, v in self.get_params().items() if k not in ("max_seconds", "threads")}
        digest.update(f"{type(self).__name__} {json.dumps(params, sort_keys=True)}".encode())
        digest.update(np.ascontiguousarray(graph.indptr).tobytes())
        digest.update(np.ascontiguousarray(graph.indices).tobytes())
        digest.update("\n".join(users.ids).encode() + b"\0" + "\n".join(items.ids).encode())
        if validation is not None:
            pairs = validation.select(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8))
            digest.update(pairs.hash_rows(seed=0).to_numpy().tobytes())
        return digest.hexdigest()

    def _train(
        self, network: _Network, graph: sp.csr_matrix,
        checks: tuple[NDArray[np.int64], NDArray[np.int64]] | None, recency: sp.csr_matrix | None,
        checkpoint: Checkpoint | None,
    ) -> None:
        optimizer = torch.optim.Adam(network.parameters(), lr=self.lr)
        rng = np.random.default_rng(self.seed)
        coo = graph.tocoo()
        edge_users, edge_items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        n_items = graph.shape[1]
        edge_keys = np.sort(edge_users * n_items + edge_items)
        batch = max(min(self.batch_size, math.ceil(edge_users.size / MIN_STEPS_PER_EPOCH)), MIN_BATCH)
        best_state: dict[str, torch.Tensor] | None = None
        best_score, stale, started, first = -1.0, 0, time.perf_counter(), 1
        saved = checkpoint.load() if checkpoint is not None else None
        if saved is not None:
            network.load_state_dict(saved["network"])
            optimizer.load_state_dict(saved["optimizer"])
            rng.bit_generator.state = json.loads(saved["numpy_rng"])
            torch.set_rng_state(saved["torch_rng"])
            best_state, best_score, stale = saved["best_state"], float(saved["best_score"]), int(saved["stale"])
            self.best_epoch_ = int(saved["best_epoch"])
            self.history_ = [EpochLog(**json.loads(log)) for log in saved["history"]]
            first = self.epochs + 1 if saved.get("finished") else int(saved["epoch"]) + 1
            started -= float(saved["seconds"])

        def out_of_time() -> bool:
            return self.max_seconds is not None and time.perf_counter() - started > self.max_seconds

        for epoch in range(first, self.epochs + 1):
            began = time.perf_counter()
            order = rng.permutation(edge_users.size)
            negatives = _negatives(np.repeat(edge_users[order], self.negatives), n_items, edge_keys, rng).reshape(
                order.size, self.negatives
            )
            total = 0.0
            for start in range(0, order.size, batch):
                rows = order[start : start + batch]
                u = torch.from_numpy(edge_users[rows])
                i = torch.from_numpy(edge_items[rows])
                j = torch.from_numpy(negatives[start : start + batch])
                loss = network.bpr_loss(u, i, j, self.reg)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * rows.size
            score = None
            if checks is not None:
                score = self._validation_ndcg(network.item_vectors(), recency, *checks)
                if score > best_score:
                    best_score, stale, self.best_epoch_ = score, 0, epoch
                    best_state = copy.deepcopy(network.state_dict())
                else:
                    stale += 1
            else:
                self.best_epoch_ = epoch
            seconds = time.perf_counter() - began
            finished = stale >= self.patience or out_of_time() or epoch == self.epochs
            likely, most = self._seconds_left(epoch, stale, checks is not None, finished,
                                              [h.seconds for h in self.history_] + [seconds],
                                              time.perf_counter() - started)
            log = EpochLog(epoch, self.epochs, total / max(order.size, 1), score, seconds, self.best_epoch_,
                           likely, most)
            self.history_.append(log)
            if checkpoint is not None:
                checkpoint.save({
                    "finished": finished, "epoch": epoch, "network": network.state_dict(),
                    "optimizer": optimizer.state_dict(), "numpy_rng": json.dumps(rng.bit_generator.state),
                    "torch_rng": torch.get_rng_state(), "best_state": best_state, "best_score": best_score,
                    "stale": stale, "best_epoch": self.best_epoch_,
                    "history": [json.dumps(asdict(h)) for h in self.history_],
                    "seconds": time.perf_counter() - started,
                })
            if self.on_epoch is not None:
                self.on_epoch(log)
            if finished:
                break
        if checkpoint is not None:
            checkpoint.clear()
        if best_state is not None:
            network.load_state_dict(best_state)
            self.best_validation_ndcg10_ = best_score

    def _seconds_left(
        self, epoch: int, stale: int, validated: bool, finished: bool, epoch_seconds: list[float], elapsed: float
    ) -> tuple[float, float]:
        """(likely, most) seconds of training left after `epoch`: see :class:`EpochLog`."""
        if finished:
            return 0.0, 0.0
        mean = sum(epoch_seconds) / len(epoch_seconds)
        most = (self.epochs - epoch) * mean
        if self.max_seconds is not None:
            most = min(most, max(self.max_seconds - elapsed, 0.0))
        likely = min((self.patience - stale) * mean, most) if validated else most
        return round(likely, 1), round(most, 1)

    # answering -----------------------------------------------------------------------

    def _prepare(self) -> None:
        """Answer state: the item vectors in float64 and their Gram matrix with the ridge
        (kept once: the fold-in of every request needs them)."""
        self._fold = _FoldIn(self.item_vectors_, alpha=self.fold_in_alpha, reg=self.fold_in_reg)

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_vectors_"):
            raise not_trained(self)

    def _history_rows(self, histories: Sequence[History]) -> sp.csr_matrix:
        """One row per history: the recency of each known item it holds (an event that
        makes an edge), 1 at the history's newest event, halving every
        ``history_half_life_days`` before it; an item's newest event counts."""
        weights = resolve_weights(None)
        scale = -1.0 / (self.history_half_life_days * DAY_MS)
        rows, cols, values = [], [], []
        for row, history in enumerate(histories):
            found: dict[int, int] = {}
            for event in history:
                index = self.item_ids_.get(event.item_id)
                if index is not None and weights.get(str(event.event_type), 0.0) > 0:
                    found[index] = max(found.get(index, event.ts), event.ts)
            if not found:
                continue
            newest = max(found.values())
            for index in sorted(found):
                rows.append(row)
                cols.append(index)
                values.append(2.0 ** (scale * max(newest - found[index], 0)))
        return sp.csr_matrix(
            (np.asarray(values, dtype=np.float32), (rows, cols)), shape=(len(histories), len(self.item_ids_))
        )

    def _recency(self, events: pl.DataFrame, users: IdMap, items: IdMap) -> sp.csr_matrix:
        """:meth:`_history_rows` of every shopper's events in `events` (shoppers x items),
        so that validation is scored the way answers are."""
        weights = resolve_weights(None)
        frame = (
            events.filter(pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null()
                          & (weight_expr(weights) > 0))
            .select(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8), pl.col("ts").cast(pl.Int64))
            .group_by("user_id", "item_id")
            .agg(pl.col("ts").max())
        )
        frame = frame.with_columns(pl.col("ts").fill_null(frame["ts"].max() or 0)).with_columns(
            (pl.col("ts").max().over("user_id") - pl.col("ts")).alias("age")
        )
        scale = -1.0 / (self.history_half_life_days * DAY_MS)
        recency = np.exp2(frame["age"].to_numpy().astype(np.float64) * scale).astype(np.float32)
        return sp.csr_matrix(
            (recency, (users.indices(frame["user_id"]), items.indices(frame["item_id"]))),
            shape=(len(users), len(items)),
        )

    def user_vectors(self, histories: Sequence[History]) -> NDArray[np.float32]:
        """Each history folded in: zeros for a history with no known item."""
        self._check_fitted()
        return self._fold.users(self._history_rows(list(histories)))

    def score_full(self, histories: Sequence[History]) -> NDArray[np.float32]:
        """Scores of every catalog item for each history (histories x items)."""
        return self.user_vectors(histories) @ self.item_vectors_.T

    def _validation_ndcg(
        self, items: NDArray[np.float32], recency: sp.csr_matrix, rows: NDArray[np.int64],
        targets: NDArray[np.int64],
    ) -> float:
        """NDCG@10 of each validation shopper's next item, every item ranked (ties count
        against it), the shopper folded in from their training items as answers are."""
        fold = _FoldIn(items, alpha=self.fold_in_alpha, reg=self.fold_in_reg)
        ranks = np.full(rows.size, -1, dtype=np.int64)
        for start in range(0, rows.size, _SCORE_BATCH):
            wanted = targets[start : start + _SCORE_BATCH]
            known = np.flatnonzero(wanted >= 0)
            if not known.size:
                continue
            scores = fold.users(recency[rows[start : start + _SCORE_BATCH][known]]) @ items.T
            target = np.take_along_axis(scores, wanted[known][:, None], axis=1)
            ranks[start + known] = (scores > target).sum(1) + (scores == target).sum(1) - 1
        return ndcg(ranks, 10)

    def recommend(
        self,
        histories: Sequence[History],
        *,
        k: int = 10,
        exclude: Collection[str] | Sequence[Collection[str]] = (),
        exclude_seen: bool = True,
    ) -> list[list[Scored]]:
        """The `k` best items for each history, each explained by the history item that
        adds most to its score; no answer for a history with no known item."""
        k = check_k(k)
        self._check_fitted()
        histories = list(histories)
        rows = self._history_rows(histories)
        exclusions = Exclusions(self.item_ids_, exclude, len(histories), exclude_seen)
        users = self._fold.users(rows)
        answers: list[list[Scored]] = []
        with answering(len(histories), self.threads):
            scores = torch.from_numpy(users @ self.item_vectors_.T)
            for index, history in enumerate(histories):
                start, stop = rows.indptr[index], rows.indptr[index + 1]
                if start == stop or k == 0:
                    answers.append([])
                    continue
                top = exclusions.top(scores[index], k, index, history)
                answers.append(self._explain(top, rows.indices[start:stop], rows.data[start:stop]))
        return answers

    def _explain(
        self, top: list[tuple[float, int]], held: NDArray[np.int32], evidence: NDArray[np.float32]
    ) -> list[Scored]:
        if not top:
            return []
        chosen = np.asarray([i for _, i in top], dtype=np.int64)
        lead = held[np.argmax(self._fold.shares(held, evidence, chosen), axis=0)]
        ids = self.item_ids_.ids
        return [
            Scored(item_id=ids[i], score=float(s), reason=f"chosen by shoppers whose items are like {ids[b]}",
                   because=(ids[b],))
            for (s, i), b in zip(top, lead.tolist())
        ]

    # persistence ---------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        """``lightgcn.json`` (parameters, item ids, training record) and ``lightgcn.npz``
        (the item vectors; no pickle) in `directory`."""
        self._check_fitted()
        meta = {
            "format": FORMAT, "params": self.get_params(), "item_ids": self.item_ids_.ids,
            "best_epoch": self.best_epoch_, "best_validation_ndcg10": self.best_validation_ndcg10_,
            "history": [asdict(log) for log in self.history_],
        }
        write_model(directory, _NAME, meta, {"item_vectors": self.item_vectors_})

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        meta, arrays = read_model(directory, _NAME, FORMAT)
        model = cls(**meta["params"])
        model.item_ids_ = IdMap(meta["item_ids"])
        model.item_vectors_ = arrays["item_vectors"].astype(np.float32)
        model.best_epoch_ = int(meta["best_epoch"])
        model.best_validation_ndcg10_ = meta["best_validation_ndcg10"]
        model.history_ = [EpochLog(**log) for log in meta["history"]]
        model._prepare()
        return model


class _Network(torch.nn.Module):
    """Layer-0 shopper and item embeddings and the normalised graph they propagate over:
    layer k+1 of a shopper is the normalised sum of their items' layer k, and of an item
    that of its shoppers' layer k."""

    def __init__(self, graph: sp.csr_matrix, dim: int, layers: int) -> None:
        super().__init__()
        self.layers = layers
        self.user = torch.nn.Parameter(torch.randn(graph.shape[0], dim) * 0.1)
        self.item = torch.nn.Parameter(torch.randn(graph.shape[1], dim) * 0.1)
        degree_items = np.asarray(graph.sum(axis=0), dtype=np.float32).ravel()
        normal = _normalise(graph, (1.0 / np.sqrt(np.maximum(degree_items, 1.0))).astype(np.float32))
        self.user_side = _torch_csr(normal)
        self.item_side = _torch_csr(normal.T.tocsr())

    def propagate(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Every layer of shopper and item embeddings, layer 0 first."""
        items = [self.item]
        users = [self.user]
        for _ in range(self.layers):
            users_next = self.user_side @ items[-1]
            items.append(self.item_side @ users[-1])
            users.append(users_next)
        return users, items

    @torch.no_grad()
    def item_vectors(self) -> NDArray[np.float32]:
        """Each item's final embedding: the mean of its layers."""
        return torch.stack(self.propagate()[1]).mean(0).numpy().astype(np.float32)

    def bpr_loss(self, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor, reg: float) -> torch.Tensor:
        users, items = self.propagate()
        user = torch.stack(users).mean(0)[u]
        final = torch.stack(items).mean(0)
        positive = (user * final[i]).sum(1)
        negative = (user[:, None, :] * final[j]).sum(2)
        penalty = (self.user[u].square().sum() + self.item[i].square().sum()
                   + self.item[j].square().sum() / j.shape[1]) / 2
        return F.softplus(negative - positive[:, None]).mean() + reg * penalty / u.numel()


def _normalise(matrix: sp.csr_matrix, inv_sqrt_degree: NDArray[np.float32]) -> sp.csr_matrix:
    """Each row's cells times 1/sqrt(row count) x 1/sqrt(item degree) (LightGCN's symmetric
    normalisation, with the item degrees of the training graph)."""
    counts = np.diff(matrix.indptr).astype(np.float32)
    row_scale = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1.0)), 0.0).astype(np.float32)
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.data = (out.data * np.repeat(row_scale, np.diff(out.indptr)) * inv_sqrt_degree[out.indices]).astype(
        np.float32
    )
    return out


class _FoldIn:
    """Shopper vectors from history rows over fixed item vectors Y: for each shopper,
    ``(YᵀY + alpha Σ_h c_h y_h y_hᵀ + ridge I) u = Σ_h (1 + alpha c_h) y_h``, the
    least-squares vector of implicit ALS with the history's items h as positives of
    evidence c_h (the row's values; module docstring)."""

    def __init__(self, items: NDArray[np.float32], *, alpha: float, reg: float) -> None:
        self.items = items.astype(np.float64)
        self.alpha = float(alpha)
        gram = self.items.T @ self.items
        ridge = reg * max(float(np.trace(gram)) / max(gram.shape[0], 1), 1e-12)
        self.gram = gram + ridge * np.eye(gram.shape[0])

    def _system(
        self, held: NDArray[np.int32], evidence: NDArray[np.float32]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(A, the history items' vectors times ``1 + alpha c_h``) for one history."""
        vectors = self.items[held]
        confidence = self.alpha * evidence.astype(np.float64)
        return self.gram + (vectors.T * confidence) @ vectors, vectors * (1.0 + confidence)[:, None]

    def users(self, rows: sp.csr_matrix) -> NDArray[np.float32]:
        out = np.zeros((rows.shape[0], self.items.shape[1]), dtype=np.float32)
        for row in range(rows.shape[0]):
            start, stop = rows.indptr[row], rows.indptr[row + 1]
            if start < stop:
                system, weighted = self._system(rows.indices[start:stop], rows.data[start:stop])
                out[row] = np.linalg.solve(system, weighted.sum(axis=0))
        return out

    def shares(
        self, held: NDArray[np.int32], evidence: NDArray[np.float32], chosen: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """Each history item's share of each chosen item's score (held x chosen): u is
        ``A⁻¹ Σ_h w_h y_h``, so the score of c is ``Σ_h w_h y_h · A⁻¹ y_c``."""
        system, weighted = self._system(held, evidence)
        return weighted @ np.linalg.solve(system, self.items[chosen].T)


def _torch_csr(matrix: sp.csr_matrix) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data.astype(np.float32)),
            size=matrix.shape,
            check_invariants=False,
        )


def _negatives(
    users: NDArray[np.int64], n_items: int, edge_keys: NDArray[np.int64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """A uniform item per edge, drawn again (a few times at most) when the shopper chose it."""
    out = rng.integers(0, n_items, size=users.size, dtype=np.int64)
    for _ in range(_RESAMPLE_ROUNDS):
        keys = users * n_items + out
        position = np.minimum(np.searchsorted(edge_keys, keys), edge_keys.size - 1)
        clash = np.flatnonzero(edge_keys[position] == keys)
        if not clash.size:
            break
        out[clash] = rng.integers(0, n_items, size=clash.size, dtype=np.int64)
    return out


def _validation_rows(
    validation: pl.DataFrame, users: IdMap, items: IdMap
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(graph row of each validation shopper, catalog index of their next item; -1 unknown)."""
    missing = {"user_id", "item_id"} - set(validation.columns)
    if missing:
        raise ValidationError(f"validation frame lacks the columns {sorted(missing)}", field="validation")
    pairs = validation.select(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8))
    rows = users.indices(pairs["user_id"])
    kept = rows >= 0
    if not kept.any():
        raise ValidationError(
            "no validation user has events in the training frame, so validation cannot score anything",
            field="validation", hint="validation rows need user_ids that also occur in events (see leave_last_out)",
        )
    return rows[kept], items.indices(pairs["item_id"].filter(pl.Series(kept)))
