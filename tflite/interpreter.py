"""Load `.tflite` bytes into a LiteRT interpreter, with model validation.

Three runtimes provide the same `Interpreter` class; the first one that
imports is used:

1. `ai_edge_litert.interpreter` (the LiteRT package, preferred),
2. `tflite_runtime.interpreter` (the older standalone runtime),
3. `tf.lite.Interpreter` (full TensorFlow, slow to import).
"""

from __future__ import annotations

import os
import stat
import warnings

from ._capture import capture_stderr
from .errors import InvalidModelError

ModelSource = bytes | bytearray | memoryview | str | os.PathLike

TFLITE_IDENTIFIER = b"TFL3"
# A flatbuffer addresses at most 2 GiB (32-bit offsets); a bigger file is not a .tflite model.
MAX_MODEL_BYTES = 2**31 - 1

_RUNTIME = None  # (Interpreter class, runtime name), resolved on first use.


def _resolve_runtime():
    global _RUNTIME
    if _RUNTIME is not None:
        return _RUNTIME
    try:
        from ai_edge_litert.interpreter import Interpreter

        from ai_edge_litert import __version__ as version

        _RUNTIME = (Interpreter, f"ai-edge-litert {version}")
        return _RUNTIME
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        from tflite_runtime import __version__ as version

        _RUNTIME = (Interpreter, f"tflite-runtime {version}")
        return _RUNTIME
    except ImportError:
        pass
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ImportError(
            "No TFLite runtime found: install `ai-edge-litert` "
            "(pip install ai-edge-litert), `tflite-runtime` or `tensorflow`."
        ) from e
    _RUNTIME = (tf.lite.Interpreter, f"tensorflow.lite {tf.__version__}")
    return _RUNTIME


def runtime_name() -> str:
    """Name and version of the LiteRT runtime `load_interpreter` uses.

    Returns:
        A string such as `"ai-edge-litert 2.3.0"`, `"tflite-runtime 2.14.0"`
        or `"tensorflow.lite 2.21.0"`.

    Example:

    >>> runtime_name()  # doctest: +SKIP
    'ai-edge-litert 2.3.0'
    """
    return _resolve_runtime()[1]


def as_model_bytes(model_content: ModelSource) -> bytes:
    """Return the model as `bytes`, checking it looks like a TFLite flatbuffer.

    This is the cheap check (size and the `TFL3` file identifier); it does not
    parse the flatbuffer. `load_interpreter` does the full check.

    Args:
        model_content: The `.tflite` flatbuffer as bytes-like object, or the
            path of a `.tflite` file.

    Returns:
        The model bytes.

    Raises:
        InvalidModelError: The file does not exist, or the bytes are empty,
            too short or lack the `TFL3` identifier.

    Example:

    >>> data = as_model_bytes("model.tflite")  # doctest: +SKIP
    """
    source = None
    if isinstance(model_content, (str, os.PathLike)):
        source = os.fspath(model_content)
        model_content = _read_model_file(source)
    if not isinstance(model_content, (bytes, bytearray, memoryview)):
        raise InvalidModelError(
            f"Expected the TFLite model as bytes (or a file path), got "
            f"{type(model_content).__name__}. Pass the bytes returned by "
            "`to_tflite()` or `open(path, 'rb').read()`."
        )
    data = bytes(model_content)
    where = f"file {source!r}" if source else "model bytes"
    if not data:
        raise InvalidModelError(
            f"The {where} are empty (0 bytes). Pass the content of a .tflite "
            "file or the bytes returned by `to_tflite()`."
        )
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise InvalidModelError(
            f"The {where} ({len(data)} bytes) are not a TFLite flatbuffer: "
            f"bytes 4:8 are {data[4:8]!r}, expected {TFLITE_IDENTIFIER!r}. "
            "Pass a .tflite model (e.g. from `to_tflite()`), not a Keras, "
            "SavedModel or C-array file."
        )
    return data


def _read_model_file(source: str) -> bytes:
    """Reads a .tflite file: a regular file of at most `MAX_MODEL_BYTES`, checked before reading."""
    try:
        info = os.stat(source)
        if not stat.S_ISREG(info.st_mode):
            # Opening a named pipe would block until someone writes to it.
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a named pipe, device or socket"
            raise InvalidModelError(
                f"The TFLite model path {source!r} is {kind}, not a regular file. Pass the path of "
                "a .tflite file."
            )
        if info.st_size > MAX_MODEL_BYTES:
            raise InvalidModelError(
                f"The file {source!r} has {info.st_size / 2**30:.1f} GiB; a TFLite flatbuffer holds "
                f"at most 2 GiB ({MAX_MODEL_BYTES} bytes), so it is not a .tflite model. Pass the "
                "path of a .tflite file."
            )
        with open(source, "rb") as f:
            head = f.read(8)
            if len(head) == 8 and head[4:8] != TFLITE_IDENTIFIER:  # refused without reading the rest
                raise InvalidModelError(
                    f"The file {source!r} ({info.st_size} bytes) is not a TFLite flatbuffer: bytes "
                    f"4:8 are {head[4:8]!r}, expected {TFLITE_IDENTIFIER!r}. Pass a .tflite model "
                    "(e.g. from `to_tflite()`), not a Keras, SavedModel or C-array file."
                )
            return head + f.read()
    except OSError as e:
        raise InvalidModelError(
            f"Cannot read the TFLite model file {source!r}: {e}. "
            "Pass the path of an existing .tflite file, or the model bytes."
        ) from e


