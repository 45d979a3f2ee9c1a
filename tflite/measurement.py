"""Measuring what a model costs on a target: the one home of flash, RAM and latency figures.

The search (every candidate, before training), the final training (the winner)
and `profile` all measure through this module:

- `Measurer` converts a Keras model to full-integer int8 TFLite and measures
  the bytes on a target; it returns a `CostRecord`, every figure of which
  names its source (`flash_source`, `peak_ram_source`, `latency_source`).
- A `MeasurementBackend` (`keras_nas.tflite.backends`) obtains the figures
  that depend on the hardware (the tensor arena and the latency).
  `Target.measured_by` names the backend of a target in `BACKENDS`; the
  built-in targets use `"runtimes"`
  (`RuntimesBackend`: TFLite Micro's arena from the real interpreter in a
  worker process, and `Target.latency`: LiteRT on this host, `benchmark_model`
  over adb, or the MCU cost model). `"emulator"` (`EmulatorBackend`, the
  `cortex-m4` target's) runs TFLite Micro firmware on an emulated board: its
  flash counts the firmware image too (`CostRecord.firmware_flash_bytes`).
  Another backend is a class with the same `measure` method, added to
  `BACKENDS` under its name and named by the targets it measures.
- `measure`, `measure_model` and `HardwareCost`: the host figures of a model,
  as before.

Example:

```python
from keras_nas import tflite

measurer = tflite.Measurer("cortex-m4", representative_data=x_train[:200])
record = measurer.measure_trained(keras_model)
print(record.flash_kb, record.peak_ram_kb, record.latency_ms, record.latency_source)
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# The backends live below this module (`backends`, `emulator_backend`); their
# names stay importable from here, where they were first defined.
from .backends import BackendFigures, MeasurementBackend, RuntimesBackend
from .convert import to_tflite
from .emulator_backend import EmulatorBackend
from .errors import EmulatorUnavailableWarning, InvalidModelError, warn_at_caller
from .interpreter import ModelSource, as_model_bytes, load_interpreter
from .latency_cache import LatencyCache
from .metadata import add_metadata, model_metadata, with_metadata
from .ops import model_ops
from .targets import Target, TargetLatency, get_target

# Where a flash figure comes from: the converted flatbuffer as measured, or the
# file export writes (metadata included, labels aside).
FLASH_FROM_FLATBUFFER = "flatbuffer"
FLASH_FROM_EXPORTED_FILE = "exported-file"
FLASH_FROM_FLATBUFFER_WITH_METADATA = "flatbuffer+metadata"
# What a board's backend adds to the model's flash: the firmware it is linked into.
FLASH_OF_FIRMWARE = "firmware image (linker sections)"
# An untrained candidate measured this close to the flash limit is converted
# again exactly as exported, so that the decision holds for the shipped file.
NEAR_FLASH_LIMIT_KB = 2.0
WARMUP_RUNS = 5


BACKENDS: dict[str, MeasurementBackend] = {"runtimes": RuntimesBackend(), "emulator": EmulatorBackend()}
"""Measurement backends by the name a `Target` gives in `measured_by`."""


# The fallback warnings shown in this process (each once, not at every candidate).
_WARNED: set[str] = set()


def warn_fallback(figures: BackendFigures) -> None:
    """Shows `figures.fallback_warning` once per process, at the user's call (`EmulatorUnavailableWarning`)."""
    if figures.fallback_warning and figures.fallback_warning not in _WARNED:
        _WARNED.add(figures.fallback_warning)
        warn_at_caller(figures.fallback_warning, EmulatorUnavailableWarning)


def backend_for(target: Target | str) -> MeasurementBackend:
    """The backend that measures `target` (`BACKENDS[target.measured_by]`).

    Raises:
        ValueError: No backend of that name (the message lists the known ones).

    Example:

    >>> backend_for("cortex-m4")  # doctest: +SKIP
    <keras_nas.tflite.backends.RuntimesBackend object at ...>
    """
    target = get_target(target)
    if target.measured_by not in BACKENDS:
        raise ValueError(
            f"Target {target.name!r} is measured by {target.measured_by!r}, which is not a "
            f"measurement backend; known backends: {sorted(BACKENDS)}. Add one to "
            "keras_nas.tflite.measurement.BACKENDS or give the target measured_by='runtimes'."
        )
    return BACKENDS[target.measured_by]


