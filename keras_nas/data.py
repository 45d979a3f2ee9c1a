"""Checks the user's data and infers what the search needs from it.

`NASModel.fit` accepts what `keras.Model.fit` accepts: numpy arrays (with
`validation_data` or `validation_split`) or a batched `tf.data.Dataset` of
`(x, y)` pairs. This module turns either into a `PreparedData` and fails early,
with a message naming the problem, on data that cannot train the task's model
(the task, `keras_nas.tasks`, checks the targets).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from keras_nas import tasks

# How many training samples calibrate int8 quantization and feed input statistics.
NUM_REPRESENTATIVE_SAMPLES = 256
# Largest input magnitude accepted. The model normalizes its inputs with their
# per-channel mean and variance stored as float32 (and int8 calibration keeps
# float32 ranges): a variance, a square, overflows float32 (3.4e38) for values
# past ~1.8e19. 1e15 keeps the squares and the sums of the statistics
# (up to 1e4 samples) 4 orders of magnitude below that limit, and far above any
# sensor reading, pixel or audio sample; larger values are a unit or parsing bug.
MAX_INPUT_MAGNITUDE = 1e15


@dataclasses.dataclass
class PreparedData:
    """Training and validation data, checked, plus what was inferred from it.

    Attributes:
        train_args: Positional arguments for `keras.Model.fit` (`(x, y)` or `(dataset,)`).
        train_kwargs: Keyword arguments for `fit` (`batch_size` for arrays).
        validation_data: What `fit` gets as `validation_data`.
        input_shape: Shape of one sample, without the batch axis.
        num_classes: Number of classes (`None` unless the task is classification).
        one_hot: Whether labels are one-hot (else integer class indices).
        representative_x: Up to 256 training samples (float32) for int8 calibration.
        x_val, y_val: Validation samples as numpy, for the int8 score: class
            indices (classification), target columns (regression), labels 0/1
            or `None` (anomaly).
        mean, variance: Per-channel statistics of the training inputs.
        targets: What the task read from the targets (`keras_nas.tasks.TargetInfo`).
    """

    train_args: tuple
    train_kwargs: dict
    validation_data: Any
    input_shape: tuple
    num_classes: int
    one_hot: bool
    representative_x: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    targets: tasks.TargetInfo | None = None

    def with_validation_args(self) -> tuple:
        """`train_args` with the validation data appended: what a final training on all the data gets.

        Arrays are concatenated; a dataset is concatenated with the validation
        dataset (or the validation arrays, batched as `batch_size` or 32).
        For task "anomaly", `validation_data` holds only the normal samples.
        """
        if len(self.train_args) == 2:
            return tuple(np.concatenate([part, extra]) for part, extra in
                         zip(self.train_args, self.validation_data[:2]))
        import tensorflow as tf

        (train,) = self.train_args
        extra = self.validation_data
        if not _is_dataset(extra):
            extra = tf.data.Dataset.from_tensor_slices(tuple(extra[:2])).batch(
                self.train_kwargs.get("batch_size") or 32
            )
        try:
            return (train.concatenate(extra),)
        except (TypeError, ValueError) as e:
            raise ValueError(
                "refit=True trains the winner on the training and the validation data together, "
                f"but the validation dataset's elements do not match the training dataset's ({e}). "
                "Give both in the same structure and dtypes, or pass refit=False to NASModel."
            ) from None


def prepare_data(
    x,
    y=None,
    validation_data=None,
    validation_split: float = 0.0,
    batch_size: int | None = None,
    num_classes: int | None = None,
    default_validation_split: float = 0.2,
    task: "tasks.Task | str" = "classification",
) -> PreparedData:
    """Checks `fit`'s data arguments and infers input shape and class count.

    Args:
        x: Inputs as a numpy array (or array-like), or a batched `tf.data.Dataset`
            yielding `(x, y)`.
        y: Labels for array `x`: integer class indices of shape `(n,)` or `(n, 1)`,
            or one-hot of shape `(n, num_classes)`. Must be `None` for a dataset.
        validation_data: `(x_val, y_val)` or a dataset, as in `keras.Model.fit`.
        validation_split: Fraction of array data held out for validation (the last
            samples, as Keras does).
        batch_size: As in `keras.Model.fit`; only for array data.
        num_classes: Number of classes, or `None` to infer it from the labels.
        default_validation_split: Held out when no validation data is given at all:
            a search cannot rank candidates without it.
        task: The task (`keras_nas.tasks`), which checks the targets: class
            labels, regression targets `(n,)` / `(n, outputs)`, or for
            "anomaly" no `y` (normal data only) and `validation_data` given as
            `x_val` or `(x_val, labels)` with labels 0 normal / 1 anomaly.

    Returns:
        A `PreparedData`.

    Raises:
        ValueError: Naming the argument that cannot train the task and the fix.
    """
    task = tasks.get(task)
    if task.name == "anomaly":
        return _prepare_anomaly(x, y, validation_data, validation_split, batch_size, num_classes,
                                default_validation_split, task)
    if _is_dataset(x):
        if y is not None:
            raise ValueError(
                "`y` must be None when `x` is a tf.data.Dataset: the dataset yields (x, y) pairs."
            )
        if validation_split:
            raise ValueError(
                "`validation_split` is only supported for numpy arrays, not for a "
                "tf.data.Dataset: pass `validation_data=` instead."
            )
        x_train, y_train = _take_from_dataset(x, "x", task=task)
        if validation_data is None:
            raise ValueError(
                "A search ranks candidates on validation data: with a tf.data.Dataset "
                "pass `validation_data=` (a dataset or an (x_val, y_val) tuple)."
            )
        train_args, train_kwargs = (x,), {}
        if batch_size is not None:
            raise ValueError(
                "`batch_size` must be None for a tf.data.Dataset: batch the dataset instead."
            )
    else:
        x_train, y_train = _check_arrays(x, y, "x", "y", task)
        if validation_data is None:
            n_val = _held_out(len(x_train), validation_split, default_validation_split)
            x_train, y_train, x_val_arr, y_val_arr = (
                x_train[:-n_val], y_train[:-n_val], x_train[-n_val:], y_train[-n_val:]
            )
            validation_data = (x_val_arr, y_val_arr)
        elif validation_split:
            raise ValueError("Pass either `validation_data` or `validation_split`, not both.")
        train_args = (x_train, y_train)
        train_kwargs = {"batch_size": batch_size} if batch_size else {}

    if _is_dataset(validation_data):
        x_val, y_val = _take_from_dataset(validation_data, "validation_data", limit=None, task=task)
    else:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "`validation_data` must be a tuple (x_val, y_val) or a tf.data.Dataset, got "
                f"{type(validation_data).__name__}."
            )
        if len(validation_data) == 3 and validation_data[2] is not None:
            raise ValueError(
                "`validation_data` has sample weights (x_val, y_val, weights): the search ranks "
                "candidates by unweighted validation accuracy, so the weights would be ignored. "
                "Pass (x_val, y_val); to weight classes in training, use `class_weight=` or "
                "`sample_weight=` in fit."
            )
        x_val, y_val = _check_arrays(validation_data[0], validation_data[1], "x_val", "y_val", task)
        validation_data = (x_val, y_val)

    input_shape = _input_shape(x_train, x_val)
    targets = task.read_targets(y_train, y_val, num_classes, x_train)
    if len(train_args) == 2:
        train_args, validation_data = task.fit_arrays(x_train, y_train, x_val, y_val)
    elif not _is_dataset(validation_data):
        validation_data = task.fit_arrays(x_train, y_train, x_val, y_val)[1]
    return _prepared(x_train, x_val, task.score_targets(y_val), train_args, train_kwargs,
                     validation_data, input_shape, targets, task)


def _prepare_anomaly(x, y, validation_data, validation_split, batch_size, num_classes,
                     default_validation_split, task) -> PreparedData:
    """`prepare_data` for an autoencoder: normal training data, validation labelled or not."""
    if _is_dataset(x) or _is_dataset(validation_data):
        raise ValueError(
            "task='anomaly' takes numpy arrays: fit(x_normal, validation_data=(x_val, labels)); "
            "read the dataset into arrays first."
        )
    if y is not None:
        raise ValueError(
            "task='anomaly' trains an autoencoder on normal data only: call fit(x) without `y` "
            "(labels 0 normal / 1 anomaly belong in validation_data=(x_val, labels))."
        )
    x_train = _check_inputs(x, "x")
    y_val = None
    if validation_data is None:
        n_val = _held_out(len(x_train), validation_split, default_validation_split)
        x_train, x_val = x_train[:-n_val], x_train[-n_val:]
    else:
        if validation_split:
            raise ValueError("Pass either `validation_data` or `validation_split`, not both.")
        if isinstance(validation_data, (tuple, list)):
            if len(validation_data) != 2:
                raise ValueError(
                    "`validation_data` for task='anomaly' is x_val or (x_val, labels) with labels "
                    f"0 normal / 1 anomaly; got a sequence of {len(validation_data)} items."
                )
            x_val = _check_inputs(validation_data[0], "x_val")
            if validation_data[1] is not None:
                y_val = task.check_array(_as_array(validation_data[1], "y_val"), "y_val")
                if len(y_val) != len(x_val):
                    raise ValueError(
                        f"`x_val` has {len(x_val)} samples but the labels have {len(y_val)}: they "
                        "must have the same length."
                    )
        else:
            x_val = _check_inputs(validation_data, "x_val")
    input_shape = _input_shape(x_train, x_val)
    targets = task.read_targets(None, y_val, num_classes, x_train)
    if y_val is not None and not np.any(y_val == 0):
        raise ValueError("The anomaly validation data has no normal sample (label 0).")
    train_args, validation_data = task.fit_arrays(x_train, None, x_val, y_val)
    train_kwargs = {"batch_size": batch_size} if batch_size else {}
    return _prepared(x_train, x_val, y_val, train_args, train_kwargs, validation_data,
                     input_shape, targets, task)


def _held_out(samples: int, validation_split: float, default_validation_split: float) -> int:
    """How many of the last samples are held out for validation (Keras' `validation_split`)."""
    split = validation_split or default_validation_split
    if not 0.0 < split < 1.0:
        raise ValueError(f"`validation_split` must be in (0, 1), got {validation_split}.")
    n_val = max(1, int(round(samples * split)))
    if n_val >= samples:
        raise ValueError(f"Only {samples} samples: too few to hold out a validation split.")
    return n_val


def _input_shape(x_train: np.ndarray, x_val: np.ndarray) -> tuple:
    input_shape = tuple(int(d) for d in x_train.shape[1:])
    if tuple(x_val.shape[1:]) != input_shape:
        raise ValueError(
            f"Validation inputs have sample shape {tuple(x_val.shape[1:])} but training inputs "
            f"have {input_shape}: they must match."
        )
    return input_shape


def _prepared(x_train, x_val, y_score, train_args, train_kwargs, validation_data, input_shape,
              targets, task) -> PreparedData:
    """The `PreparedData`, with the inputs' statistics and calibration samples."""
    rep = x_train[: NUM_REPRESENTATIVE_SAMPLES].astype("float32")
    axes = tuple(range(x_train.ndim - 1))
    sample = x_train[: min(len(x_train), 10_000)].astype("float64")
    mean = sample.mean(axis=axes)
    variance = sample.var(axis=axes)
    variance = np.where(variance < 1e-12, 1.0, variance)
    return PreparedData(
        train_args=train_args,
        train_kwargs=train_kwargs,
        validation_data=validation_data,
        input_shape=input_shape,
        num_classes=targets.num_outputs if task.name == "classification" else None,
        one_hot=targets.one_hot,
        representative_x=rep,
        x_val=x_val.astype("float32"),
        y_val=y_score,
        mean=mean.astype("float32"),
        variance=variance.astype("float32"),
        targets=targets,
    )


def _is_dataset(obj) -> bool:
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - tensorflow is a dependency
        return False
    return isinstance(obj, tf.data.Dataset)


def _as_array(values, name: str) -> np.ndarray:
    try:
        return np.asarray(values)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"`{name}` could not be read as an array: {e}") from e


