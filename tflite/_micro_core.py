"""Run a model in TFLite Micro; also the body of the TFLite Micro worker process.

This module imports only the standard library, numpy and `tflite_micro`
(never `keras_nas` or TensorFlow), so that `_micro_process.py` can start it as
a stand-alone script: `python _micro_core.py` serves requests on stdin/stdout
until stdin closes. Each message is an 8-byte little-endian length followed by
an `.npz` payload:

- request: `model` (uint8 bytes), `inputs` (raw batch), `arena_size`;
- reply: `outputs` (raw batch) or `error` (str), and `log` (what TFLite Micro
  wrote to stderr, including the arena report).
"""

import importlib.util
import io
import os
import sys

import numpy as np

# Phrases TFLite Micro prints when the tensor arena is too small
# ("Failed to resize buffer. Requested: N, available M, missing: K").
ARENA_TOO_SMALL = ("Failed to resize buffer", "missing:")
MAX_ARENA_SIZE = 1 << 30
HEADER_BYTES = 8


def default_arena_size(model_size: int) -> int:
    """Arena handed to TFLM: at least 1 MiB, 20x the model size for big models."""
    return max(1 << 20, 20 * model_size)


def run_tflm(model_content: bytes, raw_inputs: np.ndarray, arena_size: int, reset_every: int = 0) -> np.ndarray:
    """Invoke TFLM once per sample, then print the arena report to fd 2.

    Args:
        model_content: The `.tflite` flatbuffer.
        raw_inputs: Batch `(n, *sample_shape)` already in the input dtype; the model's input is
            `(1, *sample_shape)`, or `sample_shape` for a model without a batch dimension
            (TFLite Micro's signal ops, which work on one frame).
        arena_size: Tensor arena handed to TFLM, in bytes.
        reset_every: Reset the kernels' state (`Interpreter.reset`) before every
            `reset_every`-th sample, e.g. at each clip's first frame for a
            front-end whose noise estimate carries from frame to frame
            (0: never; the interpreter starts reset).

    Returns:
        Raw outputs, the per-sample outputs concatenated on axis 0.

    Raises:
        RuntimeError / ValueError: TFLM refused the model (details on fd 2).
    """
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model_content, arena_size=arena_size)
    input_shape = tuple(interpreter.get_input_details(0)["shape"])
    # A model without a batch dimension (e.g. TFLite Micro's signal ops, one frame at a time)
    # takes each sample alone and gives its output alone; it gets one in the batch back here.
    batchless = len(input_shape) == raw_inputs.ndim - 1
    outputs = []
    for i in range(raw_inputs.shape[0]):
        if reset_every and i and i % reset_every == 0:
            interpreter.reset()
        interpreter.set_input(raw_inputs[i] if batchless else raw_inputs[i : i + 1], 0)
        interpreter.invoke()
        output = np.array(interpreter.get_output(0), copy=True)
        outputs.append(output[None] if batchless else output)
    sys.stdout.flush()
    interpreter.print_allocations()
    return np.concatenate(outputs, axis=0)


def pack(arrays: dict) -> bytes:
    """Serialize arrays as a length-prefixed `.npz` message."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    return len(payload).to_bytes(HEADER_BYTES, "little") + payload


def unpack(payload: bytes) -> dict:
    """Deserialize an `.npz` payload (without its length prefix)."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _load_capture_module():
    # Import the sibling `_capture.py` by path: importing it as
    # `keras_nas.tflite._capture` would run `keras_nas/__init__.py`.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_capture.py")
    spec = importlib.util.spec_from_file_location("_keras_nas_tflite_capture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _handle(payload: bytes, capture_stderr) -> bytes:
    request = unpack(payload)
    reply = {}
    with capture_stderr() as captured:
        try:
            reply["outputs"] = run_tflm(
                request["model"].tobytes(), request["inputs"], int(request["arena_size"]),
                int(request["reset_every"]) if "reset_every" in request else 0,
            )
        except Exception as e:  # reported to the parent, which raises
            reply["error"] = np.array(f"{type(e).__name__}: {e}")
    reply["log"] = np.array(captured.text)
    return pack(reply)


def _read_exact(stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def serve() -> int:
    """Answer requests from stdin on stdout until stdin is closed."""
    capture_stderr = _load_capture_module().capture_stderr
    # fd 1 carries the protocol only: point it at stderr so that nothing
    # native code prints can corrupt a reply, and reply on a private copy.
    reply_stream = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while True:
        header = _read_exact(requests, HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            return 0
        payload = _read_exact(requests, int.from_bytes(header, "little"))
        reply_stream.write(_handle(payload, capture_stderr))
        reply_stream.flush()


if __name__ == "__main__":
    sys.exit(serve())
