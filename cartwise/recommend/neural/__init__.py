"""The toolkit of the torch next-item models, and their base class.

:class:`NeuralRecommender` is the estimator both models inherit
(:mod:`cartwise.recommend.sequential`, :mod:`cartwise.recommend.twotower`). Below it:
``data`` (event sequences and training batches), ``table`` (the item table: ID embedding
plus projected text), ``training`` (the epoch loop, early stopping), ``checkpoint``
(resumable training state), ``serving`` (answering) and ``persistence`` (model files).
"""

from cartwise.recommend.neural.base import NeuralRecommender
from cartwise.recommend.neural.data import MIN_USERS
from cartwise.recommend.neural.epochs import EpochLog

__all__ = ["MIN_USERS", "EpochLog", "NeuralRecommender"]
