"""The assistant's log for the dashboard: every question with its route, answer or
hand-off, and the shoppers' "was this helpful?" feedback, kept in the store (tables
``assistant_turns`` and ``assistant_feedback``), so every server of a store writes to and
reads the same log; each conversation's last turn is also its memory (:mod:`.conversation`).

:meth:`AssistLog.report` reads it back: counts by route, the share answered and handed
off, the helpful rate (the latest rating of each answer), and the questions handed off,
most asked first: the FAQ's to-do list (with the products they were about), and the
answers rated not helpful.
"""

from __future__ import annotations

import json
from collections import Counter

from pydantic import BaseModel, Field

from cartwise.assistant.answer import AssistAnswer
from cartwise.errors import NotFound, ValidationError
from cartwise.events.event import now_ms
from cartwise.store import AssistantFeedback, AssistantTurn, Store
from cartwise.store.writer import BackgroundWriter

LEGACY_LOG_FILE = "log.jsonl"
MAX_COMMENT_CHARS = 1000


class UnansweredQuestion(BaseModel):
    message: str
    route: str
    times: int
    last_ms: int
    item_ids: list[str] = Field(default_factory=list, description="the products a product question was about")


class UnhelpfulAnswer(BaseModel):
    """An answer a shopper said did not help (their latest rating of it)."""

    answer_id: str
    message: str
    route: str
    reply: str
    item_id: str | None = None
    comment: str | None = None
    ts: int


class AssistReport(BaseModel):
    questions: int
    by_route: dict[str, int]
    answered: int
    handed_off: int
    feedback: int = Field(description="answers rated (the latest rating of each)")
    helpful: int
    helpful_rate: float | None = Field(description="helpful / feedback; None without feedback")
    unanswered: list[UnansweredQuestion] = Field(description="questions handed off, most asked first")
    unhelpful: list[UnhelpfulAnswer] = Field(default_factory=list,
                                             description="answers rated not helpful, newest first")


