"""The product catalog: items and their category paths."""

from cartwise.catalog.item import (
    Item,
    category_levels,
    normalise_category,
    split_category,
)
from cartwise.catalog.snapshot import CatalogSnapshot, ItemCard

__all__ = ["CatalogSnapshot", "Item", "ItemCard", "category_levels", "normalise_category", "split_category"]
