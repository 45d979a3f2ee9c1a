"""The weight-sharing strategies "oneshot" and "darts": their registration and their plan.

Both search a `OneShotSpace` with the supernet's fixed head; "oneshot" scores
subnets proposed by another strategy (`strategy_kwargs["search"]`), "darts"
samples from what DARTS learned (`LearnedDistribution`).
"""

from __future__ import annotations

import dataclasses

from keras_nas import blocks
from keras_nas.strategies.evolution import RegularizedEvolution
from keras_nas.strategies.learned import LearnedDistribution
from keras_nas.strategies.registry import SearchPlan, Strategy, lookup, register
from keras_nas.tuner import INT8_METRIC
from keras_nas.weight_sharing.tuners import DartsTuner, OneShotTuner

ONESHOT_SEARCHES = ("evolution", "pareto", "random")
SUPERNET_ARGUMENTS = ("supernet_epochs", "supernet_learning_rate")
DARTS_ARGUMENTS = (*SUPERNET_ARGUMENTS, "latency_weight", "constraint_weight", "arch_learning_rate",
                   "calibration_subnets")
# The supernet has one fixed head and no learning-rate choice; the candidates match it.
HEAD_POOLING, HEAD_DROPOUT, LEARNING_RATE = "avg", 0.1, 1e-3


@dataclasses.dataclass
class WeightSharingPlan(SearchPlan):
    """A `SearchPlan` over a `OneShotSpace`, with the supernet's head and learning rate.

    Attributes:
        space: The `OneShotSpace`.
        oracle_class: The strategy proposing subnets.
        oracle_kwargs: Its extra arguments (from `strategy_kwargs`).
        tuner_class: `OneShotTuner` or `DartsTuner`.
        tuner_kwargs: Its extra arguments (from `strategy_kwargs`).
    """

    initial_architectures: bool = False
    learning_rates: tuple | None = (LEARNING_RATE,)

    def head(self, num_classes: int) -> blocks.Block:
        """The classifier head the supernet has: global average pooling, dropout 0.1."""
        return blocks.ClassifierHead(num_classes, pooling=HEAD_POOLING, dropout=HEAD_DROPOUT)


def oneshot_plan(strategy: Strategy, space, strategy_kwargs: dict, objective: str) -> WeightSharingPlan:
    """The plan of `NASModel(strategy="oneshot")`.

    Args:
        strategy: The registered "oneshot" strategy.
        space: The `space` argument (`None` or a `OneShotSpace`).
        strategy_kwargs: `OneShotTuner` arguments (`supernet_epochs`, ...),
            `"search"` (the strategy over subnets: "evolution", "pareto" or
            "random") and that strategy's own arguments.
        objective: The search objective (float accuracy only: subnets keep
            inherited float weights).

    Returns:
        The `WeightSharingPlan`.

    Raises:
        ValueError: For a space a supernet cannot hold, an unknown `search`,
            or the int8 objective.
    """
    if objective == INT8_METRIC:
        raise ValueError(
            "strategy='oneshot' scores subnets with inherited float weights; use "
            "objective='val_accuracy' (the winner's int8 accuracy is measured at export)."
        )
    search = strategy_kwargs.pop("search", "evolution")
    if search not in ONESHOT_SEARCHES:
        raise ValueError(f"strategy_kwargs['search'] must be one of {ONESHOT_SEARCHES}, got {search!r}.")
    return strategy.direct_plan(_supernet_space(strategy.name, space), strategy_kwargs,
                                oracle=lookup(search).oracle, plan_class=WeightSharingPlan)


def darts_plan(strategy: Strategy, space, strategy_kwargs: dict, objective: str) -> WeightSharingPlan:
    """The plan of `NASModel(strategy="darts")`; arguments as for `oneshot_plan` (`DartsTuner`'s)."""
    if "search" in strategy_kwargs:
        raise ValueError("strategy='darts' samples from what DARTS learned; it takes no 'search'.")
    return strategy.direct_plan(_supernet_space(strategy.name, space), strategy_kwargs,
                                plan_class=WeightSharingPlan)


def _supernet_space(name: str, space) -> blocks.OneShotSpace:
    if space is None:
        return blocks.OneShotSpace()
    if not isinstance(space, blocks.OneShotSpace):
        raise ValueError(
            f"strategy={name!r} trains a supernet, which exists for a OneShotSpace only; got "
            f"space {type(space).__name__}. Leave space=None (or pass keras_nas.blocks.OneShotSpace(...)), "
            "or pick a strategy that trains candidates one by one (e.g. 'evolution')."
        )
    return space


register("oneshot", tuner=OneShotTuner, tuner_arguments=SUPERNET_ARGUMENTS, plan=oneshot_plan)(
    RegularizedEvolution
)
register("darts", tuner=DartsTuner, tuner_arguments=DARTS_ARGUMENTS, plan=darts_plan)(LearnedDistribution)
