"""Offline evaluation: splits, full-ranking metrics and paired significance tests."""

from cartwise.evaluate import metrics
from cartwise.evaluate.significance import PairedComparison, compare
from cartwise.evaluate.splits import Split, cold_items, leave_last_out, time_split

__all__ = ["PairedComparison", "Split", "cold_items", "compare", "leave_last_out", "metrics", "time_split"]
