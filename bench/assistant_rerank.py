"""Cross-validated experiments behind the assistant's evidence ranking and FAQ matching.

Every figure here is out of fold: models and constants are fitted on the training folds
(5-fold, grouped by product for ePQA/hetPQA, by same-intent component for AFQMC) and
measured on the held-out fold; the held-out folds' figures are pooled.

  evidence  ePQA and hetPQA: BM25, e5, the fused score, e5 + MiniLM (z-normalised per
            question) + BM25, and rerankers (logistic regression, LightGBM LambdaRank) over
            the cheap features of cartwise.assistant.rerank (with and without MiniLM),
            trained on each set's own labels and on both sets together.
  abstain   ePQA: a calibrated probability (logistic regression over the top candidate's
            reranker score, its margin and features) with the 0.9-precision threshold chosen
            on the training folds, measured on the held-out fold (nested: the reranker scores
            the calibrator learns from are themselves out of fold).
  faq       AFQMC: word BM25 (jieba), character n-gram BM25, e5 with "query:" on both sides,
            fusions with CV-chosen weights.

  threshold ePQA: the abstain threshold of the shipped reranker (LightGBM + MiniLM trained on
            ePQA + hetPQA), nested CV, for three decision scores (run_threshold); for the
            shipped one, the point-estimate rule next to the risk-controlled one
            (bench/assistant.py risk_controlled_threshold) at several deltas; --repeats fold seeds.

Run:  python bench/assistant_rerank.py --cache DIR [--only evidence,abstain,threshold,faq] [--repeats N] [--write-model]
(--write-model trains the shipped reranker on all of ePQA + hetPQA and writes
cartwise/assistant/data/evidence_reranker.txt)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import assistant as bench  # bench/assistant.py
import assistant_data as data
import numpy as np
from sklearn.model_selection import GroupKFold

from bench.common import save
from cartwise.assistant import ranking, rerank
from cartwise.encode import load_encoder

FOLDS = 5
SEED = 0
LGB_PARAMS = {"objective": "lambdarank", "num_leaves": 7, "learning_rate": 0.05, "n_estimators": 200,
              "min_child_samples": 20, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
              "reg_lambda": 1.0, "verbose": -1, "random_state": SEED}


# data ------------------------------------------------------------------------------------

def build(ranking_set: data.RankingSet, sets: list[dict], minilm, cache: Path | None) -> list[dict]:
    """Adds features (and MiniLM cosines) to bench.scored_sets' rows."""
    questions = data.unique(ranking_set.questions)
    passages = data.unique([c for cs in ranking_set.candidates for c in cs])
    mq = data.cached_embeddings(minilm, questions, kind="query", cache=cache) if minilm else None
    mp = data.cached_embeddings(minilm, passages, kind="passage", cache=cache) if minilm else None
    q_at = {q: i for i, q in enumerate(questions)}
    p_at = {p: i for i, p in enumerate(passages)}
    for s, question, candidates, group in zip(sets, ranking_set.questions, ranking_set.candidates,
                                              ranking_set.groups, strict=True):
        qt = ranking.tokenize([question])[0]
        pt = ranking.tokenize(candidates)
        s["x"] = rerank.pair_features(question, qt, candidates, pt, s["sources"], s["dense"], s["lexical"])
        s["group"] = group
        if mq is not None:
            m = mp[[p_at[c] for c in candidates]] @ mq[q_at[question]]
            s["minilm"] = m
            s["x_minilm"] = rerank.minilm_features(m)
    return sets


def folds_of(sets: list[dict]) -> list[np.ndarray]:
    groups = [s["group"] for s in sets]
    fold = np.empty(len(sets), dtype=int)
    for k, (_, test) in enumerate(GroupKFold(FOLDS, shuffle=True, random_state=SEED).split(sets, groups=groups)):
        fold[test] = k
    return fold


# metrics ---------------------------------------------------------------------------------

def epqa_metrics(sets, scores) -> dict[str, float]:
    nd, rr = [], []
    for s, sc in zip(sets, scores, strict=True):
        nd.append(bench.ndcg3(sc, s["labels"]))
        r = bench.reciprocal_rank(sc, s["labels"] == 2)
        if r is not None:
            rr.append(r)
    return {"ndcg@3": round(float(np.mean(nd)), 4), "mrr": round(float(np.mean(rr)), 4)}


