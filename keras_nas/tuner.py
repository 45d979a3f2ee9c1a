"""The custom Keras Tuner: measures each candidate's hardware cost before training it."""

from __future__ import annotations

import json
import math
import os
import time

import keras
import keras_tuner
import numpy as np
from keras_tuner.engine import trial as trial_module
from keras_tuner.src import config as keras_tuner_config

from keras_nas import tflite
from keras_nas.constraints import Constraints
from keras_nas.errors import (
    CandidateRejected,
    InfeasibleConstraintsError,
    failure_reason,
    is_rejection,
)
from keras_nas.memory import released_after_use

COST_FILE = "cost.json"


class NASTuner(keras_tuner.Tuner):
    """A `keras_tuner.Tuner` for hardware-aware architecture search.

    For each trial the tuner builds the candidate, converts it to full-integer
    int8 TFLite and measures flash (bytes of the model), peak RAM (the tensor
    arena of the real TFLite Micro interpreter) and latency (LiteRT on this
    host). A candidate that breaks a constraint is rejected before any training
    (`keras_nas.errors.CandidateRejected`, a `FailedTrialError`); the others are
    trained and report validation accuracy together with their costs, each in
    its own unit. The costs of every trial are written to `cost.json` in its
    trial directory, so a resumed search knows them.

    Args:
        hypermodel: The `keras_tuner.HyperModel` that builds candidates.
        oracle: The strategy, a `keras_nas.strategies.NASOracle`.
        constraints: Hard limits, a `Constraints` or a dict.
        representative_data: Float samples of the training inputs for int8 calibration.
        infeasible_after: Raise `InfeasibleConstraintsError` when this many
            candidates in a row were rejected and none was ever accepted.
        latency_runs: Timed inferences per latency measurement.
        **kwargs: `directory`, `project_name`, `overwrite`, ... as for `keras_tuner.Tuner`.
    """

    def __init__(
        self,
        hypermodel,
        oracle,
        constraints: Constraints | dict | None = None,
        representative_data: np.ndarray | None = None,
        infeasible_after: int = 10,
        latency_runs: int = 30,
        **kwargs,
    ):
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        self.constraints = Constraints.from_dict(constraints)
        self.representative_data = representative_data
        self.infeasible_after = infeasible_after
        self.latency_runs = latency_runs
        self.trial_verbose = 1
        self._trial_started = {}

    def search(self, *fit_args, **fit_kwargs):
        # Keras Tuner prints the traceback of every failed trial while its DEBUG flag
        # is on (its default), rejections included; our progress line names the
        # reason instead, and the full traceback stays in the trial's trial.json.
        previous = keras_tuner_config.DEBUG
        keras_tuner_config.DEBUG = False
        try:
            super().search(*fit_args, **fit_kwargs)
        finally:
            keras_tuner_config.DEBUG = previous

    # -- one trial ------------------------------------------------------------------

    def run_trial(self, trial, *args, **kwargs):
        # Nothing a trial builds or traces is needed after it: without this a
        # search keeps ~11 MB per trial (see keras_nas/memory.py).
        with released_after_use():
            return self._run_trial(trial, *args, **kwargs)

    def _run_trial(self, trial, *args, **kwargs):
        seed = self.trial_seed(trial)
        keras.utils.set_random_seed(seed)
        cost = self.measure_candidate(trial)
        broken = self.constraints.violations(cost)
        if broken:
            self._check_feasible(trial)
            raise CandidateRejected(broken)

        keras.utils.set_random_seed(seed)
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [
            keras.callbacks.TerminateOnNaN()
        ]
        histories = super().run_trial(trial, *args, **kwargs)
        history = histories[-1]
        losses = history.history.get("loss", [])
        if not losses or any(not math.isfinite(v) for v in losses):
            raise keras_tuner.errors.FailedTrialError(
                "Training diverged (NaN or infinite loss). Lower the learning rate, check "
                "the inputs for extreme values, or remove this candidate's choices from the space."
            )
        metrics = best_epoch_metrics(history.history, self.oracle.objective)
        metrics.update({key: cost[key] for key in ("flash_kb", "peak_ram_kb", "latency_ms")})
        return metrics

    def measure_candidate(self, trial) -> dict:
        """Converts the untrained candidate to int8 and measures it; saved in `cost.json`.

        Cost does not depend on the weights' values, so it is measured before
        training. A resumed trial reuses the recorded measurement.

        Returns:
            `HardwareCost.to_dict()` of the candidate.
        """
        recorded = self.recorded_cost(trial.trial_id)
        if recorded is not None:
            return recorded
        model = self._try_build(trial.hyperparameters)
        randomize_weights(model, self.trial_seed(trial))
        start = time.perf_counter()
        try:
            _, cost = tflite.measure_model(
                model, self.representative_data, latency_runs=self.latency_runs
            )
        except tflite.ConversionError as e:
            raise keras_tuner.errors.FailedTrialError(
                f"The candidate could not be converted to int8 TFLite: {e}"
            ) from e
        except tflite.InvalidModelError as e:
            # It cannot ship to the board: a rejection, like a broken limit.
            raise CandidateRejected([f"the int8 model does not run on TFLite Micro: {e}"]) from e
        result = cost.to_dict()
        result["measure_seconds"] = time.perf_counter() - start
        result["params"] = int(model.count_params())
        with open(self._cost_path(trial.trial_id), "w") as f:
            json.dump(result, f, indent=1)
        return result

    def recorded_cost(self, trial_id: str) -> dict | None:
        """The cost measured for a trial, or None if it was never measured."""
        path = self._cost_path(trial_id)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def trial_seed(self, trial) -> int:
        """The seed of a trial's weights and data order: fixed by the oracle seed and trial id."""
        return (int(self.oracle.seed) * 100_003 + int(trial.trial_id)) % (2**31 - 1)

    def _cost_path(self, trial_id: str) -> str:
        return os.path.join(self.get_trial_dir(trial_id), COST_FILE)

    def _check_feasible(self, trial) -> None:
        """Stops the search when the constraints look impossible for this space."""
        trials = self.oracle.trials.values()
        if any(not is_rejection(t.message) and t.trial_id != trial.trial_id for t in trials):
            return
        rejected = [t.trial_id for t in trials if is_rejection(t.message)] + [trial.trial_id]
        if len(rejected) < self.infeasible_after:
            return
        costs = {tid: self.recorded_cost(tid) for tid in rejected}
        costs = {tid: c for tid, c in costs.items() if c is not None}  # TFLite Micro failures have none
        best_id = min(costs, key=lambda tid: self.constraints.worst_ratio(costs[tid]))
        best = costs[best_id]
        raise InfeasibleConstraintsError(
            f"No candidate met the constraints ({self.constraints}) in the first "
            f"{len(rejected)} tries. The smallest candidate found (trial {best_id}) needs "
            f"flash {best['flash_kb']:.1f} KB, peak RAM {best['peak_ram_kb']:.1f} KB, latency "
            f"{best['latency_ms']:.3f} ms and breaks: "
            f"{'; '.join(self.constraints.violations(best))}. Loosen the constraints or "
            "search a smaller space (fewer stages, narrower widths)."
        )

    # -- progress ---------------------------------------------------------------------

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started[trial.trial_id] = time.perf_counter()

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.trial_verbose:
            seconds = time.perf_counter() - self._trial_started.pop(trial.trial_id, time.perf_counter())
            print(format_trial(self.oracle.get_trial(trial.trial_id), self.recorded_cost(trial.trial_id), seconds), flush=True)


