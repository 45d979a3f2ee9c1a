"""Integer files whose input features or outputs differ in scale: standardized outside the model.

A full-integer model quantizes its input and its output with one scale for the
whole tensor, set by the widest feature. When the features differ in scale (a
pressure in hPa beside a humidity in %, a value of 1000 +- 1), the narrow ones
keep a few steps or none: on scikit-learn's RLC-circuit data
(`make_friedman2`) an int8 MLP that normalizes its own input predicts the
training mean (MAE 303 against 7.0 in float; 7.4 as int8 on standardized
features). A `Normalization` layer inside the model cannot help: the input is
quantized before it runs, and an output de-normalized by one (`invert=True`,
as a regression model's targets are) is quantized after it.

So when a model starts with a `Normalization` layer, or ends with an inverted
one, and some feature (or output) would keep fewer than `MIN_STEPS_PER_STD`
quantization steps per standard deviation (or, for tabular features, when
their scales differ: see `_folding_affine`), the integer file is converted from
the network without that layer: it takes standardized features,
`(x - mean) / std`, and gives standardized outputs `y` (`y * std + mean` is in
the targets' units), per feature (the last axis). The app computes them: a
subtraction and a multiplication per value.

The file's metadata says so (`"normalization"` for the input,
`"output_normalization"` for the output: `{"in_model": False, "mean": [...],
"std": [...]}`), `keras_nas.tflite.predict` and `run_micro` apply it, and the C
header written by `write_c_array` carries the means and standard deviations.
Float files keep the layers: they take and give raw values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .metadata import read_metadata
from .normalization import applies, layer_statistics  # noqa: F401  (their old home: still importable from here)

MIN_STEPS_PER_STD = 4
"""Fewest quantization steps per standard deviation a raw feature or output may keep."""

MAX_FOLDED_STD_RATIO = 4.0
"""Largest ratio of feature standard deviations a tabular input normalization is folded with."""

INTEGER_LEVELS = {"int8": 256, "int16x8": 65536}
"""Levels of the input and output type of each integer quantization."""

SPREAD = 3.0
"""A feature's values are taken to span its mean +- this many standard deviations."""

INPUT_NOTE = ("The integer model takes standardized features: feed (x - mean) / std, per feature "
              "(the last axis), then quantize with the input scale and zero point.")
OUTPUT_NOTE = ("The integer model gives standardized outputs: dequantize with the output scale and "
               "zero point, then y = value * std + mean, per output (the last axis).")


def _normalization(layer, invert: bool, rank: int) -> bool:
    import keras

    return (isinstance(layer, keras.layers.Normalization) and bool(layer.invert) == invert
            and tuple(layer.axis) in ((-1,), (rank - 1,))
            and getattr(layer, "mean", None) is not None and getattr(layer, "variance", None) is not None)


def input_normalization(model):
    """The `keras.layers.Normalization` applied to the model's single input first, or `None`.

    Only a layer over the last axis that normalizes (not `invert`) counts.
    """
    if len(getattr(model, "inputs", None) or []) != 1:
        return None
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers or not _normalization(layers[0], False, len(model.inputs[0].shape)):
        return None
    return layers[0] if layers[0].input is model.inputs[0] else None


def output_denormalization(model):
    """The inverted `keras.layers.Normalization` that gives the model's single output, or `None`.

    What `keras_nas.tasks.Regression` ends a model with: the head's
    standardized values back in the targets' units.
    """
    if len(getattr(model, "outputs", None) or []) != 1 or not model.layers:
        return None
    layer = model.layers[-1]
    if not _normalization(layer, True, len(model.outputs[0].shape)):
        return None
    return layer if layer.output is model.outputs[0] else None


