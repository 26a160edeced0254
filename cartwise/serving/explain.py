"""Explain stages: each chosen item's reason, in words a shopper reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from cartwise.serving.stage import Candidate, Request, SearchTask, register_stage


@register_stage
class Reasons:
    """The reason of the stage that proposed each item (a rank stage that merged
    candidates may have written one already)."""

    name: ClassVar[str] = "reasons"
    kind: ClassVar[str] = "explain"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        for candidate in candidates:
            if not candidate.reason:
                explain = getattr(candidate.stage, "explain", None)
                candidate.reason = explain(candidate.scored, request) if explain else candidate.scored.reason
            yield candidate


@register_stage
class SearchReasons:
    """Why a search result was found: the query words it matches and, unless the search
    was by words only, how close it is in meaning ("matches heart, lantern; close in
    meaning (similarity 0.83)")."""

    name: ClassVar[str] = "search_reasons"
    kind: ClassVar[str] = "explain"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        assert isinstance(request, SearchTask) and request.retrieval is not None
        chosen = list(candidates)
        lexical = request.retrieval.lexical
        matched: list[tuple[str, ...]] = [()] * len(chosen)
        if lexical is not None and chosen:
            # A pinned item the index does not hold (row -1) matches no words.
            indexed = [n for n, candidate in enumerate(chosen) if candidate.row >= 0]
            rows = np.array([chosen[n].row for n in indexed], dtype=np.int64)
            scores = np.array([chosen[n].scored.score for n in indexed], dtype=np.float64)
            hits = request.state.search.searcher.lexical.hits(rows, scores, lexical)
            for n, hit in zip(indexed, hits, strict=True):
                matched[n] = hit.matched_terms
        for candidate, terms in zip(chosen, matched, strict=True):
            reasons = []
            if terms:
                reasons.append("matches " + ", ".join(terms))
            cosine = candidate.features.get("semantic")
            if cosine is not None and request.mode != "lexical":
                reasons.append(f"close in meaning (similarity {cosine:.2f})")
            if candidate.features.get("personal"):
                reasons.append("goes with items you chose before")
            # A pinned item the search did not find is there because the shop put it there.
            fallback = "chosen by the shop" if candidate.label == "pinned" else "matches your search"
            candidate.reason = "; ".join(reasons) or fallback
            if candidate.label == "sponsored":
                candidate.reason = "sponsored; " + candidate.reason
            yield candidate


__all__ = ["Reasons", "SearchReasons"]
