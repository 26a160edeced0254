"""The merchandising stages: the shop's rules (:mod:`cartwise.rules`) on every answer.

"merchandise" runs after each tier's own rank stages, in every pipeline (recommend,
similar, search, browse): it applies the request's rule set in the rules' conflict order
(:mod:`cartwise.rules.window`). "synonyms" rewrites a search's text before retrieval,
adding the words the rule set's synonyms give for the words it names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from cartwise.recommend import Scored
from cartwise.rules.scope import AnswerContext, normalise_query
from cartwise.rules.segments import segments_of
from cartwise.rules.touch import record
from cartwise.rules.trial import on_trial
from cartwise.rules.window import apply_rules
from cartwise.serving.stage import Candidate, Request, SearchTask, register_stage

CONTEXT_NOTE = "rules_context"
QUERY_NOTE = "query_as_asked"


def answer_context(request: Request) -> AnswerContext:
    """What the rules' scopes are tested against, worked out once per request."""
    found = request.notes.get(CONTEXT_NOTE)
    if found is not None:
        return found
    trial = on_trial()
    now_ms = trial.now_ms if trial is not None and trial.now_ms is not None else int(time.time() * 1000)
    if isinstance(request, SearchTask):
        placement = "browse" if request.mode == "browse" else "search"
        text = request.notes.get(QUERY_NOTE, request.text)
        category = request.filters.category.casefold() if request.filters and request.filters.category else None
    else:
        placement = request.placement or ("similar" if request.item_id is not None else "recommend")
        text, category = "", None
    context = AnswerContext(
        placement=placement, query=normalise_query(text) if text else "", category=category,
        segments=segments_of(request.history), now_ms=now_ms,
    )
    rules = request.rules
    if rules is not None and rules.uses_semantic_scopes and text:
        context.similarity = _similarity(request, text)
    request.notes[CONTEXT_NOTE] = context
    return context


def _similarity(request: Request, text: str):  # type: ignore[no-untyped-def]
    state, rules = request.state, request.rules
    searcher = state.search.searcher
    if state.encoder is None or not searcher.semantic or rules is None:
        return None
    cached: dict[str, np.ndarray] = {}

    def cosine(phrase: str) -> float | None:
        if "query" not in cached:
            retrieval = getattr(request, "retrieval", None)
            vector = retrieval.query_vector if retrieval is not None and retrieval.query_vector is not None else None
            cached["query"] = np.asarray(vector if vector is not None else searcher.query_vector(text), np.float32)
        query = cached["query"]
        other = np.asarray(rules.phrase_vector(state.encoder, phrase), np.float32)
        norm = float(np.linalg.norm(query) * np.linalg.norm(other))
        return float(query @ other) / norm if norm > 0 else None

    return cosine


@register_stage
class Merchandise:
    """Applies the request's merchandising rules (filters, hides, collapses, boosts,
    buries, diversity, pins, redirects) and the stock policy to a tier's ranking."""

    name: ClassVar[str] = "merchandise"
    kind: ClassVar[str] = "rank"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        rules = request.rules
        if rules is None:
            return candidates
        return apply_rules(rules, request, candidates, answer_context(request), pin_stage=self)

    def explain(self, scored: Scored, request: Request) -> str:
        return "chosen by the shop"


@register_stage
class Synonyms:
    """A search's text with the words its synonyms add (before retrieval)."""

    name: ClassVar[str] = "synonyms"
    kind: ClassVar[str] = "candidates"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        # Not a generator: the text must change now, before any retrieval stage runs.
        rules = request.rules
        if not isinstance(request, SearchTask) or rules is None or not len(rules.synonyms):
            return candidates
        if request.retrieval is not None or not request.text:
            return candidates
        rewrite = rules.synonyms.rewrite(request.notes.get(QUERY_NOTE, request.text))
        if rewrite.applied:
            request.notes.setdefault(QUERY_NOTE, request.text)
            request.text = rewrite.text
            for synonym_id, term, words in rewrite.applied:
                record(request.notes, synonym_id, "synonym", f"searched {term!r} also as {', '.join(words)}")
        return candidates


__all__ = ["Merchandise", "Synonyms", "answer_context"]
