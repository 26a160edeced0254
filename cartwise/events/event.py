"""A shopper's behaviour event: what a user did to an item, when.

Event types carry default weights used by the recommenders (a purchase says more
than a view). Timestamps are stored as integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cartwise.limits import MAX_CONTEXT_LENGTH, MAX_ID_LENGTH, MAX_TEXT_LENGTH

MIN_TIMESTAMP_MS = int(datetime(1990, 1, 1, tzinfo=UTC).timestamp() * 1000)
# Clocks drift; an event a few minutes "in the future" is real, one a day ahead is not.
FUTURE_TOLERANCE_MS = 24 * 3600 * 1000
# Ids are printable text: a NUL, newline or escape in an id is a broken export (or an
# attack on whatever prints it), never a product or a shopper. The C0 and C1 control
# characters and DEL, written as ranges that pydantic, polars and JavaScript (the
# OpenAPI schema) all read the same way.
CONTROL_CHARACTER = r"[\x00-\x1f\x7f-\x9f]"
ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"


class EventType(StrEnum):
    VIEW = "view"
    CLICK = "click"
    ADD_TO_CART = "add_to_cart"
    PURCHASE = "purchase"
    RATING = "rating"
    SEARCH = "search"


# How much one event of each type says about a shopper's interest in an item.
EVENT_WEIGHTS: dict[str, float] = {
    EventType.VIEW: 1.0,
    EventType.CLICK: 2.0,
    EventType.ADD_TO_CART: 4.0,
    EventType.PURCHASE: 8.0,
    EventType.RATING: 3.0,
    EventType.SEARCH: 0.0,
}

EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def parse_timestamp_ms(value: Any) -> int:
    """Read ISO 8601 text, epoch seconds or epoch milliseconds as epoch milliseconds.

    Numbers above 1e11 are taken as milliseconds (1e11 seconds is the year 5138).
    Raises ValueError with a readable message on anything else.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("timestamp is missing")
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            raise ValueError("timestamp is empty")
        try:
            number = float(text)
        except ValueError:
            try:
                dt = datetime.fromisoformat(text)  # Python 3.11+ reads a trailing "Z"
            except ValueError:
                raise ValueError(
                    f"timestamp {text[:40]!r} is neither ISO 8601 nor epoch seconds/milliseconds"
                ) from None
            return parse_timestamp_ms(dt)
    if not math.isfinite(number):
        raise ValueError("timestamp is not a finite number")
    return int(number) if abs(number) >= 1e11 else int(number * 1000)


def check_timestamp_ms(ts: int, *, now: int | None = None) -> str | None:
    """Return why a timestamp is impossible, or None when it is plausible."""
    if ts < MIN_TIMESTAMP_MS:
        return "timestamp is before 1990-01-01"
    if ts > (now if now is not None else now_ms()) + FUTURE_TOLERANCE_MS:
        return "timestamp is in the future"
    return None


class Event(BaseModel):
    """One behaviour event, as accepted by the HTTP API and the Python API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
    item_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
    event_type: EventType
    timestamp: int = Field(description="epoch milliseconds; ISO 8601 text and epoch seconds are accepted")
    session_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
    value: float | None = Field(default=None, allow_inf_nan=False)
    query: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    context: dict[str, Any] | None = None
    event_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
    request_id: str | None = Field(
        default=None,
        max_length=MAX_ID_LENGTH,
        pattern=ID_PATTERN,
        description="the request_id of the answer the shopper acted on (search, recommendations, similar items)",
    )
    position: int | None = Field(
        default=None, ge=1, le=10_000, description="the item's position in that answer, 1 for the first"
    )

    @field_validator("timestamp", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: Any) -> int:
        ts = parse_timestamp_ms(value)
        problem = check_timestamp_ms(ts)
        if problem:
            raise ValueError(problem)
        return ts

    @field_validator("context")
    @classmethod
    def _context_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, default=str)) > MAX_CONTEXT_LENGTH:
            raise ValueError(f"context is larger than {MAX_CONTEXT_LENGTH:,} characters of JSON")
        return value

    @model_validator(mode="after")
    def _item_or_query(self) -> Event:
        if self.event_type == EventType.SEARCH:
            if not self.query and not self.item_id:
                raise ValueError("a search event needs a query")
        elif not self.item_id:
            raise ValueError(f"a {self.event_type.value} event needs an item_id")
        if self.value is not None and self.value < 0 and self.event_type in (
            EventType.PURCHASE,
            EventType.ADD_TO_CART,
            EventType.RATING,
        ):
            raise ValueError(f"value must not be negative for a {self.event_type.value} event")
        return self
