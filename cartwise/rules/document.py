"""A rule file read with the line of every value, so each problem names its line.

YAML and JSON are both read through PyYAML's node tree (JSON is YAML), which keeps each
node's position; :class:`Fields` then reads one mapping field by field, collecting every
problem (line, place, reason) instead of stopping at the first, and
:class:`RuleFileError` reports them all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from cartwise.errors import ValidationError

MAX_DOCUMENT_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a rule document: where (line, dotted place) and why."""

    line: int | None
    where: str
    reason: str

    def __str__(self) -> str:
        at = f"line {self.line}: " if self.line is not None else ""
        return f"{at}{self.where}: {self.reason}" if self.where else f"{at}{self.reason}"


class RuleFileError(ValidationError):
    """A rule document that cannot be used; `problems` lists each one with its line."""

    def __init__(self, problems: list[Problem], *, source: str = "rules") -> None:
        self.problems = problems
        self.source = source
        listed = "; ".join(str(p) for p in problems[:20])
        more = f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
        first = problems[0] if problems else None
        super().__init__(
            f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}: {listed}{more}",
            field=first.where if first else None,
            hint="fix each listed line; `cartwise rules validate FILE` checks a file without loading it",
        )

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(super().to_dict())
        body["problems"] = [{"line": p.line, "where": p.where, "reason": p.reason} for p in self.problems]
        return body


@dataclass(frozen=True, slots=True)
class Located:
    """A parsed document: plain values, and the line of each place ("rules[2].weight")."""

    value: Any
    lines: dict[str, int]
    problems: tuple[Problem, ...] = ()
    """Values that could not be read (a date with month 13): reported with the rest."""

    def line(self, where: str) -> int | None:
        # A missing field has no line of its own: report its mapping's.
        while where:
            if where in self.lines:
                return self.lines[where]
            cut = max(where.rfind("."), where.rfind("["))
            where = where[:cut] if cut > 0 else ""
        return self.lines.get("")


def read_document(text: str, *, source: str = "rules", format: str | None = None) -> Located:
    """`text` (YAML, or JSON: JSON is YAML; with `format` "json" JSON's own syntax is
    enforced) parsed with the line of every value. Raises :class:`RuleFileError` for a
    syntax error."""
    if len(text.encode("utf-8", errors="replace")) > MAX_DOCUMENT_BYTES:
        raise RuleFileError([Problem(None, "", f"the document is over {MAX_DOCUMENT_BYTES} bytes")], source=source)
    if format == "json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise RuleFileError([Problem(exc.lineno, "", f"invalid JSON: {exc.msg}")], source=source) from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RuleFileError([Problem(line, "", f"invalid YAML: {exc.problem or exc.context}")], source=source) from None
    except yaml.YAMLError as exc:
        raise RuleFileError([Problem(None, "", f"invalid YAML: {exc}")], source=source) from None
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    value = _plain(node, "", lines, problems) if node is not None else None
    return Located(value=value, lines=lines, problems=tuple(problems))


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: fifty times faster, same marks
_constructor = yaml.SafeLoader("")  # turns scalar nodes into Python values (ints, dates, ...)


def _plain(node: yaml.Node, where: str, lines: dict[str, int], problems: list[Problem]) -> Any:
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            place = f"{where}.{key}" if where else key
            if key in out:
                problems.append(Problem(key_node.start_mark.line + 1, place, "this field is given twice"))
                continue
            out[key] = _plain(value_node, place, lines, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(child, f"{where}[{n}]", lines, problems) for n, child in enumerate(node.value)]
    try:
        return _constructor.construct_object(node, deep=True)
    except (ValueError, yaml.YAMLError) as exc:  # e.g. a date with month 13
        problems.append(Problem(node.start_mark.line + 1, where, f"cannot read {node.value!r}: {exc}"))
        return UNREADABLE


_MISSING: Any = object()


class Unreadable:
    """A value already reported as unreadable (a date with month 13): readers skip it."""


UNREADABLE: Any = Unreadable()


