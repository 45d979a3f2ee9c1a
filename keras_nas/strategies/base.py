"""The base of every search strategy: a Keras Tuner `Oracle` that knows about rejections.

A strategy only proposes hyperparameter values (the genotype) and learns from the
metrics reported back; it never builds or trains a model. `NASOracle` joins two
halves, each in its own module:

- `keras_nas.strategies.proposals.ProposalHelpers`: what a strategy draws its
  proposals with (`random_values`, `new_random_values`, `mutate`,
  `tried_keys`, ...), and the redraw of proposals predicted not to fit;
- `keras_nas.strategies.control.SearchControl`: budgets (`max_trials` counts
  trained candidates, `max_rejected_trials` the ones rejected for their cost),
  the time limit, worker liveness and the repair of lost trials.

A strategy implements `propose` (see `keras_nas.strategies.random_search`).
"""

from __future__ import annotations

import abc

import numpy as np

from keras_nas.fidelity import CONTROL_PREFIXES, architecture_values  # noqa: F401 (strategies import them here)
from keras_nas.strategies.control import SearchControl, TrialStatus
from keras_nas.strategies.proposals import (  # noqa: F401 (strategies import them here)
    MAX_DUPLICATE_DRAWS,
    MAX_FEASIBILITY_DRAWS,
    ProposalHelpers,
    has_alternatives,
    is_active,
    values_key,
)

# What `propose` returns when it must wait for running trials (parallel search).
WAIT = "WAIT"


class NASOracle(ProposalHelpers, SearchControl, abc.ABC):
    """An `Oracle` whose subclasses implement `propose` instead of `populate_space`.

    Args:
        objective: What to optimise; `"val_accuracy"` (maximised) by default.
        max_trials: How many candidates to train.
        max_rejected_trials: How many candidates may be rejected for their hardware
            cost before the search stops. Defaults to `10 * max_trials`.
        max_consecutive_failed_trials: Stop after this many trainings in a row
            that failed (NaN loss, errors); rejections do not count.
        seed: Random seed. The sequence of proposals depends only on it and on
            the metrics reported, so a search is reproducible and resumable.
        hyperparameters: An optional fixed part of the space, as in Keras Tuner.
        initial_architectures: Hyperparameter values to try first, in order
            (e.g. expert designs); values they leave out are drawn at random.
            The strategy's own proposals start after them.
        worker_timeout: Distributed search only: seconds without a sign of life
            (workers send one every 2 s while running a trial) after which a
            worker counts as dead and its trial goes to the next worker that asks.
        max_search_seconds: Stop proposing trials once this many seconds have
            passed since the first proposal of this process (a wall-time
            budget; a resumed search starts a new count). `None`: no limit.
    """

    def __init__(self, initial_architectures: list[dict] | None = None, **kwargs):
        super().__init__(**kwargs)  # SearchControl: the other arguments above
        if initial_architectures and not self.proposes_initial_architectures:
            raise ValueError(f"{type(self).__name__} schedules its own trials; it takes no initial_architectures.")
        self.init_proposals(initial_architectures)

    # Strategies that schedule their own trials (Hyperband) set this to False, and
    # `redraws_infeasible` (see `ProposalHelpers`) when `propose` has side effects.
    proposes_initial_architectures = True

    # -- what a subclass implements -------------------------------------------------

    @abc.abstractmethod
    def propose(self, trial_id: str, rng: np.random.Generator) -> dict | None:
        """Returns the hyperparameter values of the next candidate.

        Args:
            trial_id: The id of the trial being created.
            rng: A generator seeded from the oracle seed and the trial number.

        Returns:
            A dict of values for the active hyperparameters, or `None` when the
            strategy has nothing new to propose (the search then stops).
        """

    # -- Keras Tuner hooks ------------------------------------------------------------

    def populate_space(self, trial_id):
        status = self.stop_status()
        if status is not None:
            return {"status": status, "values": None}
        rng = np.random.default_rng([self.seed, len(self.trials)])
        if self.queued:
            return {"status": TrialStatus.RUNNING, "values": self.random_values(rng, base=self.queued.pop(0))}
        if len(self.trials) < len(self.initial_architectures):
            values = self.initial_values(len(self.trials), rng)
        else:
            values = self.propose(trial_id, rng)
        values = self.predicted_to_fit(values, trial_id, rng)
        if values is None:
            return {"status": TrialStatus.STOPPED, "values": None}
        if isinstance(values, str) and values == WAIT:
            return {"status": TrialStatus.IDLE, "values": None}
        return {"status": TrialStatus.RUNNING, "values": values}

    def get_state(self):
        state = super().get_state()
        state.update(self.proposal_state())
        return state

    def set_state(self, state):
        super().set_state(state)
        self.set_proposal_state(state)
