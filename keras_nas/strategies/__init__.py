"""Search strategies, each a Keras Tuner `Oracle`, picked by name in `NASModel(strategy=...)`."""

from __future__ import annotations

from keras_nas.strategies.base import NASOracle, values_key
from keras_nas.strategies.bayesian import BayesianOptimization
from keras_nas.strategies.evolution import RegularizedEvolution
from keras_nas.strategies.hyperband import Hyperband
from keras_nas.strategies.learned import LearnedDistribution
from keras_nas.strategies.pareto import ParetoEvolution
from keras_nas.strategies.random_search import RandomSearch
from keras_nas.strategies.reinforce import Reinforce, ReinforceOracle

STRATEGIES: dict[str, type[NASOracle]] = {
    "random": RandomSearch,
    "evolution": RegularizedEvolution,
    "reinforce": Reinforce,
    "bayesian": BayesianOptimization,
    "hyperband": Hyperband,
    "pareto": ParetoEvolution,
}


def get_strategy(name: str | type[NASOracle] | NASOracle, **kwargs) -> NASOracle:
    """Creates the oracle of a strategy by name.

    Args:
        name: One of `STRATEGIES` ("random", "evolution", "reinforce",
            "bayesian", "hyperband", "pareto"), a `NASOracle` subclass (made
            with `kwargs`), or an oracle instance (returned unchanged).
        **kwargs: Arguments of the strategy's oracle (`max_trials`, `seed`, ...).

    Returns:
        A `NASOracle`.

    Raises:
        ValueError: If the name is not a known strategy.

    Example:

    ```python
    oracle = get_strategy("pareto", max_trials=30, seed=1)
    ```
    """
    if isinstance(name, NASOracle):
        return name
    if isinstance(name, type) and issubclass(name, NASOracle):
        return name(**kwargs)
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy {name!r}. Available strategies: {sorted(STRATEGIES)}."
        )
    return STRATEGIES[name](**kwargs)


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
    "get_strategy",
    "values_key",
]
