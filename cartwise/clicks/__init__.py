"""Click and conversion models: the probability that a shown item is clicked (and
bought), learnt from impressions, judged by AUC, log loss and calibration, and the
off-policy estimate of what a ranking built on them would earn.

``features`` (the schema and its encoder), one module per model (``logistic``, ``gbdt``,
``deep``, ``esmm``), ``registry`` (models by name), ``calibration`` (metrics and
bootstrap intervals) and ``offpolicy`` (IPS). Nothing here reads the store: a caller
passes polars frames of impressions.
"""

from cartwise.clicks.base import ClickModel
from cartwise.clicks.features import FeatureEncoder, FeatureSpec, propensity_weights

__all__ = ["ClickModel", "FeatureEncoder", "FeatureSpec", "propensity_weights"]
