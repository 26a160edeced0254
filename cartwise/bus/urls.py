"""Options a bus URL may carry in its query string, shared by every back end."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

from cartwise.bus.protocol import DEFAULT_RECLAIM_AFTER_S
from cartwise.errors import ValidationError


def split_options(url: str) -> tuple[str, float]:
    """(the URL without Cartwise's options, reclaim_after seconds) from
    ``redis://host:6379/0?reclaim_after=5``."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    reclaim = DEFAULT_RECLAIM_AFTER_S
    if "reclaim_after" in query:
        raw = query.pop("reclaim_after")[-1]
        try:
            reclaim = float(raw)
        except ValueError:
            reclaim = -1.0
        if not 0.1 <= reclaim <= 86_400:
            raise ValidationError(
                f"reclaim_after must be a number of seconds from 0.1 to 86400, got {raw!r}", field="bus",
                hint="e.g. ?reclaim_after=30",
            )
    rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), reclaim


__all__ = ["split_options"]
