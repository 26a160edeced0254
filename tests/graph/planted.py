"""A planted store for the relation graph: a complement pair, a substitute pair, a variant
family and a bag that goes into every basket."""

from __future__ import annotations

from typing import Any

import polars as pl

T0 = 1_700_000_000_000  # epoch ms
DAY = 24 * 3600 * 1000

CATALOG: list[dict[str, Any]] = [
    {"item_id": "tent", "title": "Two person dome tent", "category": "Outdoor > Tents", "brand": "Trail",
     "price": 120.0, "currency": "EUR"},
    {"item_id": "pegs", "title": "Aluminium tent pegs, pack of 12", "category": "Outdoor > Accessories",
     "brand": "Trail", "price": 9.5, "currency": "EUR"},
    {"item_id": "kettle-steel", "title": "Electric kettle 1.7l, stainless steel", "category": "Kitchen > Kettles",
     "brand": "Brew", "price": 35.0, "currency": "EUR"},
    {"item_id": "kettle-glass", "title": "Electric kettle 1.7l, glass", "category": "Kitchen > Kettles",
     "brand": "Hot", "price": 39.0, "currency": "EUR", "in_stock": False},
    {"item_id": "kettle-mini", "title": "Electric kettle 1.7l, compact", "category": "Kitchen > Kettles",
     "brand": "Hot", "price": 19.0, "currency": "EUR"},
    {"item_id": "tee-red", "title": "Cotton crew tee red", "category": "Fashion > Tops", "brand": "Basics",
     "price": 12.0, "currency": "EUR", "attributes": {"color": "red", "material": "cotton"}},
    {"item_id": "tee-blue", "title": "Cotton crew tee blue", "category": "Fashion > Tops", "brand": "Basics",
     "price": 12.0, "currency": "EUR", "attributes": {"color": "blue", "material": "cotton"}},
    {"item_id": "tee-black-xl", "title": "Cotton crew tee black XL", "category": "Fashion > Tops", "brand": "Basics",
     "price": 13.0, "currency": "EUR", "attributes": {"color": "black", "size": "XL", "material": "cotton"}},
    {"item_id": "polo", "title": "Cotton polo shirt", "category": "Fashion > Tops", "brand": "Basics",
     "price": 25.0, "currency": "EUR", "attributes": {"material": "cotton", "series": "Summer 2026"}},
    {"item_id": "shorts", "title": "Linen shorts", "category": "Fashion > Bottoms", "brand": "Basics",
     "price": 30.0, "currency": "EUR", "attributes": {"material": "linen", "series": "Summer 2026"}},
    {"item_id": "bag", "title": "Reusable shopping bag", "category": "Home > Bags", "brand": "Eco",
     "price": 1.0, "currency": "EUR"},
] + [
    {"item_id": f"book-{i}", "title": f"Paperback novel volume {i}", "category": "Books > Fiction", "price": 8.0,
     "currency": "EUR"}
    for i in range(6)
]


def planted_events() -> list[dict[str, Any]]:
    """Tent buyers buy pegs; kettle shoppers view both kettles and buy one; tee buyers buy
    one colour; everyone's order holds the bag."""
    events: list[dict[str, Any]] = []

    def order(user: str, day: int, items: list[str], session: str) -> None:
        for n, item in enumerate([*items, "bag"]):
            events.append({"user_id": user, "item_id": item, "event_type": "purchase",
                           "timestamp": T0 + day * DAY + n * 1000, "session_id": session})

    def browse(user: str, day: int, items: list[str], session: str) -> None:
        for n, item in enumerate(items):
            events.append({"user_id": user, "item_id": item, "event_type": "view",
                           "timestamp": T0 + day * DAY + n * 1000, "session_id": session})

    for u in range(20):
        browse(f"camper-{u}", u, ["tent"], f"s-camp-{u}")
        order(f"camper-{u}", u, ["tent", "pegs"], f"o-camp-{u}")
    for u in range(30):
        user = f"cook-{u}"
        browse(user, u, ["kettle-steel", "kettle-glass", "kettle-mini"] if u % 3 == 0
               else ["kettle-steel", "kettle-glass"], f"s-cook-{u}")
        order(user, u, ["kettle-steel" if u % 2 else "kettle-glass"], f"o-cook-{u}")
    for u in range(24):
        browse(f"dresser-{u}", u, [["tee-red", "tee-blue", "tee-black-xl"][u % 3], "polo"], f"s-dress-{u}")
        order(f"dresser-{u}", u, [["tee-red", "tee-blue", "tee-black-xl"][u % 3]], f"o-dress-{u}")
    for u in range(36):
        order(f"reader-{u}", u, [f"book-{u % 6}"], f"o-read-{u}")
        # Readers come back for the next volume.
        order(f"reader-{u}", u + 7, [f"book-{(u + 1) % 6}"], f"o-read-{u}-b")
    return events


def frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The planted catalog and events as the store returns them (ts in ms, attributes as JSON)."""
    import json

    items = pl.DataFrame(
        [{**{k: v for k, v in row.items() if k != "attributes"}, "attributes": json.dumps(row.get("attributes", {}))}
         for row in CATALOG],
        infer_schema_length=None,
    )
    events = pl.DataFrame(planted_events()).rename({"timestamp": "ts"})
    return items, events
