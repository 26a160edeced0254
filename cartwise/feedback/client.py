"""Impressions a front end reports (``POST /v1/impressions``): lists it rendered itself,
or Cartwise answers it re-ordered or cut before showing them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from cartwise.errors import ValidationError
from cartwise.events.event import ID_PATTERN, check_timestamp_ms, parse_timestamp_ms
from cartwise.feedback.impression import PLACEMENT_PATTERN, Impression, ShownItem, new_request_id, to_frames
from cartwise.limits import MAX_ID_LENGTH, MAX_TEXT_LENGTH

MAX_SHOWN = 500
MAX_IMPRESSIONS = 1_000


class ClientImpression(BaseModel):
    """A list shown to a shopper, items in order (position 1 first)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    placement: str = Field(
        pattern=PLACEMENT_PATTERN.pattern,
        description="where it was shown: search, recommend, similar or the front end's own name (home_top, cart)",
    )
    items: list[str] = Field(min_length=1, max_length=MAX_SHOWN, description="item ids in the order shown")
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=ID_PATTERN,
        description="the answer's request_id when it came from Cartwise; a new one is made otherwise",
    )
    user_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
    timestamp: int | None = Field(default=None, description="when it was shown; now when missing")
    query: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    model_version: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    variant: str | None = Field(default=None, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
    teams: list[str] | None = Field(
        default=None, max_length=MAX_SHOWN,
        description="an interleaved list: the variant (team) that placed each item, in the order of `items`",
    )

    @model_validator(mode="after")
    def _one_team_per_item(self) -> ClientImpression:
        if self.teams is not None:
            if len(self.teams) != len(self.items):
                raise ValueError(f"teams names {len(self.teams)} teams for {len(self.items)} items: one per item")
            for team in self.teams:
                if not isinstance(team, str) or not 1 <= len(team) <= 40:
                    raise ValueError("each team is a variant name of 1 to 40 characters")
        return self

    @field_validator("items")
    @classmethod
    def _item_ids(cls, items: list[str]) -> list[str]:
        for position, item_id in enumerate(items, start=1):
            if not isinstance(item_id, str) or not item_id.strip() or len(item_id) > MAX_ID_LENGTH:
                raise ValueError(f"item at position {position} must be an id of 1 to {MAX_ID_LENGTH} characters")
            if not item_id.isprintable():
                raise ValueError(f"item at position {position} holds a control character")
        return [item_id.strip() for item_id in items]

    @field_validator("timestamp", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: Any) -> int | None:
        if value is None:
            return None
        ts = parse_timestamp_ms(value)
        problem = check_timestamp_ms(ts)
        if problem:
            raise ValueError(problem)
        return ts


def read_impressions(records: Sequence[Mapping[str, Any]], *, now: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The store layouts of `records`; ValidationError names the record (by index) and
    field of the first problem."""
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence):
        raise ValidationError("impressions must be a list of objects", field="impressions")
    if not 1 <= len(records) <= MAX_IMPRESSIONS:
        raise ValidationError(
            f"send 1 to {MAX_IMPRESSIONS} impressions at a time, got {len(records)}", field="impressions"
        )
    parsed = []
    for index, record in enumerate(records):
        try:
            shown = ClientImpression.model_validate(record)
        except PydanticError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error.get("loc", ()))
            raise ValidationError(
                f"impression {index}: {where or 'record'}: {error.get('msg', 'is invalid')}",
                field=f"impressions[{index}]" + (f".{where}" if where else ""),
            ) from None
        parsed.append(
            Impression(
                request_id=shown.request_id or new_request_id(),
                ts=shown.timestamp if shown.timestamp is not None else now,
                placement=shown.placement,
                items=tuple(
                    ShownItem(item_id, team=shown.teams[n] if shown.teams is not None else None)
                    for n, item_id in enumerate(shown.items)
                ),
                user_id=shown.user_id,
                model_version=shown.model_version,
                query=shown.query,
                variant=shown.variant,
                source="client",
            )
        )
    return to_frames(parsed)


__all__ = ["MAX_IMPRESSIONS", "MAX_SHOWN", "ClientImpression", "read_impressions"]
