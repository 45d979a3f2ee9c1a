"""Choosing a search's winner: the eligible candidates, the finalists trained again, a rule.

One training run is noisy, so by default the best `finalists` candidates are
trained once more with another seed and the winner has the best mean score
(ties go to the smaller flash). Candidates over the current constraints (a
search resumed with tighter limits) are never eligible. A `select` rule
(`keras_nas.pareto.select`) replaces the ranking when the user gives one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import keras
from keras_tuner.engine import trial as trial_module

from keras_nas import pareto, run_record
from keras_nas.errors import NotFittedError
from keras_nas.hypermodel import settled_metrics
from keras_nas.memory import released_after_use
from keras_nas.tasks import INT8_PREFIX

if TYPE_CHECKING:
    from keras_nas.model import NASModel


def select_winner(nas: "NASModel"):
    """The best trained candidate on the objective, in its direction; ties go to the smaller flash size."""
    completed = [
        t
        for t in nas.tuner.oracle.trials.values()
        if t.status == trial_module.TrialStatus.COMPLETED and t.score is not None
    ]
    # Trials of an earlier run under looser constraints are not eligible.
    over = nas.constraints.over_limit(
        {t.trial_id: nas.tuner.recorded_cost(t.trial_id) for t in completed}
    )
    if over:
        warnings.warn(
            f"{len(over)} trained candidate(s) of this search break the current constraints "
            f"({nas.constraints}), probably set tighter since they were trained, and cannot be "
            "the winner: "
            + "; ".join(f"trial {tid}: {', '.join(broken)}" for tid, broken in sorted(over.items())),
            UserWarning,
        )
        completed = [t for t in completed if t.trial_id not in over]
    if not completed:
        reasons = {
            t.trial_id: run_record.outcome_of(t).reason
            for t in nas.tuner.oracle.trials.values()
            if t.message
        }
        raise RuntimeError(
            "The search finished without any trained candidate that meets the constraints. "
            "Reasons per trial: "
            f"{reasons or 'no trial ran'}"
            + (f"; trained but over the current constraints: {sorted(over)}" if over else "")
            + ". Loosen the constraints, raise max_trials or max_rejected_trials, or check the data."
        )
    if nas.select is not None:
        row = pareto.select([r for r in nas.trials() if r["trial_id"] not in over], nas.select)
        return nas.tuner.oracle.get_trial(row["trial_id"])
    sign = 1 if nas.tuner.oracle.objective.direction == "max" else -1
    ranked = sorted(
        completed,
        key=lambda t: (sign * t.score, -t.metrics.get_last_value("flash_kb")),
        reverse=True,
    )
    finalists = ranked[: nas.finalists]
    if len(finalists) < 2:
        return finalists[0]
    # One training run is noisy: the finalists are trained once more with another
    # seed and the best mean of the two scores wins.
    means = {t.trial_id: (t.score + second_score(nas, t)) / 2 for t in finalists}
    nas.finalist_scores_ = means
    if nas._final_fit["verbose"]:
        print(
            "Finalists, mean of two trainings: "
            + ", ".join(f"trial {tid} {score:.4f}" for tid, score in means.items())
        )
    return max(finalists, key=lambda t: (sign * means[t.trial_id], -t.metrics.get_last_value("flash_kb")))


def second_score(nas: "NASModel", trial) -> float:
    """The objective of `trial`'s architecture trained again as in the search, with another seed."""
    with released_after_use():
        model, history = fit_architecture(
            nas, trial, nas.tuner.trial_seed(trial) + 7919, nas._final_fit["search_epochs"], [], 0
        )
        if nas.objective.startswith(INT8_PREFIX):
            return nas.tuner.int8_score(model)
        return settled_metrics(history.history)[nas.objective]


def fit_architecture(nas: "NASModel", trial, seed: int, epochs: int, callbacks: list, verbose: int):
    """Builds `trial`'s architecture afresh and trains it on the fit data as the search does
    (cosine schedule, the last epoch's weights); returns the model and its `History`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = nas.tuner.hypermodel.build(trial.hyperparameters)
    history = nas.tuner.hypermodel.fit(
        trial.hyperparameters,
        model,
        *nas.data_.train_args,
        validation_data=nas.data_.validation_data,
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
        **nas._final_fit["train_kwargs"],
    )
    return model, history


def chosen_trial(nas: "NASModel", trial: str | dict | Callable[[dict], float]):
    """The trained trial `NASModel.choose` makes the model: by trial id, or by a rule."""
    if nas.tuner is None:
        raise NotFittedError("No search yet: call `fit` first.")
    if not isinstance(trial, str):
        return nas.tuner.oracle.get_trial(pareto.select(nas.trials(), trial)["trial_id"])
    known = {row["trial_id"]: row for row in nas.trials()}
    if trial not in known:
        raise ValueError(f"Unknown trial {trial!r}; trials are {sorted(known)}.")
    if known[trial]["status"] != "COMPLETED":
        raise ValueError(
            f"Trial {trial} was not trained ({known[trial]['status']}: "
            f"{known[trial]['message']}); choose a completed one."
        )
    return nas.tuner.oracle.get_trial(trial)


def train_winner(nas: "NASModel", trial) -> keras.callbacks.History:
    """Trains `trial`'s architecture on the fit data as `fit` was asked to; it becomes `nas`'s model.

    The trained model is measured as the search measured the candidates (flash:
    the exported file), and the winner is recorded in the search folder.
    """
    fit = nas._final_fit
    verbose = fit["verbose"]
    nas.best_trial_ = trial
    if verbose:
        print(f"Winner: trial {trial.trial_id} ({nas.objective} {trial.score:.4f}); "
              f"training it for {fit['epochs']} epochs.")
    model, history = fit_architecture(
        nas, trial, nas.tuner.trial_seed(trial), fit["epochs"], list(fit["callbacks"]), verbose
    )
    nas.model_ = model
    nas.cost_ = nas.tuner.measurer.measure_trained(model).to_dict()
    broken = nas.constraints.violations(nas.cost_)
    if broken:
        warnings.warn(
            f"The trained winner breaks the constraints ({'; '.join(broken)}) although its "
            "untrained measurement fitted; please report this as a bug.",
            RuntimeWarning,
        )
    run_record.save_winner(nas, trial, fit["epochs"])  # for the CLI and reports
    if verbose:
        print(f"Winner as int8: flash {nas.cost_['flash_kb']:.1f} KB, TFLite Micro arena "
              f"{nas.cost_['peak_ram_kb']:.1f} KB, latency on {nas.target.name} "
              f"{nas.cost_['latency_ms']:.3f} ms.")
    return history