class AssistLog:
    """The assistant's log in the store: turns and ratings are queued in memory and written in
    the background (an answer or a rating never waits for the disk, or for another writer's
    lock; a clean shutdown loses nothing). Safe to share between threads."""

    def __init__(self, store: Store, *, flush_interval_s: float = 0.25) -> None:
        self.store = store
        self._turns: BackgroundWriter[AssistantTurn] = BackgroundWriter(
            store.add_assistant_turns, what="assistant turns", flush_interval_s=flush_interval_s)
        self._ratings: BackgroundWriter[AssistantFeedback] = BackgroundWriter(
            store.add_assistant_feedback, what="assistant ratings", flush_interval_s=flush_interval_s)
        self.imported = _import_file(store)

    def question(self, message: str, answer: AssistAnswer, *, user_id: str | None, about_item_id: str | None,
                 turn: int) -> AssistantTurn:
        """Log one answered message (`turn`: its number in the conversation; `about_item_id`:
        the product the conversation is about after it)."""
        logged = AssistantTurn(
            answer_id=answer.answer_id, ts=now_ms(), conversation_id=answer.conversation_id, turn=turn,
            user_id=user_id, message=message, route=answer.route, confidence=round(answer.confidence, 4),
            answered=answer.answered, handoff=answer.handoff, item_id=answer.item_id, about_item_id=about_item_id,
            query=answer.query, reply=answer.reply, evidence=tuple(e.doc_id for e in answer.evidence),
            items=tuple(i.item_id for i in answer.items),
        )
        self._turns.record(logged)
        return logged

    def last_turn(self, conversation_id: str) -> AssistantTurn | None:
        """The newest turn of a conversation: this server's, still queued, or any server's in the store."""
        queued = [t for t in self._turns.queued() if t.conversation_id == conversation_id]
        stored = self.store.last_assistant_turn(conversation_id)
        candidates = [t for t in (queued[-1] if queued else None, stored) if t is not None]
        return max(candidates, key=lambda t: (t.ts, t.turn)) if candidates else None

    def feedback(self, answer_id: str, *, helpful: bool, comment: str | None = None) -> None:
        """Record whether an answer helped; the answer must be in the log."""
        if not isinstance(helpful, bool):
            raise ValidationError("helpful must be true or false", field="helpful")
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise ValidationError(f"comment is longer than {MAX_COMMENT_CHARS} characters", field="comment")
        known = any(t.answer_id == answer_id for t in self._turns.queued())
        if not known and self.store.assistant_turn(answer_id) is None:
            raise NotFound(f"no assistant answer {answer_id!r} in the log", field="answer_id")
        self._ratings.record(AssistantFeedback(answer_id=answer_id, ts=now_ms(), helpful=helpful, comment=comment))

    def flush(self) -> int:
        """Write the queued turns and ratings now; returns how many."""
        return self._turns.flush() + self._ratings.flush()

    def close(self) -> None:
        self._turns.close()
        self._ratings.close()

    def report(self, *, since_ms: int | None = None, top: int = 50) -> AssistReport:
        """The dashboard's summary of the turns and ratings at or after `since_ms`; totals and
        the grouped hand-offs are counted in the store, so it does not read every turn."""
        self.flush()
        counts = self.store.assistant_counts(since_ms=since_ms)
        by_route: Counter[str] = Counter()
        for route, _, _, n in counts:
            by_route[route] += n
        # One rating per answer: a shopper who changes their mind replaces the first.
        feedback = list({f.answer_id: f for f in self.store.assistant_feedback(since_ms=since_ms)}.values())
        disliked = sorted((f for f in feedback if not f.helpful), key=lambda f: -f.ts)
        asked = {t.answer_id: t for t in self.store.assistant_turns_of([f.answer_id for f in disliked])
                 if since_ms is None or t.ts >= since_ms}
        unhelpful = [
            UnhelpfulAnswer(answer_id=f.answer_id, message=q.message, route=q.route, reply=q.reply, item_id=q.item_id,
                            comment=f.comment, ts=f.ts)
            for f in disliked if (q := asked.get(f.answer_id)) is not None
        ]
        helpful = sum(1 for f in feedback if f.helpful)
        return AssistReport(
            questions=sum(n for *_, n in counts),
            by_route=dict(by_route),
            answered=sum(n for _, answered, _, n in counts if answered),
            handed_off=sum(n for _, _, handoff, n in counts if handoff),
            feedback=len(feedback),
            helpful=helpful,
            helpful_rate=helpful / len(feedback) if feedback else None,
            unanswered=[UnansweredQuestion(message=h.message, route=h.route, times=h.times, last_ms=h.last_ms,
                                           item_ids=list(h.item_ids))
                        for h in self.store.assistant_handoffs(since_ms=since_ms, limit=top)],
            unhelpful=unhelpful[:top],
        )


def _import_file(store: Store) -> int:
    """Move the log file of releases before the store kept the log (``assistant/log.jsonl``
    in the workspace) into the store, once: its turns and ratings are added (what is already
    there is ignored, so an import cut short is simply done again), then the file is renamed
    ``log.jsonl.imported``. Returns the lines imported."""
    path = store.workspace.assistant_dir / LEGACY_LOG_FILE
    if not path.is_file():
        return 0
    turns: list[AssistantTurn] = []
    ratings: list[AssistantFeedback] = []
    counts: Counter[str] = Counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                r = json.loads(line)
                if r.get("type") == "question":
                    conversation = r.get("conversation_id")
                    counts[conversation] += 1
                    turns.append(AssistantTurn(
                        answer_id=str(r["answer_id"]), ts=int(r["ts"]), conversation_id=conversation,
                        turn=counts[conversation], user_id=r.get("user_id"), message=str(r["message"]),
                        route=str(r["route"]), confidence=float(r.get("confidence") or 0.0),
                        answered=bool(r.get("answered")), handoff=bool(r.get("handoff")), item_id=r.get("item_id"),
                        about_item_id=r.get("item_id"), reply=str(r.get("reply") or ""),
                        evidence=tuple(map(str, r.get("evidence") or ())), items=tuple(map(str, r.get("items") or ())),
                    ))
                elif r.get("type") == "feedback":
                    ratings.append(AssistantFeedback(answer_id=str(r["answer_id"]), ts=int(r["ts"]),
                                                     helpful=bool(r.get("helpful")), comment=r.get("comment")))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
    with store.transaction():
        store.add_assistant_turns(turns)
        store.add_assistant_feedback(ratings)
    path.replace(path.with_name(LEGACY_LOG_FILE + ".imported"))
    return len(turns) + len(ratings)


__all__ = ["AssistLog", "AssistReport", "UnansweredQuestion", "UnhelpfulAnswer"]
