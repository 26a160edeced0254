"""Which source column feeds which Cartwise field, and constants for fields a file lacks.

``ColumnMapping.parse(["item_id=StockCode"], ["event_type=purchase"])`` is what the CLI's
``--map`` and ``--set`` options build. Fields not mapped are read from a column with the
field's own name when the file has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from cartwise.errors import ValidationError
from cartwise.ingest.events import EVENT_FIELDS
from cartwise.ingest.items import ITEM_FIELDS
from cartwise.ingest.readers import RawTable
from cartwise.ingest.report import LINE

_KNOWN = tuple(dict.fromkeys(ITEM_FIELDS + EVENT_FIELDS))


def _listing(columns: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    if len(columns) > limit:
        shown += f", ... ({len(columns)} in all)"
    return shown or "(none)"


@dataclass(frozen=True)
class Plan:
    """The mapping resolved against one source: field -> column, field -> constant."""

    columns: dict[str, str]
    constants: dict[str, str]

    def source_columns(self) -> list[str]:
        return list(dict.fromkeys(self.columns.values()))

    def select(self, table: RawTable, fields: Sequence[str]) -> pl.DataFrame:
        """One text column per field (null where neither a column nor a constant feeds it)."""
        exprs = [pl.col(LINE)]
        for name in fields:
            if name in self.constants:
                exprs.append(pl.lit(self.constants[name], dtype=pl.Utf8).alias(name))
            elif name in self.columns:
                exprs.append(pl.col(self.columns[name]).cast(pl.Utf8).alias(name))
            else:
                exprs.append(pl.lit(None, dtype=pl.Utf8).alias(name))
        return table.frame.select(exprs)


@dataclass(frozen=True)
class ColumnMapping:
    """`columns`: field -> source column; `constants`: field -> value for every row."""

    columns: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        columns = {str(k).strip(): str(v).strip() for k, v in dict(self.columns).items()}
        constants = {str(k).strip(): str(v) for k, v in dict(self.constants).items()}
        for option, entries in (("--map", columns), ("--set", constants)):
            for target, value in entries.items():
                if target not in _KNOWN:
                    raise ValidationError(
                        f"{option} {target}={value}: {target!r} is not a Cartwise field",
                        field=target,
                        hint=f"fields are {', '.join(_KNOWN)}",
                    )
        for target, column in columns.items():
            if not column:
                raise ValidationError(
                    f"--map {target}= names no column", field=target, hint=f"e.g. --map {target}=Column"
                )
            if target in constants:
                raise ValidationError(
                    f"{target} is given both a column (--map) and a constant (--set)",
                    field=target,
                    hint="keep one of them",
                )
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "constants", constants)

    @classmethod
    def parse(cls, maps: Sequence[str], constants: Sequence[str] = ()) -> ColumnMapping:
        """Build from CLI strings: ``maps`` like ``item_id=StockCode``, ``constants`` like
        ``event_type=purchase``."""
        return cls(_pairs(maps, "--map", "item_id=StockCode"), _pairs(constants, "--set", "event_type=purchase"))

    def plan(
        self,
        *,
        kind: str,
        fields: Sequence[str],
        required: Sequence[tuple[str, ...]],
        columns: Sequence[str],
        source: str,
        complete: bool = True,
    ) -> Plan:
        """Resolve against a source with `columns`; raises ValidationError naming the
        missing column and listing the ones the source has.

        `required` holds alternatives: ``("item_id", "query")`` is satisfied by either.
        With `complete` False (`columns` is only a sample) absent columns are assumed to
        exist; call again with the columns found after reading.
        """
        for target in list(self.columns) + list(self.constants):
            if target not in fields:
                raise ValidationError(
                    f"{target} is not a field of {kind}",
                    field=target,
                    hint=f"{kind} fields are {', '.join(fields)}",
                )
        available = set(columns)
        plan_columns: dict[str, str] = {}
        for name in fields:
            if name in self.constants:
                continue
            column = self.columns.get(name)
            if column is not None:
                if column not in available and complete:
                    raise ValidationError(
                        f"column {column!r} (mapped to {name}) is not in {source}; its columns are {_listing(columns)}",
                        field=name,
                        hint="column names are case-sensitive; fix the --map option",
                    )
                plan_columns[name] = column
            elif name in available or not complete:
                plan_columns[name] = name
        if complete:
            plan_columns = {k: v for k, v in plan_columns.items() if v in available}
            for options in required:
                if not any(o in plan_columns or o in self.constants for o in options):
                    wanted = " or ".join(options)
                    raise ValidationError(
                        f"{source} has no column for {wanted}, which {kind} need; "
                        f"its columns are {_listing(columns)}",
                        field=options[0],
                        hint=f"map one with --map {options[0]}=COLUMN",
                    )
        return Plan(plan_columns, {k: v for k, v in self.constants.items() if k in fields})


def _pairs(entries: Sequence[str], option: str, example: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for entry in entries:
        target, sep, value = str(entry).partition("=")
        target = target.strip()
        if not sep or not target:
            raise ValidationError(f"{option} {entry!r} is not FIELD=VALUE", hint=f"e.g. {option} {example}")
        if target in pairs:
            raise ValidationError(f"{option} gives {target} twice", field=target, hint="keep one")
        pairs[target] = value
    return pairs
