"""Analytics for the operations dashboard: business results, price and inventory, data
operations. Each is computed in polars over the Store protocol's reads (so every back end
serves it) from one :class:`~cartwise.insights.snapshot.Snapshot` per store version."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl

from cartwise.insights.business import BusinessReport, business_report
from cartwise.insights.inventory import InventoryReport, inventory_report
from cartwise.insights.operations import Alert, OperationsReport, operations_report
from cartwise.insights.snapshot import Snapshot, SnapshotCache
from cartwise.store import Store

logger = logging.getLogger(__name__)


class Insights:
    """The dashboard's reports of one store, kept while its data stands still."""

    def __init__(self, *, store: Store, reports_dir: Path, max_age_s: float = 30.0) -> None:
        self._cache = SnapshotCache(store=store, max_age_s=max_age_s)
        self._reports_dir = reports_dir
        self._reports_read: dict[str, pl.DataFrame] = {}  # reject reports by path: written once, read once

    def refresh_in_background(self, on: bool = True) -> None:
        """Answer from the snapshot at hand while a thread reads new data (servers turn this
        on, so a dashboard never waits for a full read of a large store)."""
        self._cache.background = on

    def warm(self) -> threading.Thread:
        """Read the store and compute the reports the dashboard opens with (the last 30 days)
        in a thread, so the first visit after a server starts does not wait for a full read
        of a large store. `cartwise serve` calls it once models are loaded."""

        def run() -> None:
            try:
                self.business()
                self.inventory()
            except Exception:  # a report that fails now fails again, in words, when asked for
                logger.exception("could not compute the dashboard's reports ahead of the first visit")

        thread = threading.Thread(target=run, name="insights-warm", daemon=True)
        thread.start()
        return thread

    def business(self, *, days: int = 30, end_ms: int | None = None, limit: int = 15) -> BusinessReport:
        report: BusinessReport = self._cache.result(
            ("business", days, end_ms, limit), lambda s: business_report(s, days=days, end_ms=end_ms, limit=limit))
        return report

    def inventory(self, *, days: int = 30, end_ms: int | None = None, limit: int = 15) -> InventoryReport:
        report: InventoryReport = self._cache.result(
            ("inventory", days, end_ms, limit), lambda s: inventory_report(s, days=days, end_ms=end_ms, limit=limit))
        return report

    def operations(
        self,
        *,
        model: dict[str, Any] | None,
        serving_versions: tuple[int, int] | None = None,
        now_ms: int | None = None,
    ) -> OperationsReport:
        """Against the wall clock (or `now_ms`): not kept, only its snapshot is."""
        return operations_report(
            self._cache.snapshot(), now_ms=now_ms if now_ms is not None else int(time.time() * 1000),
            reports_dir=self._reports_dir, reports_read=self._reports_read, model=model, serving_versions=serving_versions,
        )


__all__ = ["Alert", "BusinessReport", "Insights", "InventoryReport", "OperationsReport", "Snapshot"]
