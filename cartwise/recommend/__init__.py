"""Recommenders: popularity for everyone, item-to-item neighbours and matrix factorisation
from a user's history.

Each model is a plain estimator (``fit`` returns the model, learned state ends in ``_``,
``save``/``load`` to a directory) answering many users or items per call.
"""

from cartwise.recommend.base import (
    History,
    HistoryRecommender,
    IdMap,
    Interaction,
    Scored,
    SimilarItems,
)
from cartwise.recommend.factorization import ALS, BPR
from cartwise.recommend.itemknn import ItemKNN
from cartwise.recommend.popularity import Popularity
from cartwise.recommend.rating import RatingPredictor

__all__ = [
    "ALS",
    "BPR",
    "History",
    "HistoryRecommender",
    "IdMap",
    "Interaction",
    "ItemKNN",
    "Popularity",
    "RatingPredictor",
    "Scored",
    "SimilarItems",
]
