"""Relation answers over the live catalog: related items by kind, the bundle and the
alternatives placements (logged as impressions like every answer shoppers see).

The engine hands in the live catalog and model version; this module checks the request,
reads the live graph (:class:`~cartwise.graph.live.LiveGraph`), drops items the catalog no
longer holds and puts the catalog's cards on the rest.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path

import polars as pl

from cartwise.catalog import CatalogSnapshot
from cartwise.errors import NotFound, ValidationError
from cartwise.events.event import now_ms
from cartwise.feedback import Impression, ImpressionLog, ShownItem, new_request_id
from cartwise.graph import kinds
from cartwise.graph.kinds import Edge
from cartwise.graph.live import LiveGraph
from cartwise.graph.placements import alternatives, bundle_companions
from cartwise.graph.results import (
    AlternativesResponse,
    BundleResponse,
    RelatedItem,
    RelatedResponse,
    RelationKindInfo,
    Screen,
)
from cartwise.limits import MAX_ID_LENGTH, MAX_K
from cartwise.recommend import Scored
from cartwise.results import RuleTouch
from cartwise.store import Store

# A bundle is a handful of items shown together; more is a list, not a bundle.
MAX_BUNDLE = 10
BUNDLE_PLACEMENT = "bundle"
ALTERNATIVES_PLACEMENT = "alternatives"
# Items proposed beyond `k` to a placement's rules, so a filter or a hide leaves it full.
SCREEN_SPARE = 20
# The relation of an item the shop's rules put in a placement (a pin), not the graph.
PINNED = "pinned"


def _check_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{field} is longer than {MAX_ID_LENGTH} characters", field=field)
    return value.strip()


def _check_k(k: object, limit: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        raise ValidationError(f"k must be an integer from 1 to {limit}, got {k!r}", field="k")
    return k


class RelationAnswers:
    """Answers from the relation graph of the live model version."""

    def __init__(self, *, models_dir: Path, impressions: ImpressionLog | None = None) -> None:
        self.live = LiveGraph(models_dir=models_dir)
        self.impressions = impressions

    @staticmethod
    def kinds() -> list[RelationKindInfo]:
        return [
            RelationKindInfo(name=name, description=kinds.get(name).description, source=kinds.get(name).source)
            for name in kinds.names()
        ]

    def related(
        self, catalog: CatalogSnapshot, version: str, item_id: str, *, type: str, k: int = 10
    ) -> RelatedResponse:
        """Items related to `item_id` by the relation kind `type`, best first, with evidence."""
        started = time.perf_counter()
        item_id = self._known(catalog, item_id)
        kind = kinds.get(type)
        _check_k(k, MAX_K)
        graph = self.live.graph(version)
        edges = [edge for edge in kind.find(graph, item_id, k + 20) if edge.item_id in catalog][:k]
        return RelatedResponse(
            item_id=item_id, type=kind.name, k=k, model_version=version,
            items=[_item(catalog, kind.name, edge) for edge in edges],
            took_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def bundle(
        self, catalog: CatalogSnapshot, version: str, item_id: str, *, k: int = 2, user_id: str | None = None,
        screen: Screen | None = None, log: bool = True,
    ) -> BundleResponse:
        """"Frequently bought together": `item_id` and up to `k` in-stock companions, with
        the price of them all. `screen`: the shop's rules for the placement (None: none);
        `log`: record the answer as an impression (not for a dry run's answers)."""
        started = time.perf_counter()
        item_id = self._known(catalog, item_id)
        _check_k(k, MAX_BUNDLE)
        user_id = _check_id(user_id, "user_id") if user_id is not None else None
        graph = self.live.graph(version)

        def available(other: str) -> bool:
            card = catalog.get(other)
            return card is not None and card.in_stock

        companions = bundle_companions(graph, item_id, k + (SCREEN_SPARE if screen else 0), available=available)
        shown, touches = _screened(screen, item_id, companions, k)
        anchor = _item(catalog, "item", Edge(item_id, 1.0, {}))
        items = [anchor, *(_item(catalog, relation, edge, rules) for relation, edge, rules in shown)]
        total, currency, note = _total(items)
        if not shown:
            note = "no item is bought with this one more often than chance yet"
        elif len(shown) < k and note is None:
            note = f"only {len(shown)} item(s) are bought with this one more often than chance"
        response = BundleResponse(
            item_id=item_id, k=k, items=items, total_price=total, currency=currency, note=note, rules=touches,
            took_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        response.request_id = self._log(BUNDLE_PLACEMENT, items, version=version, user_id=user_id, log=log)
        return response

    def alternatives(
        self, catalog: CatalogSnapshot, version: str, item_id: str, *, k: int = 5, user_id: str | None = None,
        screen: Screen | None = None, log: bool = True,
    ) -> AlternativesResponse:
        """Substitutes of `item_id`, those in stock first. `screen` and `log`: as for
        :meth:`bundle`."""
        started = time.perf_counter()
        item_id = self._known(catalog, item_id)
        _check_k(k, MAX_K)
        user_id = _check_id(user_id, "user_id") if user_id is not None else None
        graph = self.live.graph(version)

        def in_stock(other: str) -> bool:
            card = catalog.get(other)
            return card is not None and card.in_stock

        edges = alternatives(graph, item_id, k + (SCREEN_SPARE if screen else 0), available=catalog.__contains__,
                             in_stock=in_stock)
        shown, touches = _screened(screen, item_id, [("substitutes", edge) for edge in edges], k)
        items = [_item(catalog, relation, edge, rules) for relation, edge, rules in shown]
        response = AlternativesResponse(
            item_id=item_id, k=k, items=items, rules=touches, took_ms=round((time.perf_counter() - started) * 1000, 3)
        )
        response.request_id = self._log(ALTERNATIVES_PLACEMENT, items, version=version, user_id=user_id, log=log)
        return response

    def learn(
        self, store: Store, events: pl.DataFrame, *, version: str | None, flagged: Collection[str] | None = None
    ) -> None:
        """Add the baskets that stored `events` changed to the live graph of `version`
        (shoppers in `flagged`, bots, left out; None: read from the store)."""
        self.live.learn(store, events, version=version, flagged=flagged)

    @staticmethod
    def _known(catalog: CatalogSnapshot, item_id: str) -> str:
        item_id = _check_id(item_id, "item_id")
        if item_id not in catalog:
            raise NotFound(f"item {item_id!r} is not in the catalog", field="item_id")
        return item_id

    def _log(self, placement: str, items: list[RelatedItem], *, version: str, user_id: str | None, log: bool) -> str:
        request_id = new_request_id()
        if self.impressions is not None and log:
            self.impressions.record(
                Impression(
                    request_id=request_id, ts=now_ms(), placement=placement,
                    items=tuple(ShownItem(i.item_id, i.relation, i.score) for i in items),
                    user_id=user_id, model_version=version,
                )
            )
        return request_id


def _screened(
    screen: Screen | None, item_id: str, found: list[tuple[str, Edge]], k: int
) -> tuple[list[tuple[str, Edge, tuple[str, ...]]], list[RuleTouch]]:
    """The placement's items after the shop's rules (each with the rules that touched it),
    and what the rules did; without rules, the first `k` found."""
    if screen is None:
        return [(relation, edge, ()) for relation, edge in found[:k]], []
    by_id = {edge.item_id: (relation, edge) for relation, edge in found}
    result = screen(item_id, [Scored(edge.item_id, edge.score, relation) for relation, edge in found], k)
    shown = []
    for item in result.items:
        relation, edge = by_id.get(item.item_id, (PINNED, Edge(item.item_id, 0.0, {})))
        shown.append((relation, edge, item.rules))
    return shown, result.rules


def _item(catalog: CatalogSnapshot, relation: str, edge: Edge, rules: tuple[str, ...] = ()) -> RelatedItem:
    card = catalog.get(edge.item_id)
    return RelatedItem(
        item_id=edge.item_id, title=card.title if card else edge.item_id, relation=relation,
        score=round(float(edge.score), 6), evidence=edge.evidence,
        category=card.category if card else None, brand=card.brand if card else None,
        price=card.price if card else None, currency=card.currency if card else None,
        in_stock=card.in_stock if card else False, rules=list(rules),
    )


def _total(items: list[RelatedItem]) -> tuple[float | None, str | None, str | None]:
    """The bundle's price, its currency, and why there is none."""
    if any(item.price is None for item in items):
        return None, None, "an item of the bundle has no price"
    currencies = {item.currency for item in items}
    if len(currencies) > 1:
        return None, None, f"the items are priced in several currencies ({', '.join(sorted(map(str, currencies)))})"
    return round(sum(item.price or 0.0 for item in items), 2), currencies.pop(), None


__all__ = ["ALTERNATIVES_PLACEMENT", "BUNDLE_PLACEMENT", "MAX_BUNDLE", "RelationAnswers"]
