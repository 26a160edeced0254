"""The assistant's log for the dashboard: every question with its route, answer or
hand-off, and the shoppers' "was this helpful?" feedback; one JSON line each in
``assistant/log.jsonl`` of the workspace.

:meth:`AssistLog.report` reads it back: counts by route, the share answered and handed
off, the helpful rate (the latest rating of each answer), and the questions handed off,
most asked first: the FAQ's to-do list (with the products they were about), and the
answers rated not helpful.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cartwise.assistant.answer import AssistAnswer
from cartwise.errors import NotFound, ValidationError
from cartwise.workspace import Workspace

LOG_FILE = "log.jsonl"
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
    """Appends to the workspace's assistant log; safe to share between threads."""

    def __init__(self, workspace: Workspace) -> None:
        self.path: Path = workspace.assistant_dir / LOG_FILE
        self._lock = threading.Lock()
        self._answers: set[str] = set()  # answer ids given by this process, for feedback checks

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(line)

    def question(self, message: str, answer: AssistAnswer, *, user_id: str | None) -> None:
        self._answers.add(answer.answer_id)
        self._append({
            "type": "question",
            "ts": int(time.time() * 1000),
            "answer_id": answer.answer_id,
            "conversation_id": answer.conversation_id,
            "user_id": user_id,
            "message": message,
            "route": answer.route,
            "confidence": round(answer.confidence, 4),
            "answered": answer.answered,
            "handoff": answer.handoff,
            "item_id": answer.item_id,
            "reply": answer.reply,
            "evidence": [e.doc_id for e in answer.evidence],
            "items": [i.item_id for i in answer.items],
        })

    def feedback(self, answer_id: str, *, helpful: bool, comment: str | None = None) -> None:
        """Record whether an answer helped; the answer must be in the log."""
        if not isinstance(helpful, bool):
            raise ValidationError("helpful must be true or false", field="helpful")
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise ValidationError(f"comment is longer than {MAX_COMMENT_CHARS} characters", field="comment")
        if answer_id not in self._answers and not self._logged(answer_id):
            raise NotFound(f"no assistant answer {answer_id!r} in the log", field="answer_id")
        self._append({"type": "feedback", "ts": int(time.time() * 1000), "answer_id": answer_id,
                      "helpful": helpful, "comment": comment})

    def _records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by a crash
        return records

    def _logged(self, answer_id: str) -> bool:
        found = any(r.get("type") == "question" and r.get("answer_id") == answer_id for r in self._records())
        if found:
            self._answers.add(answer_id)
        return found

    def report(self, *, since_ms: int | None = None, top: int = 50) -> AssistReport:
        records = [r for r in self._records() if since_ms is None or r.get("ts", 0) >= since_ms]
        questions = [r for r in records if r.get("type") == "question"]
        # One rating per answer: a shopper who changes their mind replaces the first.
        feedback = list({r.get("answer_id"): r for r in records if r.get("type") == "feedback"}.values())
        unanswered: dict[str, UnansweredQuestion] = {}
        for r in questions:
            if not r.get("handoff"):
                continue
            key = " ".join(str(r["message"]).casefold().split())
            seen = unanswered.get(key)
            if seen is None:
                seen = unanswered[key] = UnansweredQuestion(message=r["message"], route=r["route"], times=1,
                                                            last_ms=r["ts"])
            else:
                seen.times += 1
                seen.last_ms = max(seen.last_ms, r["ts"])
            if r.get("item_id") and r["item_id"] not in seen.item_ids:
                seen.item_ids.append(r["item_id"])
        asked = {r.get("answer_id"): r for r in questions}
        unhelpful = [
            UnhelpfulAnswer(answer_id=f["answer_id"], message=q["message"], route=q["route"], reply=q.get("reply", ""),
                            item_id=q.get("item_id"), comment=f.get("comment"), ts=f["ts"])
            for f in feedback if not f.get("helpful") and (q := asked.get(f.get("answer_id"))) is not None
        ]
        helpful = sum(1 for r in feedback if r.get("helpful"))
        return AssistReport(
            questions=len(questions),
            by_route=dict(Counter(r["route"] for r in questions)),
            answered=sum(1 for r in questions if r.get("answered")),
            handed_off=sum(1 for r in questions if r.get("handoff")),
            feedback=len(feedback),
            helpful=helpful,
            helpful_rate=helpful / len(feedback) if feedback else None,
            unanswered=sorted(unanswered.values(), key=lambda u: (-u.times, -u.last_ms))[:top],
            unhelpful=sorted(unhelpful, key=lambda u: -u.ts)[:top],
        )


__all__ = ["AssistLog", "AssistReport", "UnansweredQuestion", "UnhelpfulAnswer"]
