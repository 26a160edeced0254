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


def wait_indexed(engine: Engine, timeout: float = 120.0) -> None:
    """Wait for the background re-index of a changed catalog (new items become searchable)."""
    import time

    deadline = time.monotonic() + timeout
    engine.refresh()
    while time.monotonic() < deadline:
        state = engine._live.current()
        if state.indexed_version == state.catalog.version:
            return
        time.sleep(0.1)
    raise AssertionError("the catalog was not re-indexed in time")
