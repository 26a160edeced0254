"""How the assistant's turns and ratings (:class:`AssistantTurn`, :class:`AssistantFeedback`)
become rows of the ``assistant_turns`` and ``assistant_feedback`` tables and back: one
definition for every back end, which differ only in their parameter marker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cartwise.store.base import AssistantFeedback, AssistantTurn, HandedOffQuestion

TURN_COLUMNS = (
    "answer_id", "ts", "conversation_id", "turn", "user_id", "message", "route", "confidence", "answered",
    "handoff", "item_id", "about_item_id", "query", "reply", "evidence", "items",
)
INSERTED_COLUMNS = (*TURN_COLUMNS, "message_key")
FEEDBACK_COLUMNS = ("answer_id", "ts", "helpful", "comment")


def _select(table: str, columns: tuple[str, ...]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"


def insert_sql(table: str, columns: tuple[str, ...], marker: str, *, key: str) -> str:
    """An INSERT of one row that ignores a row whose `key` columns are already stored."""
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marker for _ in columns)}) "
            f"ON CONFLICT ({key}) DO NOTHING")


def message_key(message: str) -> str:
    """What makes two questions the same for the report: case-folded, spaces collapsed."""
    return " ".join(message.casefold().split())


def queries(marker: str) -> dict[str, str]:
    """The statements of the assistant's tables in a back end whose parameter marker is `marker`."""
    turns = _select("assistant_turns", TURN_COLUMNS)
    return {
        "insert_turn": insert_sql("assistant_turns", INSERTED_COLUMNS, marker, key="answer_id"),
        "counts": "SELECT route, answered, handoff, COUNT(*) FROM assistant_turns "
        f"WHERE ts >= {marker} GROUP BY route, answered, handoff ORDER BY route, answered, handoff",
        # The most asked groups of handed-off questions, each with the wording and route of its
        # first question (window functions: SQLite 3.25+, PostgreSQL).
        "handoffs": f"""
            WITH handed AS (
                SELECT message_key, message, route, ts,
                       ROW_NUMBER() OVER (PARTITION BY message_key ORDER BY ts, answer_id) AS nth
                FROM assistant_turns WHERE handoff = 1 AND ts >= {marker}
            ), grouped AS (
                SELECT message_key, COUNT(*) AS times, MAX(ts) AS last_ms FROM handed
                GROUP BY message_key ORDER BY times DESC, last_ms DESC, message_key LIMIT {marker}
            )
            SELECT g.message_key, f.message, f.route, g.times, g.last_ms
            FROM grouped g JOIN handed f ON f.message_key = g.message_key AND f.nth = 1
            ORDER BY g.times DESC, g.last_ms DESC, g.message_key""",
        "handoff_items": "SELECT message_key, item_id, MIN(ts) AS first_ms FROM assistant_turns "
        f"WHERE handoff = 1 AND ts >= {marker} AND item_id IS NOT NULL AND message_key IN ({{keys}}) "
        "GROUP BY message_key, item_id ORDER BY message_key, first_ms, item_id",
        "turns_of": f"{turns} WHERE answer_id IN ({{ids}}) ORDER BY ts, answer_id",
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
            json.dumps(list(turn.items), ensure_ascii=False), message_key(turn.message))


def turn_of(row: Sequence[Any]) -> AssistantTurn:
    (answer_id, ts, conversation_id, turn, user_id, message, route, confidence, answered, handoff, item_id,
     about_item_id, query, reply, evidence, items) = row
    return AssistantTurn(
        answer_id=answer_id, ts=int(ts), conversation_id=conversation_id, turn=int(turn), user_id=user_id,
        message=message, route=route, confidence=float(confidence), answered=bool(answered), handoff=bool(handoff),
        item_id=item_id, about_item_id=about_item_id, query=query, reply=reply,
        evidence=tuple(json.loads(evidence)), items=tuple(json.loads(items)),
    )


def handed_off(groups: Sequence[Sequence[Any]], items: Sequence[Sequence[Any]]) -> list[HandedOffQuestion]:
    """The report's groups from the rows of the ``handoffs`` and ``handoff_items`` queries."""
    about: dict[str, list[str]] = {}
    for key, item_id, _ in items:
        about.setdefault(key, []).append(item_id)
    return [HandedOffQuestion(message=message, route=route, times=int(times), last_ms=int(last_ms),
                              item_ids=tuple(about.get(key, ())))
            for key, message, route, times, last_ms in groups]


