"""`NASModel`: search, train and export a model with the habits of `keras.Model`."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras_tuner.engine import trial as trial_module

from keras_nas import tflite
from keras_nas.constraints import Constraints
from keras_nas.data import PreparedData, prepare_data
from keras_nas.errors import NotFittedError, failure_reason, is_rejection
from keras_nas.export import export_model
from keras_nas.hypermodel import NASHyperModel
from keras_nas.strategies import STRATEGIES, NASOracle, get_strategy
from keras_nas.tuner import NASTuner

TASKS = ("classification",)


class NASModel:
    """A classifier whose architecture is searched under hardware constraints.

    `fit` searches the space with the chosen strategy: every candidate is
    converted to int8 TFLite and measured (flash, TFLite Micro arena, LiteRT
    latency) before training; candidates over the limits are never trained. The
    most accurate candidate that fits is then trained again with your `epochs`
    and `callbacks`, and from then on the `NASModel` behaves as that Keras model
    (`predict`, `evaluate`, `summary`, `save`, ...). `export` writes it for phones
    (.tflite) and microcontrollers (C array).

    Args:
        task: Only "classification" for now.
        num_classes: Number of classes; inferred from the labels if `None`.
        input_shape: Shape of one sample; inferred from the data if `None`.
        constraints: Hard limits, e.g. `{"flash_kb": 64, "peak_ram_kb": 32,
            "latency_ms": 5}` (see `keras_nas.Constraints`).
        strategy: Name of the search strategy ("evolution", "random") or a
            `keras_nas.strategies.NASOracle` instance.
        max_trials: Number of candidates trained during the search.
        space: A `keras_nas.blocks.Block` mapping inputs to features; `None`
            picks the default space for the input rank.
        search_epochs: Epochs per candidate during the search; `None` uses the
            `epochs` given to `fit`.
        seed: Seed of the search and of every trial's training.
        directory, project_name: Where Keras Tuner keeps the trials; a search
            with the same names resumes (unless `overwrite=True`).
        overwrite: Start the search afresh.
        max_rejected_trials: How many candidates may be rejected for their cost
            before the search stops (default `10 * max_trials`).
        strategy_kwargs: Extra arguments for the strategy (e.g.
            `{"population_size": 12}`).
        latency_runs: Timed inferences per latency measurement.

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
        task: str = "classification",
        num_classes: int | None = None,
        input_shape: tuple | None = None,
        constraints: dict | Constraints | None = None,
        strategy: str | NASOracle = "evolution",
        max_trials: int = 20,
        space=None,
        search_epochs: int | None = None,
        seed: int | None = None,
        directory: str = "nas_runs",
        project_name: str = "nas",
        overwrite: bool = False,
        max_rejected_trials: int | None = None,
        strategy_kwargs: dict | None = None,
        latency_runs: int = 30,
    ):
        if task not in TASKS:
            raise ValueError(f"Unknown task {task!r}. Supported tasks: {list(TASKS)}.")
        if not isinstance(strategy, NASOracle) and strategy not in STRATEGIES:
            raise ValueError(
                f"Unknown strategy {strategy!r}. Available strategies: {sorted(STRATEGIES)}."
            )
        if not isinstance(max_trials, int) or max_trials < 1:
            raise ValueError(f"`max_trials` must be a positive integer, got {max_trials!r}.")
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
            raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
        self.task = task
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.constraints = Constraints.from_dict(constraints)
        self.strategy = strategy
        self.max_trials = max_trials
        self.space = space
        self.search_epochs = search_epochs
        self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % 100_000)
        self.directory = directory
        self.project_name = project_name
        self.overwrite = overwrite
        self.max_rejected_trials = max_rejected_trials
        self.strategy_kwargs = dict(strategy_kwargs or {})
        self.latency_runs = latency_runs

        self.tuner: NASTuner | None = None
        self.model_: keras.Model | None = None
        self.best_trial_ = None
        self.cost_: dict | None = None
        self.data_: PreparedData | None = None

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
            x: Inputs (numpy array) or a batched `tf.data.Dataset` of `(x, y)`.
            y: Integer or one-hot labels for array `x`.
            batch_size: Batch size for array data.
            epochs: Epochs of the final training (and of each candidate unless
                `search_epochs` was given).
            verbose: 0 silent; 1 one line per trial and the final training's
                progress; 2 also every trial's epochs.
            callbacks: Keras callbacks, used for every trial and the final training.
            validation_split: Fraction of array data held out for validation.
            validation_data: `(x_val, y_val)` or a dataset. Without any validation
                data, 20 % of the training arrays are held out.
            **fit_kwargs: Passed on to `keras.Model.fit` (`shuffle`, `class_weight`, ...).

        Returns:
            The `History` of the winner's final training.
        """
        data = prepare_data(
            x, y, validation_data, validation_split, batch_size, self.num_classes
        )
        if self.input_shape is not None and tuple(self.input_shape) != data.input_shape:
            raise ValueError(
                f"input_shape={self.input_shape} was given but the data has samples of shape "
                f"{data.input_shape}."
            )
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"`epochs` must be a positive integer, got {epochs!r}.")
        self.data_ = data
        self.num_classes = data.num_classes
        self.input_shape = data.input_shape
        verbose = 1 if verbose == "auto" else int(verbose)

        self.tuner = self._make_tuner(data)
        self.tuner.trial_verbose = verbose
        if verbose:
            print(
                f"Searching {self.max_trials} candidates ({self._strategy_name()}, seed {self.seed}) "
                f"under {self.constraints}; results in {self.tuner.project_dir}"
            )
        train_kwargs = dict(data.train_kwargs, **fit_kwargs)
        self.tuner.search(
            *data.train_args,
            validation_data=data.validation_data,
            epochs=self.search_epochs or epochs,
            callbacks=list(callbacks or []),
            verbose=max(0, verbose - 1),
            **train_kwargs,
        )

        self.best_trial_ = self._select_winner()
        if verbose:
            print(
                f"Winner: trial {self.best_trial_.trial_id} (val_accuracy "
                f"{self.best_trial_.score:.4f}); training it for {epochs} epochs."
            )
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.tuner.trial_seed(self.best_trial_))
        model = self.tuner.hypermodel.build(self.best_trial_.hyperparameters)
        history = model.fit(
            *data.train_args,
            validation_data=data.validation_data,
            epochs=epochs,
            callbacks=list(callbacks or []),
            verbose=verbose,
            **train_kwargs,
        )
        self.model_ = model
        _, cost = tflite.measure_model(model, data.representative_x, latency_runs=self.latency_runs)
        self.cost_ = cost.to_dict()
        broken = self.constraints.violations(self.cost_)
        if broken:
            warnings.warn(
                f"The trained winner breaks the constraints ({'; '.join(broken)}) although its "
                "untrained measurement fitted; please report this as a bug.",
                RuntimeWarning,
            )
        if verbose:
            print(
                f"Winner as int8: flash {cost.flash_kb:.1f} KB, TFLite Micro arena "
                f"{cost.peak_ram_kb:.1f} KB, host latency {cost.latency_ms:.3f} ms."
            )
        return history

    def _strategy_name(self) -> str:
        return self.strategy if isinstance(self.strategy, str) else type(self.strategy).__name__

    def _make_tuner(self, data: PreparedData) -> NASTuner:
        hypermodel = NASHyperModel(
            input_shape=data.input_shape,
            num_classes=data.num_classes,
            space=self.space,
            mean=data.mean,
            variance=data.variance,
            one_hot=data.one_hot,
        )
        oracle = get_strategy(
            self.strategy,
            max_trials=self.max_trials,
            max_rejected_trials=self.max_rejected_trials,
            seed=self.seed,
            **self.strategy_kwargs,
        )
        return NASTuner(
            hypermodel=hypermodel,
            oracle=oracle,
            constraints=self.constraints,
            representative_data=data.representative_x,
            latency_runs=self.latency_runs,
            directory=self.directory,
            project_name=self.project_name,
            overwrite=self.overwrite,
        )

    def _select_winner(self):
        """The most accurate trained candidate; ties go to the smaller flash size."""
        completed = [
            t
            for t in self.tuner.oracle.trials.values()
            if t.status == trial_module.TrialStatus.COMPLETED and t.score is not None
        ]
        if not completed:
            reasons = {
                t.trial_id: failure_reason(t.message)
                for t in self.tuner.oracle.trials.values()
                if t.message
            }
            raise RuntimeError(
                "The search finished without any trained candidate. Reasons per trial: "
                f"{reasons or 'no trial ran'}. Loosen the constraints, raise max_trials or "
                "max_rejected_trials, or check the data."
            )
        sign = 1 if self.tuner.oracle.objective.direction == "max" else -1
        return max(
            completed,
            key=lambda t: (sign * t.score, -t.metrics.get_last_value("flash_kb")),
        )

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
        """Every trial of the search: id, status, reason, metrics, cost and architecture."""
        if self.tuner is None:
            raise NotFittedError("No search yet: call `fit` first.")
        rows = []
        for trial in self.tuner.oracle.trials.values():
            metrics = {
                name: trial.metrics.get_last_value(name)
                for name in trial.metrics.metrics
            }
            rows.append(
                {
                    "trial_id": trial.trial_id,
                    "status": "REJECTED" if is_rejection(trial.message) else trial.status,
                    "score": trial.score,
                    "metrics": metrics,
                    "cost": self.tuner.recorded_cost(trial.trial_id),
                    "hyperparameters": dict(trial.hyperparameters.values),
                    "message": failure_reason(trial.message),
                }
            )
        return sorted(rows, key=lambda row: row["trial_id"])

    def export(
        self,
        directory,
        formats=("tflite-int8", "c-array"),
        labels: list[str] | None = None,
        verbose: bool = True,
    ) -> dict:
        """Writes the winning model for deployment and reports accuracy per format.

        Args:
            directory: Output folder.
            formats: Any of "tflite-int8" (`model_int8.tflite`), "tflite-float32",
                "tflite-float16", "c-array" (`model_data.cc`/`.h` for TFLite Micro)
                and "keras" (`model.keras`).
            labels: Class names for the C header.
            verbose: Print the report (float vs int8 accuracy on the validation data).

        Returns:
            The report dict (also in `directory/report.json`).
        """
        data = self.data_
        return export_model(
            self.model,
            directory,
            formats,
            representative_data=data.representative_x,
            x_val=data.x_val,
            y_val=data.y_val,
            labels=labels,
            verbose=verbose,
        )
