"""The rule book: the live rule set of a store, its edits, and hot reload.

Answers read :meth:`RuleBook.current`, which is the published :class:`RuleSet` (one
reference, swapped whole, never mutated, so a request never sees half a change). It
looks at most every :attr:`check_interval` seconds (a quarter of a second) whether the
live version moved, so a change made by another process (the CLI, another server)
answers within a second; a watched file (:meth:`RuleBook.watch`) is re-read on the same
check and, when valid, saved as a new version (an invalid edit is logged and ignored:
the last good rules keep answering). Every edit is validated whole and saved as a new
version (:mod:`cartwise.rules.versions`) before it is published.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from pathlib import Path
from typing import Any

from cartwise.errors import NotFound, ValidationError
from cartwise.rules.document import RuleFileError
from cartwise.rules.ruleset import RuleSet, parse_rule_set, rule_set_of
from cartwise.rules.trial import on_trial
from cartwise.rules.versions import RuleVersion, RuleVersions

_log = logging.getLogger("cartwise")
CHECK_INTERVAL_S = 0.25


class RuleBook:
    """The live rules of one store (see the module docstring)."""

    def __init__(self, directory: Path, *, check_interval: float = CHECK_INTERVAL_S) -> None:
        self.versions = RuleVersions(directory)
        self.check_interval = check_interval
        self._published = RuleSet()
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._lock = threading.RLock()  # writers and reloads; readers never wait
        self._watched: Path | None = None
        self._watched_stamp: tuple[int, int] | None = None
        self.last_error: RuleFileError | None = None
        """The problems of the watched file's latest edit that could not be loaded."""
        self._reload()

    # reading ---------------------------------------------------------------------------

    def current(self) -> RuleSet:
        """The rule set answers use now (a dry run's, within :func:`~cartwise.rules.trial.trying`)."""
        trial = on_trial()
        if trial is not None:
            return trial.rules
        now = time.monotonic()
        if now - self._checked >= self.check_interval and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                self._check_watched()
                if self.versions.pointer_stamp() != self._stamp:
                    self._reload()
            except Exception:  # noqa: BLE001 - keep answering with the rules published so far
                _log.exception("could not reload the rules; the published rules keep answering")
            finally:
                self._lock.release()
        return self._published

    @property
    def published(self) -> RuleSet:
        return self._published

    def list_versions(self) -> list[RuleVersion]:
        return self.versions.all()

    # editing ---------------------------------------------------------------------------

    def load_text(self, text: str, *, source: str, format: str | None = None, note: str = "") -> RuleSet:
        """Replace every rule and synonym with those of a YAML or JSON document."""
        rules = parse_rule_set(text, source=source, format=format)
        return self._publish(rules.document, source=source, note=note or "loaded a whole document")

    def put(self, entry: dict[str, Any], *, source: str = "api") -> RuleSet:
        """Create or replace one rule (a mapping with `kind`) or synonym (with `terms` or
        `from`/`to`), by its `id`."""
        if not isinstance(entry, dict):
            raise ValidationError("a rule is a mapping of fields", field="rule")
        entry_id = entry.get("id")
        if not isinstance(entry_id, str) or not entry_id:
            raise ValidationError("a rule or synonym needs an `id`", field="id")
        part = _part_of(entry)
        document = self.proposed(entry)
        replaced = any(e.get("id") == entry_id for e in self._published.document.get(part, []))
        return self._publish(document, source=source, note=f"{'replaced' if replaced else 'created'} {entry_id}")

    def delete(self, entry_id: str, *, source: str = "api") -> RuleSet:
        document = self.without(entry_id)
        return self._publish(document, source=source, note=f"deleted {entry_id}")

    def roll_back(self, version: int, *, source: str = "api") -> RuleSet:
        """A new version holding an earlier version's document."""
        earlier = self.versions.load(version)
        return self._publish(earlier.document, source=source, note=f"rolled back to version {version}")

    def proposed(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The live document with `entry` created or replaced (not saved)."""
        part = _part_of(entry)
        other = "rules" if part == "synonyms" else "synonyms"
        document = copy.deepcopy(self._published.document)
        if any(e.get("id") == entry.get("id") for e in document.get(other, [])):
            raise ValidationError(f"{entry.get('id')!r} already names a {other[:-1]}", field="id",
                                  hint="choose another id, or delete the other one first")
        listed = document.setdefault(part, [])
        for n, existing in enumerate(listed):
            if existing.get("id") == entry["id"]:
                listed[n] = entry
                break
        else:
            listed.append(entry)
        return document

    def without(self, entry_id: str) -> dict[str, Any]:
        """The live document without the rule or synonym `entry_id` (not saved)."""
        document = copy.deepcopy(self._published.document)
        for part in ("rules", "synonyms"):
            listed = document.get(part, [])
            kept = [e for e in listed if e.get("id") != entry_id]
            if len(kept) != len(listed):
                document[part] = kept
                return document
        raise NotFound(f"there is no rule or synonym {entry_id!r}", field="rule_id",
                       hint="`cartwise rules list` shows them")

    def watch(self, path: Path | str) -> None:
        """Load `path` now and again whenever it changes (checked with every reload check)."""
        self._watched = Path(path)
        self._watched_stamp = None
        with self._lock:
            self._check_watched(raise_errors=True)

    # internals -------------------------------------------------------------------------

    def _publish(self, document: dict[str, Any], *, source: str, note: str) -> RuleSet:
        rules = rule_set_of(document, source=source)  # validated before anything is saved
        with self._lock:
            number = self.versions.save(rules.document, source=source, note=note)
            rules.version = number
            self._published = rules
            self._stamp = self.versions.pointer_stamp()
            return rules

    def _reload(self) -> None:
        stamp = self.versions.pointer_stamp()
        number = self.versions.current_number()
        if number == 0:
            self._stamp = stamp
            return
        if number != self._published.version:
            saved = self.versions.load(number)
            self._published = rule_set_of(saved.document, version=number, source=f"rules version {number}")
        self._stamp = stamp

    def _check_watched(self, *, raise_errors: bool = False) -> None:
        path = self._watched
        if path is None:
            return
        try:
            stat = path.stat()
        except FileNotFoundError:
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._watched_stamp:
            return
        self._watched_stamp = stamp
        try:
            rules = parse_rule_set(path.read_text(encoding="utf-8"), source=str(path))
        except RuleFileError as exc:
            self.last_error = exc
            if raise_errors:
                raise
            _log.warning("the rules in %s were not loaded: %s", path, exc)
            return
        self.last_error = None
        if rules.document != self._published.document:
            self._publish(rules.document, source=f"file:{path}", note="the watched file changed")


def _part_of(entry: dict[str, Any]) -> str:
    """Where an entry belongs: a synonym has terms (or from/to) and no kind."""
    return "synonyms" if ("terms" in entry or "from" in entry) and "kind" not in entry else "rules"


__all__ = ["CHECK_INTERVAL_S", "RuleBook"]
