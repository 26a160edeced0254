"""The PyTorch parts of the deep click models: field embeddings (with attention over the
shopper's recent items against the candidate, as in DIN, Zhou et al., KDD 2018) and the
DeepFM tower (a factorisation machine's pairwise crossings plus an MLP, Guo et al.,
IJCAI 2017) that turns the fields into a logit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from cartwise.clicks.features import FeatureMatrix


def to_tensors(matrix: FeatureMatrix) -> dict[str, torch.Tensor]:
    """The arrays of `matrix` as tensors (history and item only when present); copies,
    because polars may hand out read-only arrays."""
    out = {"numeric": torch.from_numpy(np.array(matrix.numeric)),
           "categorical": torch.from_numpy(np.array(matrix.categorical))}
    if matrix.history is not None and matrix.item is not None:
        out["history"] = torch.from_numpy(np.array(matrix.history))
        out["item"] = torch.from_numpy(np.array(matrix.item))
    return out


class Attention(nn.Module):
    """DIN's activation unit: an MLP scores each history item against the candidate from
    [candidate, item, candidate - item, candidate * item]; the history is pooled by the
    softmax of the scores over its real (non-padding) items. An empty history pools to 0."""

    def __init__(self, dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(4 * dim, hidden), nn.PReLU(), nn.Linear(hidden, 1))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = query.unsqueeze(1).expand_as(keys)
        scores = self.score(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        return (weights.unsqueeze(-1) * keys).sum(dim=1)


class FieldEmbedding(nn.Module):
    """Every feature as a `dim`-vector (a field): one embedding per categorical value, a
    learned vector scaled by each standardised numeric, and, with a history, the
    candidate item's embedding and its attention-pooled history. Also the first-order
    (linear) term of every feature."""

    def __init__(self, cardinalities: Sequence[int], n_numeric: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(c, dim) for c in cardinalities)
        self.linear_tables = nn.ModuleList(nn.Embedding(c, 1) for c in cardinalities)
        self.numeric_vectors = nn.Parameter(torch.randn(n_numeric, dim) * 0.01)
        self.numeric_linear = nn.Parameter(torch.zeros(n_numeric))
        self.items = nn.Embedding(n_items, dim, padding_idx=0) if n_items else None
        self.attention = Attention(dim) if n_items else None
        for table in self.tables:
            nn.init.normal_(table.weight, std=0.01)
        for table in self.linear_tables:
            nn.init.zeros_(table.weight)
        if self.items is not None:
            nn.init.normal_(self.items.weight, std=0.01)
        self.n_fields = len(cardinalities) + n_numeric + (2 if n_items else 0)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        numeric, categorical = batch["numeric"], batch["categorical"]
        fields = [table(categorical[:, i]) for i, table in enumerate(self.tables)]
        first = numeric @ self.numeric_linear
        for i, table in enumerate(self.linear_tables):
            first = first + table(categorical[:, i]).squeeze(-1)
        stacked = [torch.stack(fields, dim=1)] if fields else []
        if numeric.shape[1]:
            stacked.append(numeric.unsqueeze(-1) * self.numeric_vectors)
        if self.items is not None and self.attention is not None:
            candidate = self.items(batch["item"])
            history = batch["history"]
            pooled = self.attention(candidate, self.items(history), history > 0)
            stacked.append(torch.stack([candidate, pooled], dim=1))
        return torch.cat(stacked, dim=1), first


class DeepFMTower(nn.Module):
    """Fields -> logit: the factorisation machine's sum of pairwise field products plus an
    MLP over all fields (no first-order term: that comes from :class:`FieldEmbedding`)."""

    def __init__(self, n_fields: int, dim: int, hidden: Sequence[int], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_fields * dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        total = fields.sum(dim=1)
        fm = 0.5 * (total.pow(2) - fields.pow(2).sum(dim=1)).sum(dim=-1)
        return fm + self.mlp(fields.flatten(1)).squeeze(-1) + self.bias


class DeepFMNetwork(nn.Module):
    """One click probability: :class:`FieldEmbedding` then a :class:`DeepFMTower`."""

    def __init__(self, cardinalities: Sequence[int], n_numeric: int, n_items: int, dim: int,
                 hidden: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.embedding = FieldEmbedding(cardinalities, n_numeric, n_items, dim)
        self.tower = DeepFMTower(self.embedding.n_fields, dim, hidden, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        fields, first = self.embedding(batch)
        return self.tower(fields) + first


class ESMMNetwork(nn.Module):
    """Entire-space multi-task model (Ma et al., SIGIR 2018): shared field embeddings, a
    click tower (pCTR) and a conversion tower (pCVR, purchase given click); returns both
    logits. Training supervises pCTR and pCTCVR = pCTR x pCVR on every impression, so the
    conversion tower is never trained on the biased sample of clicked rows alone."""

    def __init__(self, cardinalities: Sequence[int], n_numeric: int, n_items: int, dim: int,
                 hidden: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.embedding = FieldEmbedding(cardinalities, n_numeric, n_items, dim)
        self.ctr = DeepFMTower(self.embedding.n_fields, dim, hidden, dropout)
        self.cvr = DeepFMTower(self.embedding.n_fields, dim, hidden, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        fields, first = self.embedding(batch)
        return self.ctr(fields) + first, self.cvr(fields)