def counts_of(rows: Sequence[Sequence[Any]]) -> list[tuple[str, bool, bool, int]]:
    return [(str(route), bool(answered), bool(handoff), int(n)) for route, answered, handoff, n in rows]


def markers(marker: str, n: int) -> str:
    return ", ".join(marker for _ in range(n))


def feedback_row(feedback: AssistantFeedback) -> tuple[Any, ...]:
    return (feedback.answer_id, feedback.ts, int(feedback.helpful), feedback.comment)


def feedback_of(row: Sequence[Any]) -> AssistantFeedback:
    answer_id, ts, helpful, comment = row
    return AssistantFeedback(answer_id=answer_id, ts=int(ts), helpful=bool(helpful), comment=comment)


__all__ = ["AssistantTables", "counts_of", "feedback_of", "feedback_row", "handed_off", "markers", "message_key", "queries", "since",
           "turn_of", "turn_row"]


_IN_BATCH = 500


class AssistantTables:
    """The assistant tables' writes and reads, written once for every back end: a back end
    mixes this in and provides `_MARKER` (its parameter marker), `_ASSISTANT =
    queries(_MARKER)`, `_fetch(statement, params) -> rows` and `_insert_each(statement, rows)
    -> rows added` (one transaction)."""

    _ASSISTANT: dict[str, str]
    _MARKER: str

    def _fetch(self, statement: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def _insert_each(self, statement: str, rows: list[tuple[Any, ...]]) -> int:
        raise NotImplementedError

    def add_assistant_turns(self, turns: Sequence[AssistantTurn]) -> int:
        return self._insert_each(self._ASSISTANT["insert_turn"], [turn_row(t) for t in turns])

    def add_assistant_feedback(self, feedback: Sequence[AssistantFeedback]) -> int:
        return self._insert_each(self._ASSISTANT["insert_feedback"], [feedback_row(f) for f in feedback])

    def assistant_turns(self, *, since_ms: int | None = None) -> list[AssistantTurn]:
        return [turn_of(row) for row in self._fetch(self._ASSISTANT["turns_since"], (since(since_ms),))]

    def assistant_turn(self, answer_id: str) -> AssistantTurn | None:
        rows = self._fetch(self._ASSISTANT["turn"], (answer_id,))
        return turn_of(rows[0]) if rows else None

    def last_assistant_turn(self, conversation_id: str) -> AssistantTurn | None:
        rows = self._fetch(self._ASSISTANT["last_turn"], (conversation_id,))
        return turn_of(rows[0]) if rows else None

    def assistant_turns_of(self, answer_ids: Sequence[str]) -> list[AssistantTurn]:
        ids = list(dict.fromkeys(answer_ids))
        found = [turn_of(row) for start in range(0, len(ids), _IN_BATCH)
                 for chunk in (ids[start : start + _IN_BATCH],)
                 for row in self._fetch(self._ASSISTANT["turns_of"].format(ids=markers(self._MARKER, len(chunk))),
                                        chunk)]
        return sorted(found, key=lambda t: (t.ts, t.answer_id))

    def assistant_counts(self, *, since_ms: int | None = None) -> list[tuple[str, bool, bool, int]]:
        return counts_of(self._fetch(self._ASSISTANT["counts"], (since(since_ms),)))

    def assistant_handoffs(self, *, since_ms: int | None = None, limit: int = 50) -> list[HandedOffQuestion]:
        groups = self._fetch(self._ASSISTANT["handoffs"], (since(since_ms), int(limit)))
        keys = [group[0] for group in groups]
        items = self._fetch(self._ASSISTANT["handoff_items"].format(keys=markers(self._MARKER, len(keys))),
                            (since(since_ms), *keys)) if keys else []
        return handed_off(groups, items)

    def assistant_feedback(self, *, since_ms: int | None = None) -> list[AssistantFeedback]:
        return [feedback_of(row) for row in self._fetch(self._ASSISTANT["feedback_since"], (since(since_ms),))]
