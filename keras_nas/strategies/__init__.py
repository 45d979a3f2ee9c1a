"""Search strategies, each a Keras Tuner `Oracle`, picked by name in `NASModel(strategy=...)`.

Every name comes from one registry (`keras_nas.strategies.registry`): decorate a
`NASOracle` subclass with `@register("name")` and the name works in `NASModel`,
`get_strategy` and the CLI.
"""

from __future__ import annotations

from keras_nas.strategies.base import NASOracle, values_key
from keras_nas.strategies.registry import (
    FitInfo,
    OracleClasses,
    SearchPlan,
    Strategy,
    lookup,
    names,
    register,
    unregister,
)

# Imported in this order, so the built-in strategies are registered (and listed) in it.
from keras_nas.strategies.random_search import RandomSearch
from keras_nas.strategies.evolution import RegularizedEvolution
from keras_nas.strategies.reinforce import Reinforce, ReinforceOracle
from keras_nas.strategies.bayesian import BayesianOptimization
from keras_nas.strategies.hyperband import Hyperband
from keras_nas.strategies.pareto import ParetoEvolution
from keras_nas.strategies.learned import LearnedDistribution

# Name -> oracle class of the registered strategies that run on plain `NASTuner`
# (a live view of the registry: the weight-sharing strategies are not in it).
STRATEGIES: OracleClasses = OracleClasses()


def get_strategy(name: str | type[NASOracle] | NASOracle, **kwargs) -> NASOracle:
    """Creates the oracle of a strategy by name.

    Args:
        name: A registered strategy name (see `names()`), a `NASOracle`
            subclass (made with `kwargs`), or an oracle instance (returned unchanged).
        **kwargs: Arguments of the strategy's oracle (`max_trials`, `seed`, ...).

    Returns:
        A `NASOracle`.

    Raises:
        ValueError: If the name is not a registered strategy, or `kwargs`
            hold arguments of the strategy's tuner (use `NASModel` for those).

    Example:

    ```python
    oracle = get_strategy("pareto", max_trials=30, seed=1)
    ```
    """
    if isinstance(name, NASOracle):
        return name
    objective = kwargs.get("objective", "val_accuracy")
    plan = lookup(name).plan(None, kwargs, getattr(objective, "name", objective))
    if plan.tuner_kwargs:
        raise ValueError(
            f"{sorted(plan.tuner_kwargs)} are arguments of the tuner of strategy {name!r}, not of "
            "its oracle: pass them to NASModel(strategy_kwargs=...)."
        )
    return plan.oracle_class(**plan.oracle_kwargs)


__all__ = [
    "NASOracle",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "ReinforceOracle",
    "BayesianOptimization",
    "Hyperband",
    "LearnedDistribution",
    "ParetoEvolution",
    "STRATEGIES",
    "FitInfo",
    "SearchPlan",
    "Strategy",
    "get_strategy",
    "lookup",
    "names",
    "register",
    "unregister",
    "values_key",
]
