"""Multi-turn context: what each conversation is about, so "does it come in blue?" after a
question about a kettle is about that kettle.

A conversation's context is its last turn in the assistant's log (:mod:`.log`), which the
store keeps: every server of a store picks up a conversation another server answered the
turn before, and a restart forgets nothing. A conversation quiet for longer than `ttl_s`
starts afresh. An assistant that keeps no log (the one-off ``cartwise ask``) keeps no
conversations either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cartwise.events.event import now_ms

if TYPE_CHECKING:
    from cartwise.assistant.log import AssistLog

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


class Conversations:
    """Contexts by conversation id, read from the log's last turn of each; expired after `ttl_s`."""

    def __init__(self, log: AssistLog | None, *, ttl_s: float = TTL_S) -> None:
        self.log = log
        self.ttl_s = ttl_s

    def get(self, conversation_id: str | None) -> Context:
        if conversation_id is None or self.log is None:
            return Context()
        turn = self.log.last_turn(conversation_id)
        if turn is None or now_ms() - turn.ts > self.ttl_s * 1000:
            return Context()
        return Context(item_id=turn.about_item_id, route=turn.route, query=turn.query, turns=turn.turn)


__all__ = ["Context", "Conversations"]