def het_metrics(sets, scores) -> dict[str, float]:
    rec = []
    for s, sc in zip(sets, scores, strict=True):
        top = np.argsort(-sc, kind="stable")[:5]
        pos = s["labels"] >= 1
        rec.append(pos[top].sum() / pos.sum())
    return {"recall@5": round(float(np.mean(rec)), 4)}


# models ----------------------------------------------------------------------------------

def matrix(sets, rows, minilm: bool) -> np.ndarray:
    return np.vstack([np.hstack([sets[i]["x"], sets[i]["x_minilm"]]) if minilm else sets[i]["x"] for i in rows])


def gains(sets, rows, het_as: int = 2) -> np.ndarray:
    """Training labels: ePQA's 0/1/2; hetPQA's answer-bearing 1 counts as ePQA's 2."""
    return np.concatenate([np.where(sets[i]["labels"] >= 1, het_as, 0) if sets[i].get("binary") else sets[i]["labels"]
                           for i in rows])


def fit_lgb(sets, rows, minilm: bool):
    import lightgbm as lgb

    model = lgb.LGBMRanker(**LGB_PARAMS)
    names = list(rerank.MODEL_FEATURES if minilm else rerank.FEATURES)
    model.fit(matrix(sets, rows, minilm), gains(sets, rows), group=[len(sets[i]["labels"]) for i in rows],
              feature_name=names)
    return model


def write_model(epqa_sets, het_sets, path: Path = rerank.MODEL_PATH) -> dict[str, Any]:
    """The shipped reranker: LightGBM over the cheap features + MiniLM, trained on every
    ePQA and hetPQA question (the hyper-parameters of the cross-validated runs, untuned)."""
    for s in het_sets:
        s["binary"] = True
    every = epqa_sets + het_sets
    model = fit_lgb(every, list(range(len(every))), True)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.booster_.save_model(str(path))
    print("wrote", path, path.stat().st_size, "bytes", flush=True)
    return {"path": str(path.relative_to(Path(__file__).resolve().parent.parent)), "bytes": path.stat().st_size,
            "questions": len(every), "features": list(rerank.MODEL_FEATURES), "params": LGB_PARAMS}


def fit_logistic(sets, rows, minilm: bool):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = gains(sets, rows) >= 2
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(matrix(sets, rows, minilm), y)


def predict(model, sets, rows, minilm: bool) -> dict[int, np.ndarray]:
    x = matrix(sets, rows, minilm)
    if hasattr(model, "predict_proba"):
        p = model.decision_function(x)
    else:
        p = model.booster_.predict(x)  # the booster itself, as the assistant runs it (no feature-name check)
    out, at = {}, 0
    for i in rows:
        n = len(sets[i]["labels"])
        out[i] = np.asarray(p[at : at + n], dtype=np.float64)
        at += n
    return out


def ensemble_score(s, a: float, b: float) -> np.ndarray:
    """z(e5) + a * z(MiniLM) + b * bm25/max."""
    def z(v):
        return (v - v.mean()) / max(float(v.std()), 0.02)
    return z(s["dense"]) + a * z(s["minilm"]) + b * s["x"][:, rerank.FEATURES.index("bm25_rel")]


