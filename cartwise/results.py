"""What the engine answers: the response contracts shared by the Python API, the CLI
(``--json``) and the HTTP API. Field names are part of the public contract."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from cartwise.feedback.click_model import ClickModelReport
from cartwise.search.autocomplete import Suggestion
from cartwise.search.facets import Facets
from cartwise.search.understand import Chip


class RuleTouch(BaseModel):
    """One merchandising rule (or synonym, or the stock policy) that shaped an answer."""

    rule_id: str
    kind: str = Field(description="the rule's kind: filter, hide, boost, bury, pin, redirect, diversity, collapse, "
                                  "synonym, or inventory (the stock policy)")
    effects: list[str] = Field(default_factory=list, description="what it did, in words")
    items: list[str] = Field(default_factory=list, description="the items it touched (up to 50)")
    conflicts: list[str] = Field(
        default_factory=list, description="what it could not do and why (a pinned item a filter removes)"
    )


class ItemResult(BaseModel):
    """One product in an answer, with why it is there."""

    item_id: str
    title: str
    score: float
    reason: str = Field(description="human-readable explanation of why this item was returned")
    because: list[str] = Field(default_factory=list, description="item ids that led to this result")
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    currency: str | None = None
    in_stock: bool = True
    lexical_score: float | None = Field(default=None, description="BM25 score (search answers)")
    semantic_score: float | None = Field(default=None, description="cosine of query and item text (search answers)")
    stage: str | None = Field(
        default=None,
        description="the serving stage that produced the item: history, text_profile or popularity "
        "(recommendations); together, alike, together+alike or category_popularity (similar items); "
        "lexical, semantic, hybrid or browse (search); sponsored (a paid slot); pinned (a merchandising pin the "
        "answer did not have); or the name of a configured "
        "custom stage",
    )
    sponsored: bool = Field(
        default=False, description="a paid placement: the item's seller bid for it (shown with a label)"
    )
    rules: list[str] = Field(
        default_factory=list, description="ids of the merchandising rules that moved, pinned or grouped this item "
        "(what each did is in `reason`)"
    )


class SearchResponse(BaseModel):
    query: str
    searched: str | None = Field(default=None, description="the text searched, when the query understanding changed it")
    mode: str = Field(default="hybrid", description="lexical, semantic, hybrid, or browse (no query text)")
    k: int
    offset: int = 0
    total: int = Field(default=0, description="number of matching items (all pages)")
    filters: dict[str, Any] = Field(default_factory=dict, description="filters in force, from the request and the query")
    chips: list[Chip] = Field(default_factory=list)
    relaxed: list[str] = Field(default_factory=list, description="what was relaxed because nothing matched")
    corrections: dict[str, str] = Field(default_factory=dict, description="misspelt word -> catalog word searched")
    facets: Facets | None = None
    items: list[ItemResult]
    took_ms: float
    redirect: str | None = Field(default=None, description="a page to open instead of the results (a redirect rule)")
    rules: list[RuleTouch] = Field(
        default_factory=list, description="the merchandising rules, synonyms and stock policy that changed this answer"
    )
    request_id: str | None = Field(
        default=None,
        description="names this answer: send it (with the item's position) on the click, add-to-cart or purchase "
        "events it leads to, so they are credited to it",
    )


class AutocompleteResponse(BaseModel):
    q: str
    suggestions: list[Suggestion]
    took_ms: float


class RecommendationResponse(BaseModel):
    user_id: str
    k: int
    strategy: str = Field(description="'personalised', 'popular' (cold user) or a mix of both")
    items: list[ItemResult]
    took_ms: float
    rules: list[RuleTouch] = Field(
        default_factory=list, description="the merchandising rules, synonyms and stock policy that changed this answer"
    )
    request_id: str | None = Field(
        default=None,
        description="names this answer: send it (with the item's position) on the click, add-to-cart or purchase "
        "events it leads to, so they are credited to it",
    )


class SimilarResponse(BaseModel):
    item_id: str
    k: int
    items: list[ItemResult]
    took_ms: float
    rules: list[RuleTouch] = Field(
        default_factory=list, description="the merchandising rules, synonyms and stock policy that changed this answer"
    )
    request_id: str | None = Field(
        default=None,
        description="names this answer: send it (with the item's position) on the click, add-to-cart or purchase "
        "events it leads to, so they are credited to it",
    )


class ClickedItem(BaseModel):
    item_id: str
    probability: float = Field(description="predicted probability of a click if shown now")


class ClickPrediction(BaseModel):
    """Predicted click-through rates of items for one shopper and placement."""

    user_id: str
    placement: str
    model_version: str
    source: str = Field(description="what the click model learnt from: impressions (logged clicks) or events")
    online_updates: int = Field(
        default=0, description="labelled items the click model's online layer learned from since this model version "
        "went live: each item of an answer a shopper acted on, down to the lowest one acted on (0: the trained "
        "model's own probabilities)")
    items: list[ClickedItem]


RatingBasis = Literal["user and item", "item only", "user only", "global mean"]


class RatingPrediction(BaseModel):
    """A user's predicted star rating of one item."""

    item_id: str
    rating: float = Field(description="predicted rating, within the range of the ratings trained on")
    basis: RatingBasis = Field(
        description="what the prediction rests on: the user's and the item's ratings (taste and biases), "
        "only the item's (a user with no ratings), only the user's (an item nobody rated), or neither "
        "(the mean of all ratings)"
    )


class RatingModelReport(BaseModel):
    """The rating predictor `train` fitted, and how well it did on held-out ratings."""

    ratings: int = Field(description="ratings trained on (a user's latest rating of each item)")
    users: int
    items: int
    iterations: int = Field(description="ALS sweeps: the early-stopped count when validated")
    validation_ratings: int = Field(description="each rater's last rating, held out for early stopping; 0: none")
    validation_rmse: float | None = None
    global_mean_rmse: float | None = Field(
        default=None, description="RMSE of predicting the mean training rating on the same held-out ratings"
    )


class TrainReport(BaseModel):
    version: str
    recommender: str = "itemknn"
    items: int
    chosen_because: list[str] = Field(
        default_factory=list,
        description="why this recommender was chosen, when `train` chose it (recommender 'auto')",
    )
    items_registered_from_events: int = Field(
        default=0,
        description="items that events named and the catalog did not hold, registered with their id as title",
    )
    events: int
    users: int
    excluded_flagged_users: int
    seconds: dict[str, float]
    catalog_version: int
    events_version: int
    clicks: ClickModelReport | None = Field(
        default=None,
        description="the click model: what it learnt from (impressions or events), its AUC, log loss and calibration "
        "on the latest fifth of the data against logistic regression",
    )
    ratings: RatingModelReport | None = Field(
        default=None, description="the rating predictor, when the store held enough rating events"
    )
    validation: dict[str, Any] = Field(
        default_factory=dict,
        description="what held-out events said of the recommender: best epoch and validation NDCG@10 of a "
        "neural model, the weights a blend chose",
    )
    trust: dict[str, Any] = Field(
        default_factory=dict,
        description="what popularity and co-occurrence discounted: shoppers with short histories, events "
        "counted at less than full weight, bursts of new identities on one item, the items whose score fell most",
    )
