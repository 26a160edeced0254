"""The rule kinds, each registered by name (importing this package registers them)."""

from cartwise.rules.kinds import boost, collapse, diversity, filter, hide, pin, redirect  # noqa: F401
from cartwise.rules.kinds.registry import PHASES, RuleKind, kind_class, kind_names, register_kind

__all__ = ["PHASES", "RuleKind", "kind_class", "kind_names", "register_kind"]
