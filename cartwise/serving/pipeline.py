"""A configured cascade of stages, run for one request.

A :class:`Cascade` names its stages: tiers of candidate stages, each tier merged and
ranked, then filtered by the rules until the answer holds `k` items. A tier after the
first is a fallback: it runs only while the answer is still short. The explain stage then
writes each item's reason. :class:`Pipeline` is a cascade with its stages built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cartwise.results import ItemResult
from cartwise.serving.stage import Candidate, Request, Stage, make_stage


@dataclass(frozen=True)
class Tier:
    """Candidate stages whose items are merged and ranked together."""

    candidates: tuple[str, ...]
    rank: str = "identity"
    rerank: tuple[str, ...] = ()
    """Rank stages applied after `rank`, in order (the sponsored slot)."""


@dataclass(frozen=True)
class Cascade:
    """The configuration of one kind of answer (see the module docstring)."""

    tiers: tuple[Tier, ...]
    rules: tuple[str, ...] = ("available", "unique")
    explain: str = "reasons"


class Pipeline:
    """A :class:`Cascade` with its stages made from the stage registry."""

    def __init__(self, cascade: Cascade) -> None:
        self.cascade = cascade
        self.tiers = [
            (
                [make_stage(name) for name in tier.candidates],
                [make_stage(name) for name in (tier.rank, *tier.rerank)],
            )
            for tier in cascade.tiers
        ]
        self.rules = [make_stage(name) for name in cascade.rules]
        self.explain = make_stage(cascade.explain)

    def run(self, request: Request) -> list[Candidate]:
        """The chosen candidates, explained, best first."""
        chosen, taken = request.chosen, request.taken
        for sources, ranks in self.tiers:
            if len(chosen) >= request.k:
                break
            candidates: Iterator[Candidate] = iter(())
            for stage in sources:
                candidates = stage.apply(request, candidates)
            for rank in ranks:
                candidates = rank.apply(request, candidates)
            for rule in self.rules:
                candidates = rule.apply(request, candidates)
            for candidate in candidates:
                taken.add(candidate.scored.item_id)
                chosen.append(candidate)
                if len(chosen) >= request.k:
                    break
        return list(self.explain.apply(request, iter(chosen)))

    def answer(self, request: Request) -> list[ItemResult]:
        """:meth:`run`, as the items of a response (each naming the stage it came from)."""
        catalog = request.state.catalog
        items = []
        for candidate in self.run(request):
            scored = candidate.scored
            card = catalog.get(scored.item_id)
            assert card is not None, "the rules keep catalog items only"
            items.append(
                ItemResult(
                    item_id=card.item_id,
                    title=card.title,
                    score=round(float(scored.score), 6),
                    reason=candidate.reason,
                    because=list(scored.because or ()),
                    category=card.category,
                    brand=card.brand,
                    price=card.price,
                    currency=card.currency,
                    in_stock=card.in_stock,
                    stage=candidate.label,
                    sponsored=candidate.label == "sponsored",
                )
            )
        return items


def is_personal(stage: Stage) -> bool:
    return bool(getattr(stage, "personal", False))


__all__ = ["Cascade", "Pipeline", "Tier", "is_personal"]
