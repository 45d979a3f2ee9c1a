"""Who measures a target's hardware figures: `BackendFigures`, `MeasurementBackend`, `RuntimesBackend`.

A `MeasurementBackend` obtains the figures of an int8 model that depend on the
hardware (the tensor arena and the latency); `BackendFigures` is what it
reports. `RuntimesBackend` uses the real runtimes on this machine;
`keras_nas.tflite.emulator_backend.EmulatorBackend` builds on it. Both sit
below `keras_nas.tflite.measurement`, which registers them in `BACKENDS` by
name and re-exports these names (their first home).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import InvalidModelError
from .latency_cache import LatencyCache
from .micro import arena_bytes
from .targets import Target, TargetLatency


@dataclass(frozen=True)
class BackendFigures:
    """What a `MeasurementBackend` reports for one model on one target.

    Attributes:
        peak_ram_bytes: The tensor arena the model needs, `None` when the
            runtime could not run the model (see `ram_error`).
        peak_ram_source: Where the arena figure comes from, e.g.
            `"tflite-micro-host"`.
        latency: The latency on the target; `latency.source` names where it
            comes from (`"litert-host"`, `"adb:<serial>"`, `"estimate"`).
        ram_error: Why the runtime could not run the model (or `""`).
        extra: Further figures of the backend (e.g. an emulator's instruction
            count or stack size), each key naming its unit; they are added to
            the cost record as they are.
        firmware_flash_bytes: Flash the deployed model needs besides its own
            bytes (the firmware image it is linked into); 0 when the flash
            figure is the model alone.
        fallback_warning: One line for the user when the figures are not
            measured as the target says (e.g. an emulated board that cannot
            run here); `""` when they are. Shown once by `Measurer` and
            `profile` (see `measurement.warn_fallback`).
    """

    peak_ram_bytes: int | None
    peak_ram_source: str
    latency: TargetLatency
    ram_error: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    firmware_flash_bytes: int = 0
    fallback_warning: str = ""


class MeasurementBackend(Protocol):
    """Obtains the hardware-dependent figures of an int8 model on a target.

    Implement `measure` and add an instance to `BACKENDS` under the name a
    `Target` gives in `measured_by`.
    """

    def measure(
        self, model_bytes: bytes, target: Target, runs: int, warmup: int, cache: LatencyCache | None
    ) -> BackendFigures:
        """Measures `model_bytes` (a valid `.tflite` flatbuffer) on `target`.

        Args:
            model_bytes: The int8 `.tflite` flatbuffer (already validated).
            target: The target the figures are for.
            runs: Timed runs of a latency measurement.
            warmup: Untimed runs before timing.
            cache: The latency cache of the caller (`None`: the process-wide one).

        Returns:
            The `BackendFigures`; a model the runtime cannot run has
            `peak_ram_bytes=None` and the reason in `ram_error`.
        """
        ...


class RuntimesBackend:
    """The real runtimes on this machine.

    The arena is TFLite Micro's own figure, from its interpreter run in a worker
    process (`arena_bytes`), so that a model that crashes it cannot take the
    caller down; the latency is the target's (`Target.latency`: LiteRT on this
    host, `benchmark_model` over adb on a phone, the MAC cost model of an MCU).
    """

    peak_ram_source = "tflite-micro-host"

    def measure(
        self, model_bytes: bytes, target: Target, runs: int, warmup: int, cache: LatencyCache | None
    ) -> BackendFigures:
        latency = target.latency(model_bytes, runs=runs, warmup=warmup, cache=cache)
        try:
            arena, error = arena_bytes(model_bytes), ""
        except InvalidModelError as e:
            arena, error = None, str(e)
        return BackendFigures(
            peak_ram_bytes=arena, peak_ram_source=self.peak_ram_source, latency=latency, ram_error=error
        )
