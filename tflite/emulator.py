"""Run a .tflite model on an emulated Cortex-M board and measure it.

The firmware of `keras_nas.tflite.firmware` (TFLite Micro + CMSIS-NN, built
once and cached) runs on `qemu-system-arm` with `-icount shift=0`: each
executed instruction advances the virtual clock by exactly 1 ns, so the
instruction count per inference is deterministic and independent of this
machine's load. The firmware loads the model and the input samples over
semihosting, runs them, and reports:

- instructions per inference (SysTick on the processor clock, calibrated
  in the firmware with a loop of known length) and per op;
- `arena_used_bytes()` of the TFLite Micro interpreter (CMSIS-NN's scratch
  buffers included, unlike the host interpreter's reference kernels);
- the stack high-water mark of `AllocateTensors()` + `Invoke()` (the stack
  is painted with a pattern, then scanned);
- the output tensors (bytes, as the firmware computed them).

`measure_on_board` adds the cycle model (`keras_nas.tflite.mcu_cycles`) and
the firmware image's flash and RAM from the linker's section sizes.

Example:

>>> m = measure_on_board(model_bytes, target="cortex-m4")  # doctest: +SKIP
>>> m.latency_ms, m.flash_bytes, m.ram_bytes, m.latency_source  # doctest: +SKIP
(3.1, 118432, 31504, 'qemu mps2-an386 -icount shift=0: 1.58 M instructions; CPI 1.3 fitted on ...')
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_nas.tflite.errors import InvalidModelError
from keras_nas.tflite.firmware import BOARDS, Firmware, FirmwareError, build_firmware
from keras_nas.tflite.interpreter import ModelSource, as_model_bytes
from keras_nas.tflite.mcu_cycles import cycle_model
from keras_nas.tflite.ops import io_tensors, model_ops

DEFAULT_TIMEOUT_S = 300.0
_LINE = re.compile(r"^KNAS (.*)$")
_ABORTED = "HALTED"  # what TFLite Micro prints before spinning forever (TFLITE_ABORT)


class UnsupportedOpsError(InvalidModelError):
    """The model uses ops that the measurement firmware has no kernel for."""


@dataclass(frozen=True)
class BoardRun:
    """What the firmware measured for one model on one board.

    Attributes:
        target: Target name (a key of `firmware.BOARDS`).
        machine: QEMU machine that ran it.
        kernels: `"cmsis_nn"` or `"reference"`.
        instructions: Instructions of one inference (median over samples).
        sample_instructions: Instructions of each sample's inference.
        op_instructions: `(op tag, instructions)` per op of the last inference.
        arena_bytes: `arena_used_bytes()` after `AllocateTensors()`.
        stack_bytes: Stack high-water mark of AllocateTensors + Invoke.
        outputs: One array per output tensor, shape `(samples, *tensor shape)`.
        wall_seconds: Wall time of the QEMU run.
        log: The firmware's full stdout.
    """

    target: str
    machine: str
    kernels: str
    instructions: int
    sample_instructions: tuple[int, ...]
    op_instructions: tuple[tuple[str, int], ...]
    arena_bytes: int
    stack_bytes: int
    outputs: tuple[np.ndarray, ...]
    wall_seconds: float
    log: str


@dataclass(frozen=True)
class BoardMeasurement:
    """A model measured on an emulated board, with flash, RAM and latency.

    Attributes:
        target: Target name, e.g. `"cortex-m4"`.
        machine: The QEMU board (`"mps2-an386"`, ...).
        kernels: Kernel library of the firmware.
        instructions: Executed instructions per inference.
        cycles: Estimated cycles on the real core (`instructions` x CPI).
        latency_ms: `cycles` at the target's clock.
        clock_mhz: Clock used for `latency_ms`.
        latency_source: Where `cycles` and `latency_ms` come from.
        arena_bytes: TFLite Micro's tensor arena (`arena_used_bytes()`).
        stack_bytes: Measured stack of AllocateTensors + Invoke.
        static_ram_bytes: `.data` + `.bss` of the firmware image.
        ram_bytes: `arena_bytes + static_ram_bytes + stack_bytes`.
        firmware_flash_bytes: `.text` + `.data` of the image that registers
            only the model's ops (TFLM, kernels, newlib, the harness).
        model_bytes: Size of the `.tflite` (flash when compiled in).
        flash_bytes: `firmware_flash_bytes + model_bytes`.
        ops: The model's ops.
        op_instructions: `(op tag, instructions)` per op.
        wall_seconds: Wall time of the emulation.
    """

    target: str
    machine: str
    kernels: str
    instructions: int
    cycles: float
    latency_ms: float
    clock_mhz: float
    latency_source: str
    arena_bytes: int
    stack_bytes: int
    static_ram_bytes: int
    ram_bytes: int
    firmware_flash_bytes: int
    model_bytes: int
    flash_bytes: int
    ops: tuple[str, ...]
    op_instructions: tuple[tuple[str, int], ...]
    wall_seconds: float


def _check_ops(data: bytes, firmware: Firmware) -> tuple[str, ...]:
    ops = model_ops(data)
    missing = [op for op in ops if op not in firmware.ops]
    if missing:
        raise UnsupportedOpsError(
            f"The {firmware.target} firmware has no TFLite Micro kernel for {', '.join(missing)} "
            f"(the model uses {', '.join(ops)}). Replace those layers, or add the op to "
            "keras_nas.tflite.firmware.FIRMWARE_OPS with its kernel files."
        )
    return ops


def _io_details(data: bytes):
    # From the flatbuffer: LiteRT cannot load a file of TFLite Micro's signal ops (an audio front-end).
    return io_tensors(data)


def _sample_shape(shape) -> tuple:
    """One sample's shape in a tensor of `shape`: without the batch axis of 1, or all of it for a model
    that has none (an audio front-end takes one window: `(480,)`)."""
    shape = tuple(int(d) for d in shape)
    return shape[1:] if len(shape) > 1 and shape[0] == 1 else shape


def _samples_bytes(inputs, input_details) -> bytes:
    """Concatenated raw bytes of each sample's input tensors (in the model's dtypes)."""
    arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(arrays) != len(input_details):
        raise ValueError(f"The model has {len(input_details)} input(s); got {len(arrays)} array(s).")
    batch = None
    converted = []
    for array, detail in zip(arrays, input_details):
        array = np.asarray(array)
        shape = _sample_shape(detail["shape"])
        if array.shape[1:] != shape:
            raise ValueError(
                f"Input {detail['name']!r} needs samples of shape {shape}, got an array of shape {array.shape}."
            )
        if array.dtype != detail["dtype"]:
            raise ValueError(
                f"Input {detail['name']!r} is {np.dtype(detail['dtype']).name}; pass it already quantized "
                f"(got {array.dtype})."
            )
        if batch is not None and array.shape[0] != batch:
            raise ValueError("All inputs need the same number of samples.")
        batch = array.shape[0]
        converted.append(array.reshape(batch, -1).view(np.uint8))
    return np.concatenate(converted, axis=1).tobytes()


def _parse(log: str) -> tuple[dict[str, str], list[int], list[tuple[str, int]]]:
    fields: dict[str, str] = {}
    samples: list[int] = []
    ops: list[tuple[str, int]] = []
    for line in log.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        pairs = dict(item.split("=", 1) for item in match.group(1).split(" ") if "=" in item)
        if "error" in pairs:
            fields["error"] = match.group(1).split("error=", 1)[1]
        elif "sample" in pairs:
            samples.append(int(pairs["ticks"]))
        elif "op" in pairs:
            ops.append((pairs["tag"], int(pairs["ticks"])))
        else:
            fields.update(pairs)
    return fields, samples, ops


def _run_qemu(command: list[str], cwd: Path, timeout: float, machine: str) -> tuple[str, str, int]:
    """Run QEMU; stop it when TFLite Micro aborts (it prints HALTED and spins) or at the time-out."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks: list[bytes] = []
    errors: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stdout.read1(4096), b"")), daemon=True),
        threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if b"".join(chunks[-2:]).rstrip().endswith(_ABORTED.encode()):
                break
            if time.monotonic() > deadline:
                raise FirmwareError(
                    f"QEMU ({machine}) did not finish within {timeout:g} s; the model may be too "
                    "large for an emulated measurement, or pass a larger timeout."
                )
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for reader in readers:
            reader.join(timeout=5)
    return b"".join(chunks).decode("utf-8", "replace"), b"".join(errors).decode("utf-8", "replace"), process.returncode