class Fields:
    """One mapping of a document read field by field. Each getter records a problem
    (with the field's line) and returns `default` instead of raising, so one pass finds
    every problem; :meth:`finish` reports the fields nobody asked for."""

    def __init__(self, data: Any, where: str, doc: Located, problems: list[Problem], *, what: str = "") -> None:
        self.where = where
        self.doc = doc
        self.problems = problems
        self.what = what
        self.ok = isinstance(data, dict)
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self._asked: set[str] = set()
        if not self.ok:
            self.problem(None, f"expected a mapping of fields{' for ' + what if what else ''}, got {_kind(data)}")

    def place(self, key: str | None) -> str:
        if key is None:
            return self.where
        return f"{self.where}.{key}" if self.where else key

    def problem(self, key: str | None, reason: str) -> None:
        place = self.place(key)
        self.problems.append(Problem(self.doc.line(place), place, reason))

    def has(self, key: str) -> bool:
        self._asked.add(key)
        return key in self.data

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self._asked.add(key)
        if key not in self.data:
            if default is _MISSING:
                self.problem(key, "this field is required" + (f" for {self.what}" if self.what else ""))
                return None
            return default
        return self.data[key]

    def text(self, key: str, default: Any = _MISSING, *, max_length: int = 500) -> Any:
        value = self.get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"expected non-empty text, got {_kind(value)}")
            return None if default is _MISSING else default
        if len(value) > max_length:
            self.problem(key, f"is {len(value)} characters long; the limit is {max_length}")
            return None if default is _MISSING else default
        return value.strip()

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> Any:
        value = self.text(key, default)
        if key in self.data and value is not None and value not in choices:
            self.problem(key, f"{value!r} is not one of {', '.join(choices)}")
            return None if default is _MISSING else default
        return value

    def number(self, key: str, default: Any = _MISSING, *, low: float | None = None, high: float | None = None) -> Any:
        value = self.get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            self.problem(key, f"expected a number, got {_kind(value)}")
            return None if default is _MISSING else default
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"from {low:g} to {high:g}" if low is not None and high is not None else (
                f"at least {low:g}" if low is not None else f"at most {high:g}"
            )
            self.problem(key, f"must be {span}, got {value:g}")
            return None if default is _MISSING else default
        return float(value)

    def integer(self, key: str, default: Any = _MISSING, *, low: int = 1, high: int = 10_000) -> Any:
        value = self.get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(key, f"expected a whole number from {low} to {high}, got {_kind(value)}")
            return None if default is _MISSING else default
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, default)
        if key in self.data and not isinstance(value, bool):
            self.problem(key, f"expected true or false, got {_kind(value)}")
            return None if default is _MISSING else default
        return value

    def strings(self, key: str, default: Any = _MISSING, *, max_items: int = 1000) -> Any:
        """A list of texts (a single text is a list of one)."""
        value = self.get(key, default)
        if key not in self.data:
            return value
        values = [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value
        if not isinstance(values, list) or not values:
            self.problem(key, f"expected a text or a non-empty list of texts, got {_kind(value)}")
            return None if default is _MISSING else default
        out = []
        for n, entry in enumerate(values):
            if isinstance(entry, (int, float)) and not isinstance(entry, bool):
                entry = str(entry)
            if not isinstance(entry, str) or not entry.strip():
                place = f"{self.place(key)}[{n}]" if isinstance(value, list) else self.place(key)
                self.problems.append(Problem(self.doc.line(place), place, f"expected text, got {_kind(entry)}"))
                continue
            out.append(entry.strip())
        if len(out) > max_items:
            self.problem(key, f"lists {len(out)} entries; the limit is {max_items}")
        return tuple(out)

    def mapping(self, key: str, *, what: str = "", required: bool = False) -> Fields | None:
        if not self.has(key):
            if required:
                self.problem(key, "this field is required" + (f" for {self.what}" if self.what else ""))
            return None
        return Fields(self.data[key], self.place(key), self.doc, self.problems, what=what)

    def read(self, key: str, reader: Callable[[Any, str], Any], default: Any = None) -> Any:
        """`reader(value, place)` for a field a getter above does not cover."""
        if not self.has(key):
            return default
        return reader(self.data[key], self.place(key))

    def finish(self, known: tuple[str, ...] = ()) -> None:
        for key in self.data:
            if key not in self._asked and key not in known:
                asked = sorted(self._asked | set(known))
                self.problem(key, f"unknown field {key!r}" + (f" (fields here: {', '.join(asked)})" if asked else ""))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


__all__ = ["UNREADABLE", "Fields", "Located", "Problem", "RuleFileError", "Unreadable", "read_document"]
