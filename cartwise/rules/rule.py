"""One merchandising rule: an id, a kind (what it does), a scope (where) and the kind's
own settings, read from a rule document with every problem's line.

::

    - id: summer-dresses
      kind: boost
      description: push the summer collection during the campaign
      when: {category: Fashion > Dresses}
      weight: 0.3
      scope: {placements: [search, browse], start: 2026-06-01, end: 2026-08-31}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cartwise.rules.document import Fields
from cartwise.rules.kinds.registry import RuleKind, kind_class, kind_names
from cartwise.rules.probes import Probes
from cartwise.rules.scope import Scope, read_scope

RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
COMMON_FIELDS = ("id", "kind", "scope", "description", "enabled")


@dataclass(frozen=True)
class Rule:
    """A rule as applied: its kind's settings in `action`, and the mapping it was read
    from in `written` (what is saved and shown)."""

    rule_id: str
    kind: str
    scope: Scope
    action: RuleKind
    description: str = ""
    enabled: bool = True
    written: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def phase(self) -> str:
        return self.action.phase

    def describe(self) -> str:
        return f"{self.kind} {self.action.describe()} ({self.scope.describe()})"


def check_rule_id(value: Any) -> str | None:
    """The reason `value` is not a rule id, or None."""
    if not isinstance(value, str) or not RULE_ID.match(value):
        return "a rule id is 1 to 80 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
    return None


def read_rule(fields: Fields, probes: Probes) -> Rule | None:
    """The rule written in `fields`, or None when it has problems (recorded in `fields`)."""
    if not fields.ok:
        return None
    before = len(fields.problems)
    rule_id = fields.get("id")
    if rule_id is not None and (reason := check_rule_id(rule_id)) is not None:
        fields.problem("id", f"{reason}, got {rule_id!r}")
    kind = fields.get("kind")
    action = None
    if kind is not None:
        if not isinstance(kind, str) or kind not in kind_names():
            fields.problem("kind", f"unknown rule kind {kind!r}; use {', '.join(kind_names())}")
        else:
            fields.what = f"a {kind} rule"
            action = kind_class(kind)(fields, probes)
    scope = read_scope(fields.mapping("scope", what="a scope"))
    description = fields.text("description", "", max_length=1000)
    enabled = fields.boolean("enabled", True)
    fields.finish()
    if len(fields.problems) > before or action is None:
        return None
    return Rule(
        rule_id=rule_id, kind=kind, scope=scope, action=action, description=description or "",
        enabled=bool(enabled), written=dict(fields.data),
    )


__all__ = ["COMMON_FIELDS", "RULE_ID", "Rule", "check_rule_id", "read_rule"]