def _check_arrays(x, y, x_name: str, y_name: str,
                  task: "tasks.Task | str" = "classification") -> tuple[np.ndarray, np.ndarray]:
    if y is None:
        raise ValueError(f"`{y_name}` is missing: pass labels with `{x_name}`.")
    x = _check_inputs(x, x_name)
    y = _as_array(y, y_name)
    if len(x) != len(y):
        raise ValueError(
            f"`{x_name}` has {len(x)} samples but `{y_name}` has {len(y)}: they must have the "
            "same length."
        )
    return x, tasks.get(task).check_array(y, y_name)


def _check_inputs(x, x_name: str) -> np.ndarray:
    """`x` as a numeric array of shape (samples, ...), finite and of sane magnitude."""
    x = _as_array(x, x_name)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"`{x_name}` must be numeric, got dtype {x.dtype}.")
    if x.ndim < 2:
        raise ValueError(
            f"`{x_name}` must have shape (samples, ...), got {x.shape}. For one feature per "
            f"sample, reshape it to ({len(x)}, 1)."
        )
    if len(x) == 0:
        raise ValueError(f"`{x_name}` is empty.")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        first = np.argwhere(~np.isfinite(x))[0][0]
        raise ValueError(
            f"`{x_name}` contains {bad} NaN or infinite value(s) (first in sample {first}). "
            "Clean or impute them before the search."
        )
    biggest = float(np.max(np.abs(x))) if x.size else 0.0
    if biggest > MAX_INPUT_MAGNITUDE:
        first = int(np.argwhere(np.abs(x) > MAX_INPUT_MAGNITUDE)[0][0])
        raise ValueError(
            f"`{x_name}` has values up to {biggest:.3g} in magnitude (first in sample {first}); "
            f"inputs beyond {MAX_INPUT_MAGNITUDE:.0e} are refused: the model normalizes them with "
            "float32 statistics, which overflow for such values. Rescale the inputs (e.g. "
            "standardize them, or change their unit) before the search."
        )
    return x


