"""Integer inputs whose features differ in scale: standardized before quantization, outside the model.

A full-integer model quantizes its input with one scale for the whole tensor,
set by the widest feature. When the features differ in scale (a pressure in
hPa beside a humidity in %, or a value of 1000 +- 1), the narrow ones keep a
few steps or none: on scikit-learn's RLC-circuit data (`make_friedman2`) an
int8 MLP that normalizes its own input predicts the training mean (MAE 303
against 7.0 in float; 7.4 as int8 on standardized features). A `Normalization` layer inside the model cannot help: it
runs after the quantization. So when a model starts with one and some feature
would keep fewer than `MIN_STEPS_PER_STD` quantization steps per standard
deviation, the integer file is converted from the network *after* it and
takes standardized features, `(x - mean) / std` per feature, which the app
computes before quantizing (a subtraction and a multiplication per feature).

The file's metadata says so (`"normalization": {"in_model": False, "mean":
[...], "std": [...]}`), `keras_nas.tflite.predict` applies it, and the C
header written by `write_c_array` carries the mean and standard deviation.
Float files keep the layer: they take raw inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_STEPS_PER_STD = 4
"""Fewest quantization steps per standard deviation a raw input feature may keep."""

INPUT_LEVELS = {"int8": 256, "int16x8": 65536}
"""Quantization levels of the input of each integer quantization."""

SPREAD = 3.0
"""A feature's values are taken to span its mean +- this many standard deviations."""

NOTE = ("The integer model takes standardized features: feed (x - mean) / std, per feature "
        "(the last axis), then quantize with the input scale and zero point.")


def input_normalization(model):
    """The `keras.layers.Normalization` right after the model's single input, or `None`.

    Only a layer over the last axis that normalizes (not `invert`) counts.
    """
    import keras

    if len(getattr(model, "inputs", None) or []) != 1:
        return None
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if not isinstance(layer, keras.layers.Normalization) or layer.invert:
            return None
        if getattr(layer, "mean", None) is None or getattr(layer, "variance", None) is None:
            return None  # not adapted yet
        if tuple(layer.axis) not in ((-1,), (len(model.inputs[0].shape) - 1,)):
            return None
        if layer.input is not model.inputs[0]:
            return None
        return layer
    return None


def _statistics(layer) -> tuple[np.ndarray, np.ndarray]:
    import keras

    mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), dtype=np.float64).ravel()
    variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), dtype=np.float64).ravel()
    return mean, np.sqrt(np.maximum(variance, 0.0))


def steps_per_std(mean, std, levels: int = INPUT_LEVELS["int8"]) -> np.ndarray:
    """Quantization steps per standard deviation each feature keeps in a raw input tensor.

    The tensor's range is taken as every feature's `mean +- SPREAD * std`,
    zero included (as the converter's calibration does), over `levels` steps.

    Args:
        mean: Per-feature means.
        std: Per-feature standard deviations.
        levels: Levels of the input type (256 for int8).

    Returns:
        One figure per feature.
    """
    mean, std = np.asarray(mean, np.float64).ravel(), np.asarray(std, np.float64).ravel()
    low = min(0.0, float(np.min(mean - SPREAD * std)))
    high = max(0.0, float(np.max(mean + SPREAD * std)))
    step = (high - low) / (levels - 1)
    if step <= 0:
        return np.full(mean.shape, np.inf)
    return std / step


def standardized_outside(model, quantization: str = "int8") -> bool:
    """Whether the integer conversion of `model` takes standardized features (see the module).

    Args:
        model: A built Keras model.
        quantization: A quantization name; only `INPUT_LEVELS`' (integer
            inputs) can be.

    Returns:
        True when `model` starts with a `Normalization` layer and a raw
        feature would keep fewer than `MIN_STEPS_PER_STD` steps per standard
        deviation in the quantized input.
    """
    if quantization not in INPUT_LEVELS:
        return False
    layer = input_normalization(model)
    if layer is None:
        return False
    mean, std = _statistics(layer)
    return bool(np.min(steps_per_std(mean, std, INPUT_LEVELS[quantization])) < MIN_STEPS_PER_STD)


def network_after_normalization(model):
    """`model` without its input `Normalization` layer: it takes standardized features.

    The input keeps its name (what an app's signature runner calls it).
    """
    import keras

    layer = input_normalization(model)
    inner = keras.Model(layer.output, model.outputs, name=f"{model.name}_standardized")
    inputs = keras.Input(model.inputs[0].shape[1:], name=model.inputs[0].name)
    return keras.Model(inputs, inner(inputs), name=model.name)


def normalization_metadata(model) -> dict[str, Any]:
    """The metadata entry of a file converted from `network_after_normalization(model)`."""
    layer = input_normalization(model)
    mean, std = _statistics(layer)
    return {"in_model": False, "layer": layer.name, "mean": [float(v) for v in mean],
            "std": [float(v) for v in std], "note": NOTE}


def standardize(x, normalization: dict | None) -> np.ndarray:
    """`x` as a file with this metadata entry takes it: standardized when `in_model` is False.

    Args:
        x: Raw float inputs `(n, ..., features)`.
        normalization: A file's `"normalization"` metadata (`read_metadata`),
            or `None`.

    Returns:
        `(x - mean) / std` when the entry says the file takes standardized
        features, else `x` unchanged.
    """
    if not normalization or normalization.get("in_model", True) or "mean" not in normalization:
        return x
    mean = np.asarray(normalization["mean"], np.float32)
    std = np.asarray(normalization["std"], np.float32)
    return ((np.asarray(x, np.float32) - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def file_inputs(model_bytes: bytes, x) -> np.ndarray:
    """`x` as the `.tflite` file `model_bytes` takes it (`standardize` by its metadata)."""
    from .metadata import read_metadata

    return standardize(x, read_metadata(model_bytes).get("normalization"))