def randomize_weights(model: keras.Model, seed: int) -> None:
    """Makes every weight distinct, as training would, without changing its scale.

    A freshly built model has all-zero biases and all-one batch-norm scales; the
    TFLite converter stores identical constant buffers once, so an untrained
    model converts ~15 % smaller than the same model after training. A small
    perturbation of the initial values (1 % of their spread, or 0.01 for
    constant tensors) gives the size the trained model will have while keeping
    the initializer's activation scale (tiny logits make TFLite Micro's int8
    softmax abort).

    Args:
        model: The model whose weights are perturbed in place.
        seed: Seed of the perturbation.
    """
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = np.asarray(keras.ops.convert_to_numpy(weight), dtype="float64")
        spread = float(values.std()) or 1.0
        noise = rng.normal(0.0, 0.01 * spread, size=values.shape)
        if "variance" in weight.path:
            noise = np.abs(noise)
        weight.assign((values + noise).astype(weight.dtype))


def best_epoch_metrics(history: dict, objective) -> dict:
    """The metrics of the epoch where the objective was best.

    Args:
        history: `History.history` of a training run.
        objective: A `keras_tuner.Objective`.

    Returns:
        `{metric_name: value}` at the best epoch.
    """
    values = history[objective.name]
    best = 0
    for epoch, value in enumerate(values):
        if objective.better_than(value, values[best]):
            best = epoch
    return {name: float(series[best]) for name, series in history.items() if len(series) > best}


def format_trial(trial, cost: dict | None, seconds: float) -> str:
    """One line of search progress for a finished trial."""
    head = f"trial {trial.trial_id}"
    if cost is not None:
        head += (
            f"  flash {cost['flash_kb']:6.1f} KB  RAM {cost['peak_ram_kb']:6.1f} KB"
            f"  latency {cost['latency_ms']:7.3f} ms"
        )
    if trial.status == trial_module.TrialStatus.COMPLETED:
        return f"{head}  val_accuracy {trial.score:.4f}  ({seconds:.1f} s)"
    reason = failure_reason(trial.message) or trial.status
    if is_rejection(trial.message):
        reason = "rejected: " + reason.split("rejected before training:", 1)[1].strip()
    elif trial.message:
        reason = f"FAILED: {reason} (traceback in trial_{trial.trial_id}/trial.json)"
    return f"{head}  {reason}  ({seconds:.1f} s)"
