"""Golden search answers: every field of ~450 search answers (took_ms aside), to show a
refactoring of the search path changed nothing.

It answers a fixed set of queries (the judged demo queries, filter-only browsing, facets,
pages, prices, typos, Chinese, all three modes, the errors) on three stores: the demo
store (`cartwise demo --no-serve`), and the small planted store of the tests trained with
and without a text encoder (built here, in --work). `--out` writes the answers; `--compare`
answers again and reports every difference.

    .venv/bin/python bench/search_golden.py --demo cartwise-demo --work /tmp/golden --out before.json
    .venv/bin/python bench/search_golden.py --demo cartwise-demo --work /tmp/golden --compare before.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cartwise import Engine  # noqa: E402
from cartwise.errors import CartwiseError  # noqa: E402
from cartwise.search import SearchFilters  # noqa: E402

JUDGED = Path(__file__).resolve().parent / "queries" / "demo_judged.csv"
MODES = ("hybrid", "lexical", "semantic")

# (query, options) asked of the small planted store (tests/conftest.py), every mode.
SMALL: list[tuple[str, dict[str, Any]]] = [
    ("mug", {}),
    ("red mug", {}),
    ("red", {"k": 3}),
    ("red", {"k": 2, "offset": 2}),
    ("tea", {"filters": ["category=Home > Kitchen"]}),
    ("tea", {"filters": ["brand=Brew", "price<=15"]}),
    ("tea", {"filters": SearchFilters(brands=("Brew",), price_max=15.0)}),
    ("mug", {"filters": ["price=5..10"], "facets": False}),
    ("mug", {"filters": ["in_stock=true"]}),
    ("boots", {}),
    ("boots", {"filters": ["in_stock=false"]}),
    ("hiking", {"filters": ["category=Fashion"]}),
    ("hiking", {"filters": ["category=Fashion"], "fallback": False}),
    ("mugs under 10", {}),
    ("mugs under 10", {"understand": False}),
    ("mug under 5", {}),
    ("mug under 5", {"filters": ["price>=20"]}),
    ("under 20", {}),
    ("under $20", {}),
    ("between 10 and 30 euros", {}),
    ("acme mug", {}),
    ("brew teapot", {}),
    ("red dress size m", {}),
    ("kitchen", {}),
    ("teapto", {}),
    ("ceramc mug", {}),
    ("红色 连衣裙", {}),
    ("连衣裙 200元以下", {}),
    ("茶壶", {}),
    ("something to keep my pot warm", {}),
    ("xyzzy plugh", {}),
    ("xyzzy plugh", {"fallback": False}),
    ("mug-red", {}),
    ("  Red\tmug\x00 ", {}),
    ("", {"filters": ["category=Home"]}),
    ("", {"filters": ["brand=Acme,Trail"], "k": 2}),
    ("", {"filters": ["brand=Acme,Trail"], "k": 2, "offset": 2}),
    ("", {"filters": ["price>=10"], "facets": False}),
    ("", {"filters": ["in_stock=false"]}),
    ("", {"filters": SearchFilters(category="Outdoor")}),
    ("", {}),
    ("", {"filters": []}),
    ("under 10", {"filters": ["category=Outdoor"]}),
    ("mug", {"filters": ["colour=red"]}),
    ("mug", {"filters": ["price<=abc"]}),
    ("mug", {"filters": ["price=30..5"]}),
    ("mug", {"k": 0}),
    ("mug", {"offset": -1}),
    ("mug", {"mode": "fuzzy"}),
    ("x" * 600, {}),
]

# Extra demo queries beyond the judged ones.
DEMO_EXTRA: list[tuple[str, dict[str, Any]]] = [
    ("heart", {"k": 20}),
    ("heart", {"k": 10, "offset": 10}),
    ("heart", {"k": 10, "offset": 500}),
    ("lantern", {"filters": ["price<=2"]}),
    ("lantern", {"filters": ["price=1..3"], "k": 5, "offset": 5}),
    ("bag", {"filters": ["price>=100"]}),
    ("", {"filters": ["price<=0.5"]}),
    ("", {"filters": ["price=2..3"], "k": 5, "offset": 40}),
    ("under 1", {}),
    ("under 1 pound", {}),
    ("under $2", {}),
    ("mug under 3", {"facets": False}),
    ("christmas", {"understand": False}),
    ("chrstmas tre", {}),
    ("jumbo bag red retrospot", {}),
    ("85123", {}),
    ("23084 rabbit night light", {}),
    ("圣诞", {}),
    ("灯笼 10元以下", {}),
]


def cases() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(store, query, options) for every answer to record."""
    with JUDGED.open(newline="", encoding="utf-8") as handle:
        judged = list(dict.fromkeys(row["query"] for row in csv.DictReader(handle)))
    for query in judged:
        for mode in MODES:
            yield "demo", query, {"mode": mode}
    for query, options in DEMO_EXTRA:
        for mode in MODES:
            yield "demo", query, {**options, "mode": mode}
    for store in ("small", "small-lexical"):
        for query, options in SMALL:
            for mode in MODES:
                yield store, query, {**options, "mode": mode}


def answer(engine: Engine, query: str, options: dict[str, Any]) -> dict[str, Any]:
    try:
        response = engine.search(query, **options)
    except CartwiseError as error:
        return {"error": type(error).__name__, "message": str(error), "field": getattr(error, "field", None)}
    data = response.model_dump(mode="json")
    data.pop("took_ms")
    data.pop("request_id", None)  # names each answer; new every time
    for item in data.get("items", []):
        if item.get("sponsored") is False:  # a field added since; only an ad says True
            item.pop("sponsored")
    return data


def small_store(work: Path, *, encoder: bool) -> Engine:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import CATALOG, planted_events

    path = work / ("small" if encoder else "small-lexical")
    existing = path.exists()
    engine = Engine.open(path)
    if not existing:
        engine.upsert_items(CATALOG)
        engine.add_events(planted_events())
        engine.train(seed=0, **({} if encoder else {"encoder": None}))
    return engine


def record(demo: str, work: Path) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    engines = {
        "demo": Engine.open(demo, create=False),
        "small": small_store(work, encoder=True),
        "small-lexical": small_store(work, encoder=False),
    }
    out = []
    for store, query, options in cases():
        shown = {k: (repr(v) if isinstance(v, SearchFilters) else v) for k, v in options.items()}
        out.append({"store": store, "query": query, "options": shown,
                    "answer": answer(engines[store], query, options)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", required=True, help="a trained demo store")
    parser.add_argument("--work", type=Path, required=True, help="where the small stores are built (reused)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    answers = record(args.demo, args.work)
    if args.out:
        args.out.write_text(json.dumps(answers, indent=1, ensure_ascii=False))
        print(f"{len(answers)} answers written to {args.out}")
    if args.compare:
        before = json.loads(args.compare.read_text())
        if len(before) != len(answers):
            sys.exit(f"{len(before)} answers before, {len(answers)} now")
        differ = 0
        for old, new in zip(before, answers, strict=True):
            if old != new:
                differ += 1
                print("DIFFERS:", new["store"], repr(new["query"]), new["options"])
                for key in sorted({*old["answer"], *new["answer"]}):
                    if old["answer"].get(key) != new["answer"].get(key):
                        print(f"  {key}: {json.dumps(old['answer'].get(key))[:300]}")
                        print(f"  {' ' * len(key)}  -> {json.dumps(new['answer'].get(key))[:300]}")
        print(f"{len(answers)} answers compared, {differ} differ")
        sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
