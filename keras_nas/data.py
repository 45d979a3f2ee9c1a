"""Checks the user's data and infers what the search needs from it.

`NASModel.fit` accepts what `keras.Model.fit` accepts: numpy arrays (with
`validation_data` or `validation_split`) or a batched `tf.data.Dataset` of
`(x, y)` pairs. This module turns either into a `PreparedData` and fails early,
with a message naming the problem, on data that cannot train a classifier.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

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
        num_classes: Number of classes.
        one_hot: Whether labels are one-hot (else integer class indices).
        representative_x: Up to 256 training samples (float32) for int8 calibration.
        x_val, y_val: Validation samples as numpy (integer labels), for int8 accuracy.
        mean, variance: Per-channel statistics of the training inputs.
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


def prepare_data(
    x,
    y=None,
    validation_data=None,
    validation_split: float = 0.0,
    batch_size: int | None = None,
    num_classes: int | None = None,
    default_validation_split: float = 0.2,
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

    Returns:
        A `PreparedData`.
    """
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
        x_train, y_train = _take_from_dataset(x, "x")
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
        x_train, y_train = _check_arrays(x, y, "x", "y")
        if validation_data is None:
            split = validation_split or default_validation_split
            if not 0.0 < split < 1.0:
                raise ValueError(f"`validation_split` must be in (0, 1), got {validation_split}.")
            n_val = max(1, int(round(len(x_train) * split)))
            if n_val >= len(x_train):
                raise ValueError(
                    f"Only {len(x_train)} samples: too few to hold out a validation split."
                )
            x_train, y_train, x_val_arr, y_val_arr = (
                x_train[:-n_val], y_train[:-n_val], x_train[-n_val:], y_train[-n_val:]
            )
            validation_data = (x_val_arr, y_val_arr)
        elif validation_split:
            raise ValueError("Pass either `validation_data` or `validation_split`, not both.")
        train_args = (x_train, y_train)
        train_kwargs = {"batch_size": batch_size} if batch_size else {}

    if _is_dataset(validation_data):
        x_val, y_val = _take_from_dataset(validation_data, "validation_data", limit=None)
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
        x_val, y_val = _check_arrays(validation_data[0], validation_data[1], "x_val", "y_val")
        validation_data = (x_val, y_val)

    input_shape = tuple(int(d) for d in x_train.shape[1:])
    if tuple(x_val.shape[1:]) != input_shape:
        raise ValueError(
            f"Validation inputs have sample shape {tuple(x_val.shape[1:])} but training inputs "
            f"have {input_shape}: they must match."
        )
    one_hot = y_train.ndim == 2 and y_train.shape[1] > 1
    if (y_val.ndim == 2 and y_val.shape[1] > 1) != one_hot:
        raise ValueError(
            "Training and validation labels must both be integer class indices or both one-hot."
        )
    num_classes = _check_classes(y_train, y_val, one_hot, num_classes)
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
        num_classes=num_classes,
        one_hot=one_hot,
        representative_x=rep,
        x_val=x_val.astype("float32"),
        y_val=_as_class_indices(y_val),
        mean=mean.astype("float32"),
        variance=variance.astype("float32"),
    )


def _is_dataset(obj) -> bool:
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - tensorflow is a dependency
        return False
    return isinstance(obj, tf.data.Dataset)


def _check_arrays(x, y, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    if y is None:
        raise ValueError(f"`{y_name}` is missing: pass labels with `{x_name}`.")
    try:
        x = np.asarray(x)
        y = np.asarray(y)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"`{x_name}`/`{y_name}` could not be read as arrays: {e}") from e
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"`{x_name}` must be numeric, got dtype {x.dtype}.")
    if x.ndim < 2:
        raise ValueError(
            f"`{x_name}` must have shape (samples, ...), got {x.shape}. For one feature per "
            f"sample, reshape it to ({len(x)}, 1)."
        )
    if len(x) == 0:
        raise ValueError(f"`{x_name}` is empty.")
    if len(x) != len(y):
        raise ValueError(
            f"`{x_name}` has {len(x)} samples but `{y_name}` has {len(y)}: they must have the "
            "same length."
        )
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
    if y.dtype == object or not np.issubdtype(y.dtype, np.number):
        raise ValueError(
            f"`{y_name}` must be numeric class indices or one-hot, got dtype {y.dtype}. "
            "Encode string labels as integers first (e.g. sklearn's LabelEncoder)."
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(f"`{y_name}` contains NaN or infinite values.")
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] < 1):
        raise ValueError(f"`{y_name}` must have shape (n,), (n, 1) or (n, classes), got {y.shape}.")
    return x, y


def _check_classes(y_train, y_val, one_hot: bool, num_classes: int | None) -> int:
    if one_hot:
        for labels, name in ((y_train, "training"), (y_val, "validation")):
            rows = labels.astype("float64")
            bad = np.flatnonzero((rows < 0).any(axis=1) | (np.abs(rows.sum(axis=1) - 1.0) > 1e-3))
            if bad.size:
                raise ValueError(
                    f"The 2-D {name} labels are not one-hot: row {int(bad[0])} is "
                    f"{labels[bad[0]].tolist()} (a row must be non-negative and sum to 1, e.g. "
                    "[0, 1, 0]). Multi-label or regression targets are not supported; for class "
                    "indices pass labels of shape (n,)."
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
            "non-integer values. This searches classifiers only."
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
        if num_classes < 2:
            raise ValueError(
                "All labels are 0: a classifier needs at least 2 classes. Pass num_classes "
                "if some classes are absent from this data."
            )
    elif high >= num_classes:
        raise ValueError(
            f"Label {high} is out of range for num_classes={num_classes}: labels must be in "
            f"[0, {num_classes - 1}]."
        )
    return int(num_classes)


def _as_class_indices(y: np.ndarray) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype("int64")
    return y.reshape(-1).astype("int64")


def _take_from_dataset(dataset, name: str, limit: int | None = NUM_REPRESENTATIVE_SAMPLES * 40):
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
    return _check_arrays(np.concatenate(xs), np.concatenate(ys), f"{name} (x)", f"{name} (y)")
