"""What `NASModel(strategy="oneshot" | "darts")` builds: space, head, oracle and tuner."""

from __future__ import annotations

import dataclasses

from keras_nas import blocks
from keras_nas.strategies import STRATEGIES
from keras_nas.strategies.learned import LearnedDistribution
from keras_nas.weight_sharing.tuners import DartsTuner, OneShotTuner

WEIGHT_SHARING_STRATEGIES = ("oneshot", "darts")
ONESHOT_SEARCHES = ("evolution", "pareto", "random")
TUNER_ARGUMENTS = {
    "oneshot": ("supernet_epochs", "supernet_learning_rate"),
    "darts": ("supernet_epochs", "supernet_learning_rate", "latency_weight", "constraint_weight",
              "arch_learning_rate", "calibration_subnets"),
}
# The supernet has one fixed head and no learning-rate choice; the candidates match it.
HEAD_POOLING, HEAD_DROPOUT, LEARNING_RATE = "avg", 0.1, 1e-3


@dataclasses.dataclass
class WeightSharingPlan:
    """The parts of a weight-sharing search.

    Attributes:
        space: The `OneShotSpace`.
        oracle_class: The strategy proposing subnets.
        oracle_kwargs: Its extra arguments (from `strategy_kwargs`).
        tuner_class: `OneShotTuner` or `DartsTuner`.
        tuner_kwargs: Its extra arguments (from `strategy_kwargs`).
    """

    space: blocks.OneShotSpace
    oracle_class: type
    oracle_kwargs: dict
    tuner_class: type
    tuner_kwargs: dict

    def head(self, num_classes: int) -> blocks.Block:
        """The classifier head the supernet has: global average pooling, dropout 0.1."""
        return blocks.ClassifierHead(num_classes, pooling=HEAD_POOLING, dropout=HEAD_DROPOUT)

    learning_rates = (LEARNING_RATE,)


def plan(strategy: str, space, strategy_kwargs: dict) -> WeightSharingPlan:
    """Resolves `NASModel`'s arguments for a weight-sharing strategy.

    Args:
        strategy: `"oneshot"` or `"darts"`.
        space: The `space` argument (`None` or a `OneShotSpace`).
        strategy_kwargs: Tuner arguments (`supernet_epochs`, ...; see
            `OneShotTuner`/`DartsTuner`), `"search"` for oneshot (the strategy
            over subnets: "evolution", "pareto" or "random"), and that
            strategy's own arguments.

    Returns:
        The `WeightSharingPlan`.

    Raises:
        ValueError: For a space a supernet cannot hold, or unknown arguments.
    """
    if strategy not in WEIGHT_SHARING_STRATEGIES:
        raise ValueError(f"{strategy!r} is not a weight-sharing strategy {WEIGHT_SHARING_STRATEGIES}.")
    if space is None:
        space = blocks.OneShotSpace()
    if not isinstance(space, blocks.OneShotSpace):
        raise ValueError(
            f"strategy={strategy!r} trains a supernet, which exists for a OneShotSpace only; got "
            f"space {type(space).__name__}. Leave space=None (or pass keras_nas.blocks.OneShotSpace(...)), "
            "or pick a strategy that trains candidates one by one (e.g. 'evolution')."
        )
    kwargs = dict(strategy_kwargs)
    tuner_kwargs = {k: kwargs.pop(k) for k in TUNER_ARGUMENTS[strategy] if k in kwargs}
    if strategy == "darts":
        if "search" in kwargs:
            raise ValueError("strategy='darts' samples from what DARTS learned; it takes no 'search'.")
        return WeightSharingPlan(space, LearnedDistribution, kwargs, DartsTuner, tuner_kwargs)
    search = kwargs.pop("search", "evolution")
    if search not in ONESHOT_SEARCHES:
        raise ValueError(f"strategy_kwargs['search'] must be one of {ONESHOT_SEARCHES}, got {search!r}.")
    return WeightSharingPlan(space, STRATEGIES[search], kwargs, OneShotTuner, tuner_kwargs)
