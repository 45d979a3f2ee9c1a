"""Hardware cost of a TFLite model: flash, RAM, latency and operators."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .convert import to_tflite
from .interpreter import ModelSource, as_model_bytes, load_interpreter
from .latency_cache import LatencyCache, measure_latency_cached
from .micro import arena_bytes
from .ops import model_ops


@dataclass(frozen=True)
class HardwareCost:
    """What a model costs on the target, measured on the real runtimes.

    Attributes:
        flash_bytes: Size of the `.tflite` flatbuffer (what goes into flash).
        peak_ram_bytes: Tensor arena TFLite Micro needs (see `arena_bytes`).
        latency_ms: Median LiteRT `invoke()` latency on this host.
        latency_cv: Coefficient of variation of that latency (std / mean).
        ops: Sorted TFLite operator names used by the model.

    Example:

    >>> cost = measure(model_bytes)  # doctest: +SKIP
    >>> cost.flash_kb, cost.peak_ram_kb  # doctest: +SKIP
    (2.67, 2.27)
    """

    flash_bytes: int
    peak_ram_bytes: int
    latency_ms: float
    latency_cv: float
    ops: tuple[str, ...]

    @property
    def flash_kb(self) -> float:
        """`flash_bytes / 1024`."""
        return self.flash_bytes / 1024

    @property
    def peak_ram_kb(self) -> float:
        """`peak_ram_bytes / 1024`."""
        return self.peak_ram_bytes / 1024

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict of all fields plus `flash_kb`, `peak_ram_kb`.

        Returns:
            A dict with int/float/str values and `ops` as a list.

        Example:

        >>> json.dumps(cost.to_dict())  # doctest: +SKIP
        """
        result = asdict(self)
        result["ops"] = list(self.ops)
        result["flash_kb"] = self.flash_kb
        result["peak_ram_kb"] = self.peak_ram_kb
        return result


def measure(
    model_content: ModelSource, latency_runs: int = 30, cache: LatencyCache | None = None
) -> HardwareCost:
    """Measure flash, TFLite Micro arena, LiteRT latency and ops of a model.

    Latency goes through a `LatencyCache`: a model measured before (same bytes
    and settings) is not timed again, and a measurement whose coefficient of
    variation is too high is repeated (see `LatencyCache`).

    Args:
        model_content: The `.tflite` flatbuffer as bytes, or a file path.
        latency_runs: Timed LiteRT runs for the latency median.
        cache: The latency cache; `None` uses the process-wide one.

    Returns:
        A `HardwareCost`.

    Raises:
        InvalidModelError: The model is invalid, or TFLite Micro cannot run
            it (e.g. float16 models or ops without a TFLite Micro kernel).

    Example:

    >>> cost = measure(to_tflite(model, "int8", representative_data=x))  # doctest: +SKIP
    >>> cost.to_dict()["peak_ram_kb"]  # doctest: +SKIP
    2.265625
    """
    data = as_model_bytes(model_content)
    load_interpreter(data)  # validate before anything else touches the bytes
    latency = measure_latency_cached(data, runs=latency_runs, cache=cache).stats
    return HardwareCost(
        flash_bytes=len(data),
        peak_ram_bytes=arena_bytes(data),
        latency_ms=latency.median_ms,
        latency_cv=latency.cv,
        ops=model_ops(data),
    )


def measure_model(
    model,
    representative_data,
    latency_runs: int = 30,
    cache: LatencyCache | None = None,
    signatures: bool = True,
) -> tuple[bytes, HardwareCost]:
    """Convert a Keras model to full-integer int8 TFLite and measure it.

    Args:
        model: A built Keras 3 model.
        representative_data: Float array `(n, *input_shape)` for calibration.
        latency_runs: Timed LiteRT runs for the latency median.
        cache: The latency cache; `None` uses the process-wide one.
        signatures: See `to_tflite`; `False` is ~3x faster and measures a
            file a few hundred bytes larger than the one exported.

    Returns:
        `(model_bytes, cost)`: the int8 `.tflite` bytes and its `HardwareCost`.

    Raises:
        ConversionError: The converter failed.
        InvalidModelError: TFLite Micro cannot run the converted model.

    Example:

    >>> model_bytes, cost = measure_model(model, x_train[:200])  # doctest: +SKIP
    """
    model_content = to_tflite(
        model, "int8", representative_data=representative_data, signatures=signatures
    )
    return model_content, measure(model_content, latency_runs=latency_runs, cache=cache)