def run_evidence(epqa_sets, het_sets, minilm: bool) -> dict[str, Any]:
    for s in het_sets:
        s["binary"] = True
    fe, fh = folds_of(epqa_sets), folds_of(het_sets)
    every = epqa_sets + het_sets
    fold = np.concatenate([fe, fh])
    ne = len(epqa_sets)
    out: dict[str, Any] = {}

    def report(name, score_of):
        se = [score_of(i) for i in range(ne)]
        sh = [score_of(ne + i) for i in range(len(het_sets))]
        out[name] = {"epqa": epqa_metrics(epqa_sets, se), "hetpqa": het_metrics(het_sets, sh)}
        print(name, out[name], flush=True)

    report("bm25", lambda i: every[i]["lexical"])
    report("dense_e5", lambda i: every[i]["dense"])
    report("fused_shipped", lambda i: ranking.fuse(every[i]["dense"], every[i]["lexical"]).astype(np.float64))
    if minilm:
        report("dense_minilm", lambda i: every[i]["minilm"])
        # e5 + MiniLM + BM25, weights chosen on the training folds of each set (by its own metric).
        grid = [(a, b) for a in (0.0, 0.25, 0.5, 0.75, 1.0) for b in (0.0, 0.25, 0.5, 1.0)]
        chosen: dict[int, np.ndarray] = {}
        for sets, folds, offset, metric in ((epqa_sets, fe, 0, lambda ss, sc: epqa_metrics(ss, sc)["ndcg@3"]),
                                            (het_sets, fh, ne, lambda ss, sc: het_metrics(ss, sc)["recall@5"])):
            for k in range(FOLDS):
                train = [i for i in range(len(sets)) if folds[i] != k]
                best = max(grid, key=lambda ab: metric([sets[i] for i in train],
                                                       [ensemble_score(sets[i], *ab) for i in train]))
                for i in range(len(sets)):
                    if folds[i] == k:
                        chosen[offset + i] = ensemble_score(sets[i], *best)
        report("ensemble_e5_minilm_bm25_cv", lambda i: chosen[i])

    variants = [("lgb", fit_lgb, False), ("logistic", fit_logistic, False)]
    if minilm:
        variants += [("lgb_minilm", fit_lgb, True), ("logistic_minilm", fit_logistic, True)]
    oof: dict[str, dict[int, np.ndarray]] = {}
    for name, fit, use_minilm in variants:
        for regime in ("own", "both"):
            scores: dict[int, np.ndarray] = {}
            for k in range(FOLDS):
                test = [i for i in range(len(every)) if fold[i] == k]
                if regime == "both":
                    model = fit(every, [i for i in range(len(every)) if fold[i] != k], use_minilm)
                    scores.update(predict(model, every, test, use_minilm))
                else:
                    for lo, hi in ((0, ne), (ne, len(every))):
                        train = [i for i in range(lo, hi) if fold[i] != k]
                        model = fit(every, train, use_minilm)
                        scores.update(predict(model, every, [i for i in test if lo <= i < hi], use_minilm))
            oof[f"{name}_{regime}"] = scores
            report(f"{name}_{regime}_cv", lambda i, s=scores: s[i])
        # trained on all of ePQA, tested on hetPQA (never seen)
        model = fit(every, list(range(ne)), use_minilm)
        het = predict(model, every, list(range(ne, len(every))), use_minilm)
        out[f"{name}_epqa_to_hetpqa"] = het_metrics(het_sets, [het[ne + i] for i in range(len(het_sets))])
        print(f"{name}_epqa_to_hetpqa", out[f"{name}_epqa_to_hetpqa"], flush=True)
    out["_oof"] = oof
    out["_folds"] = fold
    return out


# abstain ---------------------------------------------------------------------------------

