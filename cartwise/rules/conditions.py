"""Conditions on items: which items a filter keeps, a boost lifts, a diversity rule counts.

A condition is a mapping of item fields to what they must be, all of them at once::

    brand: [Acme, Brew]          # any of these (text compares ignoring case)
    category: Home > Kitchen     # the item's category or any category under it
    price: {min: 5, max: 20}     # also above / below (exclusive), not, exists, contains
    in_stock: true
    stock: {below: 5}            # the item attribute "stock" (units left)
    margin: {min: 0.3}           # the item attribute "margin"
    age_days: {max: 30}          # days since the item's created_at (newness)
    attributes.color: red        # any other attribute, by name ("color: red" works too)

Conditions are compiled once into predicates over an :class:`ItemView`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cartwise.catalog.item import normalise_category
from cartwise.catalog.snapshot import CatalogSnapshot, ItemCard
from cartwise.rules.document import Fields

DAY_MS = 86_400_000
NUMERIC_FIELDS = ("price", "stock", "margin", "age_days")
OPERATORS = ("min", "max", "above", "below", "not", "exists", "contains", "any")


@dataclass(slots=True)
class ItemView:
    """What a condition may read about one item."""

    card: ItemCard
    attributes: dict[str, Any]
    created_ms: int | None
    now_ms: int

    @classmethod
    def of(cls, catalog: CatalogSnapshot, item_id: str, *, now_ms: int) -> ItemView | None:
        card = catalog.get(item_id)
        if card is None:
            return None
        created = getattr(catalog, "created_ms", {}).get(item_id)
        attributes = catalog.attributes(item_id) if hasattr(catalog, "attributes") else {}
        return cls(card=card, attributes=attributes, created_ms=created, now_ms=now_ms)

    def value(self, name: str) -> Any:
        card = self.card
        if name == "price":
            return card.price
        if name == "brand":
            return card.brand
        if name == "category":
            return card.category
        if name == "in_stock":
            return card.in_stock
        if name == "item_id":
            return card.item_id
        if name == "title":
            return card.title
        if name == "age_days":
            return None if self.created_ms is None else max(self.now_ms - self.created_ms, 0) / DAY_MS
        name = name.removeprefix("attributes.")
        value = self.attributes.get(name)
        if name in ("stock", "margin") and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return None
        return value

    def number(self, name: str) -> float | None:
        value = self.value(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)


Predicate = Callable[[ItemView], bool]


@dataclass(frozen=True)
class Condition:
    """A compiled condition; `text` is how it was written (for explanations)."""

    tests: tuple[tuple[str, Predicate], ...] = ()
    text: str = "every item"
    fields: tuple[str, ...] = field(default=())

    def __call__(self, item: ItemView) -> bool:
        return all(test(item) for _, test in self.tests)

    @property
    def everything(self) -> bool:
        return not self.tests


EVERYTHING = Condition()


def read_condition(fields: Fields | None) -> Condition:
    """The condition written in `fields` (None: every item)."""
    if fields is None or not fields.ok:
        return EVERYTHING
    tests: list[tuple[str, Predicate]] = []
    parts = []
    for name in list(fields.data):
        raw = fields.get(name)
        test = _field_test(name, raw, fields)
        if test is not None:
            tests.append((name, test))
            parts.append(f"{name} {_describe(raw)}")
    if not tests:
        return EVERYTHING
    return Condition(tests=tuple(tests), text=", ".join(parts), fields=tuple(name for name, _ in tests))


def _field_test(name: str, raw: Any, fields: Fields) -> Predicate | None:
    if name == "category":
        return _category_test(raw, fields, name)
    if isinstance(raw, dict):
        return _operator_test(name, raw, fields)
    if isinstance(raw, list):
        if not raw:
            fields.problem(name, "an empty list matches nothing; leave the field out instead")
            return None
        wanted = [_comparable(v) for v in raw]
        if any(isinstance(v, (dict, list)) for v in raw):
            fields.problem(name, "a list holds plain values (texts, numbers, true/false)")
            return None
        return lambda item: _comparable(item.value(name)) in wanted
    if raw is None:
        fields.problem(name, "give a value, a list of values or a mapping of operators (min, max, ...)")
        return None
    if name in NUMERIC_FIELDS and (isinstance(raw, bool) or not isinstance(raw, (int, float))):
        fields.problem(name, f"{name} is a number; compare it with a number or with min/max")
        return None
    wanted_one = _comparable(raw)
    return lambda item: _comparable(item.value(name)) == wanted_one


def _category_test(raw: Any, fields: Fields, name: str) -> Predicate | None:
    values = raw if isinstance(raw, list) else [raw]
    paths = []
    for value in values:
        path = normalise_category(value) if isinstance(value, str) else None
        if path is None:
            fields.problem(name, f"expected a category path such as 'Home > Kitchen', got {value!r}")
            return None
        paths.append(path.casefold())

    def under(item: ItemView) -> bool:
        category = item.card.category
        if not category:
            return False
        folded = category.casefold()
        return any(folded == path or folded.startswith(path + " >") for path in paths)

    return under


def _operator_test(name: str, raw: dict[str, Any], fields: Fields) -> Predicate | None:
    tests: list[Predicate] = []
    for op, value in raw.items():
        place = f"{name}.{op}"
        if op not in OPERATORS:
            fields.problem(place, f"unknown operator {op!r}; use {', '.join(OPERATORS)}")
            return None
        if op in ("min", "max", "above", "below"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                fields.problem(place, f"{op} needs a number, got {value!r}")
                return None
            bound = float(value)
            compare = {
                "min": lambda v, b=bound: v >= b, "max": lambda v, b=bound: v <= b,
                "above": lambda v, b=bound: v > b, "below": lambda v, b=bound: v < b,
            }[op]
            tests.append(lambda item, c=compare: (v := item.number(name)) is not None and c(v))
        elif op in ("not", "any"):
            values = value if isinstance(value, list) else [value]
            comparable = [_comparable(v) for v in values]
            if op == "not":
                tests.append(lambda item, c=comparable: _comparable(item.value(name)) not in c)
            else:
                tests.append(lambda item, c=comparable: _comparable(item.value(name)) in c)
        elif op == "exists":
            if not isinstance(value, bool):
                fields.problem(place, "exists is true or false")
                return None
            tests.append(lambda item, want=value: (item.value(name) is not None) == want)
        else:  # contains
            if not isinstance(value, str) or not value:
                fields.problem(place, "contains needs text")
                return None
            needle = value.casefold()
            tests.append(lambda item, n=needle: isinstance(v := item.value(name), str) and n in v.casefold())
    if not tests:
        fields.problem(name, "give at least one operator")
        return None
    return lambda item: all(test(item) for test in tests)


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _describe(raw: Any) -> str:
    if isinstance(raw, dict):
        return " ".join(f"{op} {v}" for op, v in raw.items())
    if isinstance(raw, list):
        return "in " + "/".join(str(v) for v in raw)
    return f"= {raw}"


__all__ = ["EVERYTHING", "Condition", "ItemView", "read_condition"]
