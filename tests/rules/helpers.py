"""Helpers of the rules tests."""

from __future__ import annotations

from cartwise import Engine
from cartwise.rules import RuleSet


def use(engine: Engine, text: str) -> RuleSet:
    """Publish the rule document `text` on `engine` (a new version)."""
    return engine.rules.load_text(text, source="test")


def ids(response) -> list[str]:
    return [item.item_id for item in response.items]


def touched(response) -> dict[str, list[str]]:
    """rule id -> its effects and conflicts, for the rules that touched an answer."""
    return {t.rule_id: t.effects + t.conflicts for t in response.rules}
