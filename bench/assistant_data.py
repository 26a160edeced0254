"""The data sets of bench/assistant.py, read from ../shared/data, and an on-disk cache of
their passage and question embeddings (encoding ~20,000 texts takes minutes on 2 cores).

ePQA (dev): 977 questions, each with ~10 candidate sentences graded 0/1/2.
hetPQA (evidence_ranking dev): 509 questions; a product's passages are every candidate of
every question about that product (ASIN), relevant = the question's own label-1 candidates.
AFQMC (dev): Chinese question pairs; corpus = all distinct questions, a query is a
question with at least one label-1 partner, relevant = its partners.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")


@dataclass
class RankingSet:
    """Questions, each with its own candidate passages and graded labels."""

    questions: list[str] = field(default_factory=list)
    candidates: list[list[str]] = field(default_factory=list)
    sources: list[list[str]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # product id


def epqa() -> RankingSet:
    out = RankingSet()
    by_qid: dict[str, int] = {}
    with open(DATA / "amazon_pqa" / "ePQA" / "dev.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            qid = row["qid"]
            if qid not in by_qid:
                by_qid[qid] = len(out.questions)
                out.questions.append(row["question"].strip())
                out.candidates.append([])
                out.sources.append([])
                out.labels.append([])
                out.groups.append(row["ASIN"])
            at = by_qid[qid]
            out.candidates[at].append(row["candidate"].strip())
            out.sources[at].append(row["source"].strip())
            out.labels[at].append(int(row["label"]))
    return out


def hetpqa() -> RankingSet:
    """Each question against all passages of its product (deduplicated)."""
    path = DATA / "amazon_pqa" / "hetPQA" / "evidence_ranking" / "dev.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    passages: dict[str, dict[str, str]] = defaultdict(dict)  # asin -> text -> source
    questions: dict[str, tuple[str, str, set[str]]] = {}
    for row in rows:
        text = row["candidate"].strip()
        passages[row["ASIN"]].setdefault(text, row["source"].strip())
        q = questions.setdefault(row["qid"], (row["question"].strip(), row["ASIN"], set()))
        if row["label"].strip() == "1":
            q[2].add(text)
    out = RankingSet()
    for question, asin, positive in questions.values():
        if not positive:
            continue
        texts = list(passages[asin])
        out.questions.append(question)
        out.candidates.append(texts)
        out.sources.append([passages[asin][t] for t in texts])
        out.labels.append([1 if t in positive else 0 for t in texts])
        out.groups.append(asin)
    return out


@dataclass
class PairSet:
    corpus: list[str]
    queries: list[int]  # corpus positions used as queries
    relevant: list[set[int]]
    pairs: list[tuple[int, int, bool]] = field(default_factory=list)  # every labelled pair: same intent?


def afqmc() -> PairSet:
    corpus: list[str] = []
    position: dict[str, int] = {}
    partners: dict[int, set[int]] = defaultdict(set)
    pairs: list[tuple[int, int, bool]] = []
    with open(DATA / "afqmc_zh" / "dev.json", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            ids = []
            for key in ("sentence1", "sentence2"):
                text = row[key].strip()
                if text not in position:
                    position[text] = len(corpus)
                    corpus.append(text)
                ids.append(position[text])
            pairs.append((ids[0], ids[1], row["label"] == "1"))
            if row["label"] == "1" and ids[0] != ids[1]:
                partners[ids[0]].add(ids[1])
                partners[ids[1]].add(ids[0])
    queries = sorted(partners)
    return PairSet(corpus=corpus, queries=queries, relevant=[partners[q] for q in queries], pairs=pairs)


def unique(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(texts))


def cached_embeddings(encoder, texts: list[str], *, kind: str, cache: Path | None) -> np.ndarray:
    """`encoder`'s vectors of `texts` (kind "passage" or "query"), from `cache` when there."""
    digest = hashlib.sha1("\x1f".join(texts).encode()).hexdigest()[:16]
    path = cache / f"{encoder.name}-{kind}-{digest}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path)
    if kind == "passage":
        vectors = encoder.encode_items(texts, batch_size=32)
    else:
        vectors = np.concatenate([encoder.encode_queries(texts[i : i + 64]) for i in range(0, len(texts), 64)]) \
            if texts else np.empty((0, encoder.dim), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def prepare(cache: Path) -> None:
    """Encode every text the benchmark needs into `cache`."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from cartwise.encode import load_encoder

    encoder = load_encoder()
    e, h, a = epqa(), hetpqa(), afqmc()
    for name, ranking in (("epqa", e), ("hetpqa", h)):
        cached_embeddings(encoder, unique(ranking.questions), kind="query", cache=cache)
        cached_embeddings(encoder, unique([c for cs in ranking.candidates for c in cs]), kind="passage", cache=cache)
        print(name, "done", flush=True)
    cached_embeddings(encoder, a.corpus, kind="query", cache=cache)
    print("afqmc done", flush=True)


if __name__ == "__main__":
    prepare(Path("/tmp/cartwise-assistant-cache"))
