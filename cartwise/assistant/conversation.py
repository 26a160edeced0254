"""Multi-turn context: what each conversation is about, so "does it come in blue?" after a
question about a kettle is about that kettle.

Kept in memory per server process (a restart forgets open conversations, as a chat widget's
session would), bounded in number and in age.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

MAX_CONVERSATIONS = 10_000
TTL_S = 30 * 60.0


@dataclass(frozen=True, slots=True)
class Context:
    """What a conversation is about after its last turn."""

    item_id: str | None = None
    """The product the last product question was about, or the one the shopper opened."""
    route: str | None = None
    query: str | None = None
    """The last shopping request's search."""
    turns: int = 0
    updated: float = 0.0


class Conversations:
    """Contexts by conversation id, least recently used dropped first, expired after `ttl_s`."""

    def __init__(self, *, max_conversations: int = MAX_CONVERSATIONS, ttl_s: float = TTL_S) -> None:
        self.max_conversations = max_conversations
        self.ttl_s = ttl_s
        self._contexts: OrderedDict[str, Context] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation_id: str | None) -> Context:
        if conversation_id is None:
            return Context()
        with self._lock:
            context = self._contexts.get(conversation_id)
            if context is None or time.monotonic() - context.updated > self.ttl_s:
                self._contexts.pop(conversation_id, None)
                return Context()
            self._contexts.move_to_end(conversation_id)
            return context

    def update(self, conversation_id: str | None, context: Context, **changes: object) -> Context:
        """`context` with `changes`, one more turn, stored for `conversation_id` (if any)."""
        new = replace(context, turns=context.turns + 1, updated=time.monotonic(), **changes)  # type: ignore[arg-type]
        if conversation_id is None:
            return new
        with self._lock:
            self._contexts[conversation_id] = new
            self._contexts.move_to_end(conversation_id)
            while len(self._contexts) > self.max_conversations:
                self._contexts.popitem(last=False)
        return new

    def __len__(self) -> int:
        return len(self._contexts)


__all__ = ["Context", "Conversations"]
