"""Answers computed with a rule set on trial (a dry run), without publishing it.

:func:`trying` sets, for the current thread or task only, the rule set answers use and
the moment they pretend it is (a campaign window's start); concurrent requests keep the
published rules. The engine does not log impressions of trial answers: no shopper saw them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cartwise.rules.ruleset import RuleSet


@dataclass(frozen=True)
class Trial:
    rules: RuleSet
    now_ms: int | None = None


_TRIAL: ContextVar[Trial | None] = ContextVar("cartwise_rules_trial", default=None)


@contextmanager
def trying(rules: RuleSet, *, now_ms: int | None = None) -> Iterator[None]:
    token = _TRIAL.set(Trial(rules=rules, now_ms=now_ms))
    try:
        yield
    finally:
        _TRIAL.reset(token)


def on_trial() -> Trial | None:
    """The rule set on trial in this context, or None (answers use the published rules)."""
    return _TRIAL.get()


__all__ = ["Trial", "on_trial", "trying"]
