"""Which variant a user sees: a stable hash of the experiment's salt and the user id.

``blake2b(salt + NUL + user_id)``'s first 8 bytes, read as an integer over 2^64, is a
number in [0, 1) that is the same for the same user and salt on every server and every
request, and independent between salts (a new salt reshuffles everyone). The user sees
the variant whose share of the cumulative weights holds that number. No state is kept:
nothing to look up, nothing to synchronise between servers.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from itertools import accumulate

_SCALE = float(2**64)


def unit_hash(salt: str, user_id: str) -> float:
    """A number in [0, 1) fixed by `salt` and `user_id`, uniform over users."""
    digest = hashlib.blake2b(f"{salt}\x00{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Assigner:
    """Assigns users to arms by weight (weights need not add up to 1)."""

    __slots__ = ("_bounds", "salt")

    def __init__(self, *, salt: str, weights: Sequence[float]) -> None:
        if not weights or any(not w > 0 for w in weights):
            raise ValueError("weights must be positive")
        total = float(sum(weights))
        self.salt = salt
        self._bounds = [b / total for b in accumulate(weights)][:-1]

    def arm(self, user_id: str) -> int:
        """The index of the user's arm."""
        return bisect.bisect_right(self._bounds, unit_hash(self.salt, user_id))


__all__ = ["Assigner", "unit_hash"]
