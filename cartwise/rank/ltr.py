"""Rankers: order the candidate rows of :mod:`cartwise.rank.features` for each shopper.

:class:`LambdaRanker` learns it with LightGBM's LambdaRank from shoppers whose next item
is known (one relevant row per shopper), stopping on NDCG@10 of a held-out share of them.
:class:`EqualShares` learns nothing: it adds the members' rescaled shares, the order an
untuned blend gives, and is what the fused recommender answers with when no ranker could
be trained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from cartwise.errors import NotTrained, ValidationError
from cartwise.recommend.base import check_positive

_META = "ranker.json"
_BOOSTER = "ranker.txt"
FORMAT = 1
# Below this many rows a prediction runs on one thread: starting threads costs more than
# it saves for one request's ~200 candidates.
_SINGLE_THREAD_ROWS = 5_000


class LambdaRanker:
    """LightGBM LambdaRank over candidate feature rows.

    rounds: most boosting rounds; early_stopping: rounds without a better held-out
    NDCG@10 before stopping; holdout: share of the training shoppers held out for that.
    truncation: LambdaRank's ``lambdarank_truncation_level`` (pairs beyond it matter less).
    """

    name = "lambdarank"

    def __init__(
        self,
        *,
        rounds: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        truncation: int = 20,
        early_stopping: int = 30,
        holdout: float = 0.1,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        for name, value in (("rounds", rounds), ("learning_rate", learning_rate), ("num_leaves", num_leaves),
                            ("min_child_samples", min_child_samples), ("truncation", truncation),
                            ("early_stopping", early_stopping)):
            check_positive(name, value)
        if not 0 <= holdout < 1:
            raise ValidationError(f"holdout must be in [0, 1), got {holdout}", field="holdout")
        self.rounds = int(rounds)
        self.learning_rate = float(learning_rate)
        self.num_leaves = int(num_leaves)
        self.min_child_samples = int(min_child_samples)
        self.truncation = int(truncation)
        self.early_stopping = int(early_stopping)
        self.holdout = float(holdout)
        self.threads = threads
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds, "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "truncation": self.truncation,
            "early_stopping": self.early_stopping, "holdout": self.holdout, "threads": self.threads,
            "seed": self.seed,
        }

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_child_samples": self.min_child_samples,
            "lambdarank_truncation_level": self.truncation, "feature_fraction": 0.9, "seed": self.seed,
            "deterministic": True, "force_row_wise": True, "verbosity": -1,
            "num_threads": self.threads or 0,
        }

    def fit(
        self, features: NDArray[np.float32], labels: NDArray[np.float32], offsets: NDArray[np.int64],
        feature_names: Sequence[str],
    ) -> Self:
        """Learn from shoppers ``offsets[u]:offsets[u + 1]`` of `features`, whose relevant
        rows have label 1 (the others 0)."""
        import lightgbm as lgb

        sizes = np.diff(offsets)
        if features.shape[0] != labels.shape[0] or features.shape[0] != int(sizes.sum()):
            raise ValidationError("features, labels and offsets disagree on the number of rows", field="features")
        if sizes.size < 2:
            raise ValidationError("a ranker needs at least 2 shoppers with a relevant candidate", field="features")
        rng = np.random.default_rng(self.seed)
        held = np.zeros(sizes.size, dtype=bool)
        n_held = int(round(self.holdout * sizes.size))
        if n_held:
            held[rng.choice(sizes.size, size=n_held, replace=False)] = True
        row_held = np.repeat(held, sizes)
        names = list(feature_names)
        train = lgb.Dataset(features[~row_held], labels[~row_held], group=sizes[~held], feature_name=names,
                            free_raw_data=True)
        valid_sets, callbacks = [], []
        if n_held:
            valid_sets = [lgb.Dataset(features[row_held], labels[row_held], group=sizes[held], reference=train)]
            callbacks = [lgb.early_stopping(self.early_stopping, verbose=False)]
        booster = lgb.train(self._params(), train, num_boost_round=self.rounds, valid_sets=valid_sets,
                            callbacks=callbacks)
        self.booster_ = booster
        self.feature_names_ = names
        self.best_rounds_ = int(booster.best_iteration or booster.current_iteration())
        score = booster.best_score.get("valid_0", {}).get("ndcg@10") if n_held else None
        self.holdout_ndcg10_ = None if score is None else float(score)
        return self

    def score(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """One score per row, higher first."""
        if not hasattr(self, "booster_"):
            raise NotTrained("LambdaRanker is not fitted yet", hint="call fit(...) or load(...) first")
        if features.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        threads = 1 if features.shape[0] < _SINGLE_THREAD_ROWS else (self.threads or 0)
        return np.asarray(
            self.booster_.predict(features, num_iteration=self.best_rounds_, num_threads=threads), dtype=np.float64
        )

    def importance(self) -> dict[str, float]:
        """Total gain of each feature's splits, largest first."""
        gains = self.booster_.feature_importance(importance_type="gain", iteration=self.best_rounds_)
        order = np.argsort(-gains)
        return {self.feature_names_[i]: float(gains[i]) for i in order}

    def save(self, directory: Path | str) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(path / _BOOSTER), num_iteration=self.best_rounds_)
        (path / _META).write_text(json.dumps({
            "format": FORMAT, "name": self.name, "params": self.get_params(), "feature_names": self.feature_names_,
            "best_rounds": self.best_rounds_, "holdout_ndcg10": self.holdout_ndcg10_,
        }, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        import lightgbm as lgb

        path = Path(directory)
        meta = _read_meta(path, cls.name)
        model = cls(**meta["params"])
        model.booster_ = lgb.Booster(model_file=str(path / _BOOSTER))
        model.feature_names_ = list(meta["feature_names"])
        model.best_rounds_ = int(meta["best_rounds"])
        model.holdout_ndcg10_ = meta.get("holdout_ndcg10")
        return model


class EqualShares:
    """No learning: the sum of the members' rescaled shares (each member's best candidate
    1, its last 0), ties broken by the best rank any member gave; an untuned blend."""

    name = "equal"

    def get_params(self) -> dict[str, Any]:
        return {}

    def fit(
        self, features: NDArray[np.float32], labels: NDArray[np.float32], offsets: NDArray[np.int64],
        feature_names: Sequence[str],
    ) -> Self:
        self.feature_names_ = list(feature_names)
        return self

    def score(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        if not hasattr(self, "feature_names_"):
            raise NotTrained("EqualShares is not fitted yet", hint="call fit(...) or load(...) first")
        shares = features[:, self.feature_names_.index("share_sum")].astype(np.float64)
        best = features[:, self.feature_names_.index("best_rank")].astype(np.float64)
        return np.nan_to_num(shares, nan=0.0) - 1e-6 * np.minimum(np.nan_to_num(best, nan=1e3), 1e3)

    def save(self, directory: Path | str) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / _META).write_text(json.dumps(
            {"format": FORMAT, "name": self.name, "params": {}, "feature_names": self.feature_names_}, indent=2
        ))

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        meta = _read_meta(Path(directory), cls.name)
        model = cls()
        model.feature_names_ = list(meta["feature_names"])
        return model


def _read_meta(path: Path, name: str) -> dict[str, Any]:
    try:
        meta = json.loads((path / _META).read_text())
    except (OSError, ValueError) as exc:
        raise NotTrained(f"cannot read the ranker in {path}: {exc}", hint="retrain with `cartwise train`") from None
    if meta.get("format") != FORMAT or meta.get("name") != name:
        raise NotTrained(
            f"the ranker in {path} is {meta.get('name')!r} format {meta.get('format')}, expected {name!r} format "
            f"{FORMAT}", hint="retrain with `cartwise train`",
        )
    return meta


__all__ = ["EqualShares", "LambdaRanker"]
