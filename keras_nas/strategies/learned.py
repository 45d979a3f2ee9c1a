"""Sampling from a learned architecture distribution (what DARTS hands on to the search)."""

from __future__ import annotations

import numpy as np

from keras_nas.strategies.base import MAX_DUPLICATE_DRAWS, NASOracle, values_key


class LearnedDistribution(NASOracle):
    """Proposes the most likely architecture of a learned distribution, then samples from it.

    A differentiable search (`keras_nas.weight_sharing.DartsTuner`) ends with
    one probability vector per decision. The first proposal is the usual
    DARTS derivation, the most likely option of every decision; the next ones
    are drawn from the distribution (never twice the same), so the trained
    candidates form a Pareto front around what DARTS preferred. The
    distribution is part of the oracle's state, so a resumed search draws the
    same candidates.

    Args:
        **kwargs: See `NASOracle` (`max_trials`, `seed`, ...).

    Example:

    ```python
    oracle = LearnedDistribution(max_trials=5, seed=1)
    oracle.set_distribution([([{"a/filters": 16}, {"a/filters": 32}], [0.2, 0.8])])
    ```
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.distribution: list[dict] | None = None

    def set_distribution(self, decisions: list[tuple[list[dict], list[float]]]) -> None:
        """Sets the distribution to sample from.

        Args:
            decisions: For each decision, its options (each a dict of
                hyperparameter values) and their probabilities.
        """
        distribution = []
        for options, probabilities in decisions:
            p = np.asarray(probabilities, dtype="float64")
            if len(options) != len(p) or len(p) == 0 or np.any(p < 0) or not np.isfinite(p).all():
                raise ValueError(
                    f"Each decision needs as many non-negative probabilities as options; got "
                    f"{len(options)} options and probabilities {list(p)}."
                )
            distribution.append({"options": [dict(o) for o in options],
                                 "probabilities": [float(v) for v in p / p.sum()]})
        self.distribution = distribution

    def most_likely(self) -> dict:
        """The hyperparameter values of the most likely option of every decision."""
        values = {}
        for decision in self._decisions():
            values.update(decision["options"][int(np.argmax(decision["probabilities"]))])
        return values

    def _decisions(self) -> list[dict]:
        if self.distribution is None:
            raise RuntimeError(
                "LearnedDistribution has no distribution yet: a DartsTuner sets it after training "
                "the supernet (or call set_distribution)."
            )
        return self.distribution

    def propose(self, trial_id: str, rng: np.random.Generator) -> dict | None:
        tried = self.tried_keys()
        first = self.random_values(rng, base=self.most_likely())
        if values_key(first) not in tried:
            return first
        for _ in range(MAX_DUPLICATE_DRAWS):
            values = {}
            for decision in self._decisions():
                index = int(rng.choice(len(decision["options"]), p=decision["probabilities"]))
                values.update(decision["options"][index])
            values = self.random_values(rng, base=values)
            if values_key(values) not in tried:
                return values
        return self.new_random_values(rng)

    def get_state(self):
        state = super().get_state()
        state["distribution"] = self.distribution
        return state

    def set_state(self, state):
        super().set_state(state)
        self.distribution = state.get("distribution")