def _op_resolver_without_delegates(interpreter_cls):
    """`OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES` of the runtime's module."""
    import sys

    module = sys.modules.get(interpreter_cls.__module__)
    resolver_type = getattr(module, "OpResolverType", None)
    if resolver_type is None:  # tf.lite keeps it under tf.lite.experimental
        import tensorflow as tf

        resolver_type = tf.lite.experimental.OpResolverType
    return resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def load_interpreter(model_content: ModelSource, num_threads: int = 1, use_xnnpack: bool = True):
    """Create a LiteRT interpreter for a model, tensors allocated.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        num_threads: CPU threads the interpreter may use.
        use_xnnpack: Keep LiteRT's default delegate (XNNPACK on CPU), as on a
            phone. `False` creates the interpreter with
            `OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`, so every op
            runs on LiteRT's builtin kernels.

    Returns:
        An `Interpreter` (from `ai_edge_litert`, `tflite_runtime` or
        `tf.lite`, see `runtime_name()`) on which `allocate_tensors()` has
        been called.

    Raises:
        InvalidModelError: The bytes are empty, not a TFLite flatbuffer,
            truncated or corrupted, or the runtime cannot prepare the model.

    Example:

    >>> interpreter = load_interpreter(model_bytes)  # doctest: +SKIP
    >>> interpreter.get_input_details()[0]["shape"]  # doctest: +SKIP
    array([1, 8, 8, 1], dtype=int32)
    """
    data = as_model_bytes(model_content)
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int, got {num_threads!r}.")
    interpreter_cls, name = _resolve_runtime()
    interpreter, error, log = _try_load(interpreter_cls, data, num_threads, use_xnnpack)
    if error is not None and use_xnnpack:
        # XNNPACK may fail to prepare a valid model (some op/shape combinations): the
        # builtin kernels run it, as LiteRT does on a device where the delegate declines.
        interpreter, builtin_error, builtin_log = _try_load(interpreter_cls, data, num_threads, False)
        if builtin_error is None:
            warnings.warn(
                f"LiteRT's XNNPACK delegate could not prepare this model ({_reason(error, log)}); "
                "it runs on LiteRT's builtin kernels instead (latency figures are of those).",
                RuntimeWarning,
            )
            return interpreter
        error, log = builtin_error, builtin_log
    if error is not None:
        raise InvalidModelError(
            f"{name} could not load the model ({len(data)} bytes): {_reason(error, log)}. Either the "
            "file is truncated or corrupted (re-export it with `to_tflite()` or copy it again) or it "
            f"uses an op or tensor type {name} cannot run."
        ) from error
    return interpreter


def _try_load(interpreter_cls, data: bytes, num_threads: int, use_xnnpack: bool):
    """(interpreter or None, error or None, captured log) of one attempt to load `data`."""
    options = {}
    if not use_xnnpack:
        options["experimental_op_resolver_type"] = _op_resolver_without_delegates(interpreter_cls)
    # The runtime logs to the C-level stderr ("Created TensorFlow Lite XNNPACK
    # delegate", verifier complaints): keep it quiet, use it in errors.
    with capture_stderr() as captured:
        try:
            interpreter = interpreter_cls(model_content=data, num_threads=num_threads, **options)
            interpreter.allocate_tensors()
            # Reading the tensor details also decodes the tensor names, which
            # fails (UnicodeDecodeError) on some corrupted files.
            interpreter.get_input_details()
            interpreter.get_output_details()
            return interpreter, None, captured.text
        except (ValueError, RuntimeError) as e:
            error = e
    return None, error, captured.text


def _reason(error: Exception, log: str) -> str:
    """The error's text plus the runtime's own log lines (XNNPACK banner left out)."""
    reason = " ".join(str(error).split()) or type(error).__name__
    extra = [
        line.strip()
        for line in log.splitlines()
        if line.strip() and "XNNPACK delegate" not in line and line.strip() not in reason
    ]
    if extra:
        reason += " [" + "; ".join(extra[-4:]) + "]"
    return reason


def single_io_details(interpreter, what: str, error: type[Exception] = ValueError) -> tuple[dict, dict]:
    """The input and output details of a one-input, one-output model.

    Args:
        interpreter: A LiteRT interpreter (see `load_interpreter`).
        what: Who asks, for the error message (e.g. "predict").
        error: The exception class raised for other models.

    Returns:
        `(input_details, output_details)`.
    """
    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise error(
            f"{what} supports models with one input and one output; this model has "
            f"{len(inputs)} inputs and {len(outputs)} outputs."
        )
    return inputs[0], outputs[0]
