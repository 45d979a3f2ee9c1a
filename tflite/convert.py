"""Convert a Keras 3 model to TFLite (int8, int16x8, float32, float16, dynamic) or a SavedModel."""

import contextlib
import io
import re
import warnings

import numpy as np

from . import standardization
from ._capture import capture_stderr
from .errors import ConversionError
from .metadata import add_metadata

QUANTIZATIONS = ("int8", "float32", "float16", "dynamic", "int16x8")
"""Valid `quantization` names for `convert` / `to_tflite`:

- `"int8"`: full-integer quantization (int8 weights, activations, input and
  output; `TFLITE_BUILTINS_INT8` only). Needs representative data. Runs on
  LiteRT and TFLite Micro.
- `"float32"`: no quantization.
- `"float16"`: float16 weights, float32 compute (LiteRT only; TFLite Micro
  has no float16 support).
- `"dynamic"`: int8 weights, float activations (dynamic-range quantization).
- `"int16x8"`: 16-bit activations, 8-bit weights (int16 input and output;
  `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`). Needs
  representative data. More accurate than int8 when activations have a wide
  range; runs on LiteRT. TFLite Micro has int16 kernels for only part of the
  ops (see `benchmarks/RESULTS.md` for what was measured).
"""

CALIBRATED = ("int8", "int16x8")
"""Quantizations that need `representative_data` to calibrate activations."""

_SEED = 0  # fixed seed: the calibration subset is the same on every call


def calibration_samples(representative_data, num_calibration_samples: int = 200) -> np.ndarray:
    """Pick the calibration rows `to_tflite` uses, deterministically.

    Args:
        representative_data: Float array `(n, *input_shape)`.
        num_calibration_samples: Maximum number of rows to keep.

    Returns:
        A float32 array of `min(n, num_calibration_samples)` rows: all rows
        if there are few enough, else a subset drawn without replacement by a
        fixed-seed generator (kept in the original order), so that the same
        data always gives the same model.

    Raises:
        ValueError: The data is empty, not numeric, or contains NaN/inf.

    Example:

    >>> calibration_samples(np.zeros((1000, 8, 8, 1)), 200).shape
    (200, 8, 8, 1)
    """
    if not isinstance(num_calibration_samples, (int, np.integer)) or num_calibration_samples < 1:
        raise ValueError(
            f"num_calibration_samples must be a positive int, got {num_calibration_samples!r}."
        )
    try:
        data = np.asarray(representative_data, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(
            "representative_data must be a float numpy array of shape "
            f"(n, *input_shape); could not convert it: {e}"
        ) from e
    if data.ndim < 1 or data.shape[0] == 0:
        raise ValueError(
            "representative_data must hold at least one sample, shape (n, *input_shape); "
            f"got shape {data.shape}."
        )
    if not np.all(np.isfinite(data)):
        raise ValueError("representative_data contains NaN or infinite values.")
    n = data.shape[0]
    if n <= num_calibration_samples:
        return data
    rows = np.sort(np.random.default_rng(_SEED).choice(n, num_calibration_samples, replace=False))
    return data[rows]


def _check_int8_data(model, data: np.ndarray) -> None:
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) > 1:
        raise ValueError(
            f"int8 calibration supports single-input models; this model has {len(inputs)} inputs."
        )
    if len(inputs) == 1:
        expected = tuple(inputs[0].shape[1:])
        got = tuple(data.shape[1:])
        if len(expected) != len(got) or any(
            e is not None and e != g for e, g in zip(expected, got)
        ):
            raise ValueError(
                f"representative_data has samples of shape {got}, but the model "
                f"input expects {expected}; pass an array of shape (n, *input_shape)."
            )


