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
import time

import numpy as np
import keras_tuner
from keras_tuner.engine import trial as trial_module

from keras_nas.blocks.introspect import allowed_values
from keras_nas.cost_predictor import ChoiceTally
from keras_nas.distributed import take_message
from keras_nas import run_record
from keras_nas.run_record import atomic_write_json, outcome_of
from keras_nas.search_dir import check_search_files, restore_lost_trials

TrialStatus = trial_module.TrialStatus

# How often a strategy may re-draw a proposal that was already tried before giving up.
MAX_DUPLICATE_DRAWS = 50

# Values under these prefixes are set by a strategy for the tuner (fidelity, parent
# trial), not by the search space: they are not part of the architecture.
CONTROL_PREFIXES = ("tuner/", "nas/")

# What `propose` returns when it must wait for running trials (parallel search).
WAIT = "WAIT"

# A proposal predicted to break the flash or RAM limit is drawn again up to this
# many times; then the one predicted closest to fitting is measured.
MAX_FEASIBILITY_DRAWS = 100


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

    def __init__(
        self,
        objective="val_accuracy",
        max_trials: int = 20,
        max_rejected_trials: int | None = None,
        max_consecutive_failed_trials: int = 3,
        seed: int | None = None,
        hyperparameters=None,
        worker_timeout: float = 60.0,
        initial_architectures: list[dict] | None = None,
        max_search_seconds: float | None = None,
        **kwargs,
    ):
        if isinstance(objective, str) and objective.endswith("accuracy"):
            objective = keras_tuner.Objective(objective, direction="max")
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
        if seed is not None:
            # Keras Tuner replaces a falsy seed (0) by a random one; 0 is a seed too.
            self.seed = seed
        self.trial_budget = max_trials
        self.max_rejected_trials = (
            10 * max_trials if max_rejected_trials is None else max_rejected_trials
        )
        self.max_consecutive_training_failures = max_consecutive_failed_trials
        if not worker_timeout > 0:
            raise ValueError(f"`worker_timeout` must be a positive number of seconds, got {worker_timeout!r}.")
        self.worker_timeout = float(worker_timeout)
        self._tuner_seen = {}  # tuner id -> time.monotonic() of its last sign of life
        if initial_architectures and not self.proposes_initial_architectures:
            raise ValueError(f"{type(self).__name__} schedules its own trials; it takes no initial_architectures.")
        self.initial_architectures = [dict(values) for values in initial_architectures or []]
        # Optional zero-cost proxy screen of random proposals (see `new_random_values`).
        self.screen = None
        # Optional `keras_nas.cost_predictor.FeasibilityFilter`, set by the tuner:
        # proposals predicted to break the flash/RAM limits are drawn again.
        self.cost_filter = None
        # Which choices the proposals predicted to fit had: random draws follow it.
        self.choice_tally = ChoiceTally()
        self.skipped_proposals = 0
        self.queued: list[dict] = []  # proposals the tuner asks to run next
        self.found_no_predicted_fit = False
        self.prediction_seconds = 0.0
        if max_search_seconds is not None and not max_search_seconds > 0:
            raise ValueError(f"`max_search_seconds` must be a positive number, got {max_search_seconds!r}.")
        self.max_search_seconds = max_search_seconds
        self._started = None  # time.monotonic() of the first proposal in this process

    # Strategies that schedule their own trials (Hyperband) set this to False.
    proposes_initial_architectures = True
    # Whether `propose` may be called again for the same trial when its proposal is
    # predicted not to fit (no side effects); Hyperband's schedule may not.
    redraws_infeasible = True

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
        # Budget spent while other workers still run trials (distributed search):
        # wait, as one of those may fail, be rejected or lose its worker.
        if self.ongoing_trials and (
            self.trained_count() >= self.trial_budget
            or self.rejected_count() >= self.max_rejected_trials
        ):
            return {"status": TrialStatus.IDLE, "values": None}
        if self.trained_count() >= self.trial_budget:
            return {"status": TrialStatus.STOPPED, "values": None}
        if self.rejected_count() >= self.max_rejected_trials:
            print(
                f"Stopping: {self.rejected_count()} candidates were rejected for their "
                f"hardware cost (max_rejected_trials={self.max_rejected_trials})."
            )
            return {"status": TrialStatus.STOPPED, "values": None}
        if self.max_search_seconds is not None:
            self._started = self._started or time.monotonic()
            if time.monotonic() - self._started > self.max_search_seconds:
                print(f"Stopping: the search time limit ({self.max_search_seconds:.0f} s) is reached.")
                return {"status": TrialStatus.STOPPED, "values": None}
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

    def predicted_to_fit(self, values, trial_id: str, rng: np.random.Generator):
        """`values`, or a new proposal if `cost_filter` predicts they break a limit.

        Draws up to `MAX_FEASIBILITY_DRAWS` proposals; when none is predicted to
        fit, returns the one predicted closest to the limits (its measurement
        decides, and tells the predictor more).
        """
        if self.cost_filter is None or not isinstance(values, dict):
            return values
        start = time.perf_counter()
        best, best_ratio = values, float("inf")
        try:
            for _ in range(MAX_FEASIBILITY_DRAWS):
                fits, ratio = self.cost_filter.fits(values)
                self.choice_tally.record(architecture_values(values), fits)
                if fits:
                    self.found_no_predicted_fit = False
                    return values
                self.skipped_proposals += 1
                if ratio < best_ratio:
                    best, best_ratio = values, ratio
                if not self.redraws_infeasible:
                    break
                values = self.propose(trial_id, rng)
                if not isinstance(values, dict):
                    break
            # No proposal was predicted to fit: the tuner checks the space's smallest point
            # at the first rejection instead of after `infeasible_after` of them.
            self.found_no_predicted_fit = True
            return best
        finally:
            self.prediction_seconds += time.perf_counter() - start

    def get_state(self):
        state = super().get_state()
        state.update(
            skipped_proposals=self.skipped_proposals,
            prediction_seconds=self.prediction_seconds,
            choice_tally=self.choice_tally.to_dict(),
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        self.skipped_proposals = state.get("skipped_proposals", 0)
        self.prediction_seconds = state.get("prediction_seconds", 0.0)
        self.choice_tally = ChoiceTally.from_dict(state.get("choice_tally"))

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        now = time.monotonic()
        self._tuner_seen[tuner_id] = now
        self._reclaim_lost_trials(tuner_id, now)
        return super().create_trial(tuner_id)

    def get_trial(self, trial_id):
        # A worker's heartbeat (keras_nas.distributed.Heartbeat) is a get_trial call.
        for tuner_id, running in list(self.ongoing_trials.items()):
            if running.trial_id == trial_id:
                self._tuner_seen[tuner_id] = time.monotonic()
        return super().get_trial(trial_id)

    def _reclaim_lost_trials(self, tuner_id: str, now: float) -> None:
        """Hands the trials of workers silent for `worker_timeout` back for a re-run."""
        for other, running in list(self.ongoing_trials.items()):
            silent = now - self._tuner_seen.setdefault(other, now)
            if other != tuner_id and silent > self.worker_timeout:
                del self.ongoing_trials[other]
                self.tuner_ids.discard(other)
                self._retry_queue.append(running.trial_id)
                print(
                    f"Worker {other!r} sent no sign of life for {silent:.0f} s: its trial "
                    f"{running.trial_id} is run again by {tuner_id!r}.",
                    flush=True,
                )

    @keras_tuner.synchronized
    def search_done(self) -> bool:
        """Chief only: no trial is running and every worker was told to stop or went silent."""
        now = time.monotonic()
        holding = set(self.ongoing_trials)
        for tuner_id in list(self.tuner_ids):
            if tuner_id not in holding and now - self._tuner_seen.setdefault(tuner_id, now) > self.worker_timeout:
                self.tuner_ids.discard(tuner_id)
        return not self.ongoing_trials and not self.tuner_ids

    @keras_tuner.synchronized
    def end_trial(self, trial):
        take_message(trial)  # a worker's failure reason and outcome (see keras_nas.distributed)
        if trial.trial_id in self.end_order:
            # Ended twice: a trial re-run after its first worker went silent, which then
            # finished after all. The first result stands.
            for tuner_id, running in list(self.ongoing_trials.items()):
                if running.trial_id == trial.trial_id:
                    del self.ongoing_trials[tuner_id]
            return
        run_record.keep_recorded_outcome(trial, self.trials[trial.trial_id])
        super().end_trial(trial)
        self.save()  # Keras Tuner saves before it drops the trial from `ongoing_trials`
        failures, last_error = 0, None
        for trial_id in self.end_order:
            ended = self.trials[trial_id]
            if ended.status == TrialStatus.FAILED and not outcome_of(ended).rejected:
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

    # -- crash safety: atomic files, checked and repaired on resume ------------------------

    def save(self):
        atomic_write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        run_record.save_trial(self._project_dir, trial)  # with its outcome

    def reload(self):
        check_search_files(self._project_dir)
        restore_lost_trials(self._project_dir)  # a deleted trial folder never frees its id
        super().reload()
        run_record.restore_outcomes(self.trials, self._project_dir)
        # Keras Tuner writes trial.json before oracle.json; a search killed between
        # the two left trials that oracle.json does not know as running or ended.
        for trial_id, trial in sorted(self.trials.items()):
            if trial_id not in self.start_order:
                self.start_order.append(trial_id)
            if trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED):
                if trial_id in self._retry_queue:
                    self._retry_queue.remove(trial_id)
                if trial_id not in self.end_order:
                    self.end_order.append(trial_id)
            elif trial.status == TrialStatus.RUNNING and trial_id not in self._retry_queue:
                self._retry_queue.append(trial_id)

    # -- bookkeeping shared by strategies ------------------------------------------------

    def trained_count(self) -> int:
        """Trials that were (or are being) trained: everything but rejections."""
        return sum(1 for t in self.trials.values() if not outcome_of(t).rejected)

    def rejected_count(self) -> int:
        """Trials rejected for their hardware cost before training."""
        return sum(1 for t in self.trials.values() if outcome_of(t).rejected)

    def completed_trials(self) -> list:
        """Completed trials with a score, in the order they ended."""
        return [
            self.trials[i]
            for i in self.end_order
            if self.trials[i].status == TrialStatus.COMPLETED and self.trials[i].score is not None
        ]

    def tried_keys(self) -> set[str]:
        """Fingerprints of the architectures proposed so far (see `values_key`).

        Control values (`tuner/...`, `nas/...`, e.g. a fidelity) are left out, so
        an architecture counts as tried whatever budget it was trained with.
        """
        return {
            values_key(architecture_values(t.hyperparameters.values))
            for t in self.trials.values()
        }

    def search_space(self) -> list:
        """The hyperparameters of the space, in declaration order (read-only; not a copy).

        Cheaper than `get_space()`, which copies the space through serialization.
        """
        return self.hyperparameters.space

    def random_values(self, rng: np.random.Generator, base: dict | None = None) -> dict:
        """Draws a value for every active hyperparameter of the space.

        Args:
            rng: Source of randomness.
            base: Values to keep where their hyperparameter is active; the others
                (including ones a change of `base` made active) are drawn at random.

        Returns:
            A dict of values for the active hyperparameters only.

        Under flash/RAM limits (`cost_filter` set), each choice is drawn in
        proportion to how often its values were in proposals predicted to fit
        (`choice_tally`); otherwise uniformly, as Keras Tuner samples.
        """
        values = {}
        for hp in self.search_space():
            if not is_active(hp, values):
                continue
            if base is not None and hp.name in base:
                values[hp.name] = base[hp.name]
                continue
            options = allowed_values(hp) if self.cost_filter is not None else None
            weights = self.choice_tally.weights(hp.name, options) if options else None
            if weights is None:
                values[hp.name] = hp.random_sample(int(rng.integers(2**31 - 1)))
            else:
                values[hp.name] = options[int(rng.choice(len(options), p=weights))]
        return values

    def initial_values(self, index: int, rng: np.random.Generator) -> dict:
        """The `index`-th initial architecture, completed with random values where it is silent.

        Raises:
            ValueError: If it names a hyperparameter the search space does not have.
        """
        values = self.initial_architectures[index]
        known = {hp.name for hp in self.search_space()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Initial architecture {index} names hyperparameters the space does not have: "
                f"{unknown}. The space has: {sorted(known)}."
            )
        return self.random_values(rng, base=values)

    def new_random_values(self, rng: np.random.Generator) -> dict | None:
        """Like `random_values`, but never a proposal already tried (None if the space is exhausted).

        With a `screen` (a `keras_nas.proxies.ProxyScreen`) set on the oracle, draws
        `screen.pool_size` new proposals and returns the one the zero-cost proxy
        ranks best.
        """
        tried = self.tried_keys()
        size = self.screen.pool_size if self.screen is not None else 1
        pool = []
        for _ in range(MAX_DUPLICATE_DRAWS * size):
            values = self.random_values(rng)
            key = values_key(values)
            if key not in tried:
                tried.add(key)
                pool.append(values)
                if len(pool) == size:
                    break
        if not pool:
            return None
        if len(pool) == 1:
            return pool[0]
        return pool[self.screen(pool)]

    def mutate(self, values: dict, rng: np.random.Generator) -> dict:
        """Changes one active, mutable choice of `values` to a different value.

        Choices that the change makes active are drawn at random, the ones it makes
        inactive are dropped.

        Args:
            values: The parent's hyperparameter values.
            rng: Source of randomness.

        Returns:
            The child's values (architecture only).
        """
        values = architecture_values(values)
        mutable = [
            hp
            for hp in self.search_space()
            if hp.name in values and is_active(hp, values) and has_alternatives(hp)
        ]
        if not mutable:
            return dict(values)
        hp = mutable[int(rng.integers(len(mutable)))]
        child = dict(values)
        for _ in range(MAX_DUPLICATE_DRAWS):
            candidate = hp.random_sample(int(rng.integers(2**31 - 1)))
            if candidate != values[hp.name]:
                child[hp.name] = candidate
                break
        return self.random_values(rng, base=child)


def is_active(hp, values: dict) -> bool:
    """Whether `hp` is active given the values of the hyperparameters before it.

    The test of `keras_tuner.HyperParameters.is_active`, on a plain dict: every
    condition of `hp` (from `hp.conditional_scope`) holds for `values`.
    """
    return all(condition.is_active(values) for condition in hp.conditions)


def architecture_values(values: dict) -> dict:
    """`values` without the control entries (`tuner/...`, `nas/...`) a strategy adds."""
    return {k: v for k, v in values.items() if not k.startswith(CONTROL_PREFIXES)}


def has_alternatives(hp) -> bool:
    """Whether a hyperparameter can take more than one value."""
    hp_types = keras_tuner.engine.hyperparameters
    if isinstance(hp, hp_types.Fixed):
        return False
    if isinstance(hp, hp_types.Choice):
        return len(hp.values) > 1
    if isinstance(hp, (hp_types.Int, hp_types.Float)):
        return hp.min_value != hp.max_value
    return True


def values_key(values: dict) -> str:
    """A stable fingerprint of a set of hyperparameter values."""
    text = ";".join(f"{name}={values[name]!r}" for name in sorted(values))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
