"""The custom Keras Tuner: measures each candidate's hardware cost before training it."""

from __future__ import annotations

import math
import os
import re
import time

import keras
import keras_tuner
import numpy as np
import tensorflow as tf
from keras_tuner.engine import trial as trial_module
from keras_tuner.src import config as keras_tuner_config

from keras_nas import distributed, fidelity, run_record, search_dir, space_fit, tasks, tflite
from keras_nas.constraints import Constraints
from keras_nas.cost_predictor import FeasibilityFilter, graph_features, has_all_features, smallest_point
from keras_nas.hypermodel import settled_metrics
from keras_nas.errors import CandidateRejected, InfeasibleConstraintsError
from keras_nas.progress import EpochStatus, StatusLine
from keras_nas.memory import released_after_use
from keras_nas.run_record import (
    COST_FILE,
    LATENCY_CACHE_FILE,
    TIMING_FILE,  # noqa: F401  (kept importable from here)
    atomic_write_json,
    outcome_of,
)
from keras_nas.tflite.front_end_layer import network_inputs
from keras_nas.tflite.measurement import Measurer
from keras_nas.tflite.measurement import randomize_weights  # noqa: F401 (its former home)
INT8_METRIC = "int8_val_accuracy"


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
        target: Where the model will run (`keras_nas.tflite.Target` or a name
            such as "host", "cortex-m4", "pixel-cpu"): `latency_ms` is that
            target's figure (measured on LiteRT for "host", estimated from the
            MAC count for an MCU, `benchmark_model` over adb for a phone);
            the host measurement is kept as `host_latency_ms`.
        int8_validation: `(x_val, y_val)` arrays. When given, every trained
            candidate is also converted to full-integer int8 and its score on
            them, measured on LiteRT, is reported as `int8_val_accuracy` (or
            the int8 objective, e.g. `int8_val_mae`; use it as the objective
            to search for what survives quantization).
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
        int8_validation: tuple | None = None,
        target: "tflite.Target | str" = "host",
        **kwargs,
    ):
        # overwrite=True empties only a keras-nas search directory (keras_nas/search_dir.py).
        fresh = search_dir.prepare_project_dir(kwargs)
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        if fresh and not distributed.is_worker():  # the chief owns a shared directory's marker
            search_dir.write_search_marker(
                self.project_dir, {"format_version": search_dir.FORMAT_VERSION}, keep_existing=True
            )
        self.target = tflite.get_target(target)
        self.int8_validation = int8_validation
        self._trained_model = None
        # Shared by the trials of this search and kept with it: a resumed or
        # repeated candidate is not timed again.
        self.latency_cache = tflite.LatencyCache(os.path.join(self.project_dir, LATENCY_CACHE_FILE))
        self.constraints = Constraints.from_dict(constraints)
        self.representative_data = representative_data
        self.infeasible_after = infeasible_after
        self.latency_runs = latency_runs
        # Every figure of the search and of the winner is measured by this one service.
        self.measurer = Measurer(self.target, representative_data, latency_runs, self.latency_cache)
        self.trial_verbose = 1
        # What the running trial does (measuring, epoch k of E), at trial_verbose 1.
        self.status = StatusLine()
        self._trial_started = {}
        # Feasible-first: proposals predicted over the flash/RAM limits are drawn
        # again before any conversion (keras_nas/cost_predictor.py). The oracle
        # proposes, so a distributed search predicts on the chief only.
        self.cost_filter = None
        self._smallest_point_tried = False
        limited = self.constraints.flash_kb is not None or self.constraints.peak_ram_kb is not None
        # The predictor predicts the model's own flash and host arena from its Keras
        # graph. On an emulated board (EmulatorBackend) the limits are checked on the
        # whole firmware (image + model, arena + static data + stack), whose overhead
        # depends on the candidate's op set and stack: the predictor would be
        # miscalibrated and could skip candidates that fit, so there every proposal
        # is measured (the board measurement takes ~0.3 s).
        on_board = getattr(self.measurer.backend, "measures_firmware", lambda target: False)(self.target)
        if limited and not on_board and not distributed.is_worker():
            self.cost_filter = FeasibilityFilter(
                self.build_values, self.constraints.flash_kb, self.constraints.peak_ram_kb
            )
            for trial_id in sorted(self.oracle.trials):  # a resumed search calibrates again
                cost = self.recorded_cost(trial_id)
                if cost is not None and has_all_features(cost.get("graph_features", {})):
                    self.cost_filter.observe(cost["graph_features"], cost)
        # Distributed mode (docs/distributed.md): a worker's oracle is a gRPC client.
        if distributed.is_worker():
            self.oracle = distributed.worker_oracle(self.oracle)
        else:
            self.oracle.cost_filter = self.cost_filter
        self._heartbeat = None
        self._asked_without_trial = False
        self._winner: tuple[str, keras.Model] | None = None  # set_winner: the final trained winner

    def search(self, *fit_args, **fit_kwargs):
        # Keras Tuner prints the traceback of every failed trial while its DEBUG flag
        # is on (its default), rejections included; our progress line names the
        # reason instead, and the full traceback stays in the trial's trial.json.
        previous = keras_tuner_config.DEBUG
        keras_tuner_config.DEBUG = False
        try:
            if distributed.is_chief():
                distributed.serve(self, fit_kwargs.get("verbose"))
            else:
                super().search(*fit_args, **fit_kwargs)
        finally:
            keras_tuner_config.DEBUG = previous

    def build_values(self, values: dict) -> keras.Model:
        """Builds the candidate with these hyperparameter values (for cost prediction).

        Without `_try_build`'s `clear_session` and garbage collection, which take
        five times as long as the build itself.
        """
        hp = keras_tuner.HyperParameters()
        hp.values.update(values)
        build = getattr(self.hypermodel, "build_graph", self.hypermodel.build)
        return build(hp)

    def fit_space_to_limits(self, seed: int | None) -> None:
        """Chooses the sub-space whose fitting models have the most MACs before the search (`keras_nas.space_fit`).

        Needs the flash/RAM limits' `cost_filter` and an oracle that draws random
        proposals (`random_values`); a resumed search keeps the choice its
        `oracle.json` holds. A few sampled points are converted and measured on
        the real runtime to calibrate the predictor; nothing is trained.
        """
        oracle = self.oracle
        if self.cost_filter is None or not hasattr(oracle, "random_values") or oracle.space_fit is not None:
            return
        if oracle.trials:
            return  # a search that has run keeps drawing as it did

        def draw(rng, allowed):
            return oracle.random_values(rng, allowed=allowed)

        def measure(values):
            try:
                return self.measurer.measure_untrained(self.build_values(values), seed or 0).to_dict()
            except (tflite.ConversionError, tflite.InvalidModelError):
                return None  # the search would fail or reject it too: it calibrates nothing

        fitted = space_fit.fit_space(
            oracle.search_space(), self.cost_filter, draw, np.random.default_rng(seed), measure=measure
        )
        oracle.space_fit = fitted

    def pre_create_trial(self):
        # The oracle answers IDLE while other workers' trials may still need a hand.
        if self._asked_without_trial:
            time.sleep(distributed.IDLE_POLL_SECONDS)
        self._asked_without_trial = True

    def save(self):
        # As Keras Tuner's, but crash-safe (the oracle's files are written atomically too).
        if not self._is_worker():
            self.oracle.save()
        atomic_write_json(self._get_tuner_fname(), self.get_state())

    # -- one trial ------------------------------------------------------------------

    def run_trial(self, trial, *args, **kwargs):
        # Nothing a trial builds or traces is needed after it: without this a
        # search keeps ~11 MB per trial (see keras_nas/memory.py).
        with released_after_use():
            try:
                return self._run_trial(trial, *args, **kwargs)
            except CandidateRejected as e:
                run_record.record_rejection(trial, e.reasons)  # the trial's outcome, with its reasons
                raise
            except (tf.errors.ResourceExhaustedError, MemoryError) as e:
                # Keras puts "Exception encountered when calling ..." before TF's own line.
                text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # and bold terminal codes
                lines = [line.strip() for line in text.splitlines() if line.strip()]
                detail = next((line for line in lines if "OOM" in line or "memory" in line), None)
                raise keras_tuner.errors.FailedTrialError(
                    f"Out of memory while building or training this candidate ({type(e).__name__}: "
                    f"{detail or (lines[0] if lines else 'no details')}). Lower "
                    "batch_size, search a smaller space (fewer stages, narrower widths), or set a "
                    "peak_ram_kb constraint to keep the largest candidates out."
                ) from e

    def _run_trial(self, trial, *args, **kwargs):
        seed = self.trial_seed(trial)
        keras.utils.set_random_seed(seed)
        if self.trial_verbose == 1:
            self.status.show(f"trial {trial.trial_id}: measuring its int8 cost")
        cost = self.measure_candidate(trial)
        broken = self.constraints.violations(cost)
        if broken:
            self._check_feasible(trial)
            raise CandidateRejected(broken)

        keras.utils.set_random_seed(seed)
        metrics = self.evaluate_candidate(trial, *args, **kwargs)
        metrics.update({key: cost[key] for key in ("flash_kb", "peak_ram_kb", "latency_ms")})
        objective = getattr(self.oracle.objective, "name", None)
        value = metrics.get(objective)
        if isinstance(value, (int, float, np.floating)) and not math.isfinite(value):
            # An infinite or NaN score would win (or break) the ranking.
            raise keras_tuner.errors.FailedTrialError(
                f"This candidate's {objective} is {value}, not a finite number: its training or "
                "validation diverged. Check the validation data for extreme values, or lower the "
                "learning rate."
            )
        return metrics

    def evaluate_candidate(self, trial, *args, **kwargs) -> dict:
        """Trains a candidate that met the constraints; returns its metrics.

        Weight-sharing tuners override this to score the candidate with weights
        inherited from a supernet instead (`keras_nas.weight_sharing`).

        Args:
            trial: The trial.
            *args: Positional arguments of `fit`.
            **kwargs: Keyword arguments of `fit`.

        Returns:
            `{metric name: value}`, the objective included.
        """
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
        # The trial's metrics are where its training settled (the mean of its last epochs,
        # `hypermodel.settled_metrics`); its int8 score is of the last epoch's weights.
        metrics = settled_metrics(history.history)
        if self.int8_validation is not None:
            metrics[self.int8_metric] = self.int8_score(self._trained_model)
        self._trained_model = None
        return metrics

    def _build_and_fit_model(self, trial, *args, **kwargs):
        # As Keras Tuner's, plus the fidelity a multi-fidelity strategy chose
        # (epochs, a share of the data, the parent trial's weights), and the
        # trained model kept for the int8 measurement.
        hp = trial.hyperparameters
        model = self._try_build(hp)
        parent = hp.values.get(fidelity.PARENT_TRIAL)
        if parent is not None:
            model.load_weights(self._get_checkpoint_fname(parent))
        args, kwargs = self._fidelity(hp, args, kwargs, self.trial_seed(trial))
        if self.trial_verbose == 1:
            kwargs["callbacks"] = [*kwargs.get("callbacks", []),
                                   EpochStatus(self.status, f"trial {trial.trial_id}", self.oracle.objective.name)]
        history = self.hypermodel.fit(hp, model, *args, **kwargs)
        self._trained_model = model
        return history

    @staticmethod
    def _fidelity(hp, args, kwargs, seed):
        """Applies a strategy's per-trial budget: epochs and a share of the training data."""
        kwargs = dict(kwargs)
        values = hp.values
        if fidelity.EPOCHS in values:
            kwargs["epochs"] = int(values[fidelity.EPOCHS])
            kwargs["initial_epoch"] = int(values.get(fidelity.INITIAL_EPOCH, 0))
        fraction = float(values.get(fidelity.DATA_FRACTION, 1.0))
        if fraction < 1.0:
            args = subsample(args, kwargs, fraction, seed)
        return args, kwargs

    @property
    def int8_metric(self) -> str:
        """The int8 metric reported: the objective when it is one (`int8_val_mae`, ...), else accuracy."""
        name = self.oracle.objective.name
        return name if name.startswith(tasks.INT8_PREFIX) else INT8_METRIC

    def int8_score(self, model: keras.Model, validation: tuple | None = None) -> float:
        """The int8 metric of the full-integer int8 conversion of `model` on `int8_validation`.

        The int8 model runs on LiteRT; its dequantized outputs are scored by the
        task (`keras_nas.tasks`) as the Keras model's are: accuracy, MAE, AUC, ...
        `validation`, `(x, targets)` as the task scores them, replaces
        `int8_validation` (a finalist's held-out fold). A model on raw audio
        is scored as it ships: the int8 network on the front-end's features
        (TFLite Micro's, as on the board).
        """
        x_val, y_val = validation if validation is not None else self.int8_validation
        try:
            content = self.measurer.to_int8(model, fast=True)
        except tflite.ConversionError as e:
            raise keras_tuner.errors.FailedTrialError(
                f"The trained candidate could not be converted to int8 TFLite: {e}"
            ) from e
        task = getattr(self.hypermodel, "task", None) or tasks.get("classification")
        return task.score(self.int8_metric, tflite.predict(content, network_inputs(model, x_val)), x_val, y_val)

    int8_accuracy = int8_score  # its name when only classification was searched

    def measure_candidate(self, trial) -> dict:
        """Converts the untrained candidate to int8 and measures it; saved in `cost.json`.

        Cost does not depend on the weights' values, so it is measured before
        training. A resumed trial reuses the recorded measurement.

        Returns:
            `CostRecord.to_dict()` of the candidate (`keras_nas.tflite.Measurer`),
            with `measure_seconds`, `params` and `graph_features`.
        """
        recorded = self.recorded_cost(trial.trial_id)
        if recorded is not None:
            return recorded
        model = self._try_build(trial.hyperparameters)
        features = graph_features(model)
        predicted = (
            self.cost_filter.predictor.predict(features).to_dict() if self.cost_filter else None
        )
        start = time.perf_counter()
        try:
            record = self.measurer.measure_untrained(
                model, self.trial_seed(trial), flash_limit_kb=self.constraints.flash_kb
            )
        except tflite.ConversionError as e:
            raise keras_tuner.errors.FailedTrialError(
                f"The candidate could not be converted to int8 TFLite: {e}"
            ) from e
        except tflite.InvalidModelError as e:
            # It cannot ship to the board: a rejection, like a broken limit.
            raise CandidateRejected([f"the int8 model does not run on TFLite Micro: {e}"]) from e
        result = record.to_dict()
        result["measure_seconds"] = time.perf_counter() - start
        result["params"] = int(model.count_params())
        result["graph_features"] = features
        if predicted is not None:
            result["predicted"] = predicted  # before this measurement calibrated the predictor
            self.cost_filter.observe(features, result)
        atomic_write_json(self._cost_path(trial.trial_id), result)
        return result

    def recorded_cost(self, trial_id: str) -> dict | None:
        """The cost measured for a trial, or None if it was never measured."""
        return run_record.read_cost(self.project_dir, trial_id)

    def trial_seed(self, trial) -> int:
        """The seed of a trial's weights and data order: fixed by the oracle seed and trial id."""
        return (int(self.oracle.seed) * 100_003 + int(trial.trial_id)) % (2**31 - 1)

    def _cost_path(self, trial_id: str) -> str:
        return os.path.join(self.get_trial_dir(trial_id), COST_FILE)

    def _check_feasible(self, trial) -> None:
        """Stops the search when the constraints look impossible for this space."""
        trials = self.oracle.trials.values()
        if any(not outcome_of(t).rejected and t.trial_id != trial.trial_id for t in trials):
            return
        rejected = [t.trial_id for t in trials if outcome_of(t).rejected] + [trial.trial_id]
        hopeless = getattr(self.oracle, "found_no_predicted_fit", False) and not self._smallest_point_tried
        if len(rejected) < self.infeasible_after and not hopeless:
            return
        if self.cost_filter is not None and not self._smallest_point_tried:
            # Only an impossible budget stops the search: the smallest point of the
            # space is measured, and run next if it fits.
            self._smallest_point_tried = True
            smallest = smallest_point(self.oracle.search_space(), self.cost_filter)
            try:
                cost = self.measurer.measure_untrained(
                    self.build_values(smallest), self.trial_seed(trial)
                ).to_dict()
            except (tflite.ConversionError, tflite.InvalidModelError):
                cost = None
            if cost is not None and not self.constraints.violations(cost):
                self.oracle.queued.append(smallest)
                return
            if cost is not None:
                raise InfeasibleConstraintsError(
                    f"No candidate of this space can meet the constraints ({self.constraints}): "
                    f"after {len(rejected)} rejected candidates, its smallest point (predicted and "
                    f"measured) needs flash {cost['flash_kb']:.1f} KB, peak RAM "
                    f"{cost['peak_ram_kb']:.1f} KB, latency {cost['latency_ms']:.3f} ms and breaks: "
                    f"{'; '.join(self.constraints.violations(cost))}. Its architecture: {smallest}. "
                    "Loosen the constraints or search a smaller space."
                )
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

    # -- the search's results, as Keras Tuner shows them -------------------------------

    def set_winner(self, trial_id: str, model: keras.Model) -> None:
        """Records the final trained winner (`NASModel.fit`, `choose`, `load`) for `get_best_models`.

        Args:
            trial_id: The winning trial's id.
            model: The winner after its final training (the `NASModel`'s model).
        """
        self._winner = (str(trial_id), model)

    def get_best_models(self, num_models: int = 1) -> list:
        """The best models: first the final trained winner, then the best other candidates.

        After `NASModel.fit` the first model is the winner as the `NASModel`
        holds it (the same object as `nas.model`: trained again with the fit's
        `epochs`, chosen on the finalists' mean score, which may not be the
        trial with the best single search score). The others are the best
        trials by the objective, as Keras Tuner gives them: each candidate
        rebuilt with the weights of its search training. Before a winner is
        trained, it is Keras Tuner's behaviour throughout.

        Args:
            num_models: How many models to return.

        Returns:
            A list of `keras.Model`, best first.

        Raises:
            RuntimeError: For candidates other than the winner of a search
                reopened with `NASModel.load` (it has no hypermodel to rebuild them).
        """
        winner = self._winner
        if winner is None:
            return super().get_best_models(num_models)
        winner_id, model = winner
        others = [t for t in self.oracle.get_best_trials(num_models + 1) if t.trial_id != winner_id]
        others = others[: max(0, num_models - 1)]
        if others and self.hypermodel is None:
            raise RuntimeError(
                "This search was reopened read-only (NASModel.load): only the winner's model is "
                "available (get_best_models(1), or `nas.model`). To rebuild other candidates, use "
                "`get_best_hyperparameters` with the search's space, or resume the search with fit."
            )
        return [model] + [self.load_model(t) for t in others]

    def results_summary(self, num_trials: int = 10) -> None:
        """Prints the best trials as Keras Tuner does, with each one's flash, peak RAM and latency.

        The costs are those measured before training (int8, on the search's
        target); the final trained winner is marked.

        Args:
            num_trials: How many trials to show.
        """
        print("Results summary")
        print(f"Results in {self.project_dir}")
        print(f"Showing {num_trials} best trials")
        print(f"{self.oracle.objective}")
        winner = self._winner
        for trial in self.oracle.get_best_trials(num_trials):
            print()
            trial.summary()
            print(cost_text(self.recorded_cost(trial.trial_id), self.target.name))
            if winner is not None and trial.trial_id == winner[0]:
                print("Final winner (`nas.model`, `get_best_models(1)[0]`)")

    # -- progress ---------------------------------------------------------------------

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started[trial.trial_id] = time.perf_counter()
        self._asked_without_trial = False
        if distributed.is_worker():
            self._heartbeat = distributed.Heartbeat(self.oracle, trial.trial_id)

    def on_trial_end(self, trial):
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        if distributed.is_worker():
            distributed.attach_message(trial)  # the chief learns why the trial failed
        super().on_trial_end(trial)
        seconds = time.perf_counter() - self._trial_started.pop(trial.trial_id, time.perf_counter())
        cost = self.recorded_cost(trial.trial_id)
        run_record.write_timing(self.project_dir, trial.trial_id, seconds, cost)
        self.status.clear()
        if self.trial_verbose:
            ended = self.oracle.get_trial(trial.trial_id)
            ended.message = ended.message or trial.message  # a worker's copy has no message
            run_record.keep_recorded_outcome(trial, ended)  # nor outcome
            print(format_trial(ended, cost, seconds, self.oracle.objective.name), flush=True)
            print(self.progress_line(), flush=True)

    def progress_line(self) -> str:
        """Where the search stands: trials by outcome, best so far, time left at the current pace."""
        summary = self.search_summary()
        line = (
            f"  [{summary['trained']} trained, {summary['rejected']} rejected, "
            f"{summary['failed']} failed]"
        )
        best = self.oracle.get_best_trials(1)
        if best and best[0].score is not None:  # without a completed trial Keras Tuner lists others
            line += f"  best {self.oracle.objective.name} {best[0].score:.4f} (trial {best[0].trial_id})"
        remaining = getattr(self.oracle, "remaining_trials", lambda: None)()
        if remaining and summary["trained"]:
            left = summary["search_seconds"] / summary["trained"] * remaining
            budget_left = getattr(self.oracle, "search_seconds_left", lambda: None)()
            if budget_left is not None and budget_left < left:
                line += f"  ~{budget_left / 60:.1f} min of search left in the time budget"
            else:
                line += f"  ~{left / 60:.1f} min left for {remaining} more"
        return line

    def search_summary(self) -> dict:
        """Counts of trials by outcome, search time and the share spent measuring hardware cost.

        Returns:
            `keras_nas.run_record.summarize` of the trials so far (`trained`,
            `rejected`, `failed`, `skipped`, `grown`, `search_seconds`, `measure_share`,
            `rejection_share`, the cost predictor's errors, how much of
            the limits the trained candidates use: `limit_use`,
            `near_limit_share`, ...).
        """
        return run_record.summarize(
            run_record.rows_of_trials(self.oracle.trials.values(), self.project_dir),
            skipped=getattr(self.oracle, "skipped_proposals", 0),
            grown=getattr(self.oracle, "grown_proposals", 0),
            prediction_seconds=float(getattr(self.oracle, "prediction_seconds", 0.0)),
            limits=self.constraints.active(),
            space_fit=fitted.summary() if (fitted := getattr(self.oracle, "space_fit", None)) else None,
        )


