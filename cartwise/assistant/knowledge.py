"""What the assistant knows beyond the catalog: FAQ entries and passages of documents.

A :class:`FaqEntry` is one question the store answers the same way every time. A
:class:`Passage` is a short piece of text that can be quoted as evidence: a sentence or
paragraph of a policy, a product's bullet point, specification, review or Q&A pair, or a
catalog field. Passages keep their source (kind, document id, item id) so every answer
can say where its quote came from.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

# Kinds of document; the product kinds need an item_id, "policy" documents must not have one.
PRODUCT_KINDS = ("bullets", "specs", "reviews", "qa", "description")
STORE_KINDS = ("policy",)
DOCUMENT_KINDS = PRODUCT_KINDS + STORE_KINDS
# Passages derived from catalog fields carry these kinds.
CATALOG_KINDS = ("title", "attribute", "catalog_description")

MAX_PASSAGE_CHARS = 400
"""Longest passage: longer paragraphs are split at sentence ends, then at this length."""

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*")
_PARAGRAPH = re.compile(r"\n\s*\n|\r\n\s*\r\n|\n[-•*·]\s*|^[-•*·]\s*", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One question of the store's FAQ and its answer."""

    faq_id: str
    question: str
    answer: str
    category: str | None = None
    language: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Passage:
    """A quotable piece of text and where it comes from."""

    passage_id: str
    text: str
    kind: str
    """policy, bullets, specs, reviews, qa, description (documents); title, attribute,
    catalog_description (the catalog)."""
    doc_id: str
    item_id: str | None = None
    title: str | None = None
    """The document's title, e.g. "Returns policy"."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def source(self) -> str:
        """Where the passage comes from, in words: ``reviews of item K-1 (doc r-17)``."""
        where = f"{self.kind}" + (f" of item {self.item_id}" if self.item_id else "")
        name = f" \u201c{self.title}\u201d" if self.title else ""
        return f"{where}{name} ({self.doc_id})"


def split_passages(text: str, *, max_chars: int = MAX_PASSAGE_CHARS) -> list[str]:
    """`text` cut into passages: paragraphs and list items, long ones at sentence ends,
    over-long sentences at `max_chars`. Empty pieces are dropped."""
    pieces: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        current = ""
        for sentence in _SENTENCE_END.split(paragraph):
            sentence = sentence.strip()
            if not sentence:
                continue
            while len(sentence) > max_chars:
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(sentence[:max_chars])
                sentence = sentence[max_chars:].strip()
            joined = f"{current} {sentence}".strip() if current and current[-1].isascii() else current + sentence
            if len(joined) > max_chars and current:
                pieces.append(current)
                current = sentence
            else:
                current = joined
        if current:
            pieces.append(current)
    return pieces


__all__ = [
    "CATALOG_KINDS",
    "DOCUMENT_KINDS",
    "MAX_PASSAGE_CHARS",
    "PRODUCT_KINDS",
    "STORE_KINDS",
    "FaqEntry",
    "Passage",
    "split_passages",
]
