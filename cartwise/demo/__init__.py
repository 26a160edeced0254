"""The demo store built from the Online Retail data set."""

from cartwise.demo.retail import (
    EVENT_MAPPING,
    EXAMPLE_ITEM,
    EXAMPLE_USER,
    build_catalog,
    build_purchases,
    packaged_slice,
)

__all__ = ["EVENT_MAPPING", "EXAMPLE_ITEM", "EXAMPLE_USER", "build_catalog", "build_purchases", "packaged_slice"]
