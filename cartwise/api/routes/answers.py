"""Search, recommendations, similar items and predicted ratings."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.schemas import (
    ClickPredictionRequest,
    ErrorBody,
    RatingPredictionRequest,
    RatingPredictionResponse,
)
from cartwise.catalog.item import normalise_category
from cartwise.engine import Engine
from cartwise.errors import ValidationError
from cartwise.limits import (
    MAX_FILTER_LENGTH,
    MAX_ID_LENGTH,
    MAX_K,
    MAX_OFFSET,
    MAX_PREFIX_LENGTH,
    MAX_QUERY_LENGTH,
    MAX_SUGGESTIONS,
)
from cartwise.results import (
    AutocompleteResponse,
    ClickPrediction,
    RecommendationResponse,
    SearchResponse,
    SimilarResponse,
)
from cartwise.search.filters import SearchFilters, combine_filters, parse_filters
from cartwise.search.request import SearchRequest

router = APIRouter(
    prefix="/v1", tags=["answers"], route_class=KeyFirstRoute, dependencies=[require(Scope.SEARCH)]
)

# These handlers are `async` on purpose: each answer is well under a millisecond of
# in-memory work plus at most one indexed SQLite read, so running it on the event loop
# is cheaper than the hop to a worker thread that a plain `def` handler costs.

ERRORS = {404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}}
K = Annotated[int, Query(ge=1, le=MAX_K, description="number of results")]
UserId = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="the shopper, when known: their later clicks are credited to this answer without a request_id",
    ),
]


def search_request(
    q: Annotated[str, Query(max_length=MAX_QUERY_LENGTH, description="what the shopper typed")] = "",
    k: K = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    filter: Annotated[
        list[str] | None,
        Query(description="repeatable: category=Home > Kitchen, brand=Acme, price<=20, price=5..20, in_stock=true"),
    ] = None,
    category: Annotated[str | None, Query(max_length=MAX_FILTER_LENGTH)] = None,
    brand: Annotated[str | None, Query(max_length=MAX_FILTER_LENGTH, description="one brand or a comma-separated list")] = None,
    price_min: Annotated[float | None, Query(ge=0)] = None,
    price_max: Annotated[float | None, Query(ge=0)] = None,
    in_stock: bool | None = None,
    mode: Annotated[
        Literal["hybrid", "lexical", "semantic"],
        Query(description="hybrid: words and meaning fused (default); lexical: BM25 only; semantic: meaning only"),
    ] = "hybrid",
    understand: Annotated[
        bool, Query(description="read prices, brands, categories, colours, sizes out of the query")
    ] = True,
    fallback: Annotated[bool, Query(description="when nothing matches, relax filters, then search by meaning")] = True,
    facets: Annotated[bool, Query(description="count categories, brands, price buckets and stock")] = True,
) -> SearchRequest:
    """The query string as one typed request: the `filter=` expressions read once, the
    typed filter fields added to them."""
    filters = parse_filters(filter) if filter else None
    fields = _filter_fields(category, brand, price_min, price_max, in_stock)
    if fields is not None:
        filters = combine_filters(filters, fields) if filters is not None else fields
    return SearchRequest(
        q, k=k, offset=offset, filters=filters, mode=mode, understand=understand, fallback=fallback, facets=facets
    )


def _filter_fields(
    category: str | None, brand: str | None, price_min: float | None, price_max: float | None, in_stock: bool | None
) -> SearchFilters | None:
    """The typed filter parameters as filters (None when none is given); an empty
    `category` or `brand` is no filter."""
    if not category and not brand and price_min is None and price_max is None and in_stock is None:
        return None
    if category and not normalise_category(category):
        raise ValidationError(
            f"category filter 'category={category}' names no category; e.g. 'category=Home > Kitchen'",
            field="category",
        )
    brands: dict[str, str] = {}  # the first spelling of each brand, ignoring case
    for name in (brand or "").split(","):
        if name.strip():
            brands.setdefault(name.strip().casefold(), name.strip())
    if brand and not brands:
        raise ValidationError(f"filter 'brand={brand}' names no brand; e.g. 'brand=Acme,Other'", field="brand")
    return SearchFilters(
        category=category or None, brands=tuple(brands.values()), price_min=price_min, price_max=price_max, in_stock=in_stock
    )


@router.get("/search", response_model=SearchResponse, responses=ERRORS)
def search(
    engine: Annotated[Engine, Depends(get_engine)],
    request: Annotated[SearchRequest, Depends(search_request)],
    user_id: UserId = None,
) -> SearchResponse:
    """Product search in English and Chinese: BM25 and a multilingual text encoder fused,
    with query understanding (reported as `chips`), facets, typo tolerance and a
    zero-result fallback (reported in `relaxed`).

    A plain (threaded) handler, not `async`: encoding the query with the text model takes
    milliseconds of CPU, which would stall every other request on the event loop."""
    return engine.search(request=request, user_id=user_id)


@router.get("/autocomplete", response_model=AutocompleteResponse, responses=ERRORS)
async def autocomplete(
    engine: Annotated[Engine, Depends(get_engine)],
    q: Annotated[str, Query(max_length=MAX_PREFIX_LENGTH, description="what the shopper has typed so far")] = "",
    k: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS)] = 8,
) -> AutocompleteResponse:
    """Suggestions from popular past searches, categories, brands and product titles."""
    return engine.autocomplete(q, k=k)


# Ids are `:path` parameters so that ids with a slash (SKU/123) can be asked about.
@router.get("/users/{user_id:path}/recommendations", response_model=RecommendationResponse, responses=ERRORS)
async def recommendations(
    user_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    engine: Annotated[Engine, Depends(get_engine)],
    k: K = 10,
    exclude_seen: bool = True,
) -> RecommendationResponse:
    """Personalised recommendations; unknown users get what is popular."""
    return engine.recommend(user_id, k=k, exclude_seen=exclude_seen)


@router.get("/items/{item_id:path}/similar", response_model=SimilarResponse, responses=ERRORS)
async def similar(
    item_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    engine: Annotated[Engine, Depends(get_engine)],
    k: K = 10,
    user_id: UserId = None,
) -> SimilarResponse:
    """Items chosen together with this one, then popular items of its category."""
    return engine.similar(item_id, k=k, user_id=user_id)


@router.post("/ratings/predict", response_model=RatingPredictionResponse, responses=ERRORS)
async def predict_ratings(
    body: RatingPredictionRequest, engine: Annotated[Engine, Depends(get_engine)]
) -> RatingPredictionResponse:
    """The star rating a user would give each item, from the rating predictor that
    `cartwise train` fits on `rating` events (409 when the live model has none)."""
    return RatingPredictionResponse(user_id=body.user_id, items=engine.predict_ratings(body.user_id, body.item_ids))


@router.post("/clicks/predict", response_model=ClickPrediction, responses=ERRORS)
def predict_clicks(body: ClickPredictionRequest, engine: Annotated[Engine, Depends(get_engine)]) -> ClickPrediction:
    """The probability that the shopper clicks each item if shown now in `placement`, from
    the click model `cartwise train` fits (409 when the live version has none)."""
    return engine.predict_clicks(body.user_id, body.item_ids, placement=body.placement)
