"""The ranking stage: candidates proposed by several generators, described by features
(:mod:`cartwise.rank.features`) and ordered by a ranker chosen by name
(:mod:`cartwise.rank.registry`), LightGBM LambdaRank by default (:mod:`cartwise.rank.ltr`).
The fused recommender (:mod:`cartwise.recommend.fused`) puts them together.
"""

from cartwise.rank.features import CandidateFeatures, Candidates
from cartwise.rank.registry import RankerSpec

__all__ = ["CandidateFeatures", "Candidates", "RankerSpec"]
