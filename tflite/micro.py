"""TFLite Micro: exact arena (SRAM) size and inference on the real interpreter.

Isolation decision
------------------
TFLite Micro parses flatbuffers without a verifier. Handing it 500 randomly
damaged copies of a small int8 model (byte/word/bit changes, truncation)
killed the process 12 times (SIGSEGV x10, SIGFPE, SIGABRT). LiteRT does
verify flatbuffers, so every function here first loads the model with the
LiteRT interpreter and runs it once (about 1 ms): that rejects most damage
with a clear message, but not all of it - 1 of those 500 models passed LiteRT
and then aborted TFLite Micro.

So TFLite Micro runs, by default, in a long-lived worker process
(`_micro_process.py`): about 0.25 s to start on first use, then about 5 ms
per call, against about 2.5 ms in-process and about 250 ms for a fresh child
process per call. A crash kills only the worker: the call raises
`InvalidModelError` and the next call starts a new worker. Pass
`isolated=False` to run TFLite Micro in the calling process instead (only
for models you trust, e.g. straight from `to_tflite`).
"""

import re

import numpy as np

from . import _micro_core
from ._micro_process import WorkerCrashed, shared_worker
from ._capture import capture_stderr
from .errors import InvalidModelError
from .interpreter import (
    ModelSource,
    as_model_bytes,
    load_interpreter,
    single_io_details,
)
from .quantization import check_batch, dequantize, quantize
from .standardization import destandardize, file_entries, standardize

_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


def _validated(model_content: ModelSource):
    """Bytes and (input, output) details, after LiteRT accepted the model."""
    data = as_model_bytes(model_content)
    interpreter = load_interpreter(data)
    input_details, output_details = single_io_details(
        interpreter, "Running on TFLite Micro", InvalidModelError
    )
    try:
        interpreter.set_tensor(
            input_details["index"], np.zeros(input_details["shape"], input_details["dtype"])
        )
        interpreter.invoke()
    except (ValueError, RuntimeError) as e:
        raise InvalidModelError(
            f"LiteRT loaded the model ({len(data)} bytes) but could not run it: {e}. One of its "
            "kernels rejected an op, shape or type at inference (or the file is corrupted in a "
            "way its loader does not check; then re-export it with `to_tflite()`)."
        ) from e
    return data, input_details, output_details


def _tflm_failure(data: bytes, error: str, log: str) -> InvalidModelError:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    lines = [line for line in lines if "RecordingMicroAllocator" not in line]
    detail = "; ".join(lines[-6:])
    if any(word in error for word in ("crashed", "killed", "did not answer")):
        hint = (
            "LiteRT loads and runs this model, yet TFLite Micro crashed on it: either a "
            "TFLite Micro kernel cannot handle one of its ops (an op, shape or parameter "
            "combination), which is the case for a model fresh from `to_tflite()`, or the "
            "file was damaged in a way LiteRT's checks miss (TFLite Micro does not verify "
            "flatbuffers); then re-export it."
        )
    else:
        hint = (
            "Check that every op is supported by TFLite Micro and that the model is "
            "int8 or float32 (float16 models are not supported); convert with "
            "`to_tflite(model, quantization='int8', representative_data=...)`."
        )
    return InvalidModelError(
        f"TFLite Micro could not run the model ({len(data)} bytes): {error}"
        + (f" [{detail}]" if detail else "")
        + f". {hint}"
    )


def _run_in_process(data: bytes, raw_inputs: np.ndarray, arena_size: int, reset_every: int = 0):
    with capture_stderr() as captured:
        try:
            outputs = _micro_core.run_tflm(data, raw_inputs, arena_size, reset_every)
            error = None
        except Exception as e:  # TFLM raises RuntimeError/ValueError/struct.error
            outputs, error = None, f"{type(e).__name__}: {e}"
    return outputs, error, captured.text


def _run_in_worker(data: bytes, raw_inputs: np.ndarray, arena_size: int, reset_every: int = 0):
    try:
        return shared_worker().run(data, raw_inputs, arena_size, reset_every)
    except (WorkerCrashed, TimeoutError) as e:
        return None, str(e), ""


def _run(data: bytes, raw_inputs: np.ndarray, isolated: bool, reset_every: int = 0):
    """Run TFLM, growing the arena when it is too small; returns (outputs, log)."""
    runner = _run_in_worker if isolated else _run_in_process
    arena_size = _micro_core.default_arena_size(len(data))
    while True:
        outputs, error, log = runner(data, raw_inputs, arena_size, reset_every)
        if error is None:
            return outputs, log
        too_small = any(p in log for p in _micro_core.ARENA_TOO_SMALL)
        if too_small and arena_size * 8 <= _micro_core.MAX_ARENA_SIZE:
            arena_size *= 8
            continue
        raise _tflm_failure(data, error, log)


