"""The demo store built from the Online Retail data set."""

from cartwise.demo.retail import EVENT_MAPPING, build_catalog, packaged_slice

__all__ = ["EVENT_MAPPING", "build_catalog", "packaged_slice"]
