"""Rule stages: what may not be shown. Today stock and de-duplication; merchandising
rules (pins, boosts, bans) are more classes here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from cartwise.serving.stage import Candidate, Request, register_stage


@register_stage
class Available:
    """Only items in the live catalog and in stock."""

    name: ClassVar[str] = "available"
    kind: ClassVar[str] = "rules"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        catalog = request.state.catalog
        for candidate in candidates:
            card = catalog.get(candidate.scored.item_id)
            if card is not None and card.in_stock:
                yield candidate


@register_stage
class InCatalog:
    """Only items in the live catalog (search: an item out of stock is still found; the
    shopper filters on stock)."""

    name: ClassVar[str] = "in_catalog"
    kind: ClassVar[str] = "rules"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        catalog = request.state.catalog
        for candidate in candidates:
            if candidate.scored.item_id in catalog:
                yield candidate


@register_stage
class Unique:
    """No item twice, none the user has seen (when excluded), never the asked item."""

    name: ClassVar[str] = "unique"
    kind: ClassVar[str] = "rules"

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        taken = request.taken
        for candidate in candidates:
            if candidate.scored.item_id not in taken:
                yield candidate


__all__ = ["Available", "InCatalog", "Unique"]
