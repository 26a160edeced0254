"""The relation placements through the shop's rules: "frequently bought together" and
"alternatives" (:mod:`cartwise.graph.answers`) are screened by the same merchandising
rules and stock policy as every other answer.

The graph proposes the placement's items; the "related" candidate stage hands them to a
pipeline (:data:`cartwise.serving.config.BUNDLE`, :data:`~cartwise.serving.config.ALTERNATIVES`)
whose rule stages drop, move or pin items, scoped by the placement's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from cartwise.graph.results import Screen, Screened, ScreenedItem
from cartwise.live import LiveState
from cartwise.recommend import Scored
from cartwise.rules.touch import touched
from cartwise.serving.pipeline import Pipeline
from cartwise.serving.stage import CandidateStage, Request, register_stage

PROPOSED_NOTE = "related_items"


@register_stage
class Related(CandidateStage):
    """The items the relation graph proposed for the placement, in its order."""

    name: ClassVar[str] = "related"
    personal: ClassVar[bool] = False

    def propose(self, request: Request) -> Iterable[Scored]:
        return request.notes.get(PROPOSED_NOTE, ())


def screen(pipeline: Pipeline, state: LiveState, *, placement: str) -> Screen:
    """The shop's rules for one relation placement over the live state `state`."""

    def run(item_id: str, proposed: Sequence[Scored], k: int) -> Screened:
        request = Request(
            state=state, k=k, item_id=item_id, card=state.catalog.get(item_id), taken={item_id}, placement=placement,
        )
        request.notes[PROPOSED_NOTE] = list(proposed)
        chosen = pipeline.run(request)
        return Screened(
            items=[
                ScreenedItem(c.scored.item_id, tuple(dict.fromkeys(rule for rule, _ in c.rules))) for c in chosen
            ],
            rules=touched(request.notes),
        )

    return run


__all__ = ["Related", "screen"]
