"""`NASModel`: search, train and export a model with the habits of `keras.Model`."""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner
import numpy as np

from keras_nas import (
    checks, distributed, pareto, reopen, run_record, search_dir, selection, strategies, tasks, tflite,
)
from keras_nas.constraints import Constraints
from keras_nas.data import NUM_REPRESENTATIVE_SAMPLES, PreparedData, prepare_data
from keras_nas.errors import NotFittedError
from keras_nas.export import export_model
from keras_nas.search_setup import SearchSettings, make_tuner
from keras_nas.selection import FinalTraining
from keras_nas.strategies import NASOracle
from keras_nas.tuner import NASTuner

from keras_nas.front_end_space import FrontEndSpace

if TYPE_CHECKING:
    from keras_nas.tflite.signal_front_end import FrontEnd

TASKS, OBJECTIVES = checks.TASKS, checks.OBJECTIVES
# With a time budget (`max_search_seconds`): the epochs per candidate (the search stops
# proposing when the rest of `fit` would not fit the budget: `strategies.control`).
MAX_BUDGETED_SEARCH_EPOCHS = 20


class NASModel:
    """A classifier, regressor or anomaly detector whose architecture is searched under hardware limits.

    `fit` searches the space with the chosen strategy: every candidate is
    converted to int8 TFLite and measured (flash, TFLite Micro arena, LiteRT
    latency) before training; candidates over the limits are never trained. The
    most accurate candidate that fits is then trained again with your `epochs`
    and `callbacks`, and from then on the `NASModel` behaves as that Keras model
    (`predict`, `evaluate`, `summary`, `save`, ...). `export` writes it for phones
    (.tflite) and microcontrollers (C array).

    Args:
        task: What the model does (`keras_nas.tasks`): "classification"
            (softmax, accuracy), "regression" (one or several real targets,
            MSE loss, MAE/RMSE, objective `val_mae` minimised; for a Huber
            loss pass `keras_nas.tasks.Regression(loss="huber",
            huber_delta=...)`), or "anomaly" (an autoencoder trained on
            normal data only, `fit(x)`; score = reconstruction error;
            objective `val_auc` on `validation_data=(x_val, labels)`, labels 0
            normal / 1 anomaly, or the proxy `val_loss`, reconstruction error
            of normal data, when the validation data has no labels).
        num_classes: Number of classes; inferred from the labels if `None`.
        input_shape: Shape of one sample; inferred from the data if `None`.
        constraints: Hard limits, e.g. `{"flash_kb": 64, "peak_ram_kb": 32,
            "latency_ms": 5}` (see `keras_nas.Constraints`).
        strategy: The search strategy: a name registered in
            `keras_nas.strategies` (`keras_nas.strategies.names()`). Built in:
            "evolution" (regularized evolution), "random", "reinforce"
            (policy gradient, MnasNet reward), "bayesian" (Gaussian process),
            "hyperband" (multi-fidelity: epochs and data share), "pareto"
            (NSGA-II over accuracy, latency, RAM, flash); the weight-sharing
            strategies "oneshot" (a single-path supernet trained once,
            subnets scored with inherited weights) and "darts"
            (differentiable search, then candidates drawn from what it
            learned), both over a `OneShotSpace` (see
            `keras_nas.weight_sharing`). Your own: a `NASOracle` subclass
            registered with `@keras_nas.strategies.register("name")`, or the
            class itself (made with this model's `max_trials`, `seed`,
            `objective` and `strategy_kwargs`). An oracle instance is used as
            made: its `max_trials`, `seed`, `objective` and
            `max_rejected_trials` are the search's, and giving a different
            value here, or `strategy_kwargs`, `max_search_seconds` or a list
            of `initial_architectures`, raises `ValueError`.
        max_trials: Number of candidates trained during the search (for
            "oneshot": subnets scored with inherited weights, which is cheap);
            default 20 (with an oracle instance: its own).
        space: A `keras_nas.blocks.Block` mapping inputs to features, or a
            preset name: "conv", "kws" (DS-CNN keyword spotting), "micro"
            (MCU-sized), "mobile" (MobileNetV2-like), "mlp", "nb201", or an
            MLPerf Tiny task's: "mlperf-kws", "mlperf-vww", "mlperf-ic",
            "mlperf-ad" (`task="anomaly"`) (a space around the task's
            reference model, which is the first candidate;
            `keras_nas.blocks.mlperf_tiny`). `None` picks the
            default space for the input rank.
        search_epochs: Epochs per candidate during the search; `None` uses the
            `epochs` given to `fit`.
        seed: Seed of the search and of every trial's training.
        directory, project_name: Where Keras Tuner keeps the trials; a search
            with the same names resumes (unless `overwrite=True`).
            `project_name` is one folder name (no separators, `..` or
            absolute path); one process at a time may run `fit` there.
        overwrite: Start the search afresh. Only a folder holding a keras-nas
            search (or nothing) is emptied; any other folder is refused.
        max_rejected_trials: How many candidates may be rejected for their cost
            before the search stops (default `10 * max_trials`).
        strategy_kwargs: Extra arguments for the strategy (e.g.
            `{"population_size": 12}`; for "oneshot"/"darts" also the
            supernet's, e.g. `{"supernet_epochs": 30}`, see
            `keras_nas.weight_sharing.plan`).
        latency_runs: Timed inferences per latency measurement.
        objective: "val_accuracy" (float, the default; with an oracle
            instance: its own) or "int8_val_accuracy" (every trained candidate
            is converted to int8 and evaluated on the validation data with
            LiteRT; the search then maximises that). Other tasks have their
            own, each with its direction (`keras_nas.tasks`): "val_mae" /
            "int8_val_mae" (min) for regression, "val_auc" / "int8_val_auc"
            (max) or "val_loss" / "int8_val_loss" (min) for anomaly. Any
            other validation metric the candidates report, as a
            `keras_tuner.Objective(name, direction)`: e.g.
            `keras_tuner.Objective("val_auc", "max")` with
            `metrics=[keras.metrics.AUC(name="auc")]`, or
            `keras_tuner.Objective("val_loss", "min")`.
        initial_architectures: Architectures (hyperparameter values) tried
            before the strategy's own proposals. "auto": for the default
            convolutional space, five expert designs (a plain conv-pool-conv
            CNN, a stride-1 stack of four convs, a DS-CNN, the MLPerf Tiny
            ResNet-8 and a small MobileNetV2-style net), each scaled to the
            largest width predicted to fit the limits; for tabular inputs an
            MLP, for the anomaly task the MLPerf Tiny autoencoder, for an
            MLPerf Tiny preset its reference model (see
            `NASHyperModel.initial_architectures`), so the search starts from
            what an engineer would write; `None`: none.
        proxy: A zero-cost proxy ("naswot", "synflow", "grad_norm",
            "jacob_cov"; see `keras_nas.proxies`) that screens the strategy's
            random proposals: `proxy_pool_size` are drawn, the best by proxy is
            measured and trained. Off by default (how each ranks candidates
            against parameter count: `benchmarks/bench_proxies.py`).
        proxy_pool_size: Random proposals drawn per screened pick.
        target: The device (`keras_nas.tflite.Target` or a name: "host",
            "pixel-cpu", "cortex-m4", "cortex-m7"). Its RAM and flash become
            the `peak_ram_kb`/`flash_kb` limits unless `constraints` sets them,
            and `latency_ms` is its latency: measured on this host's LiteRT
            ("host"), over adb on a phone, or estimated from MAC counts (MCU).
            "cortex-m4" measures every candidate, before training, on an
            emulated board (TFLite Micro + CMSIS-NN firmware on QEMU
            mps2-an386; needs the Arm GNU toolchain, qemu-system-arm and
            `$KERAS_NAS_TFLM_DIR`, see `keras_nas.tflite.emulator_backend`):
            there `latency_ms` is the executed instructions x a calibrated
            cycles-per-instruction at 120 MHz, `flash_kb` is the whole
            firmware image with the model linked in (not the model alone),
            and `peak_ram_kb` is the firmware's tensor arena + static data +
            measured stack. Without the toolchain or tree it falls back to
            the MAC estimate and the model's own flash and host arena, warns
            once, and each cost record says so (`extra["emulator"]`).
        select: How the winner is chosen among the trained candidates (all of
            which meet the constraints). `None`: the `finalists` best are
            trained again (below 2,000 validation samples: on 3 folds of the
            training and validation data; else once more with another seed)
            and the best mean wins, or the smallest (flash) finalist within
            noise of it (`keras_nas.finalists`). A rule as in `keras_nas.pareto.select`, e.g.
            `{"maximize": "val_accuracy", "latency_ms": ("<=", 0.05)}`, or a
            callable `rule(row) -> float` over `trials()` rows.
        finalists: How many of the best trained candidates are trained
            again before the winner is chosen (see `select`; 1: none, the
            winner is the best single run). `search_summary()["finalists"]`
            gives each one's scores, mean and spread.
        max_search_seconds: A time budget for `fit`, in seconds, from its
            call. The search proposes no new candidate (the first always
            trains) once one more, the finalists and the
            final training would not fit in what is left (one more priced at
            the median time of the candidates trained so far, the finalists
            and the winner at the present best candidates' own times and a
            quarter more, as they took measured; at least 30 % of the budget
            is kept for them; a finalists' round
            over a quarter of the budget gives way to a second training
            of each, or to none), and unless `search_epochs` is given
            each candidate trains for at most 20 epochs, whatever `epochs` the
            final training gets.
        metrics: Keras metrics every candidate and the final model compile
            besides the task's own (objects or names, as for
            `keras.Model.compile`; each model gets fresh copies), so that
            `objective` can name them. They see the labels as given (for AUC
            on a binary task, give one-hot labels).
        refit: Train the winner on all the data `fit` got, the training and
            the validation data together (as AutoKeras does after its search),
            for `epochs`. The validation data then no longer measures the
            final model: the search's scores (`trials()`, `winner.json`) stay
            held-out figures, and `export`'s report says its validation score
            is of data the model trained on. With `False` the winner trains on
            the training data only. (Task "anomaly": the normal validation
            samples are added, never the anomalies.)
        space_fit: Under flash/RAM limits, before the search, choose the part
            of the space whose models that fit have the most capacity (MCUNet's
            TinyNAS: each combination of the space's resolution knobs and a
            band of its widths is sampled and its fitting share and median
            MACs predicted; a few points are converted to calibrate the
            prediction, none trained) and draw most random proposals inside
            it. `search_summary()["space_fit"]` shows the table. `False`
            samples the whole space uniformly.
        front_end: For raw audio clips (`x` of shape `(n, samples)` or
            `(n, samples, 1)`, float in [-1, 1] or int16): the audio
            front-end, searched with the network
            (`keras_nas.front_end_space.FrontEndSpace`: window, hop, mel
            bands) or fixed (a `keras_nas.tflite.signal_front_end.FrontEnd`).
            Each candidate is its front-end (TFLite Micro's signal ops, the
            board's numbers) and the network on its features (`space`,
            default `"kws"`); its flash and RAM are the whole pipeline's.
            Classification and regression.

    Example:

    ```python
    from keras_nas import NASModel
    model = NASModel(constraints={"flash_kb": 64, "peak_ram_kb": 32},
                     strategy="evolution", max_trials=20, directory="runs",
                     project_name="digits")
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=20)
    model.evaluate(x_test, y_test)
    model.export("out/", formats=["tflite-int8", "c-array"])
    ```
    """

    def __init__(
        self,
        task: "str | tasks.Task" = "classification",
        num_classes: int | None = None,
        input_shape: tuple | None = None,
        constraints: dict | Constraints | None = None,
        strategy: str | type[NASOracle] | NASOracle = "evolution",
        max_trials: int | None = None,
        space=None,
        search_epochs: int | None = None,
        seed: int | None = None,
        directory: str = "nas_runs",
        project_name: str = "nas",
        overwrite: bool = False,
        max_rejected_trials: int | None = None,
        strategy_kwargs: dict | None = None,
        latency_runs: int = 30,
        objective: "str | keras_tuner.Objective | None" = None,
        select: dict | Callable[[dict], float] | None = None,
        target: "tflite.Target | str" = "host",
        initial_architectures: str | list[dict] | None = "auto",
        proxy: str | None = None,
        proxy_pool_size: int = 8,
        finalists: int = 2,
        max_search_seconds: float | None = None,
        metrics: list | None = None,
        refit: bool = True,
        space_fit: bool = True,
        front_end: "FrontEndSpace | FrontEnd | None" = None,
    ):
        arguments = dict(locals())
        del arguments["self"]
        for name, value in checks.checked_arguments(arguments).items():
            setattr(self, name, value)
        self._strategy = strategies.lookup(strategy)
        self.finalist_scores_: dict = {}
        self.finalists_: dict = {}
        self._final_training: FinalTraining | None = None

        self.tuner: NASTuner | None = None
        self.model_: keras.Model | None = None
        self.best_trial_ = None
        self.cost_: dict | None = None
        self.data_: PreparedData | None = None
        self._opened: reopen.OpenedSearch | None = None  # set by `load`

    @classmethod
    def load(cls, directory: str, project_name: str) -> "NASModel":
        """Reopens a finished search without searching: its winner, trials and export.

        The returned `NASModel` is the one `fit` left: its model is the trained
        winner (`winner.keras`; `predict`, `evaluate`, `model`, ...), and
        `trials()`, `pareto_front()`, `search_summary()`, `search_settings()`,
        `tuner` (its oracle's trials, `results_summary()`,
        `get_best_models(1)`) and `export` work as after `fit`. The folder is
        only read: nothing in it is written, repaired or deleted, and its lock
        is not taken. The training data are not kept in the folder, so give
        them to `export` (`x`, `validation_data`) and to `choose` (`x`, `y`,
        `validation_data`, which then trains and records another winner).

        Args:
            directory: The `directory` given to the `NASModel` that ran the search.
            project_name: Its `project_name`.

        Returns:
            A `NASModel` holding the search's winner.

        Raises:
            FileNotFoundError: If `directory/project_name` is missing, is not a
                keras-nas search, or its `fit` did not finish (no trained winner).
            SearchDirectoryError: If a file of the search is corrupt or the
                winner does not match `winner.json`.

        Example:

        ```python
        nas = NASModel.load("runs", "digits")
        nas.evaluate(x_test, y_test)
        nas.pareto_front()
        nas.export("out/", x=x_train, validation_data=(x_val, y_val))
        ```
        """
        opened = reopen.open_search(directory, project_name)
        settings = opened.settings
        strategy = settings.get("strategy")
        task = tasks.get(settings.get("task") or "classification")
        objective = settings.get("objective") or task.default_objective
        if objective not in task.objectives:
            # A metric of the user's (`metrics=`, not recorded): known by name and direction only.
            task = task.with_metrics(())
            task.objectives[objective] = opened.tuner.oracle.objective.direction
        nas = cls(
            task=task,
            num_classes=settings.get("num_classes"),
            input_shape=tuple(settings["input_shape"]) if settings.get("input_shape") else None,
            constraints=settings.get("constraints") or None,
            # The strategy proposes nothing in a reopened search; an unregistered one is only named.
            strategy=strategy if strategy in strategies.names() else "random",
            strategy_kwargs=settings.get("strategy_kwargs") if isinstance(settings.get("strategy_kwargs"), dict) else None,
            max_trials=settings.get("max_trials"),
            search_epochs=settings.get("search_epochs"),
            seed=settings.get("seed"),
            directory=str(directory),
            project_name=project_name,
            objective=objective,
            target=settings.get("target") or "host",
            refit=opened.winner.get("trained_on") == "train+validation",
            # A search saved before PCAN and MFCCs were choices had neither.
            front_end=FrontEndSpace(**{"pcan": [False], "mfcc": [0], **settings["front_end"]})
            if isinstance(settings.get("front_end"), dict) else None,
        )
        nas._opened = opened
        nas.tuner = opened.tuner
        nas.model_ = opened.model
        nas.best_trial_ = opened.tuner.oracle.trials.get(opened.winner["trial_id"])
        nas.cost_ = opened.winner.get("cost")
        nas.finalist_scores_ = dict(opened.winner.get("finalist_scores") or {})
        finalists = opened.winner.get("finalists")
        nas.finalists_ = dict(finalists) if isinstance(finalists, dict) else {}
        return nas

    # -- fit ------------------------------------------------------------------------------

    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: list | None = None,
        validation_split: float = 0.0,
        validation_data=None,
        **fit_kwargs,
    ) -> keras.callbacks.History:
        """Searches the architecture, then trains the winner; arguments as in `keras.Model.fit`.

        Args:
            x: Inputs (numpy array) or a batched `tf.data.Dataset` of `(x, y)`
                (task "anomaly": normal samples only, a numpy array).
            y: Integer or one-hot labels for array `x`; real targets `(n,)` or
                `(n, outputs)` for "regression"; `None` for "anomaly".
            batch_size: Batch size for array data.
            epochs: Epochs of the final training (and of each candidate unless
                `search_epochs` was given).
            verbose: 0 silent; 1 one line per trial, a status line updated in
                place while a trial runs (in a terminal or notebook: measuring,
                epoch k of E, a finalist's fold) and the final training's
                progress; 2 also Keras' own progress of every trial's epochs.
            callbacks: Keras callbacks, used for every trial and the final training.
            validation_split: Fraction of array data held out for validation.
            validation_data: `(x_val, y_val)` or a dataset. Without any validation
                data, 20 % of the training arrays are held out. For "anomaly":
                `(x_val, labels)` with labels 0 normal / 1 anomaly (ranked by
                AUC), or `x_val` alone (normal data, ranked by reconstruction error).
            **fit_kwargs: Passed on to `keras.Model.fit` (`shuffle`, `class_weight`, ...).

        Returns:
            The `History` of the winner's final training (`None` on a worker of a
            distributed search: the chief trains the winner).
        """
        started = time.monotonic()  # `max_search_seconds` covers all of `fit`
        checks.check_fit_keywords(fit_kwargs, type(self))
        if self.refit and "sample_weight" in fit_kwargs:
            raise ValueError(
                "`sample_weight` weighs the training samples only, but refit=True trains the winner "
                "on the training and the validation data together: pass refit=False to NASModel, "
                "or weigh classes with `class_weight=` instead."
            )
        data = prepare_data(
            x, y, validation_data, validation_split, batch_size, self.num_classes, task=self._task
        )
        if self.front_end is not None:
            self.front_end.check_audio(data.input_shape)
        if self.input_shape is not None and tuple(self.input_shape) != data.input_shape:
            raise ValueError(
                f"input_shape={self.input_shape} was given but the data has samples of shape "
                f"{data.input_shape}."
            )
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"`epochs` must be a positive integer, got {epochs!r}.")
        # The data may decide the objective (anomaly: AUC needs labelled anomalies).
        self.objective = self._task.resolve_objective(self.objective, self._objective_given, data.targets)
        # One process at a time per directory (a distributed search's workers share the chief's).
        lock = search_dir.SearchLock(os.path.join(str(self.directory), self.project_name))
        if not distributed.is_worker():
            lock.acquire()
        try:
            return self._fit(data, epochs, verbose, callbacks, started, **fit_kwargs)
        finally:
            lock.release()

    def _fit(self, data: PreparedData, epochs, verbose, callbacks, started: float, **fit_kwargs):
        self.data_ = data
        self.num_classes = data.num_classes
        self.input_shape = data.input_shape
        verbose = 1 if verbose == "auto" else int(verbose)

        search_epochs = self.search_epochs or (
            min(epochs, MAX_BUDGETED_SEARCH_EPOCHS) if self.max_search_seconds else epochs
        )
        self.tuner = make_tuner(self._search_setup(), self._strategy, data, search_epochs)
        if hasattr(self.tuner.oracle, "start_clock"):
            self.tuner.oracle.start_clock(started)
        self.tuner.trial_verbose = verbose
        if verbose:
            print(
                f"Searching {self.max_trials} candidates ({self._strategy_name()}, seed {self.seed}) "
                f"under {self.constraints}; results in {self.tuner.project_dir}"
            )
            fitted = getattr(self.tuner.oracle, "space_fit", None)
            if fitted is not None:
                best = fitted.best
                print(f"Space fitted to the limits in {fitted.seconds:.0f} s: "
                      + (f"most proposals drawn in {best.label} ({100 * best.feasible_share:.0f} % of its "
                         f"samples predicted to fit, the most MACs of {len(fitted.subspaces)} sub-spaces)"
                         if best is not None else f"none of {len(fitted.subspaces)} sub-spaces has enough "
                         "models predicted to fit; proposals drawn in the whole space"))
        train_kwargs = dict(data.train_kwargs, **fit_kwargs)
        self._final_training = FinalTraining(
            data=data, epochs=epochs, search_epochs=search_epochs,
            callbacks=tuple(callbacks or ()), train_kwargs=train_kwargs, verbose=verbose,
            refit=self.refit,
        )
        # A time budget covers the finalists and the winner's training too.
        self.tuner.oracle.work_after_search = selection.work_after_search(
            self._final_training, self.finalists, self.tuner.hypermodel.task.name, self.select)
        self.tuner.search(
            *data.train_args,
            validation_data=data.validation_data,
            epochs=search_epochs,
            callbacks=list(callbacks or []),
            verbose=max(0, verbose - 1),
            **train_kwargs,
        )

        if distributed.is_worker():
            if verbose:
                print("This process was a worker: the chief selects and trains the winner.")
            return None
        if verbose:
            summary = self.tuner.search_summary()
            print(
                f"Search done: {summary['trained']} trained, {summary['rejected']} rejected for "
                f"their cost, {summary['failed']} failed; {summary['search_seconds']:.0f} s, of "
                f"which {100 * summary['measure_share']:.1f} % measuring hardware cost."
            )
            if summary.get("limit_use"):
                print(f"Limit use of the trained candidates: {run_record.limit_use_text(summary)}.")
        # A finalists' round that would take too much of the time budget gives way to a cheaper one.
        oracle = self.tuner.oracle
        winner, judged = selection.select_winner(
            self.tuner, self.constraints, self._final_training, oracle.planned_work(), self.select
        )
        self.finalists_ = judged.to_dict() if judged is not None else {}
        cut = oracle.cut_round()
        if cut:
            self.finalists_["budget"] = cut
            if verbose:
                print(f"Finalists: {cut}.")
        self.finalist_scores_ = {tid: judged.mean(tid) for tid in judged.scores} if judged is not None else {}
        return self._train_winner(winner)

    def choose(
        self,
        trial: str | dict | Callable[[dict], float],
        epochs: int | None = None,
        *,
        x=None,
        y=None,
        validation_data=None,
        batch_size: int | None = None,
        callbacks: list | None = None,
    ):
        """Makes another trained candidate the model: by trial id, or by a selection rule.

        Use it to pick a member of `pareto_front()` after `fit`. The candidate is
        trained again as in `fit` (same data, callbacks and seed), and recorded
        as the search's winner in its folder.

        Args:
            trial: A trial id (as in `trials()`), or a rule as for `select`.
            epochs: Epochs of the training; defaults to those given to `fit`.
            x, y, validation_data, batch_size, callbacks: Only for a search
                reopened with `load`, which keeps no data: the data (and
                callbacks) its `fit` got, as for `fit`. The search's tuner is
                made again from them, as `fit` made it (same space and
                normalization; a folder that does not match is refused).

        Returns:
            The `History` of the training.

        Raises:
            NotFittedError: Before `fit`, or after `load` without `x`.

        Example:

        ```python
        front = model.pareto_front()
        model.choose({"maximize": "val_accuracy", "latency_ms": ("<=", 0.02)})
        ```
        """
        if self.tuner is None:
            raise NotFittedError("No search yet: call `fit` first.")
        given = {"x": x, "y": y, "validation_data": validation_data, "batch_size": batch_size,
                 "callbacks": callbacks}
        if self._opened is None and any(value is not None for value in given.values()):
            raise TypeError(
                f"choose takes {sorted(k for k, v in given.items() if v is not None)} only for a search "
                "reopened with NASModel.load: after fit it trains on fit's data and callbacks."
            )
        if self._opened is None:
            return self._choose(trial, epochs)
        if x is None:
            raise NotFittedError(
                "This NASModel was reopened with NASModel.load, which keeps no training data: give "
                "the data its fit got, e.g. `nas.choose(trial, x=x_train, y=y_train, "
                "validation_data=(x_val, y_val))`."
            )
        # Training another candidate writes the winner into the folder: one process at a time.
        lock = search_dir.SearchLock(os.path.join(str(self.directory), self.project_name))
        lock.acquire()
        try:
            self._reattach(x, y, validation_data, batch_size, callbacks)
            return self._choose(trial, epochs)
        finally:
            lock.release()

    def _choose(self, trial, epochs: int | None):
        chosen = selection.chosen_trial(self.tuner, trial)
        if epochs is not None:
            self._final_training = dataclasses.replace(self._final_training, epochs=epochs)
        return self._train_winner(chosen)

    def _reattach(self, x, y, validation_data, batch_size, callbacks) -> None:
        """Makes a reopened search's tuner again from its fit's data, as `fit` made it."""
        recorded = self._opened.winner.get("search") or {}
        data = prepare_data(x, y, validation_data, 0.0, batch_size, self.num_classes, task=self._task)
        epochs = int(self._opened.winner.get("epochs") or recorded.get("epochs") or 1)
        search_epochs = int(recorded.get("search_epochs") or epochs)
        tuner = make_tuner(self._search_setup(), self._strategy, data, search_epochs)
        tuner.trial_verbose = 0
        self.tuner, self.data_, self._opened = tuner, data, None
        self.tuner.set_winner(self.best_trial_.trial_id, self.model_)
        self._final_training = FinalTraining(
            data=data, epochs=epochs, search_epochs=search_epochs, callbacks=tuple(callbacks or ()),
            train_kwargs=dict(data.train_kwargs), verbose=0, refit=self.refit,
        )

    def _train_winner(self, trial) -> keras.callbacks.History:
        """Trains `trial`'s architecture as `fit` was asked to; it becomes the model, recorded in the search folder."""
        final = self._final_training
        self.best_trial_ = trial
        trained = selection.train_winner(self.tuner, trial, self.constraints, final)
        self.model_, self.cost_ = trained.model, trained.cost
        self.tuner.set_winner(trial.trial_id, self.model_)  # its get_best_models(1)[0]
        run_record.save_winner(  # for the CLI and reports
            self.tuner.project_dir, self.model_, trial, objective=self.objective, epochs=final.epochs,
            cost=self.cost_, finalist_scores=self.finalist_scores_, finalists=self.finalists_,
            search=self.search_settings(), trained_on=final.trained_on,
        )
        return trained.history

    def _search_setup(self) -> SearchSettings:
        """What `make_tuner` needs of this model's arguments."""
        return SearchSettings(
            space=self.space, strategy_kwargs=self.strategy_kwargs, objective=self.objective,
            task=self._task, constraints=self.constraints, target=self.target,
            directory=self.directory, project_name=self.project_name, overwrite=self.overwrite,
            seed=self.seed, max_trials=self.max_trials, max_rejected_trials=self.max_rejected_trials,
            max_search_seconds=self.max_search_seconds,
            initial_architectures=self.initial_architectures, proxy=self.proxy,
            proxy_pool_size=self.proxy_pool_size, latency_runs=self.latency_runs,
            space_fit=self.space_fit, front_end=self.front_end,
            oracle=self.strategy if isinstance(self.strategy, NASOracle) else None,
        )

    def search_settings(self) -> dict:
        """The strategy, budget and constraints of this search, as JSON-able values.

        They are recorded in the search folder (`winner.json`, `search.json`) and
        shown by `keras_nas.report`; a search reopened with `load` gives those recorded.
        """
        if self._opened is not None and self._opened.winner.get("search"):
            return dict(self._opened.winner["search"])
        space = self.tuner.hypermodel.space if self.tuner is not None else None
        return {
            "strategy": self._strategy_name(),
            "strategy_kwargs": run_record.jsonable(self.strategy_kwargs),
            "seed": self.seed,
            "task": self.task,
            "objective": self.objective,
            "objective_direction": self.tuner.oracle.objective.direction if self.tuner is not None else None,
            "max_trials": self.max_trials,
            "max_rejected_trials": self.max_rejected_trials,
            "search_epochs": self.search_epochs,
            "epochs": self._final_training.epochs if self._final_training is not None else None,
            "constraints": self.constraints.active(),
            "target": self.target.name,
            "proxy": self.proxy,
            "space": type(space).__name__ if space is not None else None,
            "space_size": self._space_size(),
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "num_classes": self.num_classes,
            "refit": self.refit,
            "space_fit": self.space_fit,
            "front_end": self.front_end.to_dict() if self.front_end is not None else None,
        }


    def _space_size(self) -> int | None:
        """Distinct architectures (with training choices) of the space the search samples, conditional
        scopes respected (`keras_nas.blocks.space_size`); None before `fit` or with a continuous `Float`."""
        from keras_nas.blocks.space_size import count_active_combinations

        if self.tuner is None:
            return None
        try:
            return count_active_combinations(self.tuner.oracle.hyperparameters)
        except ValueError:
            return None

    def _strategy_name(self) -> str:
        """The registered name of the strategy (an unregistered oracle class's: the class name)."""
        return self._strategy.name

    # -- the trained model ----------------------------------------------------------------

    @property
    def model(self) -> keras.Model:
        """The winning Keras model (after `fit`)."""
        if self.model_ is None:
            raise NotFittedError("This NASModel has no model yet: call `fit` first.")
        return self.model_

    def predict(self, x, **kwargs) -> np.ndarray:
        """`keras.Model.predict` of the winning model."""
        return self.model.predict(x, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate` of the winning model."""
        return self.model.evaluate(x, y, **kwargs)

    def summary(self, **kwargs) -> None:
        """`keras.Model.summary` of the winning model."""
        return self.model.summary(**kwargs)

    def save(self, filepath, **kwargs) -> None:
        """Saves the winning model (`.keras`); reload it with `keras.models.load_model`."""
        return self.model.save(filepath, **kwargs)

    def __call__(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def get_config(self) -> dict:
        """Refused: a `NASModel` is not a Keras model, so `keras.saving.save_model(nas, ...)` cannot save it.

        Raises:
            TypeError: Always, saying what to save instead.
        """
        raise TypeError(
            "A NASModel is not a keras.Model and cannot be serialized by Keras "
            "(keras.saving.save_model(nas, path)). Save its winning model: `nas.save(path)` or "
            "`keras.saving.save_model(nas.model, path)`; the whole search is already saved in "
            f"{os.path.join(str(self.directory), self.project_name)!r}: reopen it with "
            f"NASModel.load({str(self.directory)!r}, {self.project_name!r})."
        )

    def __getattr__(self, name):
        # Everything else a Keras model has (layers, weights, to_json, ...).
        if name.startswith("_") or name in {"model_", "data_", "tuner", "best_trial_", "cost_"}:
            raise AttributeError(name)
        if self.__dict__.get("model_") is None:
            raise AttributeError(
                f"'NASModel' has no attribute {name!r} before `fit`; after `fit` it forwards "
                "attributes to the winning Keras model."
            )
        return getattr(self.__dict__["model_"], name)

    # -- search results and export -------------------------------------------------------

    def trials(self) -> list[dict]:
        """Every trial of the search, one row each.

        Returns:
            Rows sorted by trial id, as `keras_nas.run_record.trial_row` builds
            them: id, status, outcome, reason, metrics, cost, architecture, seconds.

        Raises:
            NotFittedError: Before `fit`.
        """
        if self.tuner is None:
            raise NotFittedError("No search yet: call `fit` first.")
        return run_record.rows_of_trials(self.tuner.oracle.trials.values(), self.tuner.project_dir)

    def search_summary(self) -> dict:
        """Trials trained, rejected and failed, search time and the share spent measuring cost.

        Also how much of the limits the trained candidates use (`limit_use`,
        `near_limit_share`), the proposals widened towards them (`grown`) and,
        after `fit`, how the finalists were judged (`finalists`: method,
        each one's mean, spread and scores, the ones tied with the best;
        `budget`: why a time budget cut their round, when it did).
        """
        if self.tuner is None:
            raise NotFittedError("No search yet: call `fit` first.")
        summary = self.tuner.search_summary()
        if self.finalists_:
            summary["finalists"] = self.finalists_
        return summary

    def pareto_front(self, objectives=None) -> list[dict]:
        """The trained candidates no other trained candidate beats on every objective.

        Objectives keep their units; candidates rejected for their cost or failed
        are never on the front (constraints are hard).

        Args:
            objectives: `(metric, "max"|"min")` pairs; default: the search
                objective (in its direction), `latency_ms`, `peak_ram_kb` and
                `flash_kb` (min).

        Returns:
            `trials()` rows of the front, best on the first objective first.

        Example:

        ```python
        for row in model.pareto_front():
            print(row["trial_id"], row["metrics"]["val_accuracy"], row["cost"]["latency_ms"])
        ```
        """
        if objectives is None:
            objectives = [(self.objective, self._task.direction(self.objective))] + [
                (name, "min") for name in ("latency_ms", "peak_ram_kb", "flash_kb")
            ]
        objectives = pareto.check_objectives(objectives)
        front = pareto.pareto_front(self.trials(), objectives)
        return pareto.best_first(front, objectives[0])

    def export(
        self,
        directory,
        formats=("tflite-int8", "c-array"),
        labels: list[str] | None = None,
        verbose: bool = True,
        *,
        x=None,
        y=None,
        validation_data=None,
    ) -> dict:
        """Writes the winning model for deployment and reports the task's score per format.

        Args:
            directory: Output folder.
            formats: Any of "tflite-int8" (`model_int8.tflite`), "tflite-int8-qat"
                (int8 after quantization-aware training on the fit data),
                "tflite-int16x8", "tflite-float32", "tflite-float16",
                "tflite-dynamic", "c-array" (`model_data.cc`/`.h` for TFLite
                Micro), "keras" (`model.keras`) and "saved-model".
            labels: Class names for the C header.
            verbose: Print the report (float vs int8 score on the validation
                data: accuracy, MAE, or AUC / reconstruction error).
            x, y: Training samples (int8 calibration) and their labels
                ("tflite-int8-qat"); default: the data given to `fit`. A search
                reopened with `load` has none: give `x` for the int8 formats.
            validation_data: `(x_val, y_val)` (or `x_val` for "anomaly") for the
                report's scores; default: the fit's validation data.

        Returns:
            The report dict (also in `directory/report.json`).

        Raises:
            ValueError: If a format needs data that neither `fit` nor these
                arguments gave, or the folder holds files an export did not write.
        """
        data = self.data_
        if x is None and data is not None:
            representative = data.representative_x
            if len(data.train_args) == 2:
                x, y = data.train_args
        else:
            representative = None if x is None else np.asarray(x)[:NUM_REPRESENTATIVE_SAMPLES].astype("float32")
        if validation_data is None and data is not None:
            validation_data = (data.x_val, data.y_val)
        x_val, y_val = validation_data if isinstance(validation_data, tuple) else (validation_data, None)
        trained_on = (
            self._final_training.trained_on if self._final_training is not None
            else (self._opened.winner.get("trained_on") if self._opened is not None else "train")
        )
        if representative is None and self._opened is not None and {
            "tflite-int8", "tflite-int8-qat", "tflite-int16x8", "c-array"
        } & set([formats] if isinstance(formats, str) else formats):
            raise ValueError(
                "This NASModel was reopened with NASModel.load, which keeps no data: the int8 formats "
                "need calibration samples. Pass the training inputs, e.g. "
                "`nas.export(directory, x=x_train, validation_data=(x_val, y_val))`."
            )
        report = export_model(
            self.model,
            directory,
            formats,
            representative_data=representative,
            x_val=x_val,
            y_val=y_val,
            labels=labels,
            verbose=verbose,
            x_train=x,
            y_train=y,
            task=self._task,
            validation_in_training=trained_on == "train+validation",
        )
        if self._opened is None:  # a search reopened with `load` stays read-only
            run_record.save_search_info(self.tuner.project_dir, {"export_dir": str(Path(directory).resolve())})
        for line in self.constraints.shipped_over_limit(report):
            warnings.warn(line, UserWarning)
        return report
