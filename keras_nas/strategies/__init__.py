"""Search strategies, each a Keras Tuner `Oracle`, picked by name in `NASModel(strategy=...)`."""

from __future__ import annotations

from keras_nas.strategies.base import NASOracle, values_key
from keras_nas.strategies.evolution import RegularizedEvolution
from keras_nas.strategies.random_search import RandomSearch

STRATEGIES: dict[str, type[NASOracle]] = {
    "random": RandomSearch,
    "evolution": RegularizedEvolution,
}


def get_strategy(name: str | NASOracle, **kwargs) -> NASOracle:
    """Creates the oracle of a strategy by name.

    Args:
        name: One of `STRATEGIES` ("random", "evolution"), or an oracle instance
            (returned unchanged).
        **kwargs: Arguments of the strategy's oracle (`max_trials`, `seed`, ...).

    Returns:
        A `NASOracle`.
    """
    if isinstance(name, NASOracle):
        return name
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy {name!r}. Available strategies: {sorted(STRATEGIES)}."
        )
    return STRATEGIES[name](**kwargs)


__all__ = ["NASOracle", "RandomSearch", "RegularizedEvolution", "STRATEGIES", "get_strategy", "values_key"]
