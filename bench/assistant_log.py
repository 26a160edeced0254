"""The assistant's report on a large log: counted in the store against reading every turn.

`AssistLog.report` (the dashboard's Assistant tab, `cartwise assist report`) counts turns by
route, answered and handed off, and groups the questions handed off, in the store's SQL; the
report before this read every turn of the window into Python. Both are timed here on the same
synthetic log (N turns, 30% handed off, 5,000 distinct questions, 300 products), on SQLite
and, when a server is configured, PostgreSQL, with the peak Python memory of each.

Run:  python bench/assistant_log.py [--turns 200000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save
from cartwise.assistant.log import AssistLog
from cartwise.store import AssistantTurn, open_store, store_backends


def synthetic_turns(n: int, seed: int = 0) -> list[AssistantTurn]:
    rng = random.Random(seed)
    turns = []
    for i in range(n):
        handoff = rng.random() < 0.3
        turns.append(AssistantTurn(
            answer_id=f"a{i}", ts=1_000_000 + i, message=f"question number {rng.randrange(5000)} about delivery",
            route=rng.choice(["product", "store", "shopping"]), confidence=0.9, answered=not handoff, handoff=handoff,
            reply="x" * 120, conversation_id=f"c{i // 3}", turn=i % 3 + 1, item_id=f"i{rng.randrange(300)}",
            evidence=("d1", "d2", "d3")))
    return turns


def timed(work) -> tuple[Any, float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    out = work()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return out, seconds, peak


def measure(url: str, turns: list[AssistantTurn]) -> dict[str, Any]:
    store = open_store(url, create=True)
    for start in range(0, len(turns), 20_000):
        store.add_assistant_turns(turns[start : start + 20_000])
    log = AssistLog(store)
    report, report_s, report_mb = timed(log.report)
    every, read_s, read_mb = timed(store.assistant_turns)
    assert len(every) == report.questions == len(turns)
    store.close()
    return {"report_s": round(report_s, 3), "report_peak_mb": round(report_mb, 1),
            "read_every_turn_s": round(read_s, 3), "read_every_turn_peak_mb": round(read_mb, 1),
            "time_ratio": round(read_s / report_s, 1), "handed_off": report.handed_off,
            "most_asked_times": report.unanswered[0].times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200_000)
    args = parser.parse_args()
    turns = synthetic_turns(args.turns)
    result: dict[str, Any] = {"turns": args.turns,
                              "note": "read_every_turn is only the read the old report began with (its grouping "
                              "in Python came on top)"}
    for backend in store_backends():
        url = backend.scratch_url(Path(tempfile.mkdtemp(prefix="assistant-log-")))
        if url is None:
            result[backend.name] = {"skipped": backend.scratch_needs}
            continue
        try:
            result[backend.name] = measure(url, turns)
        finally:
            if backend.discard_scratch is not None:
                backend.discard_scratch(url)
        print(backend.name, result[backend.name], flush=True)
    print("wrote", save("assistant_log", result))


if __name__ == "__main__":
    main()
