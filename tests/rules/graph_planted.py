"""A planted catalog for graph-mined synonyms: sofa / couch and trainers / sneakers name
the same things across several substitute pairs, blanket / rug once, and red / blue
tell variants apart (never a synonym)."""

from __future__ import annotations

from typing import Any

T0 = 1_700_000_000_000
DAY = 24 * 3600 * 1000

_SOFAS = ["leather three seater", "velvet corner", "fabric bed", "linen modular"]
_SHOES = ["running mesh", "canvas low top", "suede retro"]

CATALOG: list[dict[str, Any]] = (
    [{"item_id": f"sofa-{n}", "title": f"{words.split()[0].title()} sofa {' '.join(words.split()[1:])}",
      "category": "Home > Living room > Seating", "brand": "Nordhus", "price": 500.0 + n, "currency": "EUR"}
     for n, words in enumerate(_SOFAS)]
    + [{"item_id": f"couch-{n}", "title": f"{words.split()[0].title()} couch {' '.join(words.split()[1:])}",
        "category": "Home > Living room > Seating", "brand": "Sitwell", "price": 480.0 + n, "currency": "EUR"}
       for n, words in enumerate(_SOFAS)]
    + [{"item_id": f"trainers-{n}", "title": f"Trainers {words}", "category": "Fashion > Shoes", "brand": "Stride",
        "price": 60.0 + n, "currency": "EUR"} for n, words in enumerate(_SHOES)]
    + [{"item_id": f"sneakers-{n}", "title": f"Sneakers {words}", "category": "Fashion > Shoes", "brand": "Pace",
        "price": 65.0 + n, "currency": "EUR"} for n, words in enumerate(_SHOES)]
    + [
        {"item_id": "blanket", "title": "Wool blanket chunky knit", "category": "Home > Textiles", "price": 40.0,
         "currency": "EUR"},
        {"item_id": "rug", "title": "Wool rug chunky knit", "category": "Home > Textiles", "price": 45.0,
         "currency": "EUR"},
        {"item_id": "lamp-red", "title": "Ceramic table lamp red", "category": "Home > Lighting", "brand": "Lux",
         "price": 30.0, "currency": "EUR"},
        {"item_id": "lamp-blue", "title": "Ceramic table lamp blue", "category": "Home > Lighting", "brand": "Lux",
         "price": 30.0, "currency": "EUR"},
    ]
    + [{"item_id": f"book-{n}", "title": f"Paperback novel {name}", "category": "Books > Fiction", "price": 9.0,
        "currency": "EUR"} for n, name in enumerate(["harbour", "meadow", "winter", "orchard", "lantern", "river"])]
)

# Look-alikes shoppers compare: each viewed together, one of them bought.
ALTERNATIVES = (
    [(f"sofa-{n}", f"couch-{n}") for n in range(len(_SOFAS))]
    + [(f"trainers-{n}", f"sneakers-{n}") for n in range(len(_SHOES))]
    + [("blanket", "rug"), ("lamp-red", "lamp-blue")]
)


def planted_events(shoppers: int = 6) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for pair_no, (a, b) in enumerate(ALTERNATIVES):
        for u in range(shoppers):
            user, day = f"u{pair_no}-{u}", pair_no * shoppers + u
            for n, item in enumerate((a, b)):
                events.append({"user_id": user, "item_id": item, "event_type": "view",
                               "timestamp": T0 + day * DAY + n * 1000, "session_id": f"v{pair_no}-{u}"})
            events.append({"user_id": user, "item_id": (a, b)[u % 2], "event_type": "purchase",
                           "timestamp": T0 + day * DAY + 5000, "session_id": f"o{pair_no}-{u}"})
    for u in range(12):
        events.append({"user_id": f"reader-{u}", "item_id": f"book-{u % 6}", "event_type": "purchase",
                       "timestamp": T0 + u * DAY, "session_id": f"r{u}"})
    return events