def arena_bytes(model_content: ModelSource, *, isolated: bool = True) -> int:
    """Exact peak tensor-arena size (SRAM) TFLite Micro needs for a model.

    The model runs once on a zero input in the real TFLite Micro interpreter
    (reference kernels, recording allocator); the figure is the
    `Arena allocation total` it reports. It is measured on this host: on a
    32-bit microcontroller the interpreter's own structs are a little smaller,
    while optimized kernels (CMSIS-NN, ESP-NN) may ask for extra scratch
    buffers, so leave a margin when sizing a real arena (`write_c_array`
    does).

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        isolated: Run TFLite Micro in the worker process (default), so that
            even a crash of TFLite Micro cannot take the caller down; `False`
            runs it in this process (about 2 ms faster per call). The model
            is validated with LiteRT first either way (see the module
            docstring).

    Returns:
        The arena size in bytes.

    Raises:
        InvalidModelError: The bytes are not a valid model, or TFLite Micro
            cannot run it (unsupported op or type, e.g. float16).

    Example:

    >>> model_bytes = to_tflite(model, "int8", representative_data=x)  # doctest: +SKIP
    >>> arena_bytes(model_bytes)  # doctest: +SKIP
    2320
    """
    data, input_details, _ = _validated(model_content)
    raw = np.zeros(input_details["shape"], dtype=input_details["dtype"])
    _, log = _run(data, raw, isolated)
    totals = _ARENA_TOTAL.findall(log)
    if not totals:
        raise InvalidModelError(
            "TFLite Micro ran the model but printed no arena report "
            f"('Arena allocation total N bytes'); captured output: {log[-500:]!r}"
        )
    return int(totals[-1])


def run_raw(model_content: bytes, raw_inputs: np.ndarray, *, isolated: bool = True,
            reset_every: int = 0) -> tuple[np.ndarray, int]:
    """Run raw inputs through a model only TFLite Micro runs; its raw outputs and arena.

    For files with TFLite Micro's own custom ops (its signal library:
    `keras_nas.tflite.signal_front_end`), which LiteRT cannot load, so they
    are not checked by LiteRT first: pass only files this package wrote.

    Args:
        model_content: The `.tflite` flatbuffer.
        raw_inputs: Batch `(n, *sample_shape)` in the input's dtype (see
            `_micro_core.run_tflm`).
        isolated: Run TFLite Micro in the worker process (see `arena_bytes`).
        reset_every: Reset the kernels' state before every `reset_every`-th
            sample (a stateful front-end's clips, one frame a sample; 0: never).

    Returns:
        `(outputs, arena)`: the per-sample outputs stacked on axis 0, and
        TFLite Micro's `Arena allocation total` in bytes.

    Raises:
        InvalidModelError: TFLite Micro cannot run the model.
    """
    data = as_model_bytes(model_content)
    outputs, log = _run(data, np.ascontiguousarray(raw_inputs), isolated, reset_every)
    totals = _ARENA_TOTAL.findall(log)
    return outputs, int(totals[-1]) if totals else 0


def run_micro(model_content: ModelSource, x, *, isolated: bool = True) -> np.ndarray:
    """Run a batch through TFLite Micro, one sample at a time.

    Float inputs are quantized with the model's input scale and zero point
    when the input tensor is int8 (or uint8/int16), and quantized outputs are
    dequantized, so the result is comparable with the float Keras model. A
    file whose metadata says it takes standardized features or gives
    standardized outputs (`keras_nas.tflite.standardization`) gets and gives
    raw values.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        x: Float batch of shape `(n, *input_shape)`.
        isolated: Run TFLite Micro in the worker process (see `arena_bytes`).

    Returns:
        Float32 outputs of shape `(n, *output_shape)`.

    Raises:
        InvalidModelError: The model is invalid or TFLite Micro cannot run it.
        ValueError: `x` does not match the model's input shape.

    Example:

    >>> probabilities = run_micro(model_bytes, x_test[:10])  # doctest: +SKIP
    >>> probabilities.shape  # doctest: +SKIP
    (10, 10)
    """
    data, input_details, output_details = _validated(model_content)
    x = check_batch(x, input_details["shape"][1:])
    if x.shape[0] == 0:
        return np.zeros((0, *output_details["shape"][1:]), dtype=np.float32)
    inputs, outputs = file_entries(data)
    raw_outputs, _ = _run(data, quantize(standardize(x, inputs), input_details), isolated)
    return destandardize(dequantize(raw_outputs, output_details), outputs)
