"""What the model is trained to do: one small object per task.

`NASModel(task=...)` looks its task up here, and nothing else branches on a
task's name. A task owns:

- the checks of the targets, with errors naming what is wrong and the fix;
- the head (the last layers) and the loss and metrics candidates compile with;
- the objectives it can search on, each with its direction (Keras Tuner's
  convention: "max" or "min"), and the default one;
- how a model's outputs are scored, the Keras model's or the int8 model's
  dequantized outputs (LiteRT), so float and int8 scores compare directly;
- what the C header says about the output.

Tasks:

- `"classification"`: softmax head, cross-entropy, accuracy (max).
- `"regression"`: linear head with one unit per target column and the
  training targets' mean and standard deviation folded into its last layer
  (the model predicts in the targets' units), MSE or Huber loss of the
  standardized targets, MAE and RMSE in the targets' units; objective
  `val_mae` / `int8_val_mae` (min).
- `"anomaly"`: an autoencoder trained on normal data only (`fit(x)`), score =
  mean squared reconstruction error of a sample; objective `val_auc` /
  `int8_val_auc` (max) on validation data labelled 0 normal / 1 anomaly, or,
  when the validation data has no labels, the threshold-free proxy `val_loss`
  / `int8_val_loss` (reconstruction MSE on normal validation data, min).

Example:

```python
from keras_nas import tasks
task = tasks.get("regression")
task.direction("val_mae")  # "min"
```
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

# Their home is below both this module and `task_training`; still importable from here.
from keras_nas.anomaly_scores import reconstruction_errors, roc_auc

INT8_PREFIX = "int8_"


def _fresh_metric(metric):
    """A new Keras metric object for `metric` (a name, a function or a metric object to copy)."""
    import keras

    if isinstance(metric, keras.metrics.Metric):
        return type(metric).from_config(metric.get_config())
    try:
        return keras.metrics.get(metric)
    except ValueError as error:
        raise ValueError(
            f"Unknown metric {metric!r} in metrics=[...]: give a keras.metrics.Metric object "
            f"(e.g. keras.metrics.AUC(name='auc')) or a name Keras knows. ({error})"
        ) from None


def _metric_name(metric) -> str:
    return getattr(metric, "name", None) or metric.__name__


@dataclasses.dataclass
class TargetInfo:
    """What a task read from the fit data's targets.

    Attributes:
        num_outputs: Classes (classification), target columns (regression) or
            values reconstructed per sample (anomaly).
        one_hot: Classification labels are one-hot (else class indices).
        target_mean, target_variance: Regression: per-column statistics of
            the training targets (folded into the model's last layer).
        has_anomalies: Anomaly: the validation data carries labels of both
            classes, so the search can rank candidates by AUC.
    """

    num_outputs: int
    one_hot: bool = False
    target_mean: np.ndarray | None = None
    target_variance: np.ndarray | None = None
    has_anomalies: bool = False


class Task(abc.ABC):
    """The base of the tasks; see the module docstring. Subclasses set the class attributes.

    Attributes:
        name: The task's name, as given to `NASModel(task=...)`.
        objectives: Every objective the task can search on, with its direction.
        default_objective: The objective when none is given.
        metric: What the export report and the C header call the score.
    """

    name: str = ""
    objectives: dict[str, str] = {}
    default_objective: str = ""
    metric: str = ""
    # Keras metrics the user adds to every candidate (`NASModel(metrics=...)`, `with_metrics`).
    extra_metrics: tuple = ()

    # -- objectives -------------------------------------------------------------------

    def with_metrics(self, metrics) -> "Task":
        """A copy of this task whose candidates also compile `metrics` (Keras metrics or their names).

        A search can then run on any of them: `check_objective(keras_tuner.Objective("val_auc", "max"))`.

        Raises:
            ValueError: A metric Keras does not know.
        """
        task = copy.copy(self)
        task.objectives = dict(self.objectives)
        task.extra_metrics = tuple(metrics or ())
        for metric in task.extra_metrics:
            _fresh_metric(metric)  # fails here, not in the first trial
        return task

    def reported_metrics(self) -> list[str]:
        """Names of the validation metrics every candidate reports (`val_` + these), user metrics included."""
        own = [name[len("val_"):] for name in self.objectives if name.startswith("val_")]
        extra = [_metric_name(_fresh_metric(metric)) for metric in self.extra_metrics]
        return sorted({"loss", *own, *extra})

    def check_objective(self, objective) -> str:
        """The name of `objective`, if this task can search on it.

        Args:
            objective: One of the task's `objectives` by name, or a
                `keras_tuner.Objective(name, direction)` for any validation
                metric the candidates report (`reported_metrics`, e.g.
                `"val_auc"` with `metrics=[keras.metrics.AUC(name="auc")]`),
                which this task then searches in that direction.

        Raises:
            ValueError: Naming the objectives this task has and how to add one.
        """
        import keras_tuner

        if isinstance(objective, keras_tuner.Objective):
            name, direction = objective.name, objective.direction
            if name in self.objectives and self.objectives[name] != direction:
                raise ValueError(
                    f"Objective {name!r} is better when {self.objectives[name]}imised; "
                    f"got direction={direction!r}."
                )
            reported = self.reported_metrics()
            if not name.startswith("val_") or name[len("val_"):] not in reported:
                raise ValueError(
                    f"Objective {name!r}: a search is scored on a validation metric the candidates "
                    f"report, 'val_' + one of {reported}. Add a metric with NASModel(metrics=[...]), "
                    "e.g. metrics=[keras.metrics.AUC(name='auc')] for objective "
                    "keras_tuner.Objective('val_auc', 'max')."
                )
            self.objectives[name] = direction
            return name
        if objective not in self.objectives:
            raise ValueError(
                f"Unknown objective {objective!r} for task={self.name!r}. Valid objectives: "
                f"{list(self.objectives)}, or keras_tuner.Objective(name, direction) for another "
                f"validation metric the candidates report ('val_' + one of {self.reported_metrics()})."
            )
        return objective

    def compile_kwargs(self, targets: "TargetInfo") -> dict:
        """`compile_arguments`, with the user's metrics added (fresh objects: one set per model)."""
        arguments = dict(self.compile_arguments(targets))
        if self.extra_metrics:
            arguments["metrics"] = list(arguments.get("metrics") or []) + [
                _fresh_metric(metric) for metric in self.extra_metrics]
        return arguments

    def direction(self, objective: str) -> str:
        """Whether `objective` is maximised ("max") or minimised ("min")."""
        return self.objectives[self.check_objective(objective)]

    def monitor(self, objective: str) -> tuple[str, str]:
        """The float metric (and direction) a training keeps its best epoch on, for `objective`.

        An int8 objective is measured once, after training: the epoch is kept
        on its float counterpart.
        """
        name = objective[len(INT8_PREFIX):] if objective.startswith(INT8_PREFIX) else objective
        return name, self.direction(objective)

    def resolve_objective(self, objective: str, given: bool, targets: TargetInfo) -> str:
        """The objective the search runs on, once the data is known (the anomaly task may switch, and warns).

        Args:
            objective: The objective given, or the task's default.
            given: Whether the user named it (then it is never switched).
            targets: What the data told.
        """
        return objective

    # -- targets ------------------------------------------------------------------------

    @abc.abstractmethod
    def check_array(self, y: np.ndarray, name: str) -> np.ndarray:
        """Checks one target array (dtype, NaN, rank); returns it."""

    @abc.abstractmethod
    def read_targets(self, y_train: np.ndarray, y_val: np.ndarray | None, num_classes: int | None,
                     x_train: np.ndarray) -> TargetInfo:
        """Checks training and validation targets together; returns what the model needs of them."""

    def fit_arrays(self, x_train, y_train, x_val, y_val) -> tuple[tuple, tuple]:
        """`(train_args, validation_data)` as `keras.Model.fit` gets them."""
        return (x_train, y_train), (x_val, y_val)

    def score_targets(self, y_val: np.ndarray | None) -> np.ndarray | None:
        """The validation targets the score compares outputs with."""
        return y_val

    # -- the model ------------------------------------------------------------------------

    def default_space(self, input_shape: tuple):
        """The search space when the user gives none: `keras_nas.blocks.default_space`."""
        from keras_nas import blocks

        return blocks.default_space(input_shape)

    @abc.abstractmethod
    def head(self, targets: TargetInfo):
        """The head block (`keras_nas.blocks`), or `None` when the space's output is the model's."""

    def output_layers(self, x, targets: TargetInfo, input_mean, input_variance):
        """Layers after the head (e.g. back to the targets' units); default: none."""
        return x

    @abc.abstractmethod
    def compile_arguments(self, targets: TargetInfo) -> dict:
        """`loss` and `metrics` for `model.compile`."""

    def callbacks(self, x_val, y_val) -> list:
        """Callbacks every training needs to report this task's metrics (they run first)."""
        return []

    # -- scores --------------------------------------------------------------------------

    @abc.abstractmethod
    def score(self, objective: str, outputs: np.ndarray, x: np.ndarray, y) -> float:
        """The value of `objective` for a model's float `outputs` on validation `x`, `y`.

        The same function scores the Keras model and the int8 model's dequantized outputs.
        """

    def export_metric(self, y_val) -> tuple[str, str]:
        """`(name, objective)`: what the export report calls its score, and the objective it scores."""
        return self.metric, self.default_objective

    # -- deployment ------------------------------------------------------------------------

    @abc.abstractmethod
    def header_lines(self, camel: str, output_shape: tuple, standardized_output: bool = False) -> list[str]:
        """Lines of the C header that say how to read the model's output.

        Args:
            camel: The `<Name>` of the header's constants (`ModelData`).
            output_shape: The model's output shape, without the batch axis.
            standardized_output: The int8 file gives standardized outputs, to
                scale with the header's `k<Name>OutputStd` / `OutputMean`
                (`keras_nas.tflite.standardization`).
        """


# -- classification ------------------------------------------------------------------------------


class Classification(Task):
    """Class probabilities (softmax), sparse or one-hot cross-entropy, accuracy."""

    name = "classification"
    # The int8 objective converts every trained candidate and measures its
    # accuracy on the validation data with LiteRT.
    objectives = {"val_accuracy": "max", "int8_val_accuracy": "max"}
    default_objective = "val_accuracy"
    metric = "accuracy"

    def check_array(self, y, name):
        if y.dtype == object or not np.issubdtype(y.dtype, np.number):
            raise ValueError(
                f"`{name}` must be numeric class indices or one-hot, got dtype {y.dtype}. "
                "Encode string labels as integers first (e.g. sklearn's LabelEncoder)."
            )
        if not np.all(np.isfinite(y)):
            raise ValueError(f"`{name}` contains NaN or infinite values.")
        if y.ndim > 2 or (y.ndim == 2 and y.shape[1] < 1):
            raise ValueError(f"`{name}` must have shape (n,), (n, 1) or (n, classes), got {y.shape}.")
        return y

    def read_targets(self, y_train, y_val, num_classes, x_train):
        one_hot = y_train.ndim == 2 and y_train.shape[1] > 1
        if (y_val.ndim == 2 and y_val.shape[1] > 1) != one_hot:
            raise ValueError(
                "Training and validation labels must both be integer class indices or both one-hot."
            )
        return TargetInfo(num_outputs=_check_classes(y_train, y_val, one_hot, num_classes),
                          one_hot=one_hot)

    def score_targets(self, y_val):
        return as_class_indices(y_val)

    def head(self, targets):
        from keras_nas import blocks

        return blocks.ClassifierHead(targets.num_outputs)

    def compile_arguments(self, targets):
        loss = "categorical_crossentropy" if targets.one_hot else "sparse_categorical_crossentropy"
        return {"loss": loss, "metrics": ["accuracy"]}

    def score(self, objective, outputs, x, y):
        predicted = outputs.reshape(outputs.shape[0], -1).argmax(axis=1)
        return float(np.mean(predicted == as_class_indices(y)))

    def header_lines(self, camel, output_shape, standardized_output=False):
        return [
            "// Output: one score per class (softmax probabilities); the predicted class is the",
            f"// largest. p = k{camel}OutputScale * (q - k{camel}OutputZeroPoint).",
        ]


# -- regression ------------------------------------------------------------------------------------


# Regression targets beyond this are refused: their float32 variance overflows past
# ~1.8e19 (as for inputs, `keras_nas.data.MAX_INPUT_MAGNITUDE`).
MAX_TARGET_MAGNITUDE = 1e15


class Regression(Task):
    """Linear outputs in the targets' units; MSE or Huber loss; MAE and RMSE.

    Both losses compare standardized targets and predictions
    (`keras_nas.task_training.StandardizedLoss`):
    every target column counts alike whatever its unit.

    Args:
        loss: "mse" (default) or "huber".
        huber_delta: The Huber loss' delta, in standard deviations of the targets.
    """

    name = "regression"
    objectives = {"val_mae": "min", "int8_val_mae": "min"}
    default_objective = "val_mae"
    metric = "mae"
    LOSSES = ("mse", "huber")

    def __init__(self, loss: str = "mse", huber_delta: float = 1.0):
        if loss not in self.LOSSES:
            raise ValueError(f"Unknown regression loss {loss!r}; use one of {list(self.LOSSES)}.")
        if not (isinstance(huber_delta, (int, float)) and huber_delta > 0):
            raise ValueError(f"`huber_delta` must be a positive number, got {huber_delta!r}.")
        self.loss = loss
        self.huber_delta = float(huber_delta)

    def check_array(self, y, name):
        if y.dtype == object or not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
            raise ValueError(
                f"task='regression' needs numeric targets, but `{name}` has dtype {y.dtype}"
                f"{' (strings?)' if y.dtype.kind in 'OUS' else ''}. Convert them to numbers "
                "(e.g. `y.astype('float32')`); for class names use task='classification'."
            )
        if not np.all(np.isfinite(y)):
            bad = np.argwhere(~np.isfinite(np.asarray(y, dtype="float64")))[0][0]
            raise ValueError(
                f"`{name}` contains NaN or infinite targets (first in sample {bad}): drop or "
                "impute those samples before the search."
            )
        biggest = float(np.max(np.abs(y))) if y.size else 0.0
        if biggest > MAX_TARGET_MAGNITUDE:
            raise ValueError(
                f"`{name}` has targets up to {biggest:.3g} in magnitude; targets beyond "
                f"{MAX_TARGET_MAGNITUDE:.0e} are refused: their float32 mean and variance overflow "
                "(the int8 runtime then crashes). Rescale the targets (change their unit, e.g. to "
                "millions, or take a logarithm) before the search."
            )
        if y.ndim > 2:
            raise ValueError(
                f"`{name}` has shape {y.shape}, but the regression head outputs a vector per sample: "
                "targets must have shape (n,) or (n, outputs). Flatten each sample's targets."
            )
        return y

    def read_targets(self, y_train, y_val, num_classes, x_train):
        if num_classes is not None:
            raise ValueError("`num_classes` is for task='classification'; leave it None for regression.")
        width = 1 if y_train.ndim == 1 else y_train.shape[1]
        width_val = 1 if y_val.ndim == 1 else y_val.shape[1]
        if width != width_val:
            raise ValueError(
                f"Training targets have {width} column(s) but validation targets {width_val}: "
                "they must match."
            )
        values = y_train.reshape(len(y_train), width).astype("float64")
        variance = values.var(axis=0)
        if np.any(variance < 1e-12):
            column = int(np.argmax(variance < 1e-12))
            raise ValueError(
                f"Target column {column} is constant in the training data ({values[0, column]:g}): "
                "there is nothing to learn. Drop it, or check the targets."
            )
        # Columns of different spreads share the int8 output tensor: its file then gives
        # standardized outputs (`keras_nas.tflite.standardization`).
        return TargetInfo(num_outputs=int(width), target_mean=values.mean(axis=0).astype("float32"),
                          target_variance=variance.astype("float32"))

    def fit_arrays(self, x_train, y_train, x_val, y_val):
        return (x_train, _columns(y_train)), (x_val, _columns(y_val))

    def score_targets(self, y_val):
        return _columns(y_val).astype("float32")

    def head(self, targets):
        from keras_nas import blocks

        return blocks.RegressionHead(targets.num_outputs)

    def output_layers(self, x, targets, input_mean, input_variance):
        # The head learns standardized targets; this layer maps them back to the
        # targets' units, so the model (and its int8 file) predicts real values.
        import keras

        return keras.layers.Normalization(
            mean=targets.target_mean, variance=targets.target_variance, invert=True,
            name="to_target_units",
        )(x)

    def compile_arguments(self, targets):
        import keras

        from keras_nas.task_training import StandardizedLoss

        loss = StandardizedLoss(targets.target_mean, np.sqrt(targets.target_variance), self.loss,
                                self.huber_delta)
        return {"loss": loss, "metrics": [keras.metrics.MeanAbsoluteError(name="mae"),
                                          keras.metrics.RootMeanSquaredError(name="rmse")]}

    def score(self, objective, outputs, x, y):
        errors = outputs.reshape(len(outputs), -1) - _columns(y)
        return float(np.mean(np.abs(errors)))

    def header_lines(self, camel, output_shape, standardized_output=False):
        outputs = int(np.prod(output_shape)) if output_shape else 1
        if standardized_output:
            units = [f"// Output: {outputs} regression value(s), standardized per output; in the targets' units:",
                     f"//   y[i] = k{camel}OutputScale * (q[i] - k{camel}OutputZeroPoint) * k{camel}OutputStd[i]"
                     f" + k{camel}OutputMean[i]."]
        else:
            units = [f"// Output: {outputs} regression value(s) in the targets' units (the training targets'",
                     "// mean and standard deviation are inside the model):",
                     f"//   y = k{camel}OutputScale * (q - k{camel}OutputZeroPoint)."]
        return [*units, f"constexpr int k{camel}NumOutputs = {outputs};"]


# -- anomaly detection -------------------------------------------------------------------------------


class Anomaly(Task):
    """An autoencoder trained on normal data; a sample's score is its reconstruction MSE."""

    name = "anomaly"
    objectives = {"val_auc": "max", "int8_val_auc": "max", "val_loss": "min", "int8_val_loss": "min"}
    default_objective = "val_auc"
    metric = "auc"
    PROXY = "val_loss"

    def check_array(self, y, name):
        if y.dtype == object or not np.issubdtype(y.dtype, np.number):
            raise ValueError(
                f"`{name}` must be numeric labels 0 (normal) / 1 (anomaly), got dtype {y.dtype}."
            )
        y = y.reshape(len(y), -1)
        if y.shape[1] != 1:
            raise ValueError(
                f"`{name}` must hold one label per sample, 0 normal / 1 anomaly; got shape {y.shape}."
            )
        y = y.reshape(-1)
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError(
                f"`{name}` must hold 0 (normal) or 1 (anomaly) per sample; found "
                f"{sorted(set(np.unique(y).tolist()) - {0, 1})[:5]}."
            )
        return y

    def read_targets(self, y_train, y_val, num_classes, x_train):
        if num_classes is not None:
            raise ValueError("`num_classes` is for task='classification'; leave it None for anomaly.")
        if y_val is not None and len(np.unique(y_val)) < 2:
            only = "normal (0)" if int(y_val[0]) == 0 else "anomalies (1)"
            raise ValueError(
                f"The anomaly validation labels are all {only}: AUC needs normal samples and "
                "anomalies. Add the other class, or pass `validation_data=x_val` without labels "
                "(the search then ranks by reconstruction error on normal data, a threshold-free proxy)."
            )
        return TargetInfo(num_outputs=int(np.prod(x_train.shape[1:])), has_anomalies=y_val is not None)

    def resolve_objective(self, objective, given, targets):
        if targets.has_anomalies or self.monitor(objective)[0] == self.PROXY:
            return objective
        if given:
            raise ValueError(
                f"objective={objective!r} needs validation data with anomalies: pass "
                "validation_data=(x_val, labels) with labels 0 normal / 1 anomaly, or search on "
                f"{self.PROXY!r} (reconstruction error of normal data)."
            )
        proxy = INT8_PREFIX + self.PROXY if objective.startswith(INT8_PREFIX) else self.PROXY
        warnings.warn(
            f"The validation data has no anomaly labels, so candidates cannot be ranked by "
            f"{objective}: the search ranks them by {proxy}, the reconstruction error of normal "
            "validation data (a threshold-free proxy). Pass validation_data=(x_val, labels) with "
            "labels 0 normal / 1 anomaly to search on AUC.",
            UserWarning,
        )
        return proxy

    def fit_arrays(self, x_train, y_train, x_val, y_val):
        normal = x_val if y_val is None else x_val[y_val == 0]
        return (x_train, x_train), (normal, normal)

    def default_space(self, input_shape):
        """A dense autoencoder (the MLPerf Tiny AD reference is one of its points)."""
        from keras_nas import blocks

        return blocks.DenseAutoencoder()

    def head(self, targets):
        return None

    def output_layers(self, x, targets, input_mean, input_variance):
        # The space reconstructs the normalized input; back to the input's units,
        # so the score compares the output with the raw input.
        import keras

        # A space that does not reconstruct its input is refused, with its shapes, by
        # `search_setup.check_task_model`; undoing the normalization would fail first.
        if input_mean is None or int(np.prod(x.shape[1:])) != targets.num_outputs:
            return x
        return keras.layers.Normalization(mean=input_mean, variance=input_variance, invert=True,
                                          name="reconstruction")(x)

    def compile_arguments(self, targets):
        return {"loss": "mse", "metrics": []}

    def callbacks(self, x_val, y_val):
        if y_val is None:
            return []
        from keras_nas.task_training import ValidationAUC

        return [ValidationAUC(x_val, y_val)]

    def score(self, objective, outputs, x, y):
        errors = reconstruction_errors(outputs, x)
        if self.monitor(objective)[0] == self.PROXY:
            normal = errors if y is None else errors[np.asarray(y) == 0]
            return float(np.mean(normal))
        return roc_auc(errors, y)

    def export_metric(self, y_val):
        return ("auc", "val_auc") if y_val is not None else ("reconstruction_mse", self.PROXY)

    def header_lines(self, camel, output_shape, standardized_output=False):
        values = int(np.prod(output_shape))
        # Standardized per channel (the last axis): c is a value's index along it.
        scaled = f" * k{camel}OutputStd[c] + k{camel}OutputMean[c]" if standardized_output else ""
        return [
            f"// Output: the reconstruction of the input ({values} values, the input's shape and units).",
            f"//   x_hat[i] = k{camel}OutputScale * (q[i] - k{camel}OutputZeroPoint){scaled}"
            + (", c the index of value i along the last axis" if standardized_output else ""),
            f"// Anomaly score: mean over the {values} values of (x_hat - x)^2, x the float input;",
            "// flag a sample whose score is over a threshold chosen on normal data.",
            f"constexpr int k{camel}NumValues = {values};",
        ]


# -- helpers ---------------------------------------------------------------------------------------


def as_class_indices(y: np.ndarray) -> np.ndarray:
    """Class indices of integer or one-hot labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype("int64")
    return y.reshape(-1).astype("int64")


def _columns(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.reshape(len(y), -1).astype("float32")


def _check_classes(y_train, y_val, one_hot: bool, num_classes: int | None) -> int:
    if one_hot:
        for labels, name in ((y_train, "training"), (y_val, "validation")):
            rows = labels.astype("float64")
            bad = np.flatnonzero((rows < 0).any(axis=1) | (np.abs(rows.sum(axis=1) - 1.0) > 1e-3))
            if bad.size:
                raise ValueError(
                    f"The 2-D {name} labels are not one-hot: row {int(bad[0])} is "
                    f"{labels[bad[0]].tolist()} (a row must be non-negative and sum to 1, e.g. "
                    "[0, 1, 0]). Multi-label targets are not supported; for class indices pass "
                    "labels of shape (n,), and for real-valued targets use task='regression'."
                )
        width = y_train.shape[1]
        if y_val.shape[1] != width:
            raise ValueError(
                f"One-hot labels have {width} columns in training but {y_val.shape[1]} in validation."
            )
        if num_classes is not None and num_classes != width:
            raise ValueError(
                f"num_classes={num_classes} but the one-hot labels have {width} columns."
            )
        return int(width)
    labels = np.concatenate([y_train.reshape(-1), y_val.reshape(-1)])
    if np.any(labels != np.round(labels)):
        raise ValueError(
            "Labels must be integer class indices (0, 1, 2, ...) or one-hot rows; found "
            "non-integer values. For real-valued targets use task='regression'."
        )
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        raise ValueError(f"Labels must be >= 0, found {low}.")
    if num_classes is None:
        num_classes = high + 1
        if num_classes > len(labels):
            raise ValueError(
                f"The largest label is {high}, so the classifier would have {num_classes} classes, "
                f"more than the {len(labels)} labelled samples. Labels must be class indices "
                "0..K-1: remap them (e.g. `np.unique(y, return_inverse=True)[1]`), or pass "
                "num_classes if classes are really missing from this data."
            )
    elif high >= num_classes:
        raise ValueError(
            f"Label {high} is out of range for num_classes={num_classes}: labels must be in "
            f"[0, {num_classes - 1}]."
        )
    present = np.unique(y_train.reshape(-1))
    if len(present) < 2:
        raise ValueError(
            f"All training labels are {int(present[0])}: a classifier needs at least 2 classes in "
            "the training data. Add samples of the other classes (for normal-only data, "
            "task='anomaly' trains an autoencoder)."
        )
    return int(num_classes)


# -- registry --------------------------------------------------------------------------------------

TASKS: dict[str, Callable[..., Task]] = {
    "classification": Classification,
    "regression": Regression,
    "anomaly": Anomaly,
}


def direction_of(objective: str) -> str:
    """The direction of a reported metric: the tasks' objectives, else Keras Tuner's guess, else "max".

    Example:

    >>> direction_of("val_mae"), direction_of("int8_val_auc")
    ('min', 'max')
    """
    for task in TASKS.values():
        if objective in task.objectives:
            return task.objectives[objective]
    from keras_tuner.engine.metrics_tracking import infer_metric_direction

    return infer_metric_direction(objective) or "max"


def get(task: "str | Task", **arguments) -> Task:
    """The task object for a name (made with `arguments`), or `task` itself.

    Args:
        task: "classification", "regression", "anomaly", or a `Task`.
        **arguments: The task's arguments (regression: `loss`, `huber_delta`).

    Raises:
        ValueError: For an unknown name or arguments the task does not take.
    """
    if isinstance(task, Task):
        if arguments:
            raise ValueError(f"task_kwargs {sorted(arguments)} were given with a Task instance.")
        return task
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}. Supported tasks: {list(TASKS)}.")
    try:
        return TASKS[task](**arguments)
    except TypeError:
        raise ValueError(
            f"task={task!r} takes no arguments {sorted(arguments)}"
            + (" (regression takes `loss` and `huber_delta`)." if task != "regression" else
               "; it takes `loss` ('mse' or 'huber') and `huber_delta`.")
        ) from None
