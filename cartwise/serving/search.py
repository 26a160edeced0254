"""Search and browse pages, built by the "search" and "browse" pipelines.

A query is read first (prices become filters, brands, categories, colours and sizes a
boost, all reported as chips). With no text left to match (an empty box with filters, or
only "under 50") the page browses: the "browse" pipeline lists the filtered items by
popularity. Otherwise the "search" pipeline retrieves, fuses and ranks; when a page finds
nothing it is tried again with the query's own price dropped, then the caller's filters,
then (a lexical search) by meaning only, each step said in `relaxed`. The rules and the
explanations then run on the page that is shown.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np

from cartwise.errors import ValidationError
from cartwise.live import LiveState
from cartwise.recommend import Interaction
from cartwise.results import SearchResponse
from cartwise.rules.touch import touched
from cartwise.search.facets import Facets, count_facets
from cartwise.search.filters import SearchFilters, describe_filters, filter_expressions
from cartwise.search.request import SearchRequest
from cartwise.search.understand import Chip, ParsedQuery
from cartwise.serving.pipeline import Pipeline, item_results
from cartwise.serving.stage import Candidate, SearchTask


@dataclass(frozen=True)
class Attempt:
    """One way of asking: filters, mode, and what was relaxed to get there (None: as asked)."""

    filters: SearchFilters | None
    mode: str
    relaxed: str | None = None


class SearchPages:
    """Answers :class:`~cartwise.search.request.SearchRequest` with the two pipelines."""

    def __init__(self, search: Pipeline, browse: Pipeline) -> None:
        self.search = search
        self.browse = browse

    def answer(
        self, state: LiveState, request: SearchRequest, *, started: float, history: Sequence[Interaction] = ()
    ) -> SearchResponse:
        """The page for `request` on the live `state`; `started`: when the request arrived
        (``time.perf_counter()``), for `took_ms`; `history`: the searching shopper's latest
        events, newest first (the "personal" rank stage leans towards them)."""
        service, query = state.search, request.query
        parsed = service.parse(query) if request.understand else None
        if not query or (parsed is not None and not parsed.text and parsed.chips):
            return self._browse(state, request, parsed, started=started)
        text = parsed.text if parsed is not None else query
        query_filters, chips = service.understood_filters(parsed, request.filters)
        boost = service.boost(parsed)
        attempts = [Attempt(query_filters, request.mode)]
        if request.fallback:
            attempts.extend(_relaxations(request, query_filters, semantic=service.searcher.semantic))
        tried: list[tuple[SearchTask, list[Candidate], Attempt]] = []
        for attempt in attempts:
            task = SearchTask(
                state=state, k=request.k, text=text or query, mode=attempt.mode, filters=attempt.filters,
                offset=request.offset, boost=boost, history=list(history),
            )
            page = list(islice(self.search.ranked(task), request.offset, request.offset + request.k))
            tried.append((task, page, attempt))
            if page or request.offset > 0:
                break
        task, page, _ = tried[-1]
        relaxed = [attempt.relaxed for _, _, attempt in tried if attempt.relaxed is not None]
        if not page:
            # Nothing helped: report the query as asked, not the last thing tried.
            (task, page, _), relaxed = tried[0], []
        add_similarity(task, page)
        items = item_results(task, self.search.page(task, page))
        assert task.retrieval is not None and task.matching is not None
        searched = task.text if task.text != query else None  # with the words synonyms added
        return SearchResponse(
            query=query,
            searched=searched,
            mode=task.mode,
            k=request.k,
            offset=request.offset,
            total=int(task.matching.size),
            filters=describe_filters(task.filters),
            chips=chips,
            relaxed=relaxed,
            corrections=task.retrieval.corrections,
            facets=self._facets(state, task) if request.facets else None,
            items=items,
            took_ms=round((time.perf_counter() - started) * 1000, 3),
            redirect=task.notes.get("redirect"),
            rules=touched(task.notes),
        )

    def _browse(
        self, state: LiveState, request: SearchRequest, parsed: ParsedQuery | None, *, started: float
    ) -> SearchResponse:
        filters, chips = request.filters, list[Chip]()
        if parsed is not None:
            filters, chips = state.search.understood_filters(parsed, request.filters)
        if (filters is None or filters.is_empty) and not chips:
            raise ValidationError("query is empty", field="q", hint="type some words or give a filter")
        # A price the page could not apply (another currency, no rate) browses everything;
        # its chip says why.
        filters = filters or SearchFilters()
        task = SearchTask(state=state, k=request.k, mode="browse", filters=filters, offset=request.offset)
        page = list(islice(self.browse.ranked(task), request.offset, request.offset + request.k))
        items = item_results(task, self.browse.page(task, page))
        assert task.matching is not None
        return SearchResponse(
            query=request.query,
            mode="browse",
            k=request.k,
            offset=request.offset,
            total=int(task.matching.size),
            filters=describe_filters(filters),
            chips=chips,
            facets=self._facets(state, task) if request.facets else None,
            items=items,
            took_ms=round((time.perf_counter() - started) * 1000, 3),
            rules=touched(task.notes),
        )

    @staticmethod
    def _facets(state: LiveState, task: SearchTask) -> Facets:
        assert task.matching is not None
        return count_facets(state.lexical.filter_columns_, task.matching, brand_names=state.search.brand_names)


def add_similarity(task: SearchTask, page: list[Candidate]) -> None:
    """Each candidate's cosine with the query as its "semantic" feature, for a page of a
    search that embedded the query (one product of the page's vectors with the query's;
    an item without a vector gets none)."""
    retrieval = task.retrieval
    if retrieval is None or retrieval.query_vector is None or not page:
        return
    page = [candidate for candidate in page if candidate.row >= 0]
    if not page:
        return
    rows = np.array([candidate.row for candidate in page], dtype=np.int64)
    cosines = task.state.search.searcher.cosines(retrieval.query_vector, rows)
    for candidate, cosine in zip(page, cosines.tolist(), strict=True):
        if np.isfinite(cosine):
            candidate.features["semantic"] = cosine


def _relaxations(request: SearchRequest, query_filters: SearchFilters | None, *, semantic: bool) -> list[Attempt]:
    """What to try, in order, when the page as asked finds nothing."""
    filters, mode = request.filters, request.mode
    attempts = []
    if query_filters != filters:
        attempts.append(Attempt(filters, mode, "ignored the price in your query"))
    if filters is not None and not filters.is_empty:
        attempts.append(Attempt(None, mode, f"removed your filters ({filter_expressions(filters)})"))
    if mode == "lexical" and semantic:
        attempts.append(Attempt(None, "semantic", "no product has these words: showing products close in meaning"))
    return attempts


__all__ = ["Attempt", "SearchPages", "add_similarity"]
