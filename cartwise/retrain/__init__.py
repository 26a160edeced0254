"""Background retraining: when to retrain (policy), whether the result may serve (gate),
and the loop that does both (worker), as `cartwise worker` and `cartwise serve --worker`
run it."""

from cartwise.retrain.gate import Verdict, judge
from cartwise.retrain.policy import RetrainPolicy
from cartwise.retrain.worker import RetrainWorker

__all__ = ["RetrainPolicy", "RetrainWorker", "Verdict", "judge"]
