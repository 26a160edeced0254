"""Rank stages: the order in which a tier's merged candidates meet the rules. Today the
identity and the similar-items blend; a learned ranker is one more class here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from cartwise.recommend import Scored
from cartwise.serving.sponsored import relevance
from cartwise.serving.stage import Candidate, Request, register_stage


@register_stage
class Identity:
    """Candidates in the order their stages proposed them."""

    name: ClassVar[str] = "identity"
    kind: ClassVar[str] = "rank"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        return candidates


@register_stage
class BlendSimilar:
    """Co-occurrence ('together') and text similarity ('alike'), each scaled to [0, 1] by
    its best candidate, mixed 60/40; an item found by only one side keeps that side's
    share. Each item is labelled with the sides that found it, and explained by them."""

    name: ClassVar[str] = "blend_similar"
    kind: ClassVar[str] = "rank"
    sources: ClassVar[tuple[str, str]] = ("together", "alike")
    weight: ClassVar[float] = 0.6

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        first, second = self.sources
        scores: dict[str, dict[str, float]] = {first: {}, second: {}}
        stages = {}
        for candidate in candidates:
            scores.setdefault(candidate.label, {})[candidate.scored.item_id] = candidate.scored.score
            stages[candidate.label] = candidate.stage
        a, b = _scaled(scores[first]), _scaled(scores[second])
        weight = self.weight if a else 0.0
        combined = {i: weight * a.get(i, 0.0) + (1 - weight) * b.get(i, 0.0) for i in {*a, *b}}
        asked = (request.item_id,) if request.item_id is not None else ()
        for item_id, score in sorted(combined.items(), key=lambda pair: (-pair[1], pair[0])):
            scored = Scored(item_id=item_id, score=score, reason="", because=asked)
            in_first, in_second = item_id in scores[first], item_id in scores[second]
            if in_first and in_second:
                candidate = Candidate(scored, stages[first], f"{first}+{second}")
                candidate.reason = stages[first].explain(scored, request) + ", and alike"
            else:
                candidate = Candidate(scored, stages[first] if in_first else stages[second])
            yield candidate


def _scaled(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    values = np.array(list(scores.values()), dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    spread = high - low
    return {i: (v - low) / spread if spread > 0 else 1.0 for i, v in scores.items()}


__all__ = ["BlendSimilar", "Identity", "PersonalSearch"]


@register_stage
class PersonalSearch:
    """Search results leaning towards the shopper: with a history (the engine passes it
    when the search names a `user_id` with events), each candidate's relevance (its score
    as a share of the best) gains up to :attr:`weight` from how strongly it goes with the
    shopper's recent items (item-kNN co-occurrence, as a share of the strongest); without
    one, the ranking is left exactly as it is. Relevance stays first: an item that does
    not match the query is never retrieved, and one that matches weakly moves up only past
    items almost as weak."""

    name: ClassVar[str] = "personal"
    kind: ClassVar[str] = "rank"
    weight: ClassVar[float] = 0.25

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        if not request.history:
            return candidates
        ranked = list(candidates)
        if len(ranked) < 2:
            return iter(ranked)
        affinity = request.state.models.itemknn.affinity(request.history)
        if not affinity:
            return iter(ranked)
        strongest = max(affinity.values())
        share = relevance([c.scored.score for c in ranked])
        combined = []
        for n, candidate in enumerate(ranked):
            lean = affinity.get(candidate.scored.item_id, 0.0) / strongest
            if lean > 0:
                candidate.features["personal"] = lean
            combined.append((float(share[n]) + self.weight * lean, -n, candidate))
        combined.sort(key=lambda entry: (entry[0], entry[1]), reverse=True)
        return iter(candidate for _, _, candidate in combined)