def _frozen_converter(model):
    """A converter of the model's inference function with its weights frozen to constants.

    About 3x faster than `from_keras_model` (no SavedModel is written), the same
    kernels and arena, but no signature def: about 150 bytes smaller.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
    function = tf.function(lambda inputs: model(inputs, training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(spec))
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen])


def _converter(model, quantization: str, calibration, signatures: bool = True):
    import tensorflow as tf

    if signatures or len(model.inputs) != 1:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    else:
        converter = _frozen_converter(model)
    return configure_quantization(converter, quantization, calibration)


def configure_quantization(converter, quantization: str, calibration=None):
    """Sets a `tf.lite.TFLiteConverter` up for one of `QUANTIZATIONS`; returns it.

    Args:
        converter: The converter (of a Keras 3 model, a concrete function or a
            tf_keras model).
        quantization: One of `QUANTIZATIONS`.
        calibration: Float rows `(n, *input_shape)` for the `CALIBRATED`
            quantizations (see `calibration_samples`).

    Returns:
        The same converter.
    """
    import tensorflow as tf

    if quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([row[None]] for row in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif quantization == "int16x8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([row[None]] for row in calibration)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
    elif quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter


def run_converter(make_converter, what: str) -> bytes:
    """Builds a converter and converts, with the converter's console output captured.

    Args:
        make_converter: A function returning the set-up `tf.lite.TFLiteConverter`.
        what: The conversion, for the error message (e.g. "TFLite conversion
            (int8) of model 'candidate'").

    Returns:
        The `.tflite` bytes.

    Raises:
        ConversionError: `"<what> failed: <reason>"`, the reason taken from the
            exception and the converter's log.
    """
    with capture_stderr() as captured:
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                content = make_converter().convert()
            error = None
        except Exception as e:  # the converter raises many types
            error = e
    if error is not None:
        raise ConversionError(f"{what} failed: {_reason(error, captured.text)}") from error
    return bytes(content)


_UNSUPPORTED_OP = re.compile(r"'(tf\.\w+)' op is neither a custom op nor a flex op")
_ERROR_CODE = re.compile(r"Error code: (ERROR_\w+)")


def _strip_location(message: str) -> str:
    """Drop a leading MLIR `loc(...)` (balanced parentheses) and its colon."""
    message = message.strip()
    if not message.startswith("loc("):
        return message
    depth = 0
    for i, char in enumerate(message):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char == ")":
            return message[i + 1 :].lstrip(": ").strip()
    return message


def _reason(error: BaseException, log: str) -> str:
    """A short reason from the converter's exception text and stderr."""
    text = f"{error}\n{log}"
    parts = []
    ops = sorted(set(_UNSUPPORTED_OP.findall(text)))
    if ops:
        parts.append(
            "unsupported op(s) with no TFLite builtin kernel: " + ", ".join(ops)
            + " (they would need TF Select/Flex ops, which TFLite Micro does not "
            "have: replace the layer that produces them)"
        )
    for line in text.splitlines():
        if "error:" not in line:
            continue
        message = " ".join(_strip_location(line.split("error:", 1)[1]).split())
        if not message or _UNSUPPORTED_OP.search(message) or "failed while converting" in message:
            continue
        if message not in parts:
            parts.append(message)
    parts += sorted(set(_ERROR_CODE.findall(text)))
    if not parts:
        first = " ".join(str(error).split()) or type(error).__name__
        parts = [first[:500]]
    return "; ".join(parts[:6])


def to_tflite(
    model,
    quantization: str = "int8",
    representative_data=None,
    num_calibration_samples: int = 200,
    signatures: bool = True,
) -> bytes:
    """Convert a Keras 3 model to a TFLite flatbuffer.

    Uses `tf.lite.TFLiteConverter.from_keras_model`. Its chatter (the Keras
    export's "Saved artifact at ..." and TensorSpec listing on Python stdout,
    warnings, and the MLIR/quantizer lines on the C-level stderr) is
    swallowed; on failure the relevant lines end up in the `ConversionError`
    message instead. TensorFlow itself is imported on the first call only.

    Args:
        model: A built Keras 3 model (known input shape).
        quantization: One of `"int8"` (full-integer: int8 weights,
            activations, input and output; runs on TFLite Micro), `"float32"`,
            `"float16"`, `"dynamic"` (int8 weights, float activations) or
            `"int16x8"` (int16 activations, input and output, int8 weights).
        representative_data: Float numpy array `(n, *input_shape)`, required
            for `"int8"` and `"int16x8"` to calibrate activation ranges,
            ignored otherwise.
        num_calibration_samples: At most this many rows of
            `representative_data` are used (a fixed-seed subset when there
            are more, so conversion is deterministic).
        signatures: Keep the `serving_default` signature (what apps call
            through LiteRT's signature runner). `False` converts the frozen
            inference function instead: about 3x faster, same kernels, arena
            and outputs, about 150 bytes smaller (no signature def); the
            search measures candidates far from the flash limit this way.

    Returns:
        The `.tflite` flatbuffer as bytes, without the names of its inner
        tensors (`strip_tensor_names`). An integer file of a model whose
        input `Normalization` layer (or output de-normalization) would lose
        features of small scale to the quantization takes standardized
        features (gives standardized outputs) instead, and its metadata says
        so (`keras_nas.tflite.standardization`).

    Raises:
        ValueError: Unknown `quantization` name, or `"int8"`/`"int16x8"`
            without (or with malformed) `representative_data`.
        ConversionError: The converter failed (e.g. an op with no TFLite
            int8 kernel); the message names the reason.

    Example:

    >>> model_bytes = to_tflite(model, "int8", representative_data=x_train)  # doctest: +SKIP
    >>> open("model.tflite", "wb").write(model_bytes)  # doctest: +SKIP
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Unknown quantization {quantization!r}; valid options are: "
            + ", ".join(repr(q) for q in QUANTIZATIONS)
            + "."
        )
    calibration = None
    if quantization in CALIBRATED:
        if representative_data is None:
            raise ValueError(
                f"quantization={quantization!r} needs representative_data: a float numpy "
                "array of shape (n, *input_shape), e.g. a few hundred training inputs, "
                "to calibrate the activation ranges. Or use quantization='float32' "
                "or 'dynamic'."
            )
        calibration = calibration_samples(representative_data, num_calibration_samples)
        _check_int8_data(model, calibration)
    model, standardized = standardization.integer_network(model, quantization)
    calibration = standardization.standardize(calibration, standardized.get("normalization"))

    model_content = run_converter(
        lambda: _converter(model, quantization, calibration, signatures),
        f"TFLite conversion ({quantization}) of model {getattr(model, 'name', type(model).__name__)!r}",
    )
    model_content = strip_tensor_names(model_content)
    if standardized:
        model_content = add_metadata(model_content, normalization=standardized.get("normalization"),
                                     extra={k: v for k, v in standardized.items() if k != "normalization"})
    return model_content


def strip_tensor_names(model_content: bytes) -> bytes:
    """The flatbuffer without the names of its inner tensors (the model's inputs and outputs keep theirs).

    The converter names every tensor after the graph nodes fused into it
    (`"candidate_1/stage_1_0_act_1/Relu;candidate_1/stage_1_0_bn_1/..."`,
    often over 150 bytes each): 15-20 % of a small int8 model's flash, read by
    no runtime. Kernels, arena and outputs are unchanged; signatures refer to
    tensors by index.

    Args:
        model_content: A `.tflite` flatbuffer.

    Returns:
        The same model, smaller.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_content))
    for subgraph in model.subgraphs:
        keep = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in keep:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def convert(
    model,
    quantization: str = "int8",
    representative_data=None,
    num_calibration_samples: int = 200,
) -> bytes:
    """Convert a Keras 3 model to a TFLite flatbuffer (the public entry point).

    The same as `to_tflite` (which stays available under that name).

    Args:
        model: A built Keras 3 model (known input shape).
        quantization: One of `QUANTIZATIONS`: `"int8"` (full integer, runs on
            TFLite Micro), `"int16x8"` (int16 activations, int8 weights),
            `"float32"`, `"float16"` or `"dynamic"`.
        representative_data: Float numpy array `(n, *input_shape)` (e.g. a
            few hundred training inputs), required for `"int8"` and
            `"int16x8"`.
        num_calibration_samples: At most this many rows of
            `representative_data` calibrate the activation ranges.

    Returns:
        The `.tflite` flatbuffer as bytes.

    Raises:
        ValueError: Unknown `quantization`, or missing/malformed
            `representative_data` for a calibrated quantization.
        ConversionError: The converter failed; the message says why.

    Example:

    >>> from keras_nas import tflite  # doctest: +SKIP
    >>> model_bytes = tflite.convert(model, "int16x8", representative_data=x_train)  # doctest: +SKIP
    """
    return to_tflite(model, quantization, representative_data, num_calibration_samples)


