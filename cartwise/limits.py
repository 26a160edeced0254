"""The size limits of what Cartwise accepts and answers, defined once.

The Python API (the engine, the catalog and event models, ingest), the HTTP API (its query
and body schemas) and the CLI (its option ranges) all read these, so a limit changes in one
place and every face refuses the same input with the same bound. Nothing here imports from
cartwise: every layer may import it.
"""

from __future__ import annotations

# Answers.
MAX_K = 1000
"""Most results one search, recommendation or similar-items answer returns."""
MAX_OFFSET = 10 * MAX_K
"""Deepest a search may page (results skipped)."""
MAX_QUERY_LENGTH = 1000
"""Longest search query, in characters."""
MAX_PREFIX_LENGTH = 200
"""Longest half-typed query autocomplete takes, in characters."""
MAX_SUGGESTIONS = 50
"""Most autocomplete suggestions one answer returns."""
MAX_FILTER_LENGTH = 1000
"""Longest category or brand filter value the HTTP API takes, in characters."""
MAX_RATED_ITEMS = 1000
"""Most items one rating prediction request asks about."""
HISTORY_LENGTH = 50
"""A user's newest events that recommenders read at answer time."""

# Identifiers and text of catalog items and events.
MAX_ID_LENGTH = 256
"""Longest user, item, session or event id, and brand name, in characters."""
MAX_TEXT_LENGTH = 2000
"""Longest query text of a search event, in characters."""
MAX_TITLE_LENGTH = 1_000
"""Longest item title or category path, in characters."""
MAX_DESCRIPTION_LENGTH = 20_000
"""Longest item description (and its attributes as JSON), in characters."""
MAX_CONTEXT_LENGTH = 10_000
"""Largest event context, in characters of JSON."""

# Requests.
MAX_BATCH = 10_000
"""Most items or events one HTTP ingest request carries."""
# Bounds the memory one request can take while its JSON is read (about 5 to 10 times the
# body once parsed). 32 MiB fits a full batch of 10,000 items of about 3 KB of JSON each.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
"""Largest HTTP request body by default (``cartwise serve --max-body-bytes``)."""
# A file upload (POST /v1/ingest/events|items) goes to disk as it arrives and is read as
# columns, like a local file: its size bounds the disk it takes, not the memory.
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
"""Largest file upload by default (``cartwise serve --max-upload-bytes``)."""

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "HISTORY_LENGTH",
    "MAX_BATCH",
    "MAX_CONTEXT_LENGTH",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_FILTER_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_K",
    "MAX_OFFSET",
    "MAX_PREFIX_LENGTH",
    "MAX_QUERY_LENGTH",
    "MAX_RATED_ITEMS",
    "MAX_SUGGESTIONS",
    "MAX_TEXT_LENGTH",
    "MAX_TITLE_LENGTH",
]
