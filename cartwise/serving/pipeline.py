"""A configured cascade of stages, run for one request.

A :class:`Cascade` names its stages: tiers of candidate stages, each tier merged and
ranked, then filtered by the rules until the answer holds `k` items. A tier after the
first is a fallback: it runs only while the answer is still short. The explain stage then
writes each item's reason. :class:`Pipeline` is a cascade with its stages built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cartwise.results import ItemResult
from cartwise.serving.stage import Candidate, Request, Stage, make_stage

if TYPE_CHECKING:
    from cartwise.rules.ruleset import RuleSet


class RuleSource(Protocol):
    """Where a pipeline's merchandising rules come from: the store's rule book, or a
    fixed rule set (an experiment's variant)."""

    def current(self) -> RuleSet: ...


@dataclass(frozen=True)
class Tier:
    """Candidate stages whose items are merged and ranked together."""

    candidates: tuple[str, ...]
    rank: str = "identity"
    merge: str | None = None
    """A stage that makes one list of what the candidate stages retrieved (search's
    fusion); None: their candidates one after the other."""
    rerank: tuple[str, ...] = ()
    """Rank stages applied after `rank`, in order (the sponsored slot)."""


@dataclass(frozen=True)
class Cascade:
    """The configuration of one kind of answer (see the module docstring)."""

    tiers: tuple[Tier, ...]
    rules: tuple[str, ...] = ("available", "unique")
    explain: str = "reasons"
    merchandise: tuple[str, ...] = ("merchandise",)
    """Rank stages applied to every tier after its own: the merchandising rules."""
    rewrite: tuple[str, ...] = ()
    """Stages that rewrite the request before the first tier retrieves (search's synonyms)."""


class Pipeline:
    """A :class:`Cascade` with its stages made from the stage registry."""

    def __init__(self, cascade: Cascade, *, rules: RuleSource | None = None) -> None:
        """`rules`: where the merchandising rules come from (None: none apply)."""
        self.cascade = cascade
        self.rulebook = rules
        self.tiers = [
            (
                [make_stage(name) for name in tier.candidates],
                make_stage(tier.merge) if tier.merge is not None else None,
                [make_stage(name) for name in (tier.rank, *tier.rerank)],
            )
            for tier in cascade.tiers
        ]
        self.rules = [make_stage(name) for name in cascade.rules]
        self.explain = make_stage(cascade.explain)
        self.merchandise = [make_stage(name) for name in cascade.merchandise]
        self.rewrite = [make_stage(name) for name in cascade.rewrite]

    def ranked(self, request: Request, tier: int = 0) -> Iterator[Candidate]:
        """One tier's candidates, merged and ranked, before the rules."""
        sources, merge, ranks = self.tiers[tier]
        if request.rules is None and self.rulebook is not None:
            request.rules = self.rulebook.current()
        if tier == 0:
            sources = [*self.rewrite, *sources]
        candidates: Iterator[Candidate] = iter(())
        for stage in sources:
            candidates = stage.apply(request, candidates)
        if merge is not None:
            candidates = merge.apply(request, candidates)
        for rank in [*ranks, *self.merchandise]:
            candidates = rank.apply(request, candidates)
        return candidates

    def run(self, request: Request) -> list[Candidate]:
        """The chosen candidates, explained, best first: tier after tier until `k`."""
        for tier in range(len(self.tiers)):
            if len(request.chosen) >= request.k:
                break
            self._choose(request, self.ranked(request, tier))
        return list(self.explain.apply(request, iter(request.chosen)))

    def page(self, request: Request, ranked: list[Candidate]) -> list[Candidate]:
        """One page of ranked candidates (search) through the rules, explained: the rules
        look at the page only, so every page shows its own slice of the ranking."""
        self._choose(request, iter(ranked))
        return list(self.explain.apply(request, iter(request.chosen)))

    def _choose(self, request: Request, candidates: Iterator[Candidate]) -> None:
        chosen, taken = request.chosen, request.taken
        for rule in self.rules:
            candidates = rule.apply(request, candidates)
        for candidate in candidates:
            taken.add(candidate.scored.item_id)
            chosen.append(candidate)
            if len(chosen) >= request.k:
                break

    def answer(self, request: Request) -> list[ItemResult]:
        """:meth:`run`, as the items of a response (each naming the stage it came from)."""
        return item_results(request, self.run(request))


def item_results(request: Request, candidates: list[Candidate]) -> list[ItemResult]:
    """The chosen candidates as the items of a response, with their catalog cards."""
    catalog = request.state.catalog
    items = []
    for candidate in candidates:
        scored = candidate.scored
        card = catalog.get(scored.item_id)
        assert card is not None, "the rules keep catalog items only"
        lexical, semantic = candidate.features.get("lexical"), candidate.features.get("semantic")
        items.append(
            ItemResult(
                item_id=card.item_id,
                title=card.title,
                score=round(float(scored.score), 6),
                reason="; ".join([candidate.reason, *(f"{what} (rule {rule})" for rule, what in candidate.rules)])
                if candidate.rules else candidate.reason,
                because=list(scored.because or ()),
                category=card.category,
                brand=card.brand,
                price=card.price,
                currency=card.currency,
                in_stock=card.in_stock,
                lexical_score=None if lexical is None else round(float(lexical), 6),
                semantic_score=None if semantic is None else round(float(semantic), 6),
                stage=candidate.label,
                sponsored=candidate.label == "sponsored",
                rules=list(dict.fromkeys(rule for rule, _ in candidate.rules)),
            )
        )
    return items


def is_personal(stage: Stage) -> bool:
    return bool(getattr(stage, "personal", False))


__all__ = ["Cascade", "Pipeline", "RuleSource", "Tier", "is_personal", "item_results"]