# Its former home (keras_nas.weight_sharing reads labels with it).
_as_class_indices = tasks.as_class_indices


def _take_from_dataset(dataset, name: str, limit: int | None = NUM_REPRESENTATIVE_SAMPLES * 40,
                       task: "tasks.Task | str" = "classification"):
    """Reads (x, y) numpy arrays out of a batched dataset (up to `limit` samples)."""
    xs, ys, count = [], [], 0
    for element in dataset:
        if not isinstance(element, (tuple, list)) or len(element) < 2:
            raise ValueError(
                f"`{name}` must yield (x, y) pairs; got an element of type {type(element).__name__}."
            )
        bx, by = np.asarray(element[0]), np.asarray(element[1])
        if bx.ndim < 2 or by.ndim < 1 or len(bx) != len(by):
            raise ValueError(
                f"`{name}` must be batched (elements of shape (batch, ...)); got x of shape "
                f"{bx.shape} and y of shape {by.shape}. Call `.batch(32)` on it."
            )
        xs.append(bx)
        ys.append(by)
        count += len(bx)
        if limit is not None and count >= limit:
            break
    if not xs:
        raise ValueError(f"`{name}` is empty.")
    return _check_arrays(np.concatenate(xs), np.concatenate(ys), f"{name} (x)", f"{name} (y)", task)
