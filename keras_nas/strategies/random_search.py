"""Random search: the baseline every other strategy must beat."""

from __future__ import annotations

import numpy as np

from keras_nas.strategies.base import NASOracle
from keras_nas.strategies.registry import register


@register("random")
class RandomSearch(NASOracle):
    """Proposes uniformly random, never repeated, candidates of the search space.

    Args:
        **kwargs: See `NASOracle` (`max_trials`, `seed`, ...).

    Example:

    ```python
    oracle = RandomSearch(max_trials=20, seed=1)
    ```
    """

    def propose(self, trial_id: str, rng: np.random.Generator) -> dict | None:
        return self.new_random_values(rng)
