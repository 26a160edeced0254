"""Catalog name matching: phrase tables looked up by a query's words (Latin script) or by the
first character (Chinese), and spans of the query already taken, so a parse costs time linear
in the query, not in the catalog.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any


class Spans:
    """Non-overlapping [start, end) spans with a logarithmic overlap test."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        index = bisect.bisect_left(self._starts, start)
        self._starts.insert(index, start)
        self._ends.insert(index, end)

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self._starts, end)  # spans starting before `end`
        return index > 0 and self._ends[index - 1] > start

    def contains(self, start: int, end: int) -> bool:
        index = bisect.bisect_right(self._starts, start)
        return index > 0 and self._ends[index - 1] >= end


class WordPhrases:
    """Phrases of folded Latin words -> payload, matched longest-first on a query's word list."""

    __slots__ = ("_lengths", "_phrases")

    def __init__(self) -> None:
        self._phrases: dict[tuple[str, ...], Any] = {}
        self._lengths: dict[str, list[int]] = {}

    def add(self, words: tuple[str, ...], payload: Any) -> None:
        if not words or words in self._phrases:
            return
        self._phrases[words] = payload
        lengths = self._lengths.setdefault(words[0], [])
        if len(words) not in lengths:
            lengths.append(len(words))
            lengths.sort(reverse=True)

    def __bool__(self) -> bool:
        return bool(self._phrases)

    def get(self, words: tuple[str, ...]) -> Any:
        return self._phrases.get(words)

    def scan(self, keys: list[str | None]) -> list[tuple[int, int, Any]]:
        """(first word index, end word index, payload) of greedy longest matches; None keys break phrases."""
        out: list[tuple[int, int, Any]] = []
        count = len(keys)
        i = 0
        while i < count:
            key = keys[i]
            lengths = self._lengths.get(key) if key is not None else None
            matched = 0
            if lengths:
                for length in lengths:
                    if i + length > count:
                        continue
                    words = (key,) if length == 1 else tuple(keys[i:i + length])
                    payload = self._phrases.get(words)  # type: ignore[arg-type]
                    if payload is not None:
                        out.append((i, i + length, payload))
                        matched = length
                        break
            i += matched or 1
        return out


class CharPhrases:
    """Names containing Han characters -> payload, matched as substrings (greedy, longest first)."""

    __slots__ = ("_first", "_lengths", "_names")

    def __init__(self) -> None:
        self._names: dict[str, Any] = {}
        self._lengths: dict[str, list[int]] = {}
        self._first: re.Pattern[str] | None = None

    def add(self, name: str, payload: Any) -> None:
        if not name or name in self._names:
            return
        self._names[name] = payload
        lengths = self._lengths.setdefault(name[0], [])
        if len(name) not in lengths:
            lengths.append(len(name))
            lengths.sort(reverse=True)
        self._first = None

    def __bool__(self) -> bool:
        return bool(self._names)

    def get(self, name: str) -> Any:
        return self._names.get(name)

    def freeze(self) -> None:
        """Compile the first-character scanner; call once all names are added."""
        if self._names:
            self._first = re.compile("[" + "".join(re.escape(c) for c in sorted(self._lengths)) + "]")

    def scan(self, lowered: str) -> list[tuple[int, int, Any]]:
        if not self._names:
            return []
        if self._first is None:
            self.freeze()
        assert self._first is not None
        out: list[tuple[int, int, Any]] = []
        resume = 0
        for hit in self._first.finditer(lowered):
            i = hit.start()
            if i < resume:
                continue
            for length in self._lengths[lowered[i]]:
                name = lowered[i:i + length]
                payload = self._names.get(name) if len(name) == length else None
                if payload is None:
                    continue
                # A name that starts or ends with a Latin letter or digit needs a word boundary there.
                if name[0].isascii() and name[0].isalnum() and i > 0 and lowered[i - 1].isascii() and \
                        lowered[i - 1].isalnum():
                    continue
                end = i + length
                if name[-1].isascii() and name[-1].isalnum() and end < len(lowered) and \
                        lowered[end].isascii() and lowered[end].isalnum():
                    continue
                out.append((i, end, payload))
                resume = end
                break
        return out


@dataclass(slots=True)
class Mention:
    kind: str
    start: int
    end: int
    candidates: tuple[str, ...] = ()


def drop_overlapping(mentions: list[Mention]) -> list[Mention]:
    kept: list[Mention] = []
    taken = Spans()
    for mention in sorted(mentions, key=lambda m: (m.start - m.end, m.start)):
        if not taken.overlaps(mention.start, mention.end):
            taken.add(mention.start, mention.end)
            kept.append(mention)
    kept.sort(key=lambda m: m.start)
    return kept
