"""Candidate stages: where the items of a recommendation or a similar-items answer come
from, and why each was proposed. Pool sizes are the engine's: twice the page plus room
for what the rules will drop."""

from __future__ import annotations

from collections.abc import Iterable

from cartwise.events.event import EVENT_WEIGHTS, EventType
from cartwise.online import answers as online
from cartwise.recommend import Scored
from cartwise.serving.stage import CandidateStage, Request, register_stage

_BECAUSE = {
    EventType.VIEW: "because you viewed '{}'",
    EventType.CLICK: "because you clicked on '{}'",
    EventType.ADD_TO_CART: "because you put '{}' in your cart",
    EventType.PURCHASE: "because you bought '{}'",
    EventType.RATING: "because you rated '{}'",
}


@register_stage
class History(CandidateStage):
    """The live version's personalised recommender, from the user's latest events."""

    name = "history"

    def propose(self, request: Request) -> Iterable[Scored]:
        if not request.history:
            return ()
        recommender = request.state.models.recommender
        return recommender.recommend([request.history], k=request.k * 2 + 10, exclude_seen=request.exclude_seen)[0]

    def explain(self, scored: Scored, request: Request) -> str:
        because = scored.because[0] if scored.because else None
        if not because:
            return scored.reason
        strongest = request.notes.get("strongest")
        if strongest is None:
            # The strongest event on each history item names what the user did with it.
            strongest = {}
            for event in request.history:
                current = strongest.get(event.item_id)
                if current is None or EVENT_WEIGHTS.get(event.event_type, 0) > EVENT_WEIGHTS.get(current, 0):
                    strongest[event.item_id] = event.event_type
            request.notes["strongest"] = strongest
        template = _BECAUSE.get(strongest.get(because, ""), "because you looked at '{}'")
        return template.format(request.state.catalog.title(because))


@register_stage
class TextProfile(CandidateStage):
    """Items described like the user's recent ones: reaches new products, and users whose
    items have no co-occurrence neighbours yet, before falling back to what is popular."""

    name = "text_profile"

    def propose(self, request: Request) -> Iterable[Scored]:
        profile = request.state.text_profile
        if profile is None or not request.history:
            return ()
        found = profile.recommend([request.history], k=request.k * 2 + len(request.taken))[0]
        return [Scored(item_id=s.item_id, score=s.score, reason="", because=(s.because[0],)) for s in found]

    def explain(self, scored: Scored, request: Request) -> str:
        return f"described like '{request.state.catalog.title(scored.because[0])}'"


@register_stage
class Popularity(CandidateStage):
    """What is popular with shoppers now: the cold-start answer and the last fallback. The
    trained counts plus those of the events learned since (:mod:`cartwise.online`)."""

    name = "popularity"
    personal = False

    def propose(self, request: Request) -> Iterable[Scored]:
        state = request.state
        return online.popular(
            state.models.popularity, state.online, request.k * 2 + len(request.taken), exclude=request.taken
        )

    def explain(self, scored: Scored, request: Request) -> str:
        return "popular with shoppers right now"


@register_stage
class Together(CandidateStage):
    """Items often bought or viewed with the asked item (item-kNN co-occurrence, plus the
    pairs counted since training: :mod:`cartwise.online`)."""

    name = "together"

    def propose(self, request: Request) -> Iterable[Scored]:
        assert request.item_id is not None
        state = request.state
        return online.similar(state.models.itemknn, state.online, request.item_id, request.k * 2 + 10)

    def explain(self, scored: Scored, request: Request) -> str:
        assert request.card is not None
        return f"often chosen together with '{request.card.title}'"


@register_stage
class Alike(CandidateStage):
    """Items whose text embeddings are closest to the asked item's, so a new item with no
    interactions has similar items too."""

    name = "alike"

    def propose(self, request: Request) -> Iterable[Scored]:
        item_id = request.item_id
        vectors = request.state.vectors
        if item_id is None or vectors is None or item_id not in vectors:
            return ()
        found = vectors.search(vectors.vectors([item_id]), request.k * 2 + 10 + 1)
        catalog = request.state.catalog
        return [
            Scored(item_id=str(other), score=float(score), reason="", because=(item_id,))
            for other, score in zip(found.ids[0], found.scores[0])
            if other is not None and other != item_id and other in catalog
        ]

    def explain(self, scored: Scored, request: Request) -> str:
        assert request.card is not None
        return f"described like '{request.card.title}'"


@register_stage
class CategoryPopularity(CandidateStage):
    """Popular items of the asked item's category: fills a similar-items answer."""

    name = "category_popularity"
    personal = False

    def propose(self, request: Request) -> Iterable[Scored]:
        card = request.card
        if card is None or not card.category:
            return ()
        state = request.state
        catalog = state.catalog

        def category_of(item_id: str) -> str | None:
            item = catalog.get(item_id)
            return item.category if item is not None else None

        # The trained counts plus those learned since (:mod:`cartwise.online`), as for Popularity.
        return online.popular(state.models.popularity, state.online, request.k * 2 + len(request.taken),
                              exclude=request.taken, category=card.category, category_of=category_of)

    def explain(self, scored: Scored, request: Request) -> str:
        assert request.card is not None
        return f"popular in {request.card.category}"


__all__ = ["Alike", "CategoryPopularity", "History", "Popularity", "TextProfile", "Together"]
