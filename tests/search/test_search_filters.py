import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwise.catalog.item import category_levels
from cartwise.errors import ValidationError
from cartwise.search import SearchFilters, parse_filters
from cartwise.search.filters import FilterColumns


@pytest.mark.parametrize(
    "expressions, expected",
    [
        ([], SearchFilters()),
        (["category=Home > Kitchen"], SearchFilters(category="Home > Kitchen")),
        (["category = home>kitchen "], SearchFilters(category="home > kitchen")),
        (["brand=Acme"], SearchFilters(brands=("Acme",))),
        (["brand=Acme,Other", "brand=acme"], SearchFilters(brands=("Acme", "Other"))),
        (["price<=20"], SearchFilters(price_max=20.0)),
        (["price>=5"], SearchFilters(price_min=5.0)),
        (["price=5..20"], SearchFilters(price_min=5.0, price_max=20.0)),
        (["price=..20"], SearchFilters(price_max=20.0)),
        (["price=7"], SearchFilters(price_min=7.0, price_max=7.0)),
        (["price>=5", "price<=20", "price<=30"], SearchFilters(price_min=5.0, price_max=20.0)),
        (["in_stock=true"], SearchFilters(in_stock=True)),
        (["in_stock=no"], SearchFilters(in_stock=False)),
        (["brand:Sony", "price <= 300", "in_stock=1"], SearchFilters(brands=("Sony",), price_max=300.0, in_stock=True)),
    ],
)
def test_valid_expressions(expressions, expected):
    assert parse_filters(expressions) == expected


@pytest.mark.parametrize(
    "expression, field",
    [
        ("colour=red", "colour"),
        ("Acme", "filter"),
        ("brand=", "brand"),
        ("brand= , ", "brand"),
        ("brand>=Acme", "brand"),
        ("price<=cheap", "price"),
        ("price<=-1", "price"),
        ("price<=nan", "price"),
        ("price<20", "price"),
        ("price=20..5", "price"),
        ("price=..", "price"),
        ("in_stock=maybe", "in_stock"),
        ("category= > ", "category"),
    ],
)
def test_invalid_expressions_name_the_field_and_show_an_example(expression, field):
    with pytest.raises(ValidationError) as caught:
        parse_filters([expression])
    error = caught.value
    assert error.field == field
    if field != "filter":
        assert field in error.message
    assert "e.g." in error.message or "such as" in error.message or "write 'price" in error.message


def test_conflicting_expressions_are_refused():
    with pytest.raises(ValidationError, match="category"):
        parse_filters(["category=Home", "category=Outdoor"])
    with pytest.raises(ValidationError, match="in_stock"):
        parse_filters(["in_stock=true", "in_stock=false"])
    with pytest.raises(ValidationError, match="price"):
        parse_filters(["price>=20", "price<=5"])


def test_a_single_string_is_one_expression():
    assert parse_filters("brand=Acme") == SearchFilters(brands=("Acme",))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=4))
def test_parser_only_ever_raises_validation_errors(expressions):
    try:
        result = parse_filters(expressions)
    except ValidationError as error:
        assert error.message and error.field
    else:
        assert isinstance(result, SearchFilters)


