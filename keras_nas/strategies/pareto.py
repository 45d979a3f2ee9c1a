"""Multi-objective evolution: Deb et al., "A Fast and Elitist Multiobjective Genetic
Algorithm: NSGA-II", IEEE TEC 2002; applied to hardware-aware NAS as in Lu et al.,
"NSGA-Net", GECCO 2019."""

from __future__ import annotations

import numpy as np

from keras_nas import pareto
from keras_nas.strategies.base import MAX_DUPLICATE_DRAWS, NASOracle, architecture_values, values_key
from keras_nas.strategies.registry import register


@register("pareto")
class ParetoEvolution(NASOracle):
    """NSGA-II over accuracy and hardware costs, each kept in its own unit.

    The first `population_size` trained candidates are random. Then the
    population is the best `population_size` completed trials by NSGA-II's
    elitist survival: non-dominated sorting over `objectives`, ties on the last
    admitted front broken by crowding distance. Each proposal picks two parents
    by binary tournament (lower rank wins, then larger crowding distance),
    crosses them uniformly (each active choice from either parent) and, with
    probability `mutation_probability` (or whenever the child was already
    tried), mutates one choice. Candidates rejected for their hardware cost
    never enter the population: constraints are hard.

    Reference: Deb et al., "A Fast and Elitist Multiobjective Genetic
    Algorithm: NSGA-II", IEEE TEC 2002; Lu et al., "NSGA-Net", GECCO 2019.

    Args:
        objectives: `(metric, "max"|"min")` pairs reported by the trials;
            `None`: the search objective in its direction (its float metric
            for an int8 one: val_accuracy for int8_val_accuracy), then
            latency_ms, peak_ram_kb, flash_kb (min).
        population_size: NSGA-II population. `None`: a third of `max_trials`,
            between 4 and 20.
        mutation_probability: Chance that a child is mutated after crossover.
        **kwargs: See `NASOracle` (`max_trials`, `seed`, ...).

    Example:

    ```python
    oracle = ParetoEvolution(
        objectives=[("val_accuracy", "max"), ("latency_ms", "min")],
        max_trials=60, population_size=12, seed=1)
    ```
    """

    def __init__(
        self,
        objectives=None,
        population_size: int | None = None,
        mutation_probability: float = 0.8,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if objectives is None:
            name = self.objective.name.removeprefix("int8_")
            objectives = [(name, self.objective.direction), *pareto.DEFAULT_OBJECTIVES[1:]]
        self.objectives = pareto.check_objectives(objectives)
        if population_size is None:
            population_size = max(4, min(20, self.trial_budget // 3))
        if not isinstance(population_size, int) or population_size < 2:
            raise ValueError(f"`population_size` must be an integer >= 2, got {population_size!r}.")
        if not 0.0 <= mutation_probability <= 1.0:
            raise ValueError(
                f"`mutation_probability` must be in [0, 1], got {mutation_probability!r}."
            )
        self.population_size = population_size
        self.mutation_probability = float(mutation_probability)

    def objective_values(self, trial) -> list[float]:
        """The objectives of a completed trial, in the order of `objectives`.

        Raises:
            ValueError: If the trial does not report one of them.
        """
        result = []
        for name, _ in self.objectives:
            if not trial.metrics.exists(name):
                raise ValueError(
                    f"Trial {trial.trial_id} reports no {name!r} (it reports "
                    f"{sorted(trial.metrics.metrics)}). Give `objectives` that the tuner "
                    "reports, e.g. [('val_accuracy', 'max'), ('latency_ms', 'min')]."
                )
            result.append(float(trial.metrics.get_last_value(name)))
        return result

    def population(self) -> tuple[list, np.ndarray, np.ndarray]:
        """NSGA-II survivors among the completed trials: (trials, rank, crowding)."""
        completed = self.completed_trials()
        if not completed:
            return [], np.zeros(0, int), np.zeros(0)
        points = np.array([self.objective_values(t) for t in completed])
        directions = [d for _, d in self.objectives]
        chosen, ranks, crowding = [], [], []
        for rank, front in enumerate(pareto.non_dominated_sort(points, directions)):
            distance = pareto.crowding_distance(points[front])
            order = sorted(range(len(front)), key=lambda i: (-distance[i], front[i]))
            for i in order[: self.population_size - len(chosen)]:
                chosen.append(front[i])
                ranks.append(rank)
                crowding.append(distance[i])
            if len(chosen) >= self.population_size:
                break
        return [completed[i] for i in chosen], np.array(ranks), np.array(crowding)

    def propose(self, trial_id: str, rng: np.random.Generator) -> dict | None:
        if len(self.completed_trials()) < self.population_size:
            return self.new_random_values(rng)
        members, ranks, crowding = self.population()
        tried = self.tried_keys()
        for _ in range(MAX_DUPLICATE_DRAWS):
            first = self._tournament(ranks, crowding, rng)
            second = self._tournament(ranks, crowding, rng)
            child = self.crossover(
                members[first].hyperparameters.values, members[second].hyperparameters.values, rng
            )
            if rng.random() < self.mutation_probability or values_key(child) in tried:
                child = self.mutate(child, rng)
            if values_key(child) not in tried:
                return child
        return self.new_random_values(rng)

    def _tournament(self, ranks: np.ndarray, crowding: np.ndarray, rng) -> int:
        a, b = (int(i) for i in rng.choice(len(ranks), size=2, replace=len(ranks) < 2))
        if ranks[a] != ranks[b]:
            return a if ranks[a] < ranks[b] else b
        if crowding[a] != crowding[b]:
            return a if crowding[a] > crowding[b] else b
        return min(a, b)

    def crossover(self, first: dict, second: dict, rng: np.random.Generator) -> dict:
        """Uniform crossover: each choice from either parent (active ones only in the child).

        Args:
            first, second: The parents' values.
            rng: Source of randomness.

        Returns:
            The child's values; choices neither parent has (newly active) are random.
        """
        first, second = architecture_values(first), architecture_values(second)
        child = {}
        for name in sorted(set(first) | set(second)):
            if name in first and name in second:
                child[name] = first[name] if rng.random() < 0.5 else second[name]
            else:
                child[name] = first[name] if name in first else second[name]
        return self.random_values(rng, base=child)

    def get_state(self):
        state = super().get_state()
        state.update(
            objectives=[list(o) for o in self.objectives],
            population_size=self.population_size,
            mutation_probability=self.mutation_probability,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        self.objectives = pareto.check_objectives(state["objectives"])
        self.population_size = state["population_size"]
        self.mutation_probability = state["mutation_probability"]
