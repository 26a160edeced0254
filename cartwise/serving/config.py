"""The answers the engine runs, as configured cascades of stage names. A new stage is a
class registered with :func:`cartwise.serving.stage.register_stage` and its name here
(or in the `pipelines` an :class:`~cartwise.Engine` is given)."""

from __future__ import annotations

from cartwise.serving.pipeline import Cascade, Tier

# The user's recommender with what shoppers chose together since training added (online
# co-occurrence, serving/online.py), then items described like their recent ones, then
# what is popular. An item with a bid may take the sponsored slot (serving/sponsored.py):
# the third place, filled from the tier that reaches it.
_AD = ("sponsored",)
RECOMMEND = Cascade(
    tiers=(
        Tier(("history", "recent_together"), rank="online_blend", rerank=_AD),
        Tier(("text_profile",), rerank=_AD),
        Tier(("popularity",), rerank=_AD),
    )
)
# Items chosen together with the asked one blended with items described alike, then
# popular items of its category.
SIMILAR = Cascade(
    tiers=(
        Tier(("together", "alike"), rank="blend_similar", rerank=_AD),
        Tier(("category_popularity",), rerank=_AD),
    )
)

# Items close in meaning, then BM25 (in this order: a typo correction must be backed by an
# item close in meaning), fused into one ranking, leaning towards the shopper's own items
# when the search names a shopper with a history ("personal"; without one, unchanged).
# The rules and explanations run on the page shown (an out-of-stock item is still found).
# Every answer then goes through the shop's merchandising rules ("merchandise", after each
# tier's own ranking, the Cascade default); a search's text first gains its synonyms.
SEARCH = Cascade(
    tiers=(Tier(("semantic", "lexical"), merge="fusion", rank="personal", rerank=_AD),),
    rules=("in_catalog",),
    explain="search_reasons",
    rewrite=("synonyms",),
)
# No text to match: the filtered items, most popular first.
BROWSE = Cascade(tiers=(Tier(("filtered_popularity",)),), rules=("available", "unique"))

# The relation placements: the graph's items (serving/relations.py) through the shop's
# rules. A bundle is bought at once, so its items are in stock; alternatives keep the
# graph's order, in stock first.
BUNDLE = Cascade(tiers=(Tier(("related",)),))
ALTERNATIVES = Cascade(tiers=(Tier(("related",)),), rules=("in_catalog", "unique"))

PIPELINES: dict[str, Cascade] = {
    "recommend": RECOMMEND, "similar": SIMILAR, "search": SEARCH, "browse": BROWSE,
    "bundle": BUNDLE, "alternatives": ALTERNATIVES,
}

__all__ = ["ALTERNATIVES", "BROWSE", "BUNDLE", "PIPELINES", "RECOMMEND", "SEARCH", "SIMILAR"]
