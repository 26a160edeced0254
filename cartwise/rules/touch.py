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
        touch = touches[rule_id] = {"rule_id": rule_id, "kind": kind, "effects": [], "items": [], "conflicts": []}
    listed = touch["conflicts"] if conflict else touch["effects"]
    if effect not in listed:
        listed.append(effect)
    if item_id is not None and item_id not in touch["items"] and len(touch["items"]) < MAX_LISTED_ITEMS:
        touch["items"].append(item_id)


def touched(notes: dict[str, Any]) -> list[RuleTouch]:
    """The rules that touched an answer, in the order they first did."""
    return [RuleTouch(**touch) for touch in notes.get(NOTE, {}).values()]


__all__ = ["RuleTouch", "record", "touched"]
