"""An in-memory, read-only view of the live catalog for answering requests.

Answers need titles, prices and stock for a few dozen items per request; reading them
from the database each time would dominate latency, so the engine keeps this snapshot
and replaces it whenever the store's catalog version changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl


@dataclass(frozen=True)
class ItemCard:
    """What an answer shows about an item."""

    item_id: str
    title: str
    category: str | None
    brand: str | None
    price: float | None
    currency: str | None
    in_stock: bool


class CatalogSnapshot:
    """Item cards by id, as of one catalog version."""

    def __init__(self, items: pl.DataFrame, *, version: int) -> None:
        self.version = version
        columns = ["item_id", "title", "category", "brand", "price", "currency", "in_stock"]
        self._cards = {
            row[0]: ItemCard(*row[:-1], in_stock=bool(row[-1]) if row[-1] is not None else True)
            for row in items.select(columns).iter_rows()
        }
        # What an advertiser pays per click on a sponsored slot: the item attribute "bid"
        # (a positive number, in the item's currency); items without one are never ads.
        self.bids: dict[str, float] = {}
        if "attributes" in items.columns and items.height:
            bids = items.select(
                "item_id",
                pl.col("attributes").str.json_path_match("$.bid").cast(pl.Float64, strict=False).alias("bid"),
            ).filter(pl.col("bid").is_finite() & (pl.col("bid") > 0))
            self.bids = dict(bids.iter_rows())
        # Attributes (margin, stock level, colour, ...) and creation times, for the
        # merchandising rules (cartwise.rules): the JSON text is parsed on first use.
        self._raw_attributes: dict[str, str] = {}
        if "attributes" in items.columns and items.height:
            raw = items.select("item_id", "attributes").filter(
                pl.col("attributes").is_not_null() & (pl.col("attributes") != "{}") & (pl.col("attributes") != "")
            )
            self._raw_attributes = dict(raw.iter_rows())
        self._attributes: dict[str, dict[str, Any]] = {}
        self.created_ms: dict[str, int] = {}
        if "created_at" in items.columns and items.height:
            created = items.select("item_id", "created_at").filter(pl.col("created_at").is_not_null())
            self.created_ms = dict(created.iter_rows())

    def __len__(self) -> int:
        return len(self._cards)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._cards

    def get(self, item_id: str) -> ItemCard | None:
        return self._cards.get(item_id)

    def attributes(self, item_id: str) -> dict[str, Any]:
        """The item's attributes (empty when it has none or is unknown)."""
        found = self._attributes.get(item_id)
        if found is None:
            raw = self._raw_attributes.get(item_id)
            try:
                parsed = json.loads(raw) if raw else {}
            except ValueError:
                parsed = {}
            found = parsed if isinstance(parsed, dict) else {}
            self._attributes[item_id] = found
        return found

    def ids(self) -> set[str]:
        return set(self._cards)

    def brand_spellings(self) -> dict[str, str]:
        """Casefolded brand -> the brand as the catalog spells it (first spelling seen)."""
        spelled: dict[str, str] = {}
        for card in self._cards.values():
            if card.brand and card.brand.strip():
                spelled.setdefault(card.brand.strip().casefold(), card.brand.strip())
        return spelled

    def main_currency(self) -> str | None:
        """The currency most items are priced in (None when no item says)."""
        counts: dict[str, int] = {}
        for card in self._cards.values():
            if card.currency:
                counts[card.currency] = counts.get(card.currency, 0) + 1
        return max(sorted(counts), key=counts.__getitem__) if counts else None

    def title(self, item_id: str) -> str:
        card = self._cards.get(item_id)
        return card.title if card else item_id
