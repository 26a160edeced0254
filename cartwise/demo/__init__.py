"""The demo store built from the Online Retail data set."""

from cartwise.demo.retail import (
    EVENT_MAPPING,
    EXAMPLE_ITEM,
    EXAMPLE_USER,
    build_catalog,
    build_purchases,
    packaged_slice,
)
from cartwise.demo.knowledge import FAQ_PATH, POLICIES_PATH

__all__ = [
    "EVENT_MAPPING",
    "EXAMPLE_ITEM",
    "EXAMPLE_USER",
    "FAQ_PATH",
    "POLICIES_PATH",
    "build_catalog",
    "build_purchases",
    "packaged_slice",
]
