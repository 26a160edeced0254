"""The training loop the deep click models share: shuffled mini-batches with Adam, a
validation loss after every epoch, the best epoch's weights kept, and a stop after
`patience` epochs without improvement or when the time budget is spent."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


@dataclass
class TrainingRecord:
    """What training did: per-epoch mean training loss and validation loss (None without
    validation), the epoch whose weights were kept (1-based), and the seconds it took."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float | None] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def train_network(
    network: nn.Module,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    n_rows: int,
    *,
    validation_loss: Callable[[], float] | None,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    patience: int,
    max_seconds: float | None,
    seed: int,
) -> TrainingRecord:
    """Train `network` in place; `batch_loss(row indices)` is the loss of one batch and
    `validation_loss()` scores the network as it stands (called in eval mode)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(network.parameters(), lr=lr, weight_decay=weight_decay)
    record = TrainingRecord()
    best = float("inf")
    best_state = None
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        network.train()
        order = torch.randperm(n_rows, generator=generator)
        losses = []
        for start in range(0, n_rows, batch_size):
            loss = batch_loss(order[start:start + batch_size])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        record.train_loss.append(float(np.mean(losses)))
        network.eval()
        with torch.no_grad():
            score = validation_loss() if validation_loss is not None else None
        record.validation_loss.append(score)
        current = score if score is not None else record.train_loss[-1]
        if current < best:
            best, record.best_epoch = current, epoch
            best_state = copy.deepcopy(network.state_dict())
        elapsed = time.perf_counter() - started
        if epoch - record.best_epoch >= patience or (max_seconds is not None and elapsed > max_seconds):
            break
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    record.seconds = time.perf_counter() - started
    return record
