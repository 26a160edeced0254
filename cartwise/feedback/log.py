"""The impression log: answers append here cheaply, a background thread writes them to
the store (:class:`cartwise.store.writer.BackgroundWriter`: every 0.25 s by default, the
rest at close and at interpreter exit; a ``kill -9`` loses at most the last flush interval
of impressions, while events themselves are written before they are acknowledged, and are
never lost)."""

from __future__ import annotations

from collections.abc import Sequence

from cartwise.feedback.impression import Impression, to_frames
from cartwise.store import Store
from cartwise.store.writer import BackgroundWriter


class ImpressionLog(BackgroundWriter[Impression]):
    """Buffered, background-flushed writes of impressions to one store."""

    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = 0.25,
        max_pending: int = 2_000,
        max_buffer: int = 200_000,
        idle_stop_s: float = 5.0,
    ) -> None:
        self.store = store
        super().__init__(self._insert, what="impressions", flush_interval_s=flush_interval_s,
                         max_pending=max_pending, max_buffer=max_buffer, idle_stop_s=idle_stop_s)

    def _insert(self, batch: Sequence[Impression]) -> None:
        heads, items = to_frames(list(batch))
        self.store.insert_impressions(heads, items)


__all__ = ["ImpressionLog"]
