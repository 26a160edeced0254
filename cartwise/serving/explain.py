"""Explain stages: each chosen item's reason, in words a shopper reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from cartwise.serving.stage import Candidate, Request, register_stage


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


__all__ = ["Reasons"]
