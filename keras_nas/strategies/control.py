"""How a search runs: trial budgets, the time limit, worker liveness and repair of lost trials.

`SearchControl` is the Keras Tuner half of `NASOracle` (keras_nas/strategies/base.py):

- `max_trials` counts candidates that were *trained*. Candidates rejected for their
  hardware cost are cheap (no training) and are budgeted separately by
  `max_rejected_trials`, so a tight constraint does not eat the training budget.
- Consecutive-failure accounting ignores rejections: three rejections in a row are
  normal under tight limits, three crashed trainings are not.
- The time limit (`max_search_seconds`) covers what follows the search too (and, from
  `NASModel`, what precedes it: `start_clock`): no new candidate but the first is proposed
  once the time used, one more candidate's training (priced
  at the median wall time of the candidates trained so far in this process) and the
  `work_after_search` (`WorkAfterSearch`, set by `NASModel`: the finalists' trainings,
  priced at the present best candidates' own wall times, as the best are often the
  largest; the winner's, at the longest of theirs; both `AFTER_SEARCH_MARGIN` times dearer) would
  pass it; and, for `NASModel`,
  never less than `MIN_SHARE_AFTER_SEARCH` of the budget (a one-shot search's
  candidates are scored, not trained: their time says nothing of the winner's training).
  A finalists' round priced over `MAX_FINALISTS_SHARE` of the budget gives way to its
  `cheaper` plan (k folds -> a second training -> none: `planned_work`), so long
  candidate trainings leave time to search.
- A distributed search's workers send signs of life; the trial of a silent worker
  goes to the next worker that asks.
- Its files are written atomically, checked and repaired on resume.

The other half, `keras_nas.strategies.proposals.ProposalHelpers`, proposes.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import keras_tuner
from keras_tuner.engine import trial as trial_module

from keras_nas.distributed import take_message
from keras_nas import run_record
from keras_nas.run_record import atomic_write_json, outcome_of
from keras_nas.oracle_state import recover_oracle_state
from keras_nas.search_dir import check_search_files, restore_lost_trials

TrialStatus = trial_module.TrialStatus

# The least share of `max_search_seconds` kept for what follows the search, once
# `work_after_search` is set (see the module docstring).
MIN_SHARE_AFTER_SEARCH = 0.3
# The most of `max_search_seconds` a finalists' round may take; a dearer one gives way to a cheaper plan.
MAX_FINALISTS_SHARE = 0.25
# What follows the search took this much longer than its price in candidate trainings (the folds'
# larger validation sets, building and compiling each model, the winner's measurement and files):
# 398 s for 333 s on meter digits, about 780 s for 630 s on spoken words (2026-12-07,
# benchmarks/RESULTS.md); so much more is kept for it.
AFTER_SEARCH_MARGIN = 1.25


@dataclasses.dataclass(frozen=True)
class WorkAfterSearch:
    """What follows a search within its time budget, counted in trainings of the candidates' own length.

    Attributes:
        finalists: How many of the best trained candidates are trained again (0: the
            best single run wins).
        per_finalist: Trainings each finalist costs (3 folds of 2/3 of the training and
            validation data: about 2 x (1 + validation share)).
        winner: Trainings the winner costs (its epochs over the candidates', on the
            validation data too when it is refit).
        method: How the finalists are judged (`keras_nas.finalists`: "cross-validation"
            or "second training"; None without finalists).
        cheaper: The plan to fall back on when this one's finalists' round would take
            over `MAX_FINALISTS_SHARE` of the time budget.
    """

    finalists: int = 0
    per_finalist: float = 0.0
    winner: float = 0.0
    method: str | None = None
    cheaper: WorkAfterSearch | None = None


class SearchControl(keras_tuner.Oracle):
    """A Keras Tuner `Oracle` with keras-nas budgets, liveness and crash safety; see the module docstring.

    Args: as `NASOracle`'s (`objective`, `max_trials`, `max_rejected_trials`,
    `max_consecutive_failed_trials`, `seed`, `hyperparameters`,
    `worker_timeout`, `max_search_seconds`).
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
        max_search_seconds: float | None = None,
        **kwargs,
    ):
        if isinstance(objective, str) and objective.endswith("accuracy"):
            objective = keras_tuner.Objective(objective, direction="max")
        if not isinstance(max_trials, int) or max_trials < 1:
            raise ValueError(f"`max_trials` must be a positive integer, got {max_trials!r}.")
        # Keras Tuner's own budget counts failed trials; ours counts trained ones
        # (see `stop_status`), so its limit is switched off here.
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
        if max_search_seconds is not None and not max_search_seconds > 0:
            raise ValueError(f"`max_search_seconds` must be a positive number, got {max_search_seconds!r}.")
        self.max_search_seconds = max_search_seconds
        # What follows the search within `max_search_seconds` (see the module docstring).
        self.work_after_search: WorkAfterSearch | None = None
        self._started = None  # time.monotonic() of `start_clock`, else of the first proposal in this process
        self._created = {}  # trial id -> time.monotonic() of its creation in this process
        self._trained_seconds = {}  # trial id -> wall time of its training, in this process

    def start_clock(self, started: float) -> None:
        """Counts `max_search_seconds` from `started` (a `time.monotonic()`): `NASModel.fit` starts it
        when called, so that what precedes the first proposal (checking the data, fitting the space to
        the limits) is inside the budget too. Without it the clock starts at the first proposal."""
        self._started = started

    def stop_status(self) -> str | None:
        """`TrialStatus.IDLE` (wait), `TrialStatus.STOPPED` (the search is over) or None (propose).

        The budgets: trained and rejected trials, and the time limit.
        """
        # Budget spent while other workers still run trials (distributed search):
        # wait, as one of those may fail, be rejected or lose its worker.
        if self.ongoing_trials and (
            self.trained_count() >= self.trial_budget
            or self.rejected_count() >= self.max_rejected_trials
        ):
            return TrialStatus.IDLE
        if self.trained_count() >= self.trial_budget:
            return TrialStatus.STOPPED
        if self.rejected_count() >= self.max_rejected_trials:
            print(
                f"Stopping: {self.rejected_count()} candidates were rejected for their "
                f"hardware cost (max_rejected_trials={self.max_rejected_trials})."
            )
            return TrialStatus.STOPPED
        if self.max_search_seconds is not None:
            if self._started is None:
                self._started = time.monotonic()
            reserved = self.seconds_after_this_candidate()
            used = time.monotonic() - self._started
            # The first candidate always trains: a search needs one to choose from.
            if self.trained_count() and used + reserved > self.max_search_seconds:
                print(f"Stopping: {used:.0f} s of the {self.max_search_seconds:.0f}-s budget used; one more "
                      f"candidate and what follows the search (finalists, the winner's training) need about "
                      f"{reserved:.0f} s." if reserved
                      else f"Stopping: the search time limit ({self.max_search_seconds:.0f} s) is reached.")
                return TrialStatus.STOPPED
        return None

    def seconds_after_this_candidate(self) -> float:
        """One more candidate's training and the `planned_work`, in seconds (see the module docstring)."""
        seconds = self._typical_seconds()
        work = self.planned_work()
        if work is not None:
            best = self._best_seconds(max(work.finalists, 1))
            seconds += AFTER_SEARCH_MARGIN * (self.round_seconds(work) + work.winner * max(best))
            seconds = max(seconds, MIN_SHARE_AFTER_SEARCH * (self.max_search_seconds or 0.0))
        return seconds

    def search_seconds_left(self) -> float | None:
        """About how long the search may still propose and train candidates under `max_search_seconds`
        (what follows the search excluded); None without a time limit or before the first proposal."""
        if self.max_search_seconds is None or self._started is None:
            return None
        until_last_start = self.max_search_seconds - (time.monotonic() - self._started) - self.seconds_after_this_candidate()
        # `stop_status` lets a candidate start while this is not negative; the last one then trains.
        return until_last_start + self._typical_seconds() if until_last_start >= 0 else 0.0

    def planned_work(self) -> WorkAfterSearch | None:
        """The `work_after_search` the time budget affords: the first plan, or its `cheaper` ones in
        turn, whose finalists' round takes at most `MAX_FINALISTS_SHARE` of `max_search_seconds`
        (priced at the present best candidates' times; the last plan if none does)."""
        work = self.work_after_search
        if work is None or self.max_search_seconds is None:
            return work
        while work.cheaper is not None and self.round_seconds(work) > MAX_FINALISTS_SHARE * self.max_search_seconds:
            work = work.cheaper
        return work

    def cut_round(self) -> str | None:
        """Why `planned_work`'s finalists' round is not the one `work_after_search` wanted (None: it is)."""
        wanted, planned = self.work_after_search, self.planned_work()
        if planned == wanted:
            return None
        return (f"{wanted.method} of {wanted.finalists} finalists would take about {self.round_seconds(wanted):.0f} s, "
                f"over {100 * MAX_FINALISTS_SHARE:.0f} % of the {self.max_search_seconds:.0f}-s budget: "
                + (f"{planned.method} instead" if planned.method else "the best single run wins"))

    def round_seconds(self, work: WorkAfterSearch) -> float:
        """`work`'s finalists' round in seconds, priced at the present best candidates' training times."""
        return work.per_finalist * sum(self._best_seconds(work.finalists)) if work.finalists else 0.0

    def _typical_seconds(self) -> float:
        return statistics.median(self._trained_seconds.values()) if self._trained_seconds else 0.0

    def _best_seconds(self, count: int) -> list[float]:
        """The training times of the `count` best candidates so far; one not timed in this process (a
        resumed search) or not trained yet is priced as a typical one."""
        typical = self._typical_seconds()
        best = [self._trained_seconds.get(t.trial_id, typical) for t in self.get_best_trials(count)] if count else []
        return best + [typical] * (count - len(best))

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        now = time.monotonic()
        self._tuner_seen[tuner_id] = now
        self._reclaim_lost_trials(tuner_id, now)
        trial = super().create_trial(tuner_id)
        self._created[trial.trial_id] = now
        return trial

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
        created = self._created.pop(trial.trial_id, None)
        if created is not None and trial.status == TrialStatus.COMPLETED and not outcome_of(trial).rejected:
            self._trained_seconds[trial.trial_id] = time.monotonic() - created
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
        # A damaged oracle.json is rebuilt from the trial files, which keeps every finished trial.
        recover_oracle_state(self._project_dir, self.get_state(), self._compute_values_hash)
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