def subsample(args: tuple, kwargs: dict, fraction: float, seed: int) -> tuple:
    """The first `fraction` of a fixed random order of the training arrays, or of a dataset's batches.

    Args:
        args: `(x, y)` arrays or `(dataset,)` as passed to `fit`.
        kwargs: `fit` keyword arguments (unchanged).
        fraction: Share of the data to keep, in (0, 1].
        seed: Seed of the order (the same trial always sees the same subset).

    Returns:
        The new positional arguments.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"The data fraction must be in (0, 1], got {fraction}.")
    if len(args) == 2:
        x, y = args
        keep = max(1, int(round(fraction * len(x))))
        order = np.random.default_rng(seed).permutation(len(x))[:keep]
        return (x[order], y[order])
    (dataset,) = args
    batches = int(dataset.cardinality())
    if batches < 1:
        raise ValueError(
            "A data fraction needs a dataset of known length; call `dataset.apply("
            "tf.data.experimental.assert_cardinality(n))` or pass arrays."
        )
    return (dataset.take(max(1, int(round(fraction * batches)))),)


def cost_text(cost: dict | None, target: str = "host") -> str:
    """A trial's measured cost in one line (`results_summary`)."""
    if cost is None:
        return "Cost: not measured"
    return (f"Cost: flash {cost['flash_kb']:.1f} KB, peak RAM {cost['peak_ram_kb']:.1f} KB, "
            f"latency {cost['latency_ms']:.3f} ms ({target})")


def format_trial(trial, cost: dict | None, seconds: float, objective: str = "val_accuracy") -> str:
    """One line of search progress for a finished trial."""
    head = f"trial {trial.trial_id}"
    if cost is not None:
        head += (
            f"  flash {cost['flash_kb']:6.1f} KB  RAM {cost['peak_ram_kb']:6.1f} KB"
            f"  latency {cost['latency_ms']:7.3f} ms"
        )
    if trial.status == trial_module.TrialStatus.COMPLETED:
        return f"{head}  {objective} {trial.score:.4f}  ({seconds:.1f} s)"
    outcome = outcome_of(trial)
    reason = outcome.reason or trial.status
    if outcome.rejected:
        reason = "rejected: " + reason
    elif trial.message:
        reason = f"FAILED: {reason} (traceback in trial_{trial.trial_id}/trial.json)"
    return f"{head}  {reason}  ({seconds:.1f} s)"
