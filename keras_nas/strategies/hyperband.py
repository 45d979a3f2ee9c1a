"""Hyperband: Li et al., "Hyperband: A Novel Bandit-Based Approach to Hyperparameter
Optimization", JMLR 2018; the schedule of Keras Tuner's `HyperbandOracle`, with the
training-data fraction as a second fidelity (as in Klein et al., FABOLAS, 2017)."""

from __future__ import annotations

import math

import numpy as np

from keras_nas import fidelity as control
from keras_nas.run_record import outcome_of
from keras_nas.strategies.base import WAIT, NASOracle, TrialStatus
from keras_nas.strategies.registry import register

ENDED = (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.INVALID, TrialStatus.STOPPED)


def _max_epochs_from_fit(fit) -> dict:
    """A fully trained candidate (last round) trains for the search's epochs per candidate."""
    return {"max_epochs": fit.epochs}


@register("hyperband", fit_arguments=_max_epochs_from_fit)
class Hyperband(NASOracle):
    """Multi-fidelity search: many candidates briefly, the best ones longer.

    The oracle runs Keras Tuner's Hyperband schedule. Bracket `s` (from
    `s_max` down to 0) trains `n(s, 0)` random candidates at the lowest budget
    of that bracket; each following round keeps the best `1 / factor` of the
    previous round's completed candidates (by the objective; rejected or
    crashed candidates never promote) and trains them further. Each trial's
    values carry the fidelity for the tuner, exactly like Keras Tuner:

    - `"tuner/epochs"`: train up to this epoch,
    - `"tuner/initial_epoch"`: starting from this epoch,
    - `"tuner/bracket"`, `"tuner/round"`: where the trial sits in the schedule,
    - `"tuner/trial_id"`: the parent trial to warm-start from (promotions only),

    and two more of keras-nas:

    - `"nas/data_fraction"`: the fraction of the training data to use, in
      (0, 1]: `max(min_data_fraction, factor ** -(s - round))`, so the lowest
      rungs see less data as well as fewer epochs and the last round of every
      bracket sees all of it,
    - `"nas/iteration"`: the Hyperband iteration (brackets repeat until the
      trial budget is spent).

    Candidates rejected for their hardware cost do not fill a rung: another
    random candidate takes their place (rejections have their own budget,
    `max_rejected_trials`). `max_trials` counts trained trials, promotions
    included. The bracket bookkeeping is derived from the recorded trials, so a
    resumed search continues the same schedule.

    Reference: Li et al., "Hyperband: A Novel Bandit-Based Approach to
    Hyperparameter Optimization", JMLR 2018; the data fraction as a fidelity:
    Klein et al., "Fast Bayesian Optimization of Machine Learning
    Hyperparameters on Large Datasets" (FABOLAS), AISTATS 2017.

    Args:
        max_epochs: Epochs of a fully trained candidate (last round).
        factor: Reduction factor between rounds (an integer >= 2).
        min_data_fraction: Smallest fraction of the training data a rung uses;
            1.0 varies the epochs only.
        hyperband_iterations: How many times to run all brackets; `None`: until
            `max_trials` trials were trained.
        **kwargs: See `NASOracle` (`max_trials`, `seed`, ...).

    Example:

    ```python
    oracle = Hyperband(max_trials=60, max_epochs=27, factor=3, min_data_fraction=0.25, seed=1)
    ```
    """

    proposes_initial_architectures = False
    redraws_infeasible = False

    def __init__(
        self,
        max_epochs: int = 27,
        factor: int = 3,
        min_data_fraction: float = 0.25,
        hyperband_iterations: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValueError(f"`max_epochs` must be a positive integer, got {max_epochs!r}.")
        if not isinstance(factor, int) or factor < 2:
            raise ValueError(f"`factor` must be an integer >= 2, got {factor!r}.")
        if not 0.0 < min_data_fraction <= 1.0:
            raise ValueError(f"`min_data_fraction` must be in (0, 1], got {min_data_fraction!r}.")
        if hyperband_iterations is not None and hyperband_iterations < 1:
            raise ValueError(
                f"`hyperband_iterations` must be None or >= 1, got {hyperband_iterations!r}."
            )
        self.max_epochs = max_epochs
        self.factor = factor
        self.min_data_fraction = float(min_data_fraction)
        self.hyperband_iterations = hyperband_iterations

    # -- the schedule (Keras Tuner's formulas) ---------------------------------------------

    def num_brackets(self) -> int:
        """Brackets per iteration: one per power of `factor` up to `max_epochs`."""
        epochs, brackets = self.max_epochs, 0
        while epochs >= 1:
            epochs /= self.factor
            brackets += 1
        return brackets

    def rung_size(self, bracket: int, round_num: int) -> int:
        """Candidates trained in round `round_num` of bracket `bracket`."""
        end_size = math.ceil(1 + math.log(self.max_epochs, self.factor)) / (bracket + 1)
        return math.ceil(end_size * self.factor ** (bracket - round_num))

    def rung_epochs(self, bracket: int, round_num: int) -> int:
        """Epochs reached at the end of round `round_num` of bracket `bracket`."""
        return math.ceil(self.max_epochs / self.factor ** (bracket - round_num))

    def rung_data_fraction(self, bracket: int, round_num: int) -> float:
        """Fraction of the training data used in round `round_num` of bracket `bracket`."""
        return round(max(self.min_data_fraction, float(self.factor) ** -(bracket - round_num)), 6)

    def fidelity(self, iteration: int, bracket: int, round_num: int) -> control.Fidelity:
        """The control values of a trial in this rung (without `tuner/trial_id`)."""
        return {
            control.EPOCHS: self.rung_epochs(bracket, round_num),
            control.INITIAL_EPOCH: 0 if round_num == 0 else self.rung_epochs(bracket, round_num - 1),
            control.BRACKET: bracket,
            control.ROUND: round_num,
            control.DATA_FRACTION: self.rung_data_fraction(bracket, round_num),
            control.ITERATION: iteration,
        }

    # -- proposing ----------------------------------------------------------------------------

    def rungs(self) -> dict[tuple[int, int], list[list]]:
        """The trials of every bracket run so far: `{(iteration, bracket): [round0, round1, ...]}`.

        Rejected candidates are left out; the others are listed in start order.
        """
        result: dict[tuple[int, int], list[list]] = {}
        for trial_id in self.start_order:
            trial = self.trials[trial_id]
            values = trial.hyperparameters.values
            if control.BRACKET not in values or outcome_of(trial).rejected:
                continue
            key = (int(values.get(control.ITERATION, 0)), int(values[control.BRACKET]))
            rounds = result.setdefault(key, [[] for _ in range(key[1] + 1)])
            rounds[int(values[control.ROUND])].append(trial)
        return result

    def propose(self, trial_id: str, rng: np.random.Generator):
        rungs = self.rungs()
        s_max = self.num_brackets() - 1
        iteration, bracket = max(rungs, key=lambda k: (k[0], -k[1])) if rungs else (0, s_max)
        while True:
            if self.hyperband_iterations is not None and iteration >= self.hyperband_iterations:
                return None
            rounds = rungs.get((iteration, bracket), [[] for _ in range(bracket + 1)])
            try:
                proposal = self._next_in_bracket(iteration, bracket, rounds, rng)
            except _SpaceExhausted:
                return None
            if proposal is not None:
                return proposal
            bracket -= 1
            if bracket < 0:
                iteration, bracket = iteration + 1, s_max

    def _next_in_bracket(self, iteration: int, bracket: int, rounds: list[list], rng):
        """The next trial of a bracket, WAIT, or None when the bracket is complete."""
        if len(rounds[0]) < self.rung_size(bracket, 0):
            values = self.new_random_values(rng)
            if values is not None:
                return dict(values, **self.fidelity(iteration, bracket, 0))
            # The space is exhausted: finish the bracket with what ran, or stop.
            if not rounds[0]:
                raise _SpaceExhausted()
        for round_num in range(1, bracket + 1):
            previous = rounds[round_num - 1]
            if any(t.status not in ENDED for t in previous):
                return WAIT
            ranked = self.ranked(previous)
            target = min(self.rung_size(bracket, round_num), len(ranked))
            promoted = {t.hyperparameters.values.get(control.PARENT_TRIAL) for t in rounds[round_num]}
            if len(rounds[round_num]) < target:
                parent = next(t for t in ranked if t.trial_id not in promoted)
                values = dict(parent.hyperparameters.values)
                values.update(self.fidelity(iteration, bracket, round_num))
                values[control.PARENT_TRIAL] = parent.trial_id
                return values
        return None

    def ranked(self, trials: list) -> list:
        """Completed trials, best objective first (ties: earlier trial first)."""
        completed = [t for t in trials if t.status == TrialStatus.COMPLETED and t.score is not None]
        sign = -1.0 if self.objective.direction == "max" else 1.0
        return sorted(completed, key=lambda t: sign * float(t.score))

    def get_state(self):
        state = super().get_state()
        state.update(
            max_epochs=self.max_epochs,
            factor=self.factor,
            min_data_fraction=self.min_data_fraction,
            hyperband_iterations=self.hyperband_iterations,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        for key in ("max_epochs", "factor", "min_data_fraction", "hyperband_iterations"):
            setattr(self, key, state[key])


class _SpaceExhausted(Exception):
    """No untried architecture is left to start a bracket with."""
