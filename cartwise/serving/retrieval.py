"""Candidate stages of search and browsing: where a page's items come from.

Search retrieval is vectorised over the whole index (totals and facets count every match,
and fusion scores each candidate by both sides), so these stages leave their candidates
in the request's :class:`~cartwise.search.hybrid.Retrieval` for the merge stage, which
makes them one list of :class:`~cartwise.serving.stage.Candidate`. Semantic retrieval
runs before lexical retrieval: a typo correction stands only if an item close in meaning
has the corrected word.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from cartwise.recommend import Scored
from cartwise.search.browse import browse
from cartwise.search.hybrid import Retrieval
from cartwise.serving.stage import Candidate, CandidateStage, Request, SearchTask, register_stage


def retrieval_of(request: Request) -> Retrieval:
    """The request's retrieval for its current attempt, started on first use."""
    assert isinstance(request, SearchTask), "search stages answer search requests"
    if request.retrieval is None:
        request.retrieval = request.state.search.searcher.start(
            request.text, mode=request.mode, k=request.k, offset=request.offset, filters=request.filters
        )
    return request.retrieval


@register_stage
class SemanticRetrieval:
    """The items closest in meaning to the query (text encoder and vector index)."""

    name: ClassVar[str] = "semantic"
    kind: ClassVar[str] = "candidates"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        request.state.search.searcher.retrieve_semantic(retrieval_of(request))
        yield from candidates


@register_stage
class LexicalRetrieval:
    """BM25 over the tokenised catalog text (typo corrections, product codes, item ids)."""

    name: ClassVar[str] = "lexical"
    kind: ClassVar[str] = "candidates"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        request.state.search.searcher.retrieve_lexical(retrieval_of(request))
        yield from candidates


@register_stage
class FilteredPopularity(CandidateStage):
    """Browsing: every item within the filters, most popular first."""

    name = "filtered_popularity"
    personal = False

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        assert isinstance(request, SearchTask) and request.filters is not None
        state = request.state
        browsed = browse(state.lexical, state.models.popularity, request.filters)
        request.matching = browsed.rows
        yield from candidates
        for item_id, score in browsed.ranked:
            yield Candidate(Scored(item_id=item_id, score=float(score), reason=""), self, "browse")

    def explain(self, scored: Scored, request: Request) -> str:
        return "matches your filters; ordered by popularity"


__all__ = ["FilteredPopularity", "LexicalRetrieval", "SemanticRetrieval", "retrieval_of"]
