"""Common English words, so typo correction leaves real words alone.

A catalog's own vocabulary is small: "warm" is not in it when the shop sells "hand
warmers", and one edit turns it into "farm". Words that English uses often are taken as
meant, whatever the catalog holds. The list is the English word-frequency dictionary that
ships inside ``pyspellchecker`` (MIT; about 160,000 words counted in OpenSubtitles), read
once, offline; only its frequent words count, since its long tail holds rare words that
are more often typos in a shop ("hart" for "heart").
"""

from __future__ import annotations

import functools
import logging

_log = logging.getLogger(__name__)

# Occurrences in the list's corpus: at this count "tee", "sunny" and "biscuits" are words,
# "hart" and "lite" are not (about 19,000 words qualify).
MIN_COUNT = 1_000


@functools.cache
def _english() -> frozenset[str]:
    try:
        from spellchecker import SpellChecker
    except ImportError:  # a stripped install: correct by the catalog alone, as before
        _log.warning("pyspellchecker is not installed: typo correction cannot recognise English words")
        return frozenset()
    counts = SpellChecker(language="en", distance=1).word_frequency.dictionary
    return frozenset(word for word, count in counts.items() if count >= MIN_COUNT)


def is_common_word(word: str) -> bool:
    """Whether `word` (lower case) is a frequent English word."""
    return word in _english()


__all__ = ["MIN_COUNT", "is_common_word"]