class _Kilobytes:
    """`flash_kb` and `peak_ram_kb` of a record with `flash_bytes` and `peak_ram_bytes`."""

    @property
    def flash_kb(self) -> float:
        """`flash_bytes / 1024`."""
        return self.flash_bytes / 1024

    @property
    def peak_ram_kb(self) -> float:
        """`peak_ram_bytes / 1024`."""
        return self.peak_ram_bytes / 1024


@dataclass(frozen=True)
class CostRecord(_Kilobytes):
    """What an int8 model costs on a target; every figure names its source.

    Attributes:
        target: The target's name.
        flash_bytes: Size of the model in flash, plus `firmware_flash_bytes`.
        flash_source: `"flatbuffer"` (the converted bytes as measured),
            `"flatbuffer+metadata"` (an untrained candidate's fast conversion
            with the exported file's metadata: about 150 bytes under that file)
            or `"exported-file"` (the file export writes, metadata included);
            `"<that> + firmware image (linker sections)"` when the firmware counts.
        peak_ram_bytes: Tensor arena the model needs.
        peak_ram_source: Where the arena comes from (e.g. `"tflite-micro-host"`).
        latency_ms: Median latency on the target (measured or estimated).
        latency_source: `"litert-host"`, `"adb:<serial>"`, `"estimate"`, ...
        latency_cv: Coefficient of variation of the LiteRT measurement on this host.
        ops: Sorted TFLite operator names of the model.
        host_latency_ms: The LiteRT latency on this host when the target is
            another device (`None` on the host target).
        extra: Further figures of the backend.
        firmware_flash_bytes: The firmware image the model is linked into
            (an emulated board's backend), included in `flash_bytes`; 0 when
            `flash_bytes` is the model alone.
        front_end_flash_bytes, front_end_arena_bytes: A model that takes raw
            audio (`keras_nas.tflite.front_end_layer`): its front-end's file
            and TFLite Micro arena, included in `flash_bytes` and
            `peak_ram_bytes` (the front-end runs in its own interpreter and
            arena beside the network's: the whole pipeline must fit). 0 for a
            model without one.
        front_end_latency_ms: On an emulated board, the front-end's time for
            one frame, included in `latency_ms` (one frame per hop, then the
            network); `None` where it is not measured (the host: the latency
            is the network's alone).
    """

    target: str
    flash_bytes: int
    flash_source: str
    peak_ram_bytes: int
    peak_ram_source: str
    latency_ms: float
    latency_source: str
    latency_cv: float | None
    ops: tuple[str, ...]
    host_latency_ms: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    firmware_flash_bytes: int = 0
    front_end_flash_bytes: int = 0
    front_end_arena_bytes: int = 0
    front_end_latency_ms: float | None = None

    def with_model_flash(self, model_bytes: int, source: str) -> "CostRecord":
        """The record with the model's flash set to `model_bytes` (of `source`), the firmware's and front-end's kept."""
        if self.firmware_flash_bytes:
            source = f"{source} + {FLASH_OF_FIRMWARE}"
        return dataclasses.replace(
            self, flash_bytes=self.firmware_flash_bytes + self.front_end_flash_bytes + model_bytes, flash_source=source)

    def with_front_end(self, front_end_flash_bytes: int, front_end_arena_bytes: int) -> "CostRecord":
        """The record of the network with its front-end's file and arena added (`signal_front_end.front_end_cost`)."""
        return dataclasses.replace(
            self,
            flash_bytes=self.flash_bytes - self.front_end_flash_bytes + front_end_flash_bytes,
            peak_ram_bytes=self.peak_ram_bytes - self.front_end_arena_bytes + front_end_arena_bytes,
            front_end_flash_bytes=front_end_flash_bytes,
            front_end_arena_bytes=front_end_arena_bytes,
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as a search keeps it (`cost.json`): JSON-ready, with `flash_kb` and `peak_ram_kb`.

        Example:

        >>> json.dumps(record.to_dict())  # doctest: +SKIP
        """
        result = {
            "flash_bytes": self.flash_bytes,
            "peak_ram_bytes": self.peak_ram_bytes,
            "latency_ms": self.latency_ms,
            "latency_cv": self.latency_cv,
            "ops": list(self.ops),
            "flash_kb": self.flash_kb,
            "peak_ram_kb": self.peak_ram_kb,
        }
        if self.host_latency_ms is not None:
            result["host_latency_ms"] = self.host_latency_ms
        if self.firmware_flash_bytes:
            result["firmware_flash_bytes"] = self.firmware_flash_bytes
            result["model_flash_bytes"] = self.flash_bytes - self.firmware_flash_bytes - self.front_end_flash_bytes
        if self.front_end_flash_bytes:
            result["front_end_flash_bytes"] = self.front_end_flash_bytes
            result["front_end_arena_bytes"] = self.front_end_arena_bytes
        if self.front_end_latency_ms is not None:
            result["front_end_latency_ms"] = self.front_end_latency_ms
        result.update(
            latency_source=self.latency_source,
            target=self.target,
            flash_source=self.flash_source,
            peak_ram_source=self.peak_ram_source,
        )
        result.update(self.extra)
        return result


class Measurer:
    """Converts models to int8 and measures them on a target, with one backend and one latency cache.

    Args:
        target: A `Target` or a built-in name ("host", "pixel-cpu", "cortex-m4", ...).
        representative_data: Float samples `(n, *input_shape)` that calibrate
            the int8 conversion of Keras models (not needed for bytes).
        latency_runs: Timed runs of a latency measurement.
        latency_cache: Where latencies are kept (`None`: the process-wide cache).
        warmup: Untimed runs before timing.

    Example:

    ```python
    measurer = Measurer("host", representative_data=x_train[:200], latency_runs=30)
    record = measurer.measure_untrained(candidate, seed=1, flash_limit_kb=64)
    record.to_dict()["flash_kb"]
    ```
    """

    def __init__(
        self,
        target: Target | str = "host",
        representative_data: np.ndarray | None = None,
        latency_runs: int = 30,
        latency_cache: LatencyCache | None = None,
        warmup: int = WARMUP_RUNS,
    ) -> None:
        self.target = get_target(target)
        self.backend = backend_for(self.target)
        self.representative_data = representative_data
        self.latency_runs = latency_runs
        self.latency_cache = latency_cache
        self.warmup = warmup

    def to_int8(self, model, fast: bool = False) -> bytes:
        """The full-integer int8 conversion of a Keras model, calibrated on `representative_data`.

        Args:
            model: A built Keras model.
            fast: Convert without the signature def: ~3x faster, same kernels
                and arena, about 150 bytes smaller than the converted file.

        Returns:
            The `.tflite` bytes.

        Raises:
            ValueError: No `representative_data`.
            ConversionError: The converter failed.
        """
        front_end, network = _split_front_end(model)
        representative = self.representative_data
        if front_end is not None and representative is not None:
            from .front_end_layer import board_features

            representative = board_features(representative, front_end)
        return to_tflite(network, "int8", representative, signatures=not fast)

    def with_front_end(self, record: CostRecord, model) -> CostRecord:
        """`record` of `model`'s network with its front-end's cost added (the record itself without one).

        On the host: the front-end's file and its TFLite Micro arena. On an
        emulated board (`front_end_figures` of its backend): the arena the
        firmware gives it, its signal kernels' code, and its time for one
        frame added to the latency (a keyword spotter runs one frame per
        hop, then the network: `front_end_latency_ms` keeps the frame's).
        """
        front_end, _ = _split_front_end(model)
        if front_end is None:
            return record
        from .signal_front_end import front_end_cost, front_end_model

        cost = front_end_cost(front_end)
        on_board = getattr(self.backend, "front_end_figures", None)
        board = on_board(front_end_model(front_end), record.ops, self.target) if on_board else None
        if board is None:
            return record.with_front_end(**cost)
        record = record.with_front_end(cost["front_end_flash_bytes"], board["arena_bytes"])
        return dataclasses.replace(
            record,
            flash_bytes=record.flash_bytes + board["firmware_flash_bytes"],
            firmware_flash_bytes=record.firmware_flash_bytes + board["firmware_flash_bytes"],
            latency_ms=record.latency_ms + board["latency_ms"],
            front_end_latency_ms=board["latency_ms"],
            extra={**record.extra, "front_end_latency_source": board["source"]},
        )

    def measure_bytes(
        self, model_bytes: ModelSource, flash_source: str = FLASH_FROM_FLATBUFFER
    ) -> CostRecord:
        """Measures an int8 `.tflite` model on the target.

        Args:
            model_bytes: The `.tflite` flatbuffer as bytes, or a file path.
            flash_source: What the bytes are (see `CostRecord.flash_source`).

        Returns:
            The `CostRecord`.

        Raises:
            InvalidModelError: The model is invalid, or the target's runtime
                cannot run it (e.g. an op without a TFLite Micro kernel).
        """
        data = as_model_bytes(model_bytes)
        load_interpreter(data)  # validate before anything else touches the bytes
        figures = self.backend.measure(
            data, self.target, runs=self.latency_runs, warmup=self.warmup, cache=self.latency_cache
        )
        warn_fallback(figures)  # the user's target: say once that its figures are estimates
        if figures.peak_ram_bytes is None:
            raise InvalidModelError(figures.ram_error)
        host = figures.latency if self.target.kind == "host" else self._host_latency(data)
        record = CostRecord(
            target=self.target.name,
            flash_bytes=len(data),
            flash_source=flash_source,
            peak_ram_bytes=figures.peak_ram_bytes,
            peak_ram_source=figures.peak_ram_source,
            latency_ms=figures.latency.median_ms,
            latency_source=figures.latency.source,
            latency_cv=host.cv,
            ops=model_ops(data),
            host_latency_ms=None if self.target.kind == "host" else host.median_ms,
            extra=dict(figures.extra),
            firmware_flash_bytes=figures.firmware_flash_bytes,
        )
        return record.with_model_flash(len(data), flash_source)

    def measure_trained(self, model) -> CostRecord:
        """Measures a trained Keras model as it ships: flash is the exported file's, metadata included.

        Raises:
            ConversionError: The converter failed.
            InvalidModelError: The target's runtime cannot run the int8 model.
        """
        return self.measure_shipped(model)[1]

    def measure_shipped(self, model) -> tuple[bytes, CostRecord]:
        """The int8 file `NASModel.export` writes for a trained model (metadata included), and its record.

        Raises:
            ConversionError: The converter failed.
            InvalidModelError: The target's runtime cannot run the int8 model.
        """
        content = with_metadata(model, self.to_int8(model))
        return content, self.with_front_end(self.measure_bytes(content, FLASH_FROM_EXPORTED_FILE), model)

    def measure_untrained(self, model, seed: int, flash_limit_kb: float | None = None) -> CostRecord:
        """Measures an untrained candidate as it will be once trained.

        Cost does not depend on the weights' values, so a candidate is measured
        before training: its weights are perturbed first (`randomize_weights`,
        in place), and it is converted without the signature def (fast), its
        flash counted with the metadata every exported file carries (about
        150 bytes under the exported file: the signature def). Within
        `NEAR_FLASH_LIMIT_KB` of `flash_limit_kb` the decision must be exact:
        flash is then the file export would write.

        Args:
            model: A freshly built Keras model (its weights are changed).
            seed: Seed of the weight perturbation.
            flash_limit_kb: The flash limit the record will be checked against, or `None`.

        Returns:
            The `CostRecord`.

        Raises:
            ConversionError: The converter failed.
            InvalidModelError: The target's runtime cannot run the int8 model.
        """
        metadata = model_metadata(model)  # of the unperturbed weights (normalisation statistics)
        randomize_weights(model, seed)
        fast = self.to_int8(model, fast=True)
        record = self.measure_bytes(fast).with_model_flash(
            len(add_metadata(fast, **metadata)), FLASH_FROM_FLATBUFFER_WITH_METADATA
        )
        record = self.with_front_end(record, model)
        if flash_limit_kb is not None and abs(record.flash_kb - flash_limit_kb) <= NEAR_FLASH_LIMIT_KB:
            shipped = add_metadata(self.to_int8(model), **metadata)
            record = record.with_model_flash(len(shipped), FLASH_FROM_EXPORTED_FILE)
        return record

    def _host_latency(self, data: bytes) -> TargetLatency:
        return get_target("host").latency(
            data, runs=self.latency_runs, warmup=self.warmup, cache=self.latency_cache
        )


def _split_front_end(model):
    """`(front-end, network)` of a Keras model that takes raw audio; `(None, model)` otherwise."""
    from .front_end_layer import split_front_end  # imports Keras: only with a Keras model in hand

    return split_front_end(model)


def randomize_weights(model, seed: int) -> None:
    """Makes every weight distinct, as training would, without changing its scale.

    A freshly built model has all-zero biases and all-one batch-norm scales; the
    TFLite converter stores identical constant buffers once, so an untrained
    model converts ~15 % smaller than the same model after training. A small
    perturbation of the initial values (1 % of their spread, or 0.01 for
    constant tensors) gives the size the trained model will have while keeping
    the initializer's activation scale (tiny logits make TFLite Micro's int8
    softmax abort).

    Args:
        model: The model whose weights are perturbed in place.
        seed: Seed of the perturbation.
    """
    import keras

    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = np.asarray(keras.ops.convert_to_numpy(weight), dtype="float64")
        spread = float(values.std()) or 1.0
        noise = rng.normal(0.0, 0.01 * spread, size=values.shape)
        if "variance" in weight.path:
            noise = np.abs(noise)
        weight.assign((values + noise).astype(weight.dtype))


# -- the host figures (LiteRT and TFLite Micro on this machine) ----------------------------


@dataclass(frozen=True)
class HardwareCost(_Kilobytes):
    """What a model costs on this host, measured on the real runtimes.

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


def _host_cost(record: CostRecord) -> HardwareCost:
    return HardwareCost(
        flash_bytes=record.flash_bytes,
        peak_ram_bytes=record.peak_ram_bytes,
        latency_ms=record.latency_ms,
        latency_cv=record.latency_cv,
        ops=record.ops,
    )


def measure(
    model_content: ModelSource, latency_runs: int = 30, cache: LatencyCache | None = None
) -> HardwareCost:
    """Measure flash, TFLite Micro arena, LiteRT latency and ops of a model on this host.

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
    measurer = Measurer("host", latency_runs=latency_runs, latency_cache=cache)
    return _host_cost(measurer.measure_bytes(model_content))


def measure_model(
    model,
    representative_data,
    latency_runs: int = 30,
    cache: LatencyCache | None = None,
    signatures: bool = True,
) -> tuple[bytes, HardwareCost]:
    """Convert a Keras model to full-integer int8 TFLite and measure it on this host.

    Args:
        model: A built Keras 3 model.
        representative_data: Float array `(n, *input_shape)` for calibration.
        latency_runs: Timed LiteRT runs for the latency median.
        cache: The latency cache; `None` uses the process-wide one.
        signatures: See `to_tflite`; `False` is ~3x faster and measures a
            file about 150 bytes smaller.

    Returns:
        `(model_bytes, cost)`: the int8 `.tflite` bytes and its `HardwareCost`.

    Raises:
        ConversionError: The converter failed.
        InvalidModelError: TFLite Micro cannot run the converted model.

    Example:

    >>> model_bytes, cost = measure_model(model, x_train[:200])  # doctest: +SKIP
    """
    measurer = Measurer("host", representative_data, latency_runs=latency_runs, latency_cache=cache)
    model_content = measurer.to_int8(model, fast=not signatures)
    return model_content, _host_cost(measurer.measure_bytes(model_content))

