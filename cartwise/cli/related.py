"""`cartwise related ITEM --type KIND`: an item's related items from the product relation
graph, with the evidence of each edge."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cartwise.cli.output import console
from cartwise.engine import DEFAULT_STORE, Engine
from cartwise.graph.answers import RelationAnswers
from cartwise.limits import MAX_K

# Evidence shown first in the table, when an edge has it; the basket totals behind the
# ratios are left to --json.
_FIRST = ("lift", "count", "confidence", "support", "text_similarity")
_TOTALS = frozenset({"baskets", "item_baskets", "other_baskets", "transitions"})


def _evidence(evidence: dict[str, Any]) -> str:
    keys = [k for k in _FIRST if k in evidence] + sorted(k for k in evidence if k not in _FIRST and k not in _TOTALS)
    return ", ".join(f"{k}={', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in
                     ((k, evidence[k]) for k in keys) if v is not None)


def related(
    item_id: Annotated[str, typer.Argument(help="the item whose relations to show")],
    type: Annotated[str, typer.Option("--type", "-t", help="relation kind: " + ", ".join(
        kind.name for kind in RelationAnswers.kinds()))] = "complements",
    store: Annotated[str, typer.Option("--store", "-s", envvar="CARTWISE_STORE",
                                       help="store directory or URL (sqlite:///DIR)")] = DEFAULT_STORE,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=MAX_K, help="number of results")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines instead of a table")] = False,
) -> None:
    """Items related to one item in the product relation graph (built by `train`)."""
    engine = Engine.open(store, create=False, log_impressions=False)
    try:
        result = engine.related(item_id, type=type, k=k)
    finally:
        engine.close()
    if as_json:
        console.print_json(result.model_dump_json())
        return
    table = Table(title=f"{result.type} of {item_id} ({result.took_ms:.1f} ms, model {result.model_version})")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("title")
    table.add_column("score", justify="right")
    table.add_column("evidence")
    for n, item in enumerate(result.items, start=1):
        table.add_row(str(n), item.item_id, item.title, f"{item.score:.4g}", _evidence(item.evidence))
    if not result.items:
        console.print(f"no {result.type} relations for {item_id} yet", markup=False)
        return
    console.print(table)