def export_saved_model(model, path, check_data=None, atol: float = 1e-5) -> str:
    """Export a Keras 3 model as a TensorFlow SavedModel and check it reloads.

    Writes `model.export(path, format="tf_saved_model")` (a `serve`
    signature for inference), reloads it with `tf.saved_model.load` and
    compares its outputs with the Keras model's on `check_data` (or on one
    batch of zeros when no data is given).

    Args:
        model: A built Keras 3 model.
        path: Directory to write (must not exist, or be an empty folder).
        check_data: Optional float batch `(n, *input_shape)` to compare the
            reloaded SavedModel's outputs with the Keras model's.
        atol: Largest absolute difference tolerated in that comparison.

    Returns:
        The SavedModel directory, as a string.

    Raises:
        ValueError: `path` exists and is a non-empty folder or a file, or
            `check_data` does not match the input shape.
        ConversionError: The export failed, or the reloaded SavedModel gives
            outputs that differ from the Keras model's by more than `atol`.

    Example:

    >>> export_saved_model(model, "out/saved_model", x_val[:32])  # doctest: +SKIP
    'out/saved_model'
    """
    import os

    path = os.fspath(path)
    if os.path.isfile(path) or (os.path.isdir(path) and os.listdir(path)):
        raise ValueError(
            f"SavedModel path {path!r} already exists and is not an empty folder; "
            "pass a new directory (or delete the old export first)."
        )
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ValueError(
            f"export_saved_model supports single-input models; this model has {len(inputs)} inputs."
        )
    input_shape = tuple(inputs[0].shape[1:])
    if check_data is None:
        check_data = np.zeros((1, *input_shape), dtype=np.float32)
    check_data = np.asarray(check_data, dtype=np.float32)
    if check_data.ndim != len(input_shape) + 1 or tuple(check_data.shape[1:]) != input_shape:
        raise ValueError(
            f"check_data must have shape (n, {', '.join(map(str, input_shape))}), "
            f"got {check_data.shape}."
        )
    import tensorflow as tf

    with capture_stderr() as captured:
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.export(path, format="tf_saved_model")
                loaded = tf.saved_model.load(path)
                reloaded = loaded.serve(tf.constant(check_data))
            error = None
        except Exception as e:  # export and reload raise many types
            error = e
    if error is not None:
        raise ConversionError(
            f"SavedModel export of model {getattr(model, 'name', type(model).__name__)!r} "
            f"to {path!r} failed: {_reason(error, captured.text)}"
        ) from error
    if isinstance(reloaded, dict):
        reloaded = next(iter(reloaded.values()))
    expected = np.asarray(model(check_data, training=False))
    difference = float(np.max(np.abs(np.asarray(reloaded) - expected)))
    if not difference <= atol:
        raise ConversionError(
            f"The SavedModel reloaded from {path!r} gives outputs that differ from the "
            f"Keras model's by up to {difference:.3g} (tolerance {atol:g})."
        )
    return path
