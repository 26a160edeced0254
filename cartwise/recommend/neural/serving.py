"""Answering with a trained neural model: torch's threads and inference mode around a
request, the encoder's state after each history's newest event, and the items an answer
leaves out."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Iterator, Sequence

import torch

from cartwise.recommend.base import History, IdMap, per_user_excludes
from cartwise.recommend.neural.data import SCORE_BATCH, HistoryTimes, encode_histories
from cartwise.recommend.neural.table import ItemTable

_ONE_THREAD_USERS = 8


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
