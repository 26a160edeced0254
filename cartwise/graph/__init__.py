"""The product relation graph: co-viewed, co-bought and bought-after items, substitutes and
complements, variant families, brand, series, category and attribute edges, each with its
evidence; mined by `cartwise train`, updated as events arrive, and behind the "frequently
bought together" and "alternatives" placements."""

from cartwise.graph.graph import GRAPH_DIR, RelationGraph
from cartwise.graph.kinds import Edge, RelationKind

__all__ = ["GRAPH_DIR", "Edge", "RelationGraph", "RelationKind"]
