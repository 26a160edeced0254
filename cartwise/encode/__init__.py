"""Text encoders: product and query text to L2-normalised vectors for semantic search.

``load_encoder(name)`` gives a :class:`TextEncoder`; :func:`item_text` decides what of an
item is embedded and :class:`EmbeddingCache` keeps vectors until that text changes.
The model packages are imported only when an encoder is loaded.
"""

from cartwise.encode.base import ProgressCallback, TextEncoder, l2_normalise
from cartwise.encode.cache import EmbeddingCache
from cartwise.encode.item_text import item_text, item_texts, text_hash
from cartwise.encode.registry import (
    DEFAULT_ENCODER,
    ENCODERS,
    EncoderUnavailable,
    load_encoder,
)

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODERS",
    "EmbeddingCache",
    "EncoderUnavailable",
    "ProgressCallback",
    "TextEncoder",
    "item_text",
    "item_texts",
    "l2_normalise",
    "load_encoder",
    "text_hash",
]
