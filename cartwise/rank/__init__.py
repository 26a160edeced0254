"""The ranking stage: candidates proposed by several generators, described by features
(:mod:`cartwise.rank.features`) and ordered by a ranker chosen by name
(:mod:`cartwise.rank.registry`), LightGBM LambdaRank by default (:mod:`cartwise.rank.ltr`).
Relations between a shopper's recent items and a candidate come in through a protocol
(:mod:`cartwise.rank.relations`) that the product relation graph implements.
The fused recommender (:mod:`cartwise.recommend.fused`) puts them together.
"""

from cartwise.rank.features import CandidateFeatures, Candidates
from cartwise.rank.registry import RankerSpec
from cartwise.rank.relations import RELATION_FEATURES, Relation, RelationSignals, RelationSource

__all__ = ["RELATION_FEATURES", "CandidateFeatures", "Candidates", "RankerSpec", "Relation", "RelationSignals",
           "RelationSource"]
