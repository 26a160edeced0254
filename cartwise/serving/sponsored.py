"""Sponsored products: one paid slot in an answer, filled by expected value.

An item is an ad when the catalog gives it a bid (the item attribute ``bid``: what its
seller pays per click, a positive number). The sponsored stage runs after each tier's
rank stage, on that tier's ranked candidates, until one tier has filled the slot:

- only a candidate the organic stages proposed can be the ad (an ad is always one of the
  answer's relevant items, never an unrelated product), and only one at least
  :attr:`Sponsored.floor` (half) as relevant as the organic item it displaces from the
  slot (relevance: the score as a share of the best candidate's);
- among those, the one with the highest expected value, bid x predicted click-through
  rate at the slot, takes the slot (position :attr:`Sponsored.slot`, the third by
  default): the first places stay organic, so an ad never displaces relevance entirely;
- it is labelled: its stage is ``sponsored`` (and so is its impression), the answer marks
  it ``sponsored``, and its reason says so.

The predicted click-through rate comes from the live click model when one is trained
(``models.clicks``); without one it is the item's relevance times the click rate the
position prior gives the slot, and the answer's notes say which.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from cartwise.serving.stage import Candidate, Request, register_stage


def relevance(scores: list[float]) -> np.ndarray:
    """Scores as shares of the best one (min-max scaled when some are negative)."""
    values = np.asarray(scores, dtype=np.float64)
    if not values.size:
        return values
    high, low = float(values.max()), float(values.min())
    if low >= 0:
        return values / high if high > 0 else np.ones_like(values)
    return (values - low) / (high - low) if high > low else np.ones_like(values)


@register_stage
class Sponsored:
    """Moves the best ad among the ranked candidates into the sponsored slot."""

    name: ClassVar[str] = "sponsored"
    kind: ClassVar[str] = "rank"
    slot: ClassVar[int] = 3
    floor: ClassVar[float] = 0.5
    # Click rate by position with nothing else known (a 1/position curve), scaled so only
    # ratios matter: the slot's prior times relevance orders ads as well as any constant.
    position_prior: ClassVar[float] = 1.0

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        bids = getattr(request.state.catalog, "bids", None)
        # One ad per answer, in its slot: a later tier (a fallback) may fill the slot
        # when the first tier's items did not reach it.
        if not bids or "sponsored" in request.notes or len(request.chosen) >= self.slot:
            return candidates
        ranked = list(candidates)
        index = self._choose(request, ranked, bids)
        if index is None:
            return iter(ranked)
        ad = ranked.pop(index)
        ad.label = "sponsored"
        ad.reason = "sponsored; " + (_explain(ad, request) or "matches what you are looking at")
        ahead = max(self.slot - 1 - len(request.chosen), 0)
        ranked.insert(min(ahead, len(ranked)), ad)
        return iter(ranked)

    def _choose(self, request: Request, ranked: list[Candidate], bids: dict[str, float]) -> int | None:
        if not ranked:
            return None
        catalog, taken = request.state.catalog, request.taken
        share = relevance([c.scored.score for c in ranked])
        organic_ahead = max(self.slot - 1 - len(request.chosen), 0)
        # The organic item the ad would push down (the last one when the list is short).
        needed = self.floor * share[min(organic_ahead, len(ranked) - 1)]
        eligible = []
        for index, candidate in enumerate(ranked):
            item_id = candidate.scored.item_id
            if index < organic_ahead or item_id in taken or item_id not in bids or share[index] < needed:
                continue
            card = catalog.get(item_id)
            if card is None or not card.in_stock:
                continue
            eligible.append(index)
        if not eligible:
            return None
        ctr = _click_rates(request, [ranked[i] for i in eligible], share[eligible], position=self.slot)
        value = np.asarray([bids[ranked[i].scored.item_id] for i in eligible]) * ctr
        best = int(np.argmax(value))
        request.notes["sponsored"] = {
            "item_id": ranked[eligible[best]].scored.item_id,
            "expected_value": float(value[best]),
            "ctr_from": request.notes.get("ctr_from", "relevance x position prior"),
        }
        return eligible[best]


def _click_rates(request: Request, candidates: list[Candidate], share: np.ndarray, *, position: int) -> np.ndarray:
    """Predicted click-through rates of `candidates` at `position`: the live click model's
    when there is one, else relevance x a 1/position prior."""
    model = getattr(request.state.models, "clicks", None)
    if model is not None:
        predicted = model.predict_candidates(request, [c.scored.item_id for c in candidates], position=position)
        if predicted is not None:
            request.notes["ctr_from"] = "click model"
            return np.asarray(predicted, dtype=np.float64)
    return share * (Sponsored.position_prior / position)


def _explain(candidate: Candidate, request: Request) -> str:
    explain = getattr(candidate.stage, "explain", None)
    return explain(candidate.scored, request) if explain else candidate.scored.reason


__all__ = ["Sponsored", "relevance"]
