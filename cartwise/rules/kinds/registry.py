"""Rule kinds by name: a rule file's `kind:` picks the class that reads and applies it.

Each kind belongs to one phase, and the phases run in a fixed order on every answer
(:data:`PHASES`): what removes items first (filters, hides), then what merges variants,
then what moves items by score (boosts, buries), then what rearranges the top (diversity),
then pins. So a filter always wins over a pin (the pin is reported as not applied), a
boost never moves a pinned item, and diversity never undoes a pin. Rules of one phase
apply in the order the file lists them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cartwise.errors import ValidationError
from cartwise.rules.document import Fields
from cartwise.rules.probes import Probes

PHASES = ("answer", "remove", "collapse", "score", "arrange", "pin")


class RuleKind:
    """Base of the rule kinds: `__init__` reads the kind's fields (recording problems in
    `fields`), registering what it asks of items with `probes`."""

    name: ClassVar[str] = ""
    phase: ClassVar[str] = ""
    fields: ClassVar[tuple[str, ...]] = ()
    """The kind's own fields (beside id, kind, scope, description, enabled)."""

    def __init__(self, fields: Fields, probes: Probes) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


_KINDS: dict[str, type[RuleKind]] = {}


def register_kind(cls: type[Any]) -> type[Any]:
    """Class decorator: make a rule kind available to rule files by its `name`."""
    if not getattr(cls, "name", "") or cls.phase not in PHASES:
        raise ValueError(f"{cls.__name__} needs a name and a phase among {PHASES}")
    _KINDS[cls.name] = cls
    return cls


def kind_names() -> list[str]:
    return sorted(_KINDS)


def kind_class(name: str) -> type[RuleKind]:
    found = _KINDS.get(name)
    if found is None:
        raise ValidationError(f"unknown rule kind {name!r}", field="kind", hint=f"choose one of {kind_names()}")
    return found


__all__ = ["PHASES", "RuleKind", "kind_class", "kind_names", "register_kind"]
