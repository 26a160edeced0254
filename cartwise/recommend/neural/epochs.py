"""The record of one training epoch: passed to ``on_epoch``, kept in ``history_``, saved
with the model and in checkpoints."""

from __future__ import annotations

from dataclasses import dataclass


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
