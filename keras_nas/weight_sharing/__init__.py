"""Weight-sharing architecture search: one-shot supernet (SPOS) and differentiable (DARTS).

Reach them by name with `NASModel(strategy="oneshot")` or `NASModel(strategy="darts")`,
or use the tuners directly with a `NASHyperModel` over a `OneShotSpace`.
"""

from keras_nas.weight_sharing.cost_model import CostModel, fit_cost_model
from keras_nas.weight_sharing.darts import DartsTrainer
from keras_nas.weight_sharing.single_path import InheritedScorer, train_single_path
from keras_nas.weight_sharing.tuners import DartsTuner, OneShotTuner, WeightSharingTuner

__all__ = [
    "CostModel",
    "DartsTrainer",
    "DartsTuner",
    "InheritedScorer",
    "OneShotTuner",
    "WeightSharingTuner",
    "fit_cost_model",
    "train_single_path",
]
