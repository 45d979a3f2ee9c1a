"""Regularized (aging) evolution: Real et al., "Regularized Evolution for Image
Classifier Architecture Search", AAAI 2019."""

from __future__ import annotations

import numpy as np

from keras_nas.strategies.base import MAX_DUPLICATE_DRAWS, NASOracle, values_key
from keras_nas.strategies.registry import register


@register("evolution")
class RegularizedEvolution(NASOracle):
    """Aging evolution over the hyperparameter values of the search space.

    The first `population_size` trained candidates are random. After that, each
    proposal picks `sample_size` members of the population at random, takes the
    best of them as parent and mutates one of its choices. The population is the
    `population_size` most recently *finished* candidates, so the oldest dies
    whatever its score: the regularization that makes aging evolution robust to
    lucky, noisy evaluations. Candidates rejected for their hardware cost never
    join the population.

    Args:
        population_size: Members of the population. `None` scales it with the
            budget: a third of `max_trials`, between 4 and 20 (Real et al. used
            100 for 20,000 trials; small budgets need most trials evolved).
        sample_size: Tournament size; larger means greedier. `None`: a third of
            the population, at least 2.
        **kwargs: See `NASOracle` (`max_trials`, `seed`, ...).

    Example:

    ```python
    oracle = RegularizedEvolution(max_trials=50, population_size=12, sample_size=4, seed=1)
    ```
    """

    def __init__(self, population_size: int | None = None, sample_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if population_size is None:
            population_size = max(4, min(20, self.trial_budget // 3))
        if sample_size is None:
            sample_size = max(2, population_size // 3)
        if population_size < 2 or not 1 <= sample_size <= population_size:
            raise ValueError(
                "Evolution needs population_size >= 2 and 1 <= sample_size <= population_size; "
                f"got population_size={population_size}, sample_size={sample_size}."
            )
        self.population_size = population_size
        self.sample_size = sample_size

    def population(self) -> list:
        """The living population: the most recently completed trials."""
        return self.completed_trials()[-self.population_size :]

    def propose(self, trial_id: str, rng: np.random.Generator) -> dict | None:
        population = self.population()
        if len(population) < self.population_size:
            return self.new_random_values(rng)
        tried = self.tried_keys()
        for _ in range(MAX_DUPLICATE_DRAWS):
            picks = rng.choice(len(population), size=self.sample_size, replace=False)
            parent = population[int(picks[0])]
            for index in picks[1:]:
                if self.objective.better_than(population[int(index)].score, parent.score):
                    parent = population[int(index)]
            child = self.mutate(parent.hyperparameters.values, rng)
            if values_key(child) not in tried:
                return child
        return self.new_random_values(rng)

    def get_state(self):
        state = super().get_state()
        state.update(population_size=self.population_size, sample_size=self.sample_size)
        return state

    def set_state(self, state):
        super().set_state(state)
        self.population_size = state["population_size"]
        self.sample_size = state["sample_size"]
