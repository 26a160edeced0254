"""Stages that put what was learned online into recommendations: items that go with the
shopper's history through pairs counted since training, blended with the recommender's
own candidates, and what is trending today (:mod:`cartwise.online`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from cartwise.online import answers as online
from cartwise.recommend import Scored
from cartwise.recommend.itemknn import ItemKNN
from cartwise.serving.stage import Candidate, CandidateStage, Request, register_stage


@register_stage
class RecentTogether(CandidateStage):
    """Items chosen by shoppers since training together with the items of this shopper's
    history (online co-occurrence), scored like item-kNN scores a history."""

    name = "recent_together"

    def propose(self, request: Request) -> Iterable[Scored]:
        if not request.history:
            return ()
        found = online.affinity(request.state.models.itemknn, request.state.online, request.history)
        taken = request.taken
        ranked = sorted(((s, i, b) for i, (s, b) in found.items() if i not in taken), key=lambda t: (-t[0], t[1]))
        return [Scored(item_id=i, score=s, reason="", because=(b,)) for s, i, b in ranked[: request.k * 2 + 10]]

    def explain(self, scored: Scored, request: Request) -> str:
        return f"chosen lately with '{request.state.catalog.title(scored.because[0])}'"


@register_stage
class OnlineBlend:
    """The recommender's candidates ('history') with the online ones ('recent_together')
    added: an item-kNN recommender scores a history in the same units, so the two sum; any
    other recommender's scores are scaled by their best, the online ones by theirs times
    :attr:`weight`. Without online candidates the recommender's order stands unchanged."""

    name: ClassVar[str] = "online_blend"
    kind: ClassVar[str] = "rank"
    weight: ClassVar[float] = 0.5

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        model: list[Candidate] = []
        learned: dict[str, Candidate] = {}
        for candidate in candidates:
            if candidate.label == RecentTogether.name:
                learned[candidate.scored.item_id] = candidate
            else:
                model.append(candidate)
        if not learned:
            return iter(model)
        if isinstance(request.state.models.recommender, ItemKNN):
            mine, theirs = 1.0, 1.0
        else:
            mine = 1.0 / max((c.scored.score for c in model), default=1.0) if model else 1.0
            theirs = self.weight / max(c.scored.score for c in learned.values())
        scored = []
        for n, candidate in enumerate(model):
            extra = learned.pop(candidate.scored.item_id, None)
            score = candidate.scored.score * mine + (extra.scored.score * theirs if extra is not None else 0.0)
            scored.append((score, n, candidate))
        for n, candidate in enumerate(learned.values(), start=len(scored)):
            scored.append((candidate.scored.score * theirs, n, candidate))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return iter(candidate for _, _, candidate in scored)


@register_stage
class Trending(CandidateStage):
    """What shoppers chose most in the last day or so (the online trending counter): not in
    the default answers; name it in a cascade to show it (a "trending now" placement)."""

    name = "trending"
    personal = False

    def propose(self, request: Request) -> Iterable[Scored]:
        return online.trending(request.state.online, request.k * 2 + len(request.taken), exclude=request.taken)

    def explain(self, scored: Scored, request: Request) -> str:
        return "trending with shoppers today"


__all__ = ["OnlineBlend", "RecentTogether", "Trending"]