def steps_per_std(mean, std, levels: int = INTEGER_LEVELS["int8"]) -> np.ndarray:
    """Quantization steps per standard deviation each feature keeps in one raw tensor.

    The tensor's range is taken as every feature's `mean +- SPREAD * std`,
    zero included (as the converter's calibration does), over `levels` steps.

    Args:
        mean: Per-feature means.
        std: Per-feature standard deviations.
        levels: Levels of the tensor's type (256 for int8).

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


def _loses_features(layer, quantization: str) -> bool:
    if layer is None or quantization not in INTEGER_LEVELS:
        return False
    mean, std = layer_statistics(layer)
    return bool(np.min(steps_per_std(mean, std, INTEGER_LEVELS[quantization])) < MIN_STEPS_PER_STD)


def _folds_into_first_layer(model, quantization: str) -> bool:
    """Whether an input normalization kept in the integer file is folded (see `_folding_affine`)."""
    return (input_normalization(model) is not None and quantization in INTEGER_LEVELS
            and len(model.inputs[0].shape) == 2)


def standardized_input(model, quantization: str = "int8") -> bool:
    """Whether the integer conversion of `model` takes standardized features (see the module).

    Args:
        model: A built Keras model.
        quantization: A quantization name; only `INTEGER_LEVELS`' can be.

    Returns:
        True when `model` starts with a `Normalization` layer and a raw
        feature would keep fewer than `MIN_STEPS_PER_STD` steps per standard
        deviation in the quantized input, or, on tabular features
        `(batch, features)`, when their standard deviations differ by more
        than `MAX_FOLDED_STD_RATIO` (see `_folding_affine`).
    """
    layer = input_normalization(model)
    if _loses_features(layer, quantization):
        return True
    if not _folds_into_first_layer(model, quantization):
        return False
    std = layer_statistics(layer)[1]
    return bool(std.max() > MAX_FOLDED_STD_RATIO * max(std.min(), 1e-30))


def standardized_output(model, quantization: str = "int8") -> bool:
    """Whether the integer conversion of `model` gives standardized outputs (see the module)."""
    return _loses_features(output_denormalization(model), quantization)


def _entry(layer, note: str) -> dict[str, Any]:
    mean, std = layer_statistics(layer)
    return {"in_model": False, "layer": layer.name, "mean": [float(v) for v in mean],
            "std": [float(v) for v in std], "note": note}


def _folding_affine(layer):
    """A tabular model's input normalization `layer` as the `Rescaling` the converter folds.

    On features `(batch, features)` an int8 `Normalization` converts to a SUB
    and a MUL that stay before the first Dense layer, and the converter gives
    the SUB's output the MUL's scale: a few steps per standard deviation left
    (a diabetes MLP's int8 outputs: 0.22 target standard deviations off the
    float ones). The same map as `x * (1 / std) - mean / std` is folded into
    the Dense layer's weights (0.054 off). Folding multiplies each feature's
    weights by its `1 / std`, and the int8 weights share one scale per
    output unit, so only features of one scale (`MAX_FOLDED_STD_RATIO`) are
    folded; others are standardized outside (`standardized_input`).
    Convolutions fold the MUL themselves.
    """
    import keras

    mean, std = layer_statistics(layer)
    std = np.where(std > 0, std, 1.0)
    return keras.layers.Rescaling(scale=(1 / std).astype("float32"), offset=(-mean / std).astype("float32"),
                                  name=layer.name)


def integer_network(model, quantization: str):
    """The network an integer file of `model` is converted from, and the metadata saying how.

    Args:
        model: A built Keras model.
        quantization: A quantization name.

    Returns:
        `(network, entries)`: `model` itself and `{}`, or `model` without
        its input `Normalization` and/or its output de-normalization, with
        the metadata entries `"normalization"` / `"output_normalization"`
        that tell how to standardize its inputs and read its outputs. A
        tabular model's input normalization that stays is rewritten as the
        same map the converter folds into the first layer (`_folding_affine`).
        The input keeps its name (what an app's signature runner calls it).
    """
    import keras

    entries, first = {}, None
    inputs, outputs = model.inputs[0], model.outputs[0]
    layer = input_normalization(model)
    if standardized_input(model, quantization):
        inputs, entries["normalization"] = layer.output, _entry(layer, INPUT_NOTE)
    elif _folds_into_first_layer(model, quantization):
        inputs, first = layer.output, _folding_affine(layer)
    if standardized_output(model, quantization):
        layer = output_denormalization(model)
        outputs, entries["output_normalization"] = layer.input, _entry(layer, OUTPUT_NOTE)
    if not entries and first is None:
        return model, entries
    inner = keras.Model(inputs, outputs, name=f"{model.name}_standardized")
    new_inputs = keras.Input(model.inputs[0].shape[1:], name=model.inputs[0].name)
    x = new_inputs if first is None else first(new_inputs)
    return keras.Model(new_inputs, inner(x), name=model.name), entries


def standardize(x, normalization: dict | None) -> np.ndarray:
    """`x` as a file with this `"normalization"` entry takes it: `(x - mean) / std` when it applies.

    Args:
        x: Raw float inputs `(n, ..., features)`.
        normalization: A file's `"normalization"` metadata (`read_metadata`),
            or `None`.

    Returns:
        The standardized features when the entry says the file takes them,
        else `x` unchanged.
    """
    if not applies(normalization):
        return x
    mean = np.asarray(normalization["mean"], np.float32)
    std = np.asarray(normalization["std"], np.float32)
    return ((np.asarray(x, np.float32) - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def destandardize(y, output_normalization: dict | None) -> np.ndarray:
    """A file's dequantized outputs in the targets' units: `y * std + mean` when the entry applies."""
    if not applies(output_normalization):
        return y
    mean = np.asarray(output_normalization["mean"], np.float32)
    std = np.asarray(output_normalization["std"], np.float32)
    return (np.asarray(y, np.float32) * std + mean).astype(np.float32)


def file_entries(model_bytes: bytes) -> tuple[dict | None, dict | None]:
    """The `"normalization"` and `"output_normalization"` metadata of a `.tflite` file."""
    metadata = read_metadata(model_bytes)
    return metadata.get("normalization"), metadata.get("output_normalization")
