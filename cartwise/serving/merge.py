"""Merge stages: one list from what a tier's candidate stages retrieved. Today search's
fusion of lexical and semantic retrieval (:mod:`cartwise.search.hybrid`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from cartwise.recommend import Scored
from cartwise.serving.retrieval import retrieval_of
from cartwise.serving.stage import Candidate, Request, SearchTask, register_stage


@register_stage
class Fusion:
    """Lexical and semantic candidates fused into one ranking (the searcher's
    :class:`~cartwise.search.hybrid.Fusion` settings: normalised weighted sum, product
    codes, the query's brands and categories as a boost, typed item ids first). Each
    candidate carries its BM25 score (feature "lexical", where lexical retrieval ran)
    and its lexical-index row; its cosine with the query ("semantic") is added for the
    page shown (:func:`cartwise.serving.search.add_similarity`); a rank stage wanting it
    for every candidate asks the searcher (``searcher.cosines(query_vector, rows)``)."""

    name: ClassVar[str] = "fusion"
    kind: ClassVar[str] = "merge"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        assert isinstance(request, SearchTask)
        for _ in candidates:  # the retrieval stages fill the retrieval, proposing no items
            pass
        retrieval = retrieval_of(request)
        searcher = request.state.search.searcher
        rows, final = searcher.fuse(retrieval, request.boost)
        request.matching, request.mode = retrieval.matching, retrieval.mode
        order = np.lexsort((rows, -final))
        rows, final = rows[order], final[order]
        ids = searcher.lexical.item_ids_[rows].tolist()
        lexical = retrieval.lexical.scores[rows].tolist() if retrieval.lexical is not None else None
        for position, (item_id, row, score) in enumerate(zip(ids, rows.tolist(), final.tolist(), strict=True)):
            features = {"lexical": lexical[position]} if lexical is not None else {}
            yield Candidate(
                Scored(item_id=str(item_id), score=score, reason=""), self, retrieval.mode, row=row, features=features
            )


__all__ = ["Fusion"]
