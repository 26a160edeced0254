"""Validation as a list of rules over whole columns.

A rule is a boolean expression marking bad rows, the field it concerns and the reason
to report. A row fails with its first failing rule, so each rejected row carries exactly
one field and reason, in the order the rules are listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from cartwise.ingest.report import LINE, REJECT_SCHEMA, VALUE_SNIPPET

_RULE = "__rule"


@dataclass(frozen=True)
class Rule:
    field: str
    failed: pl.Expr
    reason: str | pl.Expr


def split_rejects(frame: pl.DataFrame, rules: Sequence[Rule]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows passing every rule, reject frame for the others).

    The reported value is the row's text in the rule's field (`frame` must hold it under
    the field's name).
    """
    if not rules:
        return frame, pl.DataFrame(schema=REJECT_SCHEMA)
    chain = pl.when(rules[0].failed).then(pl.lit(0, dtype=pl.Int16))
    for index, rule in enumerate(rules[1:], start=1):
        chain = chain.when(rule.failed).then(pl.lit(index, dtype=pl.Int16))
    marked = frame.with_columns(chain.otherwise(None).alias(_RULE))
    bad = marked.filter(pl.col(_RULE).is_not_null())
    good = marked.filter(pl.col(_RULE).is_null()).drop(_RULE)
    if bad.is_empty():
        return good, pl.DataFrame(schema=REJECT_SCHEMA)

    def pick(values: list[pl.Expr]) -> pl.Expr:
        out = pl.when(pl.col(_RULE) == 0).then(values[0])
        for index, value in enumerate(values[1:], start=1):
            out = out.when(pl.col(_RULE) == index).then(value)
        return out

    used = bad[_RULE].unique().sort().to_list()
    chosen = [rules[i] for i in used]
    remap = pl.col(_RULE).replace_strict(used, list(range(len(used))), return_dtype=pl.Int16)
    bad = bad.with_columns(remap.alias(_RULE))
    rejects = bad.select(
        pl.col(LINE).cast(pl.Int64),
        pick([pl.lit(r.field, dtype=pl.Utf8) for r in chosen]).alias("field"),
        pick([pl.lit(r.reason, dtype=pl.Utf8) if isinstance(r.reason, str) else r.reason for r in chosen]).alias(
            "reason"
        ),
        pick([pl.col(r.field).cast(pl.Utf8) for r in chosen]).str.slice(0, VALUE_SNIPPET).alias("value"),
    )
    return good, rejects
