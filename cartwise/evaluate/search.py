"""Search quality on judged queries: graded NDCG@10, recall@100 and MRR per mode.

Judgments are rows ``query_id, query, item_id, relevance`` (relevance > 0 is relevant,
higher is better). Each query is searched once per mode; the answers are the same ones a
shopper would get from `cartwise search`.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cartwise.errors import ValidationError


@dataclass(frozen=True)
class Judgments:
    queries: dict[str, str]
    relevance: dict[str, dict[str, float]]


def read_judgments(path: Path) -> Judgments:
    """Read a CSV or TSV file with the columns query_id, query, item_id, relevance."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"judgments file {path} does not exist", field="judgments") from None
    except UnicodeDecodeError as exc:
        raise ValidationError(f"judgments file {path} is not UTF-8: {exc}", field="judgments") from None
    dialect = "excel-tab" if "\t" in text.splitlines()[0] else "excel"
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    needed = {"query_id", "query", "item_id", "relevance"}
    if not reader.fieldnames or not needed <= set(reader.fieldnames):
        raise ValidationError(
            f"{path} needs the columns {sorted(needed)}, found {reader.fieldnames}", field="judgments"
        )
    queries: dict[str, str] = {}
    relevance: dict[str, dict[str, float]] = {}
    for line, row in enumerate(reader, start=2):
        try:
            grade = float(row["relevance"])
        except (TypeError, ValueError):
            raise ValidationError(f"{path}:{line}: relevance {row['relevance']!r} is not a number", field="relevance")
        queries[row["query_id"]] = row["query"]
        if grade > 0:
            relevance.setdefault(row["query_id"], {})[row["item_id"]] = grade
    return Judgments(queries=queries, relevance=relevance)


def graded_ndcg(ranked: Sequence[str], grades: dict[str, float], k: int) -> float:
    gains = np.array([2.0 ** grades.get(item, 0.0) - 1.0 for item in ranked[:k]])
    discounts = 1.0 / np.log2(np.arange(2, gains.size + 2))
    ideal_gains = np.sort(np.array([2.0**g - 1.0 for g in grades.values()]))[::-1][:k]
    ideal = float((ideal_gains / np.log2(np.arange(2, ideal_gains.size + 2))).sum())
    return float((gains * discounts).sum() / ideal) if ideal > 0 else 0.0


class Searches(Protocol):
    """Anything with the engine's `search` (kept as a protocol: evaluation sits below the engine)."""

    def search(self, query: str, *, k: int, mode: str, facets: bool) -> Any: ...


def searcher(engine: Searches, mode: str) -> Callable[[str, int], list[str]]:
    """`engine`'s search in `mode` as `evaluate_search` calls it: a query the engine refuses
    (empty once cleaned, say) answers nothing instead of stopping the evaluation."""

    def search(query: str, k: int) -> list[str]:
        try:
            return [item.item_id for item in engine.search(query, k=k, mode=mode, facets=False).items]
        except ValidationError:
            return []

    return search


def evaluate_search(
    judgments: Judgments, search: Callable[[str, int], list[str]], *, depth: int = 100
) -> dict[str, float]:
    """NDCG@10, recall@depth and MRR over the judged queries with relevant items."""
    ndcgs, recalls, reciprocal, latencies = [], [], [], []
    for query_id, grades in judgments.relevance.items():
        started = time.perf_counter()
        ranked = search(judgments.queries[query_id], depth)
        latencies.append((time.perf_counter() - started) * 1000)
        ndcgs.append(graded_ndcg(ranked, grades, 10))
        recalls.append(len(set(ranked[:depth]) & set(grades)) / len(grades))
        first = next((rank for rank, item in enumerate(ranked) if item in grades), None)
        reciprocal.append(0.0 if first is None else 1.0 / (first + 1))
    if not ndcgs:
        raise ValidationError("no judged query has a relevant item (relevance > 0)", field="judgments")
    return {
        "queries": float(len(ndcgs)),
        "NDCG@10": float(np.mean(ndcgs)),
        f"recall@{depth}": float(np.mean(recalls)),
        "MRR": float(np.mean(reciprocal)),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
    }
