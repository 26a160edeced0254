"""How the assistant's turns and ratings (:class:`AssistantTurn`, :class:`AssistantFeedback`)
become rows of the ``assistant_turns`` and ``assistant_feedback`` tables and back: one
definition for every back end, which differ only in their parameter marker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cartwise.store.base import AssistantFeedback, AssistantTurn

TURN_COLUMNS = (
    "answer_id", "ts", "conversation_id", "turn", "user_id", "message", "route", "confidence", "answered",
    "handoff", "item_id", "about_item_id", "query", "reply", "evidence", "items",
)
FEEDBACK_COLUMNS = ("answer_id", "ts", "helpful", "comment")


def _select(table: str, columns: tuple[str, ...]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"


def insert_sql(table: str, columns: tuple[str, ...], marker: str, *, key: str) -> str:
    """An INSERT of one row that ignores a row whose `key` columns are already stored."""
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marker for _ in columns)}) "
            f"ON CONFLICT ({key}) DO NOTHING")


def queries(marker: str) -> dict[str, str]:
    """The statements of the assistant's tables in a back end whose parameter marker is `marker`."""
    turns = _select("assistant_turns", TURN_COLUMNS)
    return {
        "insert_turn": insert_sql("assistant_turns", TURN_COLUMNS, marker, key="answer_id"),
        "turns_since": f"{turns} WHERE ts >= {marker} ORDER BY ts, answer_id",
        "turn": f"{turns} WHERE answer_id = {marker}",
        "last_turn": f"{turns} WHERE conversation_id = {marker} ORDER BY ts DESC, turn DESC LIMIT 1",
        "insert_feedback": insert_sql("assistant_feedback", FEEDBACK_COLUMNS, marker, key="answer_id, ts"),
        "feedback_since": f"{_select('assistant_feedback', FEEDBACK_COLUMNS)} WHERE ts >= {marker} "
        "ORDER BY ts, answer_id",
    }


def since(since_ms: int | None) -> int:
    return since_ms if since_ms is not None else -(2**62)


def turn_row(turn: AssistantTurn) -> tuple[Any, ...]:
    return (turn.answer_id, turn.ts, turn.conversation_id, turn.turn, turn.user_id, turn.message, turn.route,
            float(turn.confidence), int(turn.answered), int(turn.handoff), turn.item_id, turn.about_item_id,
            turn.query, turn.reply, json.dumps(list(turn.evidence), ensure_ascii=False),
            json.dumps(list(turn.items), ensure_ascii=False))


def turn_of(row: Sequence[Any]) -> AssistantTurn:
    (answer_id, ts, conversation_id, turn, user_id, message, route, confidence, answered, handoff, item_id,
     about_item_id, query, reply, evidence, items) = row
    return AssistantTurn(
        answer_id=answer_id, ts=int(ts), conversation_id=conversation_id, turn=int(turn), user_id=user_id,
        message=message, route=route, confidence=float(confidence), answered=bool(answered), handoff=bool(handoff),
        item_id=item_id, about_item_id=about_item_id, query=query, reply=reply,
        evidence=tuple(json.loads(evidence)), items=tuple(json.loads(items)),
    )


def feedback_row(feedback: AssistantFeedback) -> tuple[Any, ...]:
    return (feedback.answer_id, feedback.ts, int(feedback.helpful), feedback.comment)


def feedback_of(row: Sequence[Any]) -> AssistantFeedback:
    answer_id, ts, helpful, comment = row
    return AssistantFeedback(answer_id=answer_id, ts=int(ts), helpful=bool(helpful), comment=comment)


__all__ = ["feedback_of", "feedback_row", "queries", "since", "turn_of", "turn_row"]