def top_features(s, scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    best = order[0]
    second = scores[order[1]] if len(order) > 1 else scores[best]
    x = s["x"][best]
    return np.concatenate([[scores[best], scores[best] - second, float(np.mean(scores))], x])


def run_abstain(epqa_sets, fit=None, minilm: bool = False, repeats: int = 3) -> dict[str, Any]:
    """Nested CV on ePQA: for each outer fold, the reranker's scores on the training folds
    come from an inner CV; a logistic calibrator over the top candidate's features is fitted
    on them, its 0.9-precision threshold chosen there, and both applied to the outer fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fit = fit or fit_lgb
    n = len(epqa_sets)
    results = []
    for repeat in range(repeats):
        groups = [s["group"] for s in epqa_sets]
        outer = list(GroupKFold(FOLDS, shuffle=True, random_state=SEED + repeat).split(epqa_sets, groups=groups))
        prob = np.zeros(n)
        fused_top = np.zeros(n)
        right = np.zeros(n, dtype=bool)
        answered = np.zeros(n, dtype=bool)
        answered_fused = np.zeros(n, dtype=bool)
        per_fold = []
        for train, test in outer:
            train = list(train)
            inner_scores: dict[int, np.ndarray] = {}
            tg = [groups[i] for i in train]
            for itr, ite in GroupKFold(4, shuffle=True, random_state=SEED).split(train, groups=tg):
                m = fit(epqa_sets, [train[j] for j in itr], minilm)
                inner_scores.update(predict(m, epqa_sets, [train[j] for j in ite], minilm))
            model = fit(epqa_sets, train, minilm)
            test_scores = predict(model, epqa_sets, list(test), minilm)

            def tops(rows, scores):
                feats, ok = [], []
                for i in rows:
                    feats.append(top_features(epqa_sets[i], scores[i]))
                    ok.append(epqa_sets[i]["labels"][int(np.argmax(scores[i]))] >= 1)
                return np.array(feats), np.array(ok)

            xtr, ytr = tops(train, inner_scores)
            xte, yte = tops(list(test), test_scores)
            cal = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000)).fit(xtr, ytr)
            ptr, pte = cal.predict_proba(xtr)[:, 1], cal.predict_proba(xte)[:, 1]
            t = bench.threshold_for(ptr, ytr, 0.9)
            # the shipped fused score's threshold, chosen the same way on the same folds
            ftr = np.array([ranking.fuse(epqa_sets[i]["dense"], epqa_sets[i]["lexical"]).max() for i in train])
            fte = np.array([ranking.fuse(epqa_sets[i]["dense"], epqa_sets[i]["lexical"]).max() for i in test])
            fright_tr = np.array([epqa_sets[i]["labels"][int(np.argmax(ranking.fuse(epqa_sets[i]["dense"],
                                  epqa_sets[i]["lexical"])))] >= 1 for i in train])
            tf = bench.threshold_for(ftr, fright_tr, 0.9)
            prob[test], right[test], answered[test] = pte, yte, pte >= t
            fused_top[test] = fte
            answered_fused[test] = fte >= tf
            per_fold.append({"threshold": round(float(t), 4), **bench.answered_at(pte, yte, t)})
        fused_right = np.array([s["labels"][int(np.argmax(ranking.fuse(s["dense"], s["lexical"])))] >= 1
                                for s in epqa_sets])
        results.append({
            "repeat": repeat,
            "auc_calibrated": round(float(roc_auc_score(right, prob)), 4),
            "auc_fused_top": round(float(roc_auc_score(fused_right, fused_top)), 4),
            "top1_relevant_answering_all": round(float(right.mean()), 4),
            "calibrated": {"precision": round(float(right[answered].mean()), 4) if answered.any() else None,
                           "answered_share": round(float(answered.mean()), 4),
                           "fold_precisions": [round(f["precision"], 3) if f["answered"] else None
                                               for f in per_fold],
                           "fold_shares": [round(f["answered_share"], 3) for f in per_fold]},
            "fused_threshold": {"precision": round(float(fused_right[answered_fused].mean()), 4)
                                if answered_fused.any() else None,
                                "answered_share": round(float(answered_fused.mean()), 4)},
        })
        print("abstain", results[-1], flush=True)
    return {"repeats": results}


def decision_scores(s, scores: np.ndarray) -> tuple[dict[str, float], bool]:
    """The candidate scores that could decide whether to answer with the reranked top passage,
    and whether that passage is relevant evidence (label 1 or 2)."""
    fused = ranking.fuse(s["dense"], s["lexical"]).astype(np.float64)
    top = int(np.argmax(scores))
    return {"rerank_top": float(scores[top]), "fused_of_reranked_top": float(fused[top]),
            "max_fused": float(fused.max())}, bool(s["labels"][top] >= 1)


SHIPPED_DECISION = "fused_of_reranked_top"
RISK_DELTAS = (0.05, 0.1, 0.2, 0.3, 0.5)
RISK_STARTS = (10, 50)  # min_answered of bench.risk_controlled_threshold (10: from the first count with power)


def threshold_rules(target: float = 0.9) -> dict[str, Any]:
    """Name -> rule(scores, right) -> threshold. "point": bench.threshold_for (the rule behind
    today's constant); "risk_d{delta}_s{start}": bench.risk_controlled_threshold."""
    rules: dict[str, Any] = {"point": lambda x, y: bench.threshold_for(x, y, target)}
    for start in RISK_STARTS:
        for delta in RISK_DELTAS:
            rules[f"risk_d{delta}_s{start}"] = (lambda x, y, d=delta, m=start:
                                                bench.risk_controlled_threshold(x, y, target, d, m))
    return rules


def run_threshold(epqa_sets, het_sets, repeats: int = 5, target: float = 0.9) -> dict[str, Any]:
    """The abstain threshold of the shipped reranker (LightGBM + MiniLM, trained on ePQA +
    hetPQA), nested CV on ePQA: per outer fold (grouped by product), the ePQA training
    questions get reranker scores from an inner 4-fold CV (hetPQA training rows always in
    the training side), each rule's threshold of each decision score is chosen on them and
    applied to the outer fold, scored by a model trained on every training row. Also the
    threshold each rule chooses on all of ePQA's out-of-fold scores (what would ship).

    Rules: the point estimate (bench.threshold_for: lowest score whose answered precision
    reaches `target`) for every decision score; for the shipped one (the fused score of the
    reranked top passage) also the risk-controlled rule (bench.risk_controlled_threshold,
    Learn-then-Test / Clopper-Pearson) at each delta of RISK_DELTAS and start of RISK_STARTS.
    Repeats differ in the outer folds' seed (SEED + repeat)."""
    from sklearn.metrics import roc_auc_score

    for s in het_sets:
        s["binary"] = True
    every = epqa_sets + het_sets
    ne = len(epqa_sets)
    het_groups = [s["group"] for s in het_sets]
    het_fold = np.empty(len(het_sets), dtype=int)
    for k, (_, te) in enumerate(GroupKFold(FOLDS, shuffle=True, random_state=SEED).split(het_sets,
                                                                                         groups=het_groups)):
        het_fold[te] = k
    scores_of = ("rerank_top", SHIPPED_DECISION, "max_fused")
    rules = threshold_rules(target)
    # (decision score, rule) pairs: every rule on the shipped score, the point rule on the others
    pairs = [(d, r) for d in scores_of for r in (rules if d == SHIPPED_DECISION else ("point",))]

    def name(d, r):
        return d if r == "point" else f"{d}/{r}"
    out: dict[str, Any] = {"target": target, "folds": FOLDS, "repeats": [], "risk_deltas": list(RISK_DELTAS),
                           "risk_starts": list(RISK_STARTS),
                           "first_passing_count": {str(d): bench.first_passing_count(target, d) for d in RISK_DELTAS}}
    for repeat in range(repeats):
        started = time.perf_counter()
        groups = [s["group"] for s in epqa_sets]
        outer = list(GroupKFold(FOLDS, shuffle=True, random_state=SEED + repeat).split(epqa_sets, groups=groups))
        oof = {d: np.zeros(ne) for d in scores_of}
        answered = {p: np.zeros(ne, dtype=bool) for p in pairs}
        right = np.zeros(ne, dtype=bool)
        per_fold: dict[tuple, list] = {p: [] for p in pairs}
        for k, (train, test) in enumerate(outer):
            train = list(train)
            het_train = [ne + i for i in range(len(het_sets)) if het_fold[i] != k]
            inner: dict[int, np.ndarray] = {}
            tg = [groups[i] for i in train]
            for itr, ite in GroupKFold(4, shuffle=True, random_state=SEED).split(train, groups=tg):
                m = fit_lgb(every, [train[j] for j in itr] + het_train, True)
                inner.update(predict(m, every, [train[j] for j in ite], True))
            model = fit_lgb(every, train + het_train, True)
            outer_scores = predict(model, every, list(test), True)
            tr = [decision_scores(epqa_sets[i], inner[i]) for i in train]
            te = [decision_scores(epqa_sets[i], outer_scores[i]) for i in test]
            ytr = np.array([r for _, r in tr])
            yte = np.array([r for _, r in te])
            right[test] = yte
            for d in scores_of:
                xtr = np.array([x[d] for x, _ in tr])
                xte = np.array([x[d] for x, _ in te])
                oof[d][test] = xte
                for p in pairs:
                    if p[0] != d:
                        continue
                    t = rules[p[1]](xtr, ytr)
                    answered[p][test] = xte >= t
                    per_fold[p].append({"threshold": round(t, 4), "refused": bool(t > xtr.max()),
                                        **{k2: round(v, 3) for k2, v in bench.answered_at(xte, yte, t).items()}})
        res: dict[str, Any] = {"repeat": repeat, "top1_relevant_answering_all": round(float(right.mean()), 4),
                               "auc": {d: round(float(roc_auc_score(right, oof[d])), 4) for d in scores_of}}
        for p in pairs:
            d, r = p
            a = answered[p]
            t_all = rules[r](oof[d], right)
            at_all = bench.answered_at(oof[d], right, t_all)
            res[name(d, r)] = {
                "cv_precision": round(float(right[a].mean()), 4) if a.any() else None,
                "cv_answered_share": round(float(a.mean()), 4), "cv_answered": int(a.sum()),
                "fold_precisions": [f["precision"] if f["answered"] else None for f in per_fold[p]],
                "fold_answered": [f["answered"] for f in per_fold[p]],
                "fold_thresholds": [f["threshold"] for f in per_fold[p]],
                # folds whose training questions passed no threshold (max score + 1e-6: held-out
                # questions scoring above every training one are still answered)
                "folds_refused": sum(f["refused"] for f in per_fold[p]),
                "threshold_on_all_oof": round(t_all, 4),
                "at_threshold_on_all_oof": {k2: round(v, 4) for k2, v in at_all.items()},
            }
            if at_all["answered"]:
                res[name(d, r)]["at_threshold_on_all_oof"]["lower_bound_0.1"] = round(float(
                    bench.precision_lower_bound(round(at_all["precision"] * at_all["answered"]), at_all["answered"],
                                                0.1)), 4)
        res[f"{SHIPPED_DECISION}/curve_on_all_oof"] = precision_curve(oof[SHIPPED_DECISION], right, target)
        res["seconds"] = round(time.perf_counter() - started, 1)
        out["repeats"].append(res)
        print("threshold", json.dumps(res), flush=True)
    out["summary"] = threshold_summary(out["repeats"], [name(*p) for p in pairs], target)
    print("threshold summary", json.dumps(out["summary"], indent=1), flush=True)
    return out


def precision_curve(scores: np.ndarray, right: np.ndarray, target: float) -> dict[str, Any]:
    """Answered precision of the top-n scores and its Clopper-Pearson lower bounds; per delta,
    the highest bound at any n >= 10 (no threshold, in any testing order, can be certified
    at `target` with that delta unless this reaches it)."""
    order = np.argsort(-scores, kind="stable")
    s, r = scores[order], right[order]
    x = np.cumsum(r)
    n = np.arange(1, len(s) + 1)
    out: dict[str, Any] = {"top": {str(k): {"threshold": round(float(s[k - 1]), 4),
                                            "precision": round(float(x[k - 1] / k), 4),
                                            **{f"lower_bound_{d}": round(float(
                                                bench.precision_lower_bound(x[k - 1], k, d)), 4)
                                               for d in RISK_DELTAS}}
                                   for k in (10, 22, 50, 100, 150, 200) if k <= len(s)}}
    best = {}
    for d in RISK_DELTAS:
        lb = bench.precision_lower_bound(x, n, d)
        i = int(np.argmax(lb[9:])) + 9
        best[str(d)] = {"lower_bound": round(float(lb[i]), 4), "answered": int(n[i]), "threshold": round(float(s[i]), 4),
                        "precision": round(float(x[i] / n[i]), 4), "reaches_target": bool(lb[i] >= target)}
    out["best_lower_bound_any_threshold"] = best
    return out


def threshold_summary(repeats: list[dict], names: list[str], target: float) -> dict[str, Any]:
    """Per rule, over the repeats: pooled held-out precision (min, mean), folds below target
    (of those that answered), folds answering nothing, answered share; and which rules hold
    `target` pooled on every repeat (a repeat answering nothing does not hold it)."""
    rows: dict[str, Any] = {}
    for n in names:
        rs = [r[n] for r in repeats]
        pooled = [r["cv_precision"] for r in rs]
        folds = [p for r in rs for p in r["fold_precisions"]]
        rows[n] = {
            "pooled_precision": pooled,
            "pooled_min": min((p for p in pooled if p is not None), default=None),
            "pooled_mean": round(float(np.mean([p for p in pooled if p is not None])), 4)
            if any(p is not None for p in pooled) else None,
            "repeats_holding_target": sum(p is not None and p >= target for p in pooled),
            "folds_below_target": sum(p is not None and p < target for p in folds),
            "folds_answering_none": sum(p is None for p in folds),
            "folds_refused": sum(r.get("folds_refused", 0) for r in rs),
            "folds": len(folds),
            "answered_share": [r["cv_answered_share"] for r in rs],
            "answered_share_mean": round(float(np.mean([r["cv_answered_share"] for r in rs])), 4),
            "threshold_on_all_oof": [r["threshold_on_all_oof"] for r in rs],
            "share_at_threshold_on_all_oof": [r["at_threshold_on_all_oof"]["answered_share"] for r in rs],
        }
    holding = [n for n in names if rows[n]["repeats_holding_target"] == len(repeats)]
    best = max(holding, key=lambda n: rows[n]["answered_share_mean"], default=None)
    return {"rules": rows, "holding_on_every_repeat": holding, "most_answers_holding": best}


# AFQMC -----------------------------------------------------------------------------------

def char_ngrams(text: str, n: tuple[int, ...] = (1, 2)) -> list[str]:
    return rerank.char_ngrams(text, n)


def run_faq(encoder, cache, rerank_faq: bool = True, sweep: bool = True) -> dict[str, Any]:
    import bm25s

    pairs = data.afqmc()
    corpus = pairs.corpus
    vectors = data.cached_embeddings(encoder, corpus, kind="query", cache=cache)
    # components of the same-intent graph: a query and its partners fall in one fold
    parent = list(range(len(corpus)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for q, rel in zip(pairs.queries, pairs.relevant, strict=True):
        for r in rel:
            parent[find(q)] = find(r)
    comp = [find(q) for q in pairs.queries]
    fold = np.empty(len(pairs.queries), dtype=int)
    for k, (_, te) in enumerate(GroupKFold(FOLDS, shuffle=True, random_state=SEED).split(comp, groups=comp)):
        fold[te] = k

    def index_of(tokens):
        idx = bm25s.BM25()
        idx.index([t or ["\x00"] for t in tokens], show_progress=False)
        return idx
    tokenizations = {"word": ranking.tokenize(corpus), "char1": [char_ngrams(t, (1,)) for t in corpus],
                     "char12": [char_ngrams(t, (1, 2)) for t in corpus],
                     "char2": [char_ngrams(t, (2,)) for t in corpus], "mixed": rerank.faq_tokens(corpus)}
    indexes = {k: index_of(v) for k, v in tokenizations.items()}
    # candidate pool per query: top 100 by each of dense / word / char12, for fusion sweeps
    cand, feats = [], []
    for q in pairs.queries:
        dense = vectors @ vectors[q]
        lex = {k: np.asarray(indexes[k].get_scores(tokenizations[k][q]), dtype=np.float64)
               if tokenizations[k][q] else np.zeros(len(corpus)) for k in indexes}
        pool = set()
        for v in (dense, lex["word"], lex["char12"]):
            v = v.copy()
            v[q] = -np.inf
            pool.update(np.argsort(-v)[:100].tolist())
        pool.discard(q)
        pool = np.array(sorted(pool))
        cand.append(pool)
        feats.append({"dense": dense[pool], **{k: lex[k][pool] for k in lex},
                      "self": {k: float(lex[k][q]) for k in lex}})
    print("afqmc pools built", flush=True)

    def metrics(score_fn, rows) -> dict[str, float]:
        acc, rr = [], []
        for i in rows:
            s = score_fn(feats[i])
            rel = np.isin(cand[i], list(pairs.relevant[i]))
            order = np.argsort(-s, kind="stable")
            hit = np.nonzero(rel[order])[0]
            acc.append(float(len(hit) > 0 and hit[0] == 0))
            rr.append(1.0 / (hit[0] + 1) if len(hit) else 0.0)
        return {"accuracy@1": round(float(np.mean(acc)), 4), "mrr": round(float(np.mean(rr)), 4)}

    every = list(range(len(pairs.queries)))
    out: dict[str, Any] = {"queries": len(every), "corpus": len(corpus),
                           "note": "ranked within the union of each method's top 100 (a relevant question "
                                   "outside it counts as a miss for every method)"}
    out["bm25_word"] = metrics(lambda f: f["word"], every)
    out["dense"] = metrics(lambda f: f["dense"], every)
    out["fused_shipped"] = metrics(lambda f: ranking.fuse(f["dense"], f["word"]).astype(np.float64), every)
    for k in ("char1", "char2", "char12", "mixed"):
        out[f"bm25_{k}"] = metrics(lambda f, k=k: f[k], every)
    print({k: v for k, v in out.items() if isinstance(v, dict)}, flush=True)

    def sat_fuse(f, lexname, w, h, norm=False):
        lex = f[lexname] / max(f["self"][lexname], 1e-9) if norm else f[lexname]
        lex = np.maximum(lex, 0)
        return f["dense"] + w * (lex / (lex + h) if not norm else lex)

    configs = []
    for lexname in ("word", "char12", "char2", "char1", "mixed"):
        for w in (0.05, 0.1, 0.2, 0.3, 0.5):
            for h in (2.0, 4.0, 8.0, 16.0):
                configs.append((f"{lexname}_sat_w{w}_h{h}", lambda f, l=lexname, w=w, h=h: sat_fuse(f, l, w, h)))
            configs.append((f"{lexname}_selfnorm_w{w}", lambda f, l=lexname, w=w: sat_fuse(f, l, w, 0, True)))
    for fam, prefix in (("word", "word_"), ("char", "char"), ("mixed", "mixed_"), ("any", "")) if sweep else ():
        fam_configs = [c for c in configs if c[0].startswith(prefix)]
        cv_scores: dict[int, float] = {}
        picks = []
        acc, rr = [], []
        for k in range(FOLDS):
            train = [i for i in every if fold[i] != k]
            test = [i for i in every if fold[i] == k]
            best = max(fam_configs, key=lambda c: metrics(c[1], train)["mrr"])
            picks.append(best[0])
            m = metrics(best[1], test)
            acc.append(m["accuracy@1"] * len(test))
            rr.append(m["mrr"] * len(test))
        out[f"fusion_{fam}_cv"] = {"accuracy@1": round(sum(acc) / len(every), 4), "mrr": round(sum(rr) / len(every), 4),
                                   "picks": picks}
        print(f"fusion_{fam}_cv", out[f"fusion_{fam}_cv"], flush=True)
        del cv_scores
    if rerank_faq:
        out["lgb_rerank_cv"] = faq_reranker(pairs, corpus, cand, feats, fold, metrics)
    return out


def faq_reranker(pairs, corpus, cand, feats, fold, metrics) -> dict[str, Any]:
    """LightGBM LambdaRank over each query's pool: e5, BM25 of every tokenization (raw and
    divided by the query's own score), character Jaccard, lengths; 5-fold by component."""
    import lightgbm as lgb

    chars = [set(rerank.char_ngrams(t, (1,))) for t in corpus]
    bigrams = [set(rerank.char_ngrams(t, (2,))) for t in corpus]
    lex = ("word", "char1", "char2", "char12")

    def x_of(i: int, q: int) -> np.ndarray:
        f, pool = feats[i], cand[i]
        cols = [f["dense"], f["dense"] - f["dense"].max()]
        for k in lex:
            cols += [f[k], f[k] / max(f["self"][k], 1e-9)]
        jac = [len(chars[q] & chars[c]) / max(len(chars[q] | chars[c]), 1) for c in pool]
        jac2 = [len(bigrams[q] & bigrams[c]) / max(len(bigrams[q] | bigrams[c]), 1) for c in pool]
        lengths = np.array([len(corpus[c]) for c in pool], dtype=np.float64)
        cols += [np.array(jac), np.array(jac2), lengths, np.abs(lengths - len(corpus[q]))]
        return np.column_stack(cols)

    xs = [x_of(i, q) for i, q in enumerate(pairs.queries)]
    ys = [np.isin(cand[i], list(pairs.relevant[i])).astype(int) for i in range(len(xs))]
    scores: dict[int, np.ndarray] = {}
    for k in range(FOLDS):
        train = [i for i in range(len(xs)) if fold[i] != k]
        model = lgb.LGBMRanker(**{**LGB_PARAMS, "n_estimators": 300})
        model.fit(np.vstack([xs[i] for i in train]), np.concatenate([ys[i] for i in train]),
                  group=[len(ys[i]) for i in train])
        for i in range(len(xs)):
            if fold[i] == k:
                scores[i] = model.predict(xs[i])
    at = {id(f): i for i, f in enumerate(feats)}
    result = metrics(lambda f: scores[at[id(f)]], list(range(len(xs))))
    print("faq lgb_rerank_cv", result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cartwise-assistant-cache"))
    parser.add_argument("--only", default="evidence,abstain,faq")
    parser.add_argument("--no-minilm", action="store_true")
    parser.add_argument("--name", default="assistant_rerank", help="results file name under bench/results")
    parser.add_argument("--repeats", type=int, default=5, help="fold seeds of --only threshold")
    parser.add_argument("--write-model", action="store_true",
                        help=f"train the shipped reranker on all of ePQA + hetPQA, write {rerank.MODEL_PATH.name}")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    encoder = load_encoder()
    result: dict[str, Any] = {}
    started = time.perf_counter()
    if parts & {"evidence", "abstain", "threshold"} or args.write_model:
        minilm = None if args.no_minilm else load_encoder("all-minilm-l6-v2")
        e = build(data.epqa(), bench.scored_sets(data.epqa(), encoder, args.cache), minilm, args.cache)
        h = build(data.hetpqa(), bench.scored_sets(data.hetpqa(), encoder, args.cache), minilm, args.cache)
        print("features built", round(time.perf_counter() - started), flush=True)
        if "evidence" in parts:
            ev = run_evidence(e, h, minilm is not None)
            result["evidence"] = {k: v for k, v in ev.items() if not k.startswith("_")}
        if "abstain" in parts:
            result["abstain"] = run_abstain(e)
        if "threshold" in parts and minilm is not None:
            result["threshold"] = run_threshold(e, h, repeats=args.repeats)
        if args.write_model:
            assert minilm is not None, "the shipped reranker uses MiniLM features"
            result["model"] = write_model(e, h)
    if "faq" in parts:
        result["faq"] = run_faq(encoder, args.cache, sweep="nosweep" not in parts)
    print(json.dumps(result, indent=1, default=str)[:4000])
    print("wrote", save(args.name, result))


if __name__ == "__main__":
    main()