def run_on_board(
    model_content: ModelSource,
    target: str = "cortex-m4",
    inputs=None,
    firmware: Firmware | None = None,
    tflm_dir: str | os.PathLike | None = None,
    kernels: str = "cmsis_nn",
    elf: str | os.PathLike | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> BoardRun:
    """Run a model on the emulated board: instructions, arena, stack and outputs.

    Args:
        model_content: The `.tflite` bytes or a path.
        target: A key of `firmware.BOARDS`.
        inputs: Optional samples: an array (or a list, one per input tensor)
            of shape `(samples, *input shape)` in the input's dtype (int8 for
            an int8 model). Default: one sample of a fixed pseudo-random pattern.
        firmware: A built `Firmware` (default: `build_firmware(target, tflm_dir, kernels)`).
        tflm_dir: TFLite Micro tree for the build (default `$KERAS_NAS_TFLM_DIR`).
        kernels: `"cmsis_nn"` or `"reference"`.
        elf: Run this firmware image instead of `firmware.elf` (e.g. one
            with a C array compiled in; it ignores `model_content` then).
        timeout: Seconds before QEMU is stopped.

    Returns:
        A `BoardRun`.

    Raises:
        UnsupportedOpsError: The model uses an op the firmware lacks.
        InvalidModelError: The firmware rejected or crashed on the model.
        FirmwareError: No toolchain/TFLM tree, or QEMU failed or timed out.
    """
    data = as_model_bytes(model_content)
    firmware = firmware or build_firmware(target, tflm_dir=tflm_dir, kernels=kernels)
    if elf is None:
        _check_ops(data, firmware)
    board = BOARDS[firmware.target]
    input_details, output_details = _io_details(data)
    with tempfile.TemporaryDirectory(prefix="keras-nas-qemu-") as tmp:
        work = Path(tmp)
        (work / "model.tflite").write_bytes(data)
        if inputs is not None:
            (work / "inputs.bin").write_bytes(_samples_bytes(inputs, input_details))
        command = [
            "qemu-system-arm", "-M", board.machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
            "-kernel", str(elf or firmware.elf),
        ]  # fmt: skip
        start = time.perf_counter()
        log, stderr, returncode = _run_qemu(command, work, timeout, board.machine)
        wall = time.perf_counter() - start
        fields, sample_ticks, op_ticks = _parse(log)
        if fields.get("status") != "ok":
            reason = fields.get("error") or (
                "TFLite Micro aborted (TFLITE_ABORT: one of its internal checks failed, e.g. on a "
                "quantization parameter a kernel cannot represent)"
                if log.rstrip().endswith(_ABORTED) else f"QEMU exited with {returncode}: {stderr.strip()[-500:]}"
            )
            tflm_log = "\n".join(line for line in log.splitlines() if not line.startswith("KNAS "))
            raise InvalidModelError(
                f"The {firmware.target} firmware ({board.machine}) could not run the model: {reason}"
                + (f"\nTFLite Micro said:\n{tflm_log.strip()}" if tflm_log.strip() else "")
            )
        outputs_raw = (work / "outputs.bin").read_bytes()
    per_tick = int(fields["calibration_instructions"]) / int(fields["calibration_ticks"])
    sample_instructions = tuple(int(round(t * per_tick)) for t in sample_ticks)
    samples = int(fields["samples"])
    outputs = []
    flat = np.frombuffer(outputs_raw, np.uint8).reshape(samples, -1)
    offset = 0
    for detail in output_details:
        dtype = np.dtype(detail["dtype"])
        shape = _sample_shape(detail["shape"])
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        chunk = np.ascontiguousarray(flat[:, offset : offset + size])
        outputs.append(chunk.view(dtype).reshape(samples, *shape))
        offset += size
    return BoardRun(
        target=firmware.target,
        machine=board.machine,
        kernels=firmware.kernels,
        instructions=int(np.median(sample_instructions)),
        sample_instructions=sample_instructions,
        op_instructions=tuple((tag, int(round(t * per_tick))) for tag, t in op_ticks),
        arena_bytes=int(fields["arena_used_bytes"]),
        stack_bytes=int(fields["stack_bytes"]),
        outputs=tuple(outputs),
        wall_seconds=wall,
        log=log,
    )


def measure_on_board(
    tflite_bytes: ModelSource,
    target: str = "cortex-m4",
    tflm_dir: str | os.PathLike | None = None,
    kernels: str = "cmsis_nn",
    inputs=None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> BoardMeasurement:
    """Latency, flash and RAM of a model on an emulated Cortex-M, from the real firmware.

    Args:
        tflite_bytes: The `.tflite` bytes or a path.
        target: `"cortex-m4"`, `"cortex-m7"` or `"cortex-m55"`.
        tflm_dir: TFLite Micro source tree (default `$KERAS_NAS_TFLM_DIR`).
        kernels: `"cmsis_nn"` (default) or `"reference"`.
        inputs: Optional input samples (see `run_on_board`).
        timeout: Seconds before QEMU is stopped.

    Returns:
        A `BoardMeasurement`.

    Raises:
        UnsupportedOpsError: The model uses an op the firmware lacks.
        InvalidModelError: The firmware rejected or crashed on the model.
        FirmwareError: No toolchain or TFLM tree, a build error, or a QEMU
            failure or time-out.

    Example:

    >>> m = measure_on_board(model_bytes, "cortex-m4", tflm_dir="/opt/tflite-micro")  # doctest: +SKIP
    >>> m.ram_bytes == m.arena_bytes + m.static_ram_bytes + m.stack_bytes  # doctest: +SKIP
    True
    """
    data = as_model_bytes(tflite_bytes)
    firmware = build_firmware(target, tflm_dir=tflm_dir, kernels=kernels)
    ops = _check_ops(data, firmware)
    run = run_on_board(data, firmware=firmware, inputs=inputs, timeout=timeout)
    sizes = firmware.image_sizes(ops)
    model = cycle_model(target, kernels)
    source = (
        f"qemu {run.machine} -icount shift=0 ({run.instructions / 1e6:.3g} M instructions, "
        f"{kernels} firmware); {model.describe()}; @{model.clock_mhz:g} MHz"
    )
    return BoardMeasurement(
        target=target,
        machine=run.machine,
        kernels=kernels,
        instructions=run.instructions,
        cycles=model.cycles(run.instructions),
        latency_ms=model.latency_ms(run.instructions),
        clock_mhz=model.clock_mhz,
        latency_source=source,
        arena_bytes=run.arena_bytes,
        stack_bytes=run.stack_bytes,
        static_ram_bytes=sizes.static_ram_bytes,
        ram_bytes=run.arena_bytes + sizes.static_ram_bytes + run.stack_bytes,
        firmware_flash_bytes=sizes.flash_bytes,
        model_bytes=len(data),
        flash_bytes=sizes.flash_bytes + len(data),
        ops=ops,
        op_instructions=run.op_instructions,
        wall_seconds=run.wall_seconds,
    )
