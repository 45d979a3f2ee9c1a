"""Measure on an Android phone with `adb` and the TFLite `benchmark_model` binary.

Setup (once): build or download the `benchmark_model` binary for the phone's
ABI (see the TFLite "Performance measurement" guide) and push it:

    adb push benchmark_model /data/local/tmp/ && adb shell chmod +x /data/local/tmp/benchmark_model

`run_benchmark_model` then pushes the `.tflite` file, runs the binary with the
requested threads / XNNPACK setting and parses its output with
`parse_benchmark_output`. Without `adb` on `PATH`, or without an attached
and authorized device, the functions raise `AdbNotFoundError` /
`NoDeviceError` with a message saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

from .interpreter import ModelSource, as_model_bytes

DEFAULT_BINARY = "/data/local/tmp/benchmark_model"
DEVICE_MODEL_PATH = "/data/local/tmp/keras_nas_model.tflite"


class AdbError(RuntimeError):
    """Base class of the errors raised when an Android device cannot be used."""


class AdbNotFoundError(AdbError):
    """The `adb` executable is not on `PATH`."""


class NoDeviceError(AdbError):
    """`adb devices` lists no usable (attached and authorized) device."""


class BenchmarkOutputError(ValueError):
    """The text is not (complete) `benchmark_model` output."""


_NUMBER = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
_TIMINGS = re.compile(
    r"Inference timings in us: Init: " + _NUMBER + r", First inference: " + _NUMBER
    + r", Warmup \(avg\): " + _NUMBER + r", Inference \(avg\): " + _NUMBER
)  # fmt: skip
_COUNT_LINE = re.compile(r"count=(\d+)((?: \w+=" + _NUMBER.replace("(", "(?:", 1) + r")+)")
_FIELD = re.compile(r"(\w+)=" + _NUMBER)
_MEMORY = [
    (re.compile(r"Peak memory footprint \(MB\): init=" + _NUMBER + r" overall=" + _NUMBER), "peak"),
    (
        re.compile(r"Memory footprint delta from the start of the tool \(MB\): init=" + _NUMBER
                   + r" overall=" + _NUMBER),
        "delta",
    ),
]  # fmt: skip
_PERIODIC_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: " + _NUMBER)
_SESSION = re.compile(r"Initialized session in " + _NUMBER + r" ?ms")
_MODEL_SIZE = re.compile(r"The input model file size \(MB\): " + _NUMBER)
_THREADS = re.compile(r"(?:Num threads|#threads used for CPU inference): \[(\d+)\]")
_US = ("first", "curr", "min", "max", "avg", "std", "p5", "median", "p95")


def parse_benchmark_output(text: str) -> dict[str, Any]:
    """Parse the output of the TFLite `benchmark_model` tool.

    Understands both the older format (no prefix) and the newer one (lines
    prefixed with `INFO:` or a logcat tag). Microsecond figures are converted
    to milliseconds.

    Args:
        text: Everything `benchmark_model` printed (stdout and stderr).

    Returns:
        A dict with:

        - `init_ms`, `first_inference_ms`, `warmup_avg_ms`,
          `inference_avg_ms`: from the `Inference timings in us` summary;
        - `count`, `avg_ms`, `std_ms`, `min_ms`, `max_ms`, `first_ms`
          (and `p5_ms`, `median_ms`, `p95_ms` when printed): statistics of
          the timed (non-warm-up) runs, from their `count=...` line;
        - `warmup_count`: runs in the warm-up phase (when printed);
        - `memory_init_mb`, `memory_overall_mb` and `memory_kind`
          (`"peak"` or `"delta"`) when a memory footprint line is printed;
          `memory_peak_periodic_mb` for the periodic-monitoring line;
        - `session_init_ms`, `model_size_mb`, `num_threads`,
          `xnnpack` (`True` when the XNNPACK delegate was created) when
          printed.

    Raises:
        BenchmarkOutputError: No `Inference timings in us` summary found
            (the message quotes any `ERROR:` lines, e.g. a failed prepare).

    Example:

    >>> out = parse_benchmark_output(text)  # doctest: +SKIP
    >>> out["inference_avg_ms"], out["std_ms"]  # doctest: +SKIP
    (33.2094, 0.45)
    """
    if not isinstance(text, str):
        raise BenchmarkOutputError(f"Expected benchmark_model output as str, got {type(text).__name__}.")
    summaries = _TIMINGS.findall(text)
    if not summaries:
        errors = [line.strip() for line in text.splitlines() if "ERROR" in line or "error" in line]
        detail = ("; errors: " + " | ".join(errors[-4:])) if errors else ""
        raise BenchmarkOutputError(
            "No 'Inference timings in us: Init: ..., Inference (avg): ...' line in the "
            f"benchmark_model output ({len(text)} characters){detail}. Check that the binary "
            "ran to the end (model path, flags) and pass its complete output."
        )
    init, first, warmup, inference = (float(v) / 1000.0 for v in summaries[-1])
    result: dict[str, Any] = {
        "init_ms": init,
        "first_inference_ms": first,
        "warmup_avg_ms": warmup,
        "inference_avg_ms": inference,
    }
    # The count= lines of one run: the warm-up phase, then the timed phase.
    summary_at = text.rfind("Inference timings in us")
    count_lines = [m for m in _COUNT_LINE.finditer(text) if m.start() < summary_at]
    if count_lines:
        timed = count_lines[-1]
        result["count"] = int(timed.group(1))
        for name, value in _FIELD.findall(timed.group(2)):
            if name in _US:
                result[f"{name}_ms"] = float(value) / 1000.0
        if len(count_lines) >= 2:
            result["warmup_count"] = int(count_lines[-2].group(1))
    for pattern, kind in _MEMORY:
        found = pattern.findall(text)
        if found:
            result["memory_init_mb"] = float(found[-1][0])
            result["memory_overall_mb"] = float(found[-1][1])
            result["memory_kind"] = kind
    periodic = _PERIODIC_PEAK.findall(text)
    if periodic:
        result["memory_peak_periodic_mb"] = float(periodic[-1])
    for pattern, key in ((_SESSION, "session_init_ms"), (_MODEL_SIZE, "model_size_mb")):
        found = pattern.findall(text)
        if found:
            result[key] = float(found[-1])
    threads = _THREADS.findall(text)
    if threads:
        result["num_threads"] = int(threads[-1])
    if "XNNPACK delegate" in text or "TfLiteXNNPackDelegate" in text:
        result["xnnpack"] = True
    return result


def _adb_path(adb: str = "adb") -> str:
    path = shutil.which(adb)
    if path is None:
        raise AdbNotFoundError(
            f"`{adb}` was not found on PATH, so no Android device can be used. Install the Android "
            "platform tools (e.g. `apt-get install adb` or the Android SDK) and put `adb` on PATH; "
            "mobile targets then fall back to measuring on this host."
        )
    return path


def parse_adb_devices(text: str) -> list[str]:
    """Serials of usable devices in `adb devices` output (state `device` only).

    Example:

    >>> parse_adb_devices("List of devices attached\\nR58M123ABC\\tdevice\\nemulator-5554\\toffline\\n")
    ['R58M123ABC']
    """
    serials = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "device" and not line.startswith("List of devices"):
            serials.append(parts[0])
    return serials


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def adb_devices(adb: str = "adb", timeout: float = 30.0) -> list[str]:
    """Serials of the attached, authorized Android devices (`adb devices`).

    Args:
        adb: The adb executable (name on PATH or path).
        timeout: Seconds to wait for adb.

    Returns:
        A non-empty list of serials.

    Raises:
        AdbNotFoundError: `adb` is not on PATH.
        NoDeviceError: No device is attached, or none is authorized/online
            (the message lists what adb reported).

    Example:

    >>> adb_devices()  # doctest: +SKIP
    ['R58M123ABC']
    """
    result = _run([_adb_path(adb), "devices"], timeout)
    serials = parse_adb_devices(result.stdout)
    if not serials:
        listed = [line.strip() for line in result.stdout.splitlines()[1:] if line.strip()]
        extra = f" adb lists: {listed} (unauthorized/offline devices cannot be used)." if listed else ""
        raise NoDeviceError(
            "No Android device attached (`adb devices` lists none in state 'device')." + extra
            + " Connect a phone with USB debugging enabled and accept the authorization prompt."
        )
    return serials


def run_benchmark_model(
    model_content: ModelSource,
    serial: str | None = None,
    threads: int = 4,
    use_xnnpack: bool = True,
    binary: str = DEFAULT_BINARY,
    runs: int = 50,
    warmup: int = 5,
    adb: str = "adb",
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Push a model to an Android device and run `benchmark_model` on it.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        serial: Device serial; `None` uses the first of `adb_devices()`.
        threads: `--num_threads`.
        use_xnnpack: `--use_xnnpack=true|false`.
        binary: Path of the `benchmark_model` binary on the device.
        runs: `--num_runs`.
        warmup: `--warmup_runs`.
        adb: The adb executable.
        timeout: Seconds allowed for the benchmark run.

    Returns:
        The `parse_benchmark_output` dict plus `serial` and `raw_output`.

    Raises:
        AdbNotFoundError: `adb` is not on PATH.
        NoDeviceError: No usable device.
        AdbError: Pushing the model failed, or the binary is missing on the
            device (the message says how to push it).
        BenchmarkOutputError: The binary ran but printed no timings.

    Example:

    >>> run_benchmark_model("model.tflite", threads=4)["inference_avg_ms"]  # doctest: +SKIP
    1.84
    """
    data = as_model_bytes(model_content)
    adb_exe = _adb_path(adb)
    serial = serial or adb_devices(adb)[0]
    base = [adb_exe, "-s", serial]
    check = _run(base + ["shell", f"ls {binary}"], 60)
    if check.returncode != 0 or "No such file" in (check.stdout + check.stderr):
        raise AdbError(
            f"benchmark_model binary not found on device {serial} at {binary}. Push it first: "
            f"`adb -s {serial} push benchmark_model {binary} && adb -s {serial} shell chmod +x {binary}`."
        )
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "model.tflite")
        with open(local, "wb") as f:
            f.write(data)
        pushed = _run(base + ["push", local, DEVICE_MODEL_PATH], 300)
    if pushed.returncode != 0:
        raise AdbError(f"adb push of the model to {serial} failed: {(pushed.stderr or pushed.stdout).strip()}")
    command = (
        f"{binary} --graph={DEVICE_MODEL_PATH} --num_threads={int(threads)} "
        f"--use_xnnpack={'true' if use_xnnpack else 'false'} "
        f"--num_runs={int(runs)} --warmup_runs={int(warmup)}"
    )
    ran = _run(base + ["shell", command], timeout)
    output = ran.stdout + ran.stderr
    result = parse_benchmark_output(output)
    result["serial"] = serial
    result["raw_output"] = output
    return result
