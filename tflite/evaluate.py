"""Run TFLite models on float data and score them (LiteRT or TFLite Micro)."""

import numpy as np

from .interpreter import (
    ModelSource,
    as_model_bytes,
    load_interpreter,
    single_io_details,
)
from .micro import run_micro
from .quantization import check_batch, dequantize, quantize
from .standardization import destandardize, file_entries, standardize

RUNTIMES = ("litert", "micro")
_CHUNK = 256  # samples per LiteRT invoke when the batch dimension is dynamic


def _run_chunks(interpreter, input_details, output_details, raw, chunk):
    results = []
    current = int(input_details["shape"][0])
    for start in range(0, raw.shape[0], chunk):
        batch = raw[start : start + chunk]
        if batch.shape[0] != current:
            interpreter.resize_tensor_input(input_details["index"], list(batch.shape))
            interpreter.allocate_tensors()
            current = batch.shape[0]
        interpreter.set_tensor(input_details["index"], batch)
        interpreter.invoke()
        results.append(np.array(interpreter.get_tensor(output_details["index"]), copy=True))
    return np.concatenate(results, axis=0)


def _predict_litert(data: bytes, x) -> np.ndarray:
    interpreter = load_interpreter(data)
    input_details, output_details = single_io_details(interpreter, "predict")
    x = check_batch(x, input_details["shape"][1:])
    if x.shape[0] == 0:
        return np.zeros((0, *output_details["shape"][1:]), dtype=np.float32)
    inputs, outputs = file_entries(data)
    raw = quantize(standardize(x, inputs), input_details)
    signature = input_details.get("shape_signature", input_details["shape"])
    if len(signature) and signature[0] == -1 and x.shape[0] > 1:
        try:
            raw_outputs = _run_chunks(interpreter, input_details, output_details, raw, _CHUNK)
            return destandardize(dequantize(raw_outputs, output_details), outputs)
        except (RuntimeError, ValueError):
            # Some graphs hard-code batch 1 (e.g. in RESHAPE); run them per sample.
            interpreter = load_interpreter(data)
    raw_outputs = _run_chunks(interpreter, input_details, output_details, raw, 1)
    return destandardize(dequantize(raw_outputs, output_details), outputs)


def predict(model_content: ModelSource, x, runtime: str = "litert") -> np.ndarray:
    """Float predictions of a TFLite model for a batch of any size.

    int8 inputs are quantized with the model's input scale/zero point and
    int8 outputs dequantized, so results compare directly with Keras. A file
    whose metadata says it takes standardized features or gives standardized
    outputs (`keras_nas.tflite.standardization`) gets and gives raw values.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        x: Float batch `(n, *input_shape)`.
        runtime: `"litert"` (LiteRT interpreter; batched when the model's
            batch dimension is dynamic) or `"micro"` (TFLite Micro, one sample
            at a time).

    Returns:
        Float32 outputs `(n, *output_shape)`.

    Raises:
        ValueError: Unknown runtime, or `x` does not match the input shape.
        InvalidModelError: The model cannot be loaded or run.

    Example:

    >>> probabilities = predict(model_bytes, x_test, runtime="micro")  # doctest: +SKIP
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime {runtime!r}; valid options are: 'litert', 'micro'.")
    data = as_model_bytes(model_content)
    if runtime == "micro":
        return run_micro(data, x)
    return _predict_litert(data, x)


def accuracy(model_content: ModelSource, x, y, runtime: str = "litert") -> float:
    """Classification accuracy of a TFLite model: argmax of `predict` vs labels.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        x: Float batch `(n, *input_shape)`.
        y: Integer labels `(n,)` (or `(n, 1)`) or one-hot labels `(n, k)`.
        runtime: `"litert"` or `"micro"`, as in `predict`.

    Returns:
        The fraction of correct predictions, in [0, 1].

    Raises:
        ValueError: `x` and `y` disagree in length, or bad shapes.

    Example:

    >>> accuracy(model_bytes, x_test, y_test)  # doctest: +SKIP
    0.96
    """
    y = np.asarray(y)
    if y.ndim > 2:
        raise ValueError(f"y must be labels (n,) or one-hot (n, k), got shape {y.shape}.")
    if y.ndim == 2 and y.shape[1] > 1:
        labels = y.argmax(axis=1)
    else:
        labels = y.reshape(-1)
    if labels.shape[0] != np.shape(x)[0]:
        raise ValueError(f"x has {np.shape(x)[0]} samples but y has {labels.shape[0]} labels.")
    if labels.shape[0] == 0:
        raise ValueError("accuracy needs at least one sample.")
    outputs = predict(model_content, x, runtime=runtime)
    predicted = outputs.reshape(outputs.shape[0], -1).argmax(axis=1)
    return float(np.mean(predicted == labels.astype(np.int64)))
