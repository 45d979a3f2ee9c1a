"""Choosing a search's winner: the eligible candidates, the finalists trained again, a rule.

One training run is noisy, so by default the best `finalists` candidates are
trained again (k-fold cross-validation on a small validation set, else a
second seed: `keras_nas.finalists`) and the winner has the best mean score,
or is the smallest within noise of it. Candidates over the current constraints (a
search resumed with tighter limits) are never eligible. A `select` rule
(`keras_nas.pareto.select`) replaces the ranking when the user gives one.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable

import keras
import numpy as np
from keras_tuner.engine import trial as trial_module

from keras_nas import pareto, run_record
from keras_nas.constraints import Constraints
from keras_nas.data import PreparedData
from keras_nas.finalists import (
    CROSS_VALIDATION, FOLDS, SECOND_TRAINING, FinalistScores, fold_indices, uses_cross_validation,
)
from keras_nas.hypermodel import settled_metrics
from keras_nas.memory import released_after_use
from keras_nas.progress import EpochStatus, StatusLine
from keras_nas.strategies.control import WorkAfterSearch
from keras_nas.tasks import INT8_PREFIX
from keras_nas.tuner import NASTuner


@dataclasses.dataclass(frozen=True)
class FinalTraining:
    """How `fit` was asked to train: the winner's training and the finalists' second runs follow it.

    Attributes:
        data: The prepared fit data.
        epochs: Epochs of the winner's training.
        search_epochs: Epochs of a candidate's training (the finalists' second runs).
        callbacks: The user's Keras callbacks.
        train_kwargs: Passed on to `keras.Model.fit` (batch size, `class_weight`, ...).
        verbose: 0 silent, 1 a line per step and the final training's progress.
        refit: The winner trains on the training and the validation data
            together (the finalists' second runs never do).
    """

    data: PreparedData
    epochs: int
    search_epochs: int
    callbacks: tuple = ()
    train_kwargs: dict = dataclasses.field(default_factory=dict)
    verbose: int = 0
    refit: bool = False

    @property
    def trained_on(self) -> str:
        """Which data the winner's training uses: "train" or "train+validation"."""
        return "train+validation" if self.refit else "train"


def work_after_search(final: FinalTraining, finalists: int, task_name: str,
                      select: object | None = None) -> WorkAfterSearch:
    """What follows the search, in candidate trainings (`search_epochs` epochs on the training data).

    The finalists (below 2 or with a `select` rule: none): `FOLDS` trainings
    each on (`FOLDS` - 1) / `FOLDS` of the training and validation data, or one
    more training each; then the winner's `epochs`, on the training data and
    the validation data too with `refit`. Data of unknown size (a dataset)
    counts as the training data alone.

    Args:
        final: How the finalists and the winner will be trained.
        finalists: `NASModel`'s `finalists`.
        task_name: The task's name (finalists of an anomaly task are not cross-validated).
        select: `NASModel`'s `select` rule, if any.

    Returns:
        The finalists, their round and the trainings each costs, and the winner's,
        about; with the cheaper plans a tight time budget falls back on (k folds ->
        a second training -> the best single run).
    """
    data = final.data
    sizes = [len(data.train_args[0]) if len(data.train_args) == 2 else 0,
             len(data.validation_data[0]) if isinstance(data.validation_data, tuple) else 0]
    validation_share = sizes[1] / sizes[0] if all(sizes) else 0.0
    winner = final.epochs / final.search_epochs * (1 + validation_share if final.refit else 1)
    alone = WorkAfterSearch(winner=winner)
    if finalists < 2 or select is not None:
        return alone
    second = WorkAfterSearch(finalists, 1.0, winner, SECOND_TRAINING, cheaper=alone)
    if uses_cross_validation(data.train_args, data.validation_data, task_name, final.train_kwargs):
        return WorkAfterSearch(finalists, (FOLDS - 1) * (1 + validation_share), winner, CROSS_VALIDATION,
                               cheaper=second)
    return second


@dataclasses.dataclass(frozen=True)
class TrainedWinner:
    """A trained winner: its Keras model, the `History` of its training and its measured cost."""

    model: keras.Model
    history: keras.callbacks.History
    cost: dict


def select_winner(
    tuner: NASTuner,
    constraints: Constraints,
    final: FinalTraining,
    work: WorkAfterSearch,
    select: dict | Callable[[dict], float] | None = None,
):
    """The best trained candidate on the objective, in its direction; ties go to the smaller flash size.

    Args:
        tuner: The tuner that ran the search.
        constraints: The limits now in force (trials over them are not eligible).
        final: How the finalists' second runs are trained.
        work: What follows the search (`work_after_search`, or the cheaper plan a time
            budget affords): how many of the best are trained once more (below 2:
            none), and how they are judged.
        select: A `keras_nas.pareto.select` rule that replaces the ranking.

    Returns:
        `(trial, finalists)`: the winning Keras Tuner trial, and how the
        finalists were judged (`keras_nas.finalists.FinalistScores`; `None`
        without finalists or with a `select` rule).

    Raises:
        RuntimeError: If no trained candidate meets the constraints.
    """
    completed = [
        t
        for t in tuner.oracle.trials.values()
        # A score that is not finite (a diverged validation, a tampered trial.json) never wins.
        if t.status == trial_module.TrialStatus.COMPLETED and t.score is not None and math.isfinite(t.score)
    ]
    # Trials of an earlier run under looser constraints are not eligible.
    over = constraints.over_limit({t.trial_id: tuner.recorded_cost(t.trial_id) for t in completed})
    if over:
        warnings.warn(
            f"{len(over)} trained candidate(s) of this search break the current constraints "
            f"({constraints}), probably set tighter since they were trained, and cannot be "
            "the winner: "
            + "; ".join(f"trial {tid}: {', '.join(broken)}" for tid, broken in sorted(over.items())),
            UserWarning,
        )
        completed = [t for t in completed if t.trial_id not in over]
    if not completed:
        reasons = {
            t.trial_id: run_record.outcome_of(t).reason
            for t in tuner.oracle.trials.values()
            if t.message
        }
        raise RuntimeError(
            "The search finished without any trained candidate that meets the constraints. "
            "Reasons per trial: "
            f"{reasons or 'no trial ran'}"
            + (f"; trained but over the current constraints: {sorted(over)}" if over else "")
            + ". Loosen the constraints, raise max_trials or max_rejected_trials, or check the data."
        )
    if select is not None:
        rows = run_record.rows_of_trials(tuner.oracle.trials.values(), tuner.project_dir)
        row = pareto.select([r for r in rows if r["trial_id"] not in over], select)
        return tuner.oracle.get_trial(row["trial_id"]), None
    sign = 1 if tuner.oracle.objective.direction == "max" else -1
    ranked = sorted(
        completed,
        key=lambda t: (sign * t.score, -t.metrics.get_last_value("flash_kb")),
        reverse=True,
    )
    chosen = ranked[:max(work.finalists, 1)]
    if len(chosen) < 2:
        return chosen[0], None
    judged = judge_finalists(tuner, chosen, final, work.method)
    if final.verbose:
        print(f"Finalists ({judged.method}; mean and spread): " + ", ".join(
            f"trial {tid} {judged.mean(tid):.4f} +- {judged.spread(tid):.4f}" for tid in judged.scores
        ) + f"; winner: trial {judged.winner()}")
    return tuner.oracle.get_trial(judged.winner()), judged


def judge_finalists(tuner: NASTuner, chosen: list, final: FinalTraining, method: str) -> FinalistScores:
    """Each finalist's scores by `method` (`work_after_search` chose it): `CROSS_VALIDATION`, on
    `FOLDS` folds of all the data, or `SECOND_TRAINING`, the search's score and a second training
    (`keras_nas.finalists`)."""
    data = final.data
    task = getattr(tuner.hypermodel, "task", None)
    task_name = task.name if task is not None else "classification"
    flash = {t.trial_id: t.metrics.get_last_value("flash_kb") for t in chosen}
    direction = tuner.oracle.objective.direction
    line = StatusLine(enabled=None if final.verbose == 1 else False)

    def status(prefix: str) -> list:
        return [EpochStatus(line, prefix, tuner.oracle.objective.name)]

    try:
        if method == CROSS_VALIDATION:
            x, y = data.with_validation_args()
            folds = fold_indices(y, FOLDS, seed=tuner.oracle.seed or 0, stratify=task_name == "classification")
            scores = {
                t.trial_id: [fold_score(tuner, t, final, x, y, held_out, tuner.trial_seed(t) + 7919 * (i + 1),
                                        status(f"finalist {t.trial_id}, fold {i + 1}/{FOLDS}"))
                             for i, held_out in enumerate(folds)]
                for t in chosen
            }
            return FinalistScores(CROSS_VALIDATION, scores, flash, direction)
        scores = {t.trial_id: [t.score, second_score(tuner, t, final, status(f"finalist {t.trial_id}, second training"))]
                  for t in chosen}
        return FinalistScores(SECOND_TRAINING, scores, flash, direction)
    finally:
        line.clear()


def fold_score(tuner: NASTuner, trial, final: FinalTraining, x, y, held_out: np.ndarray, seed: int,
               callbacks: list = ()) -> float:
    """The objective of `trial`'s architecture trained as in the search on all of `x`, `y` but
    `held_out`, and scored on `held_out` (`callbacks`: progress)."""
    kept = np.ones(len(y), dtype=bool)
    kept[held_out] = False
    validation = (x[held_out], y[held_out])
    with released_after_use():
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = tuner.hypermodel.build(trial.hyperparameters)
        history = tuner.hypermodel.fit(
            trial.hyperparameters, model, x[kept], y[kept], validation_data=validation,
            epochs=final.search_epochs, verbose=0, callbacks=list(callbacks), **final.train_kwargs,
        )
        objective = tuner.oracle.objective.name
        if objective.startswith(INT8_PREFIX):
            task = tuner.hypermodel.task
            return tuner.int8_score(model, (validation[0], task.score_targets(validation[1])))
        return settled_metrics(history.history)[objective]


def second_score(tuner: NASTuner, trial, final: FinalTraining, callbacks: list = ()) -> float:
    """The objective of `trial`'s architecture trained again as in the search, with another seed
    (`callbacks`: progress)."""
    with released_after_use():
        model, history = fit_architecture(
            tuner, trial, tuner.trial_seed(trial) + 7919, dataclasses.replace(
                final, epochs=final.search_epochs, callbacks=tuple(callbacks), verbose=0, refit=False
            ),
        )
        objective = tuner.oracle.objective.name
        if objective.startswith(INT8_PREFIX):
            return tuner.int8_score(model)
        return settled_metrics(history.history)[objective]


def fit_architecture(tuner: NASTuner, trial, seed: int, final: FinalTraining):
    """Builds `trial`'s architecture afresh and trains it as the search does (cosine schedule,
    the last epoch's weights) for `final.epochs`, on the training data (with `final.refit`: and
    the validation data); returns the model and its `History`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = tuner.hypermodel.build(trial.hyperparameters)
    history = tuner.hypermodel.fit(
        trial.hyperparameters,
        model,
        *(final.data.with_validation_args() if final.refit else final.data.train_args),
        validation_data=final.data.validation_data,
        epochs=final.epochs,
        callbacks=list(final.callbacks),
        verbose=final.verbose,
        **final.train_kwargs,
    )
    return model, history


def chosen_trial(tuner: NASTuner, trial: str | dict | Callable[[dict], float]):
    """The trained trial `NASModel.choose` makes the model: by trial id, or by a rule."""
    rows = run_record.rows_of_trials(tuner.oracle.trials.values(), tuner.project_dir)
    if not isinstance(trial, str):
        return tuner.oracle.get_trial(pareto.select(rows, trial)["trial_id"])
    known = {row["trial_id"]: row for row in rows}
    if trial not in known:
        raise ValueError(f"Unknown trial {trial!r}; trials are {sorted(known)}.")
    if known[trial]["status"] != "COMPLETED":
        raise ValueError(
            f"Trial {trial} was not trained ({known[trial]['status']}: "
            f"{known[trial]['message']}); choose a completed one."
        )
    return tuner.oracle.get_trial(trial)


def train_winner(tuner: NASTuner, trial, constraints: Constraints, final: FinalTraining) -> TrainedWinner:
    """Trains `trial`'s architecture on the fit data as `fit` was asked to, and measures it.

    The trained model is measured as the search measured the candidates (flash:
    the exported file).
    """
    if final.verbose:
        print(f"Winner: trial {trial.trial_id} ({tuner.oracle.objective.name} {trial.score:.4f}); "
              f"training it for {final.epochs} epochs on the {final.trained_on.replace('+', ' and ')} "
              "data.")
    model, history = fit_architecture(tuner, trial, tuner.trial_seed(trial), final)
    cost = tuner.measurer.measure_trained(model).to_dict()
    broken = constraints.violations(cost)
    if broken:
        warnings.warn(
            f"The trained winner breaks the constraints ({'; '.join(broken)}) although its "
            "untrained measurement fitted; please report this as a bug.",
            RuntimeWarning,
        )
    if final.verbose:
        print(f"Winner as int8: flash {cost['flash_kb']:.1f} KB, TFLite Micro arena "
              f"{cost['peak_ram_kb']:.1f} KB, latency on {tuner.target.name} "
              f"{cost['latency_ms']:.3f} ms.")
    return TrainedWinner(model, history, cost)
