"""The click-and-purchase pair: ESMM (Ma et al., SIGIR 2018) predicts pCTR and pCVR
(purchase given a click) with shared embeddings, supervised on every impression through
pCTCVR = pCTR x pCVR, so conversion is learnt from the whole impression space rather than
from the few clicked rows alone. Use it where the log records purchases."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import torch
from numpy.typing import NDArray
from torch import nn

from cartwise.errors import ValidationError
from cartwise.clicks.deep import DeepClickModel, _bce
from cartwise.clicks.features import FeatureMatrix, labels_of
from cartwise.clicks.network import ESMMNetwork


class ESMM(DeepClickModel):
    """pCTR and pCTCVR from one network (parameters as :class:`DeepClickModel`).

    ``fit(frame, label="clicked", conversion="purchased")``: `conversion` marks
    impressions that led to a purchase (a purchase without a click counts as one with a
    click). :meth:`predict` gives pCTCVR, the probability that an impression ends in a
    purchase; :meth:`predict_ctr` and :meth:`predict_cvr` give the two factors.
    """

    _NAME: ClassVar[str] = "esmm"
    _FORMAT: ClassVar[int] = 1

    def _new_network(self, matrix: FeatureMatrix) -> nn.Module:
        return ESMMNetwork(matrix.cardinalities, matrix.numeric.shape[1], matrix.n_items, self.dim,
                           self.hidden, self.dropout)

    def _loss(self, output: Any, targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        ctr_logit, cvr_logit = output
        # log pCTCVR = log sigmoid(a) + log sigmoid(b), computed stably; same for 1 - pCTCVR.
        log_p = nn.functional.logsigmoid(ctr_logit) + nn.functional.logsigmoid(cvr_logit)
        log_not_p = torch.log1p(-torch.exp(log_p).clamp(max=1 - 1e-7))
        ctcvr_losses = -(targets[:, 1] * log_p + (1 - targets[:, 1]) * log_not_p)
        ctcvr = ctcvr_losses.mean() if weights is None else (ctcvr_losses * weights).sum() / weights.sum()
        return _bce(ctr_logit, targets[:, 0], weights) + ctcvr

    def _probabilities(self, output: Any) -> torch.Tensor:
        ctr, cvr = torch.sigmoid(output[0]), torch.sigmoid(output[1])
        return torch.stack([ctr * cvr, ctr, cvr], dim=1)

    def fit(self, frame: pl.DataFrame, *, label: str, weight: str | None = None,
            validation: pl.DataFrame | None = None, conversion: str = "purchased") -> Self:
        """Learn pCTR from `label` and pCTCVR from `conversion` on every impression."""
        targets = self._targets(frame, label, conversion)
        if targets[:, 1].max() == 0:
            raise ValidationError(f"conversion column {conversion!r} has no purchases to learn from",
                                  field="conversion")
        vtargets = (self._targets(validation, label, conversion)
                    if validation is not None and validation.height else None)
        self.conversion_ = conversion
        return self._fit(frame, targets, weight, validation, vtargets)

    @staticmethod
    def _targets(frame: pl.DataFrame, label: str, conversion: str) -> NDArray[np.float32]:
        click, purchase = labels_of(frame, label), labels_of(frame, conversion)
        return np.stack([np.maximum(click, purchase), purchase], axis=1)

    def predict(self, frame: pl.DataFrame, *, logged_position: bool = False) -> NDArray[np.float64]:
        """pCTCVR: the probability that the impression leads to a click and a purchase."""
        return self._outputs(frame, logged_position)[:, 0]

    def predict_ctr(self, frame: pl.DataFrame, *, logged_position: bool = False) -> NDArray[np.float64]:
        return self._outputs(frame, logged_position)[:, 1]

    def predict_cvr(self, frame: pl.DataFrame, *, logged_position: bool = False) -> NDArray[np.float64]:
        """pCVR: the probability of a purchase given a click."""
        return self._outputs(frame, logged_position)[:, 2]
