"""What the assistant answers: the route and its confidence, the reply, the evidence it
quotes (each with its source), the products of a shopping request, and whether the
question was handed off to a person."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from cartwise.results import ItemResult
from cartwise.search.understand import Chip


class Evidence(BaseModel):
    """A quoted passage or FAQ entry and where it comes from."""

    text: str
    source: str = Field(description="where it comes from, in words")
    kind: str = Field(description="faq, policy, bullets, specs, reviews, qa, description, title, attribute, "
                      "catalog_description")
    doc_id: str
    item_id: str | None = None
    score: float = Field(description="the fused relevance score (dense + lexical) the abstain threshold reads")
    rerank_score: float | None = Field(default=None, description="the reranker's score, which ordered the "
                                       "evidence of an English product question (None when not reranked)")


class AssistAnswer(BaseModel):
    answer_id: str
    conversation_id: str | None = None
    route: Annotated[str, Field(description="product, store or shopping")]
    confidence: float = Field(description="the router's probability of `route`")
    route_scores: dict[str, float]
    reply: str = Field(description="what to show the shopper: a quote of the evidence, an FAQ answer, "
                       "a line introducing the products, or a hand-off")
    answered: bool = Field(description="false when the evidence was not good enough (see handoff)")
    handoff: bool = Field(description="the question was logged for a person to answer")
    evidence: list[Evidence] = Field(default_factory=list)
    item_id: str | None = Field(default=None, description="the product a product question was about")
    items: list[ItemResult] = Field(default_factory=list, description="a shopping request's products")
    query: str | None = Field(default=None, description="the search a shopping request ran")
    request_id: str | None = Field(default=None, description="the search answer's request_id (logged as an "
                                   "impression): events for its items carry it, as for any search")
    chips: list[Chip] = Field(default_factory=list)
    language: str = Field(description="zh or en: the language of the reply")
    ranking: str | None = Field(default=None, description="how a product question's evidence was ordered: "
                                "'reranker' (LightGBM over e5, MiniLM, BM25 and passage features) or 'fused' "
                                "(dense + lexical score; Chinese questions, or the reranker unavailable)")
    diagnostics: list[str] = Field(default_factory=list, description="what did not work as configured, e.g. "
                                   "the reranker not loading (the answer then used the fused score)")
    took_ms: float = 0.0


__all__ = ["AssistAnswer", "Evidence"]
