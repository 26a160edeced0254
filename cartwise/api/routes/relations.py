"""The product relation graph: related items by kind, and the bundle and alternatives placements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.schemas import ErrorBody
from cartwise.engine import Engine
from cartwise.graph.answers import MAX_BUNDLE, RelationAnswers
from cartwise.graph.results import AlternativesResponse, BundleResponse, RelatedResponse, RelationKindInfo
from cartwise.limits import MAX_ID_LENGTH, MAX_K

router = APIRouter(
    prefix="/v1", tags=["relations"], route_class=KeyFirstRoute, dependencies=[require(Scope.SEARCH)]
)

ERRORS = {404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}}
ItemId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
UserId = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_ID_LENGTH, description="the shopper, when known: credits their later clicks"),
]


@router.get("/relations", response_model=list[RelationKindInfo])
async def relation_kinds() -> list[RelationKindInfo]:
    """The relation kinds `related?type=` accepts."""
    return RelationAnswers.kinds()


# Ids are `:path` parameters so that ids with a slash (SKU/123) can be asked about.
@router.get("/items/{item_id:path}/related", response_model=RelatedResponse, responses=ERRORS)
async def related(
    item_id: ItemId,
    engine: Annotated[Engine, Depends(get_engine)],
    type: Annotated[str, Query(max_length=40, description="relation kind: complements, substitutes, co_bought, "
                                                          "co_viewed, bought_after, variants, same_brand, "
                                                          "same_series, same_category, attributes")] = "complements",
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
) -> RelatedResponse:
    """Items related to this one by one relation kind, best first, each with its evidence
    (basket counts, support, confidence and lift; text similarity; the shared brand or attribute)."""
    return engine.related(item_id, type=type, k=k)


@router.get("/items/{item_id:path}/bundle", response_model=BundleResponse, responses=ERRORS)
async def bundle(
    item_id: ItemId,
    engine: Annotated[Engine, Depends(get_engine)],
    k: Annotated[int, Query(ge=1, le=MAX_BUNDLE, description="companions besides the item")] = 2,
    user_id: UserId = None,
) -> BundleResponse:
    """Frequently bought together: the item and the in-stock items bought with it more often
    than chance (complements first), with the bundle's total price."""
    return engine.bundle(item_id, k=k, user_id=user_id)


@router.get("/items/{item_id:path}/alternatives", response_model=AlternativesResponse, responses=ERRORS)
async def alternatives(
    item_id: ItemId,
    engine: Annotated[Engine, Depends(get_engine)],
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
    user_id: UserId = None,
) -> AlternativesResponse:
    """Substitutes: items described alike and viewed together but rarely bought together,
    those in stock first."""
    return engine.alternatives(item_id, k=k, user_id=user_id)
