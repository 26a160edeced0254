"""Every change to the rules is a new version, kept in the store's workspace.

``rules/versions/000001.json`` ... hold each version's whole document with when, where
from and why it was made; ``rules/CURRENT`` names the live one. A version number is
claimed by creating its file exclusively, so two writers (two server processes, the CLI
beside a server) never write the same number; the later CURRENT wins.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartwise.errors import NotFound

CURRENT = "CURRENT"
VERSIONS = "versions"


@dataclass(frozen=True)
class RuleVersion:
    """One saved version (its document in `document`)."""

    version: int
    created_ms: int
    source: str
    note: str
    rules: int
    synonyms: int
    document: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "created_ms": self.created_ms, "source": self.source, "note": self.note,
                "rules": self.rules, "synonyms": self.synonyms}


class RuleVersions:
    """The versions of one store's rules (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.versions_dir = self.directory / VERSIONS
        self.pointer = self.directory / CURRENT

    def current_number(self) -> int:
        """The live version (0: none saved yet)."""
        try:
            return int(self.pointer.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def pointer_stamp(self) -> tuple[int, int] | None:
        """Cheap change check: the pointer's modification time and size."""
        try:
            stat = self.pointer.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def save(self, document: dict[str, Any], *, source: str, note: str = "") -> int:
        """Write `document` as a new version and make it the live one; its number."""
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        number = max(self._numbers(), default=0) + 1
        body = {
            "version": 0, "created_ms": int(time.time() * 1000), "source": source, "note": note,
            "document": document,
        }
        while True:
            path = self._path(number)
            try:
                with open(path, "x", encoding="utf-8") as out:
                    body["version"] = number
                    json.dump(body, out, ensure_ascii=False, indent=1)
                break
            except FileExistsError:
                number += 1
        temporary = self.directory / f".{CURRENT}.{os.getpid()}.{number}"
        temporary.write_text(f"{number}\n")
        os.replace(temporary, self.pointer)
        return number

    def point_to(self, number: int) -> None:
        """Make an existing version the live one (without a new file)."""
        self.load(number)
        temporary = self.directory / f".{CURRENT}.{os.getpid()}.{number}"
        temporary.write_text(f"{number}\n")
        os.replace(temporary, self.pointer)

    def load(self, number: int) -> RuleVersion:
        path = self._path(number)
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"there is no rules version {number}", field="version",
                           hint="`cartwise rules versions` lists them") from None
        document = body.get("document") or {}
        return RuleVersion(
            version=int(body["version"]), created_ms=int(body.get("created_ms", 0)), source=str(body.get("source", "")),
            note=str(body.get("note", "")), rules=len(document.get("rules") or ()),
            synonyms=len(document.get("synonyms") or ()), document=document,
        )

    def all(self) -> list[RuleVersion]:
        """Every version, oldest first."""
        return [self.load(number) for number in sorted(self._numbers())]

    def _numbers(self) -> list[int]:
        if not self.versions_dir.exists():
            return []
        return [int(p.stem) for p in self.versions_dir.glob("*.json") if p.stem.isdigit()]

    def _path(self, number: int) -> Path:
        return self.versions_dir / f"{number:06d}.json"


__all__ = ["RuleVersion", "RuleVersions"]
