"""Event sequences as the neural models read them: each shopper's last events (item,
event type, a time input) right-aligned in padded matrices, and the batches of similar
length that training walks through."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from numpy.typing import NDArray

from cartwise.events.event import EVENT_TYPES
from cartwise.recommend.base import History, IdMap

# Fewer users with a next item than this cannot teach a neural model anything useful.
MIN_USERS = 10
# Index 0 pads sequences; then the known event types; the last index is any other type.
TYPES: tuple[str, ...] = ("<pad>", *EVENT_TYPES, "<other>")
TYPE_INDEX = {name: i for i, name in enumerate(TYPES)}
OTHER_TYPE = len(TYPES) - 1
# Users scored per forward pass at answer and validation time (bounds memory).
SCORE_BATCH = 1024

# Time input of each event from the events sorted by user then time and the mask of each
# user's first event (None: the timestamps themselves).
EventTimes = Callable[[pl.DataFrame, NDArray[np.bool_]], NDArray[np.int64]]
# Time input of one history's known events from their timestamps, oldest first.
HistoryTimes = Callable[[list[int]], list[int]]


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


def length_batches(
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
