"""Measure inference latency of a TFLite model on this host with LiteRT."""

import time
from dataclasses import dataclass

import numpy as np

from .interpreter import ModelSource, load_interpreter


@dataclass(frozen=True)
class LatencyStats:
    """Latency of `invoke()` over repeated runs.

    Attributes:
        median_ms: Median latency in milliseconds (the robust figure to use).
        mean_ms: Mean latency in milliseconds.
        p90_ms: 90th percentile in milliseconds.
        cv: Coefficient of variation, std / mean (0 means perfectly stable).
        runs: Number of timed runs.
        num_threads: Interpreter threads used.
        use_xnnpack: Whether LiteRT's default XNNPACK delegate was on.
        min_ms: Fastest run in milliseconds.
        max_ms: Slowest run in milliseconds.
    """

    median_ms: float
    mean_ms: float
    p90_ms: float
    cv: float
    runs: int
    num_threads: int
    use_xnnpack: bool = True
    min_ms: float = 0.0
    max_ms: float = 0.0


def measure_latency(
    model_content: ModelSource,
    runs: int = 50,
    warmup: int = 5,
    num_threads: int = 1,
    use_xnnpack: bool = True,
) -> LatencyStats:
    """Time `invoke()` of the LiteRT interpreter on a zero input.

    Only `invoke()` is timed (`time.perf_counter_ns`), not setting the input
    or reading the output. By default the interpreter uses its default
    delegates (XNNPACK on CPU), as on a phone; `use_xnnpack=False` runs the
    builtin kernels only. Figures are for this host's CPU; use
    them to compare models, not as microcontroller timings.

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        runs: Number of timed invocations (>= 1).
        warmup: Untimed invocations before timing (>= 0).
        num_threads: Interpreter threads.
        use_xnnpack: Keep LiteRT's default XNNPACK delegate (`True`) or run
            the builtin kernels only (`False`).

    Returns:
        A `LatencyStats`.

    Raises:
        InvalidModelError: The model cannot be loaded.
        ValueError: `runs < 1` or `warmup < 0`.

    Example:

    >>> stats = measure_latency(model_bytes, runs=20)  # doctest: +SKIP
    >>> stats.median_ms  # doctest: +SKIP
    0.012
    """
    if not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be a positive int, got {runs!r}.")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}.")
    interpreter = load_interpreter(model_content, num_threads=num_threads, use_xnnpack=use_xnnpack)
    for details in interpreter.get_input_details():
        interpreter.set_tensor(details["index"], np.zeros(details["shape"], details["dtype"]))
    for _ in range(warmup):
        interpreter.invoke()
    timings_ns = np.empty(runs, dtype=np.float64)
    invoke = interpreter.invoke
    for i in range(runs):
        start = time.perf_counter_ns()
        invoke()
        timings_ns[i] = time.perf_counter_ns() - start
    timings_ms = timings_ns / 1e6
    mean = float(timings_ms.mean())
    return LatencyStats(
        median_ms=float(np.median(timings_ms)),
        mean_ms=mean,
        p90_ms=float(np.percentile(timings_ms, 90)),
        cv=float(timings_ms.std() / mean) if mean > 0 else 0.0,
        runs=runs,
        num_threads=num_threads,
        use_xnnpack=bool(use_xnnpack),
        min_ms=float(timings_ms.min()),
        max_ms=float(timings_ms.max()),
    )
