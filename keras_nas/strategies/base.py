"""The base of every search strategy: a Keras Tuner `Oracle` that knows about rejections.

A strategy only proposes hyperparameter values (the genotype) and learns from the
metrics reported back; it never builds or trains a model. Two things differ from a
plain Keras Tuner oracle:

- `max_trials` counts candidates that were *trained*. Candidates rejected for their
  hardware cost are cheap (no training) and are budgeted separately by
  `max_rejected_trials`, so a tight constraint does not eat the training budget.
- Consecutive-failure accounting ignores rejections: three rejections in a row are
  normal under tight limits, three crashed trainings are not.
"""

from __future__ import annotations

import abc
import hashlib

import numpy as np
import keras_tuner
from keras_tuner.engine import trial as trial_module

from keras_nas.errors import is_rejection

TrialStatus = trial_module.TrialStatus

# How often a strategy may re-draw a proposal that was already tried before giving up.
MAX_DUPLICATE_DRAWS = 50


class NASOracle(keras_tuner.Oracle, abc.ABC):
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
    """

    def __init__(
        self,
        objective="val_accuracy",
        max_trials: int = 20,
        max_rejected_trials: int | None = None,
        max_consecutive_failed_trials: int = 3,
        seed: int | None = None,
        hyperparameters=None,
        **kwargs,
    ):
        if objective == "val_accuracy":
            objective = keras_tuner.Objective("val_accuracy", direction="max")
        if not isinstance(max_trials, int) or max_trials < 1:
            raise ValueError(f"`max_trials` must be a positive integer, got {max_trials!r}.")
        # Keras Tuner's own budget counts failed trials; ours counts trained ones
        # (see `populate_space`), so its limit is switched off here.
        super().__init__(
            objective=objective,
            max_trials=None,
            hyperparameters=hyperparameters,
            seed=seed,
            max_consecutive_failed_trials=2**31,
            **kwargs,
        )
        self.trial_budget = max_trials
        self.max_rejected_trials = (
            10 * max_trials if max_rejected_trials is None else max_rejected_trials
        )
        self.max_consecutive_training_failures = max_consecutive_failed_trials

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
        if self.trained_count() >= self.trial_budget:
            return {"status": TrialStatus.STOPPED, "values": None}
        if self.rejected_count() >= self.max_rejected_trials:
            print(
                f"Stopping: {self.rejected_count()} candidates were rejected for their "
                f"hardware cost (max_rejected_trials={self.max_rejected_trials})."
            )
            return {"status": TrialStatus.STOPPED, "values": None}
        rng = np.random.default_rng([self.seed, len(self.trials)])
        values = self.propose(trial_id, rng)
        if values is None:
            return {"status": TrialStatus.STOPPED, "values": None}
        return {"status": TrialStatus.RUNNING, "values": values}

    def end_trial(self, trial):
        super().end_trial(trial)
        failures, last_error = 0, None
        for trial_id in self.end_order:
            ended = self.trials[trial_id]
            if ended.status == TrialStatus.FAILED and not is_rejection(ended.message):
                failures, last_error = failures + 1, ended.message
            elif ended.status == TrialStatus.COMPLETED:
                failures = 0
        if failures >= self.max_consecutive_training_failures:
            raise RuntimeError(
                f"{failures} trials in a row failed in training; the search stops. "
                f"Last error:\n{last_error}"
            )

    def remaining_trials(self):
        return self.trial_budget - self.trained_count()

    # -- bookkeeping shared by strategies ------------------------------------------------

    def trained_count(self) -> int:
        """Trials that were (or are being) trained: everything but rejections."""
        return sum(1 for t in self.trials.values() if not is_rejection(t.message))

    def rejected_count(self) -> int:
        """Trials rejected for their hardware cost before training."""
        return sum(1 for t in self.trials.values() if is_rejection(t.message))

    def completed_trials(self) -> list:
        """Completed trials with a score, in the order they ended."""
        return [
            self.trials[i]
            for i in self.end_order
            if self.trials[i].status == TrialStatus.COMPLETED and self.trials[i].score is not None
        ]

    def tried_keys(self) -> set[str]:
        """Fingerprints of every proposal made so far (see `values_key`)."""
        return {values_key(t.hyperparameters.values) for t in self.trials.values()}

    def random_values(self, rng: np.random.Generator, base: dict | None = None) -> dict:
        """Draws a value for every active hyperparameter of the space.

        Args:
            rng: Source of randomness.
            base: Values to keep where their hyperparameter is active; the others
                (including ones a change of `base` made active) are drawn at random.

        Returns:
            A dict of values for the active hyperparameters only.
        """
        hps = keras_tuner.HyperParameters()
        for hp in self.get_space().space:
            hps.merge([hp])
            if not hps.is_active(hp):
                continue
            if base is not None and hp.name in base:
                hps.values[hp.name] = base[hp.name]
            else:
                hps.values[hp.name] = hp.random_sample(int(rng.integers(2**31 - 1)))
        return dict(hps.values)

    def new_random_values(self, rng: np.random.Generator) -> dict | None:
        """Like `random_values`, but never a proposal already tried (None if the space is exhausted)."""
        tried = self.tried_keys()
        for _ in range(MAX_DUPLICATE_DRAWS):
            values = self.random_values(rng)
            if values_key(values) not in tried:
                return values
        return None


def values_key(values: dict) -> str:
    """A stable fingerprint of a set of hyperparameter values."""
    text = ";".join(f"{name}={values[name]!r}" for name in sorted(values))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