@given(
    low=st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
    high=st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_price_expressions_round_trip(low, high):
    expressions = []
    if low is not None:
        expressions.append(f"price>={low!r}")
    if high is not None:
        expressions.append(f"price<={high!r}")
    if low is not None and high is not None and low > high:
        with pytest.raises(ValidationError):
            parse_filters(expressions)
        return
    assert parse_filters(expressions) == SearchFilters(price_min=low, price_max=high)


def reference_mask(items, filters: SearchFilters) -> np.ndarray:
    """The filter semantics, one item at a time."""
    keep = []
    for row in items.iter_rows(named=True):
        ok = True
        if filters.category is not None:
            ok &= filters.category.casefold() in {c.casefold() for c in category_levels(row["category"])}
        if filters.brands:
            ok &= (row["brand"] or "").casefold() in {b.casefold() for b in filters.brands}
        if filters.price_min is not None:
            ok &= row["price"] is not None and row["price"] >= filters.price_min
        if filters.price_max is not None:
            ok &= row["price"] is not None and row["price"] <= filters.price_max
        if filters.in_stock is not None:
            ok &= (True if row["in_stock"] is None else row["in_stock"]) == filters.in_stock
        keep.append(ok)
    return np.array(keep, dtype=bool)


CATEGORIES = ["Home", "home > KITCHEN", "Home > Kitchen > Mugs", "Fashion > Women", "Outdoor > Shoes",
              "Electronics > Audio", "Nowhere", "Home > Kitch"]
BRANDS = ["Acme", "acme", "Trail", "Sony", "美衣", "Nobody"]


@settings(max_examples=150, deadline=None)
@given(
    category=st.none() | st.sampled_from(CATEGORIES),
    brands=st.lists(st.sampled_from(BRANDS), max_size=3, unique=True),
    price_min=st.none() | st.sampled_from([0.0, 8.5, 9.0, 50.0]),
    price_max=st.none() | st.sampled_from([8.5, 30.0, 100.0, 1000.0]),
    in_stock=st.none() | st.booleans(),
)
def test_mask_matches_the_reference(items, category, brands, price_min, price_max, in_stock):
    if price_min is not None and price_max is not None and price_min > price_max:
        price_min, price_max = price_max, price_min
    filters = SearchFilters(
        category=category, brands=tuple(brands), price_min=price_min, price_max=price_max, in_stock=in_stock
    )
    columns = FilterColumns.from_items(items)
    assert np.array_equal(filters.mask(columns), reference_mask(items, filters))
    restored = FilterColumns.from_arrays(columns.arrays())
    assert np.array_equal(filters.mask(restored), filters.mask(columns))


def test_mask_examples(items):
    columns = FilterColumns.from_items(items)
    ids = items.get_column("item_id").to_numpy()

    def chosen(**kwargs):
        return set(ids[SearchFilters(**kwargs).mask(columns)])

    assert chosen(category="Home > Kitchen") == {"mug-red", "mug-blue", "teapot", "kettle", "knife"}
    assert chosen(brands=("acme",)) == {"mug-red", "mug-blue", "knife"}
    assert "earbuds" not in chosen(price_max=1000.0)  # no price: excluded once a bound is set
    assert chosen(in_stock=False) == {"bose-qc45", "boots"}
    assert len(chosen()) == items.height


def test_direct_construction_is_validated():
    with pytest.raises(ValidationError, match="price"):
        SearchFilters(price_min=10, price_max=5)
    with pytest.raises(ValidationError):
        SearchFilters(price_max=math.inf)
    assert SearchFilters(brands="Acme").brands == ("Acme",)  # type: ignore[arg-type]
    assert SearchFilters().is_empty and not SearchFilters(in_stock=True).is_empty


_EXPRESSIONS = st.sampled_from([
    "category=Home", "category=home > kitchen", "category=Outdoor", "brand=Acme", "brand=acme,Other", "brand=Trail",
    "price>=5", "price<=20", "price=3..8", "price=10", "in_stock=true", "in_stock=false",
])


@settings(max_examples=300, deadline=None)
@given(first=st.lists(_EXPRESSIONS, max_size=3), second=st.lists(_EXPRESSIONS, max_size=3))
def test_combining_filters_is_parsing_the_expressions_together(first, second):
    """Typed filter fields (HTTP `price_min=`, ...) combine with parsed `filter=` strings
    exactly as the expressions would combine in one parse: same filters, or both refused."""
    from cartwise.search.filters import combine_filters

    try:
        together = parse_filters(first + second)
    except ValidationError:
        together = None
    try:
        combined = combine_filters(parse_filters(first), parse_filters(second))
    except ValidationError:
        combined = None
    assert combined == together
