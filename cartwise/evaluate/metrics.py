"""The metrics of :mod:`cartwise.metrics`, under the name evaluation code has always used.

The functions live in ``cartwise.metrics``, below both the models (which score their own
validation with them) and evaluation, so a model never imports evaluation.
"""

from cartwise.metrics import (
    auc,
    coverage,
    hit_rate,
    intra_list_diversity,
    log_loss,
    mae,
    mrr,
    ndcg,
    ndcg_at_k,
    novelty,
    per_user_ndcg,
    recall_at_k,
    rmse,
)

__all__ = [
    "auc",
    "coverage",
    "hit_rate",
    "intra_list_diversity",
    "log_loss",
    "mae",
    "mrr",
    "ndcg",
    "ndcg_at_k",
    "novelty",
    "per_user_ndcg",
    "recall_at_k",
    "rmse",
]
