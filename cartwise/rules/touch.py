"""What the rules did to one answer: each rule that touched it, and how.

Stages record touches in the request's notes as they apply rules (:func:`record`); the
answer lists them (:func:`touched`), and each item carries the ids of the rules that
moved, pinned or kept it company, with the effect in its reason. A rule that did nothing
to an answer is not listed: remove a rule and its mention disappears.
"""

from __future__ import annotations

from typing import Any

from cartwise.results import RuleTouch

NOTE = "rules"
MAX_LISTED_ITEMS = 50


def record(notes: dict[str, Any], rule_id: str, kind: str, effect: str, item_id: str | None = None,
           *, conflict: bool = False) -> None:
    touches: dict[str, dict[str, Any]] = notes.setdefault(NOTE, {})
    touch = touches.get(rule_id)
    if touch is None:
        # Dicts as ordered sets: an answer may record hundreds of touches.
        touch = touches[rule_id] = {"rule_id": rule_id, "kind": kind, "effects": {}, "items": {}, "conflicts": {}}
    (touch["conflicts"] if conflict else touch["effects"])[effect] = None
    items = touch["items"]
    if item_id is not None and len(items) < MAX_LISTED_ITEMS:
        items[item_id] = None


def touched(notes: dict[str, Any]) -> list[RuleTouch]:
    """The rules that touched an answer, in the order they first did."""
    return [
        RuleTouch(rule_id=t["rule_id"], kind=t["kind"], effects=list(t["effects"]), items=list(t["items"]),
                  conflicts=list(t["conflicts"]))
        for t in notes.get(NOTE, {}).values()
    ]


__all__ = ["RuleTouch", "record", "touched"]
