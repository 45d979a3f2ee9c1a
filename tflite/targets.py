"""Hardware targets: where a model must fit and how its latency is obtained.

A `Target` is one of three kinds:

- `"host"`: this machine's CPU; latency is measured with the LiteRT
  interpreter (`measure_latency`) with the target's threads and XNNPACK
  setting.
- `"mobile"`: an Android phone; latency is measured with the TFLite
  `benchmark_model` binary over `adb` when a device is attached
  (`keras_nas.tflite.benchmark_model`), otherwise on this host with the
  phone's threads/XNNPACK setting and a note saying so.
- `"mcu"`: a microcontroller running TFLite Micro; latency is *estimated*
  from per-op MAC counts with the target's cost model (below).

MCU cost model
--------------
`cycles = sum over ops (cycles_per_mac[kind] * macs(op) + op_overhead_cycles)`
and `latency_ms = cycles / (clock_mhz * 1000)`. Op kinds and MAC conventions
are those of `keras_nas.tflite.macs`; a kind missing from `cycles_per_mac`
uses `cycles_per_mac["default"]`.

The built-in `"cortex-m4"` constants model the MLPerf Tiny v0.5 reference
platform: NUCLEO-L4R5ZI (STM32L4R5ZI, Cortex-M4F @ 120 MHz, 640 KB SRAM,
2 MB flash) running TensorFlow Lite for Microcontrollers v2.3.1 (reference
kernels, no CMSIS-NN listed in its system description). `conv`,
`depthwise` and `fc` were fitted (non-negative least squares) on the four
published reference latencies
(https://github.com/mlcommons/tiny_results_v0.5, `closed/reference/results/
Nucleo-L4R5ZI/*/performance/results.txt`: KWS 181.92 ms, VWW 600.54 ms,
IC 704.26 ms, AD 10.05 ms); `default` (6 cycles/MAC) and the per-op overhead
(2000 cycles) are fixed assumptions. Because the constants are fitted on the
same four models, `benchmarks/bench_mcu_model.py` reports the leave-one-out
error as well (see `benchmarks/RESULTS.md`): expect errors of tens
of percent on models unlike those four, and pass your own `cycles_per_mac`
(e.g. fitted on your board) for anything better.

The `"cortex-m7"` target (STM32F746 @ 216 MHz, 320 KB SRAM, 1 MB flash) uses
the same cycles per MAC as `"cortex-m4"`, only its clock differs. This is
not validated against a measurement: the M7's dual-issue pipeline usually
needs fewer cycles, so treat its figures as an upper bound.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from .interpreter import ModelSource, as_model_bytes
from .macs import KINDS, MacReport, read_graph

TARGET_KINDS = ("host", "mobile", "mcu")

CORTEX_M4_TFLM_REF_CYCLES_PER_MAC = {
    "conv": 6.74,
    "depthwise": 32.1,
    "fc": 4.46,
    "default": 6.0,
}
"""Cycles per MAC of TFLM v2.3.1 reference kernels on a Cortex-M4 (see module docstring)."""

CORTEX_M4_OP_OVERHEAD_CYCLES = 2000.0
"""Fixed cycles per op (interpreter dispatch, requantization setup): an assumption."""


@dataclass(frozen=True)
class TargetLatency:
    """Latency of a model on a target, and where the figure comes from.

    Attributes:
        median_ms: Median (measured) or estimated latency in milliseconds.
        p90_ms: 90th percentile (`None` for estimates and adb runs).
        cv: Coefficient of variation (`None` for estimates).
        runs: Timed runs (0 for an estimate).
        threads: Threads used (`None` for an MCU estimate).
        use_xnnpack: XNNPACK delegate on (`None` for an MCU estimate).
        source: `"estimate"`, `"litert-host"` or `"adb:<serial>"`.
        note: Caveat to show next to the figure (empty when none).
        per_op_ms: Estimated milliseconds per op (MCU estimates only).
    """

    median_ms: float
    p90_ms: float | None
    cv: float | None
    runs: int
    threads: int | None
    use_xnnpack: bool | None
    source: str
    note: str = ""
    per_op_ms: tuple = ()


@dataclass(frozen=True)
class Target:
    """A deployment target: memory limits and how latency is obtained.

    Args:
        name: Target name, e.g. `"cortex-m4"`.
        kind: `"host"`, `"mobile"` or `"mcu"`.
        ram_kb: SRAM available for the tensor arena (KB), `None` = no limit.
        flash_kb: Flash available for the model (KB), `None` = no limit.
        threads: CPU threads for LiteRT / `benchmark_model` (host, mobile).
        use_xnnpack: Use LiteRT's XNNPACK delegate (host, mobile).
        clock_mhz: Core clock in MHz (required for `"mcu"`).
        cycles_per_mac: Cycles per MAC per op kind (`"conv"`, `"depthwise"`,
            `"fc"`, `"elementwise"`, `"pool"`, `"reduce"`, `"activation"`,
            `"other"`) plus `"default"` for kinds not listed (MCU only).
        op_overhead_cycles: Fixed cycles added per op (MCU only).
        description: Free text (board, source of the constants).
        measured_by: The measurement backend of the target's figures, a name
            in `keras_nas.tflite.measurement.BACKENDS`: `"runtimes"` (the
            default: TFLite Micro's arena on this host and `latency()`) or
            `"emulator"` (TFLite Micro firmware on an emulated Cortex-M board,
            falling back to `"runtimes"` without a toolchain; `cortex-m4`).

    Raises:
        ValueError: Unknown kind, non-positive limits, or an MCU target
            without `clock_mhz` / `cycles_per_mac`, or with unknown op kinds.

    Example:

    >>> my_m4 = Target("my-m4", kind="mcu", clock_mhz=80, ram_kb=128, flash_kb=512,
    ...                cycles_per_mac={"conv": 5.0, "depthwise": 20.0, "fc": 4.0, "default": 6.0})
    >>> my_m4.latency_ms(model_bytes)  # doctest: +SKIP
    12.7
    """

    name: str
    kind: str = "host"
    ram_kb: float | None = None
    flash_kb: float | None = None
    threads: int = 1
    use_xnnpack: bool = True
    clock_mhz: float | None = None
    cycles_per_mac: Mapping[str, float] = field(default_factory=dict)
    op_overhead_cycles: float = 0.0
    description: str = ""
    measured_by: str = "runtimes"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Target name must be a non-empty string, got {self.name!r}.")
        if self.kind not in TARGET_KINDS:
            raise ValueError(
                f"Target {self.name!r}: unknown kind {self.kind!r}; use one of {', '.join(TARGET_KINDS)}."
            )
        for attr in ("ram_kb", "flash_kb"):
            value = getattr(self, attr)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"Target {self.name!r}: {attr} must be a positive number or None, got {value!r}.")
        if not isinstance(self.measured_by, str) or not self.measured_by:
            raise ValueError(
                f"Target {self.name!r}: measured_by must name a measurement backend (e.g. 'runtimes'), "
                f"got {self.measured_by!r}."
            )
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"Target {self.name!r}: threads must be a positive int, got {self.threads!r}.")
        if self.kind == "mcu":
            if not isinstance(self.clock_mhz, (int, float)) or self.clock_mhz <= 0:
                raise ValueError(
                    f"MCU target {self.name!r} needs clock_mhz (core clock in MHz, e.g. 120), "
                    f"got {self.clock_mhz!r}."
                )
            if not self.cycles_per_mac:
                raise ValueError(
                    f"MCU target {self.name!r} needs cycles_per_mac, e.g. "
                    "{'conv': 6.7, 'depthwise': 32, 'fc': 4.5, 'default': 6}; "
                    "see keras_nas.tflite.targets for the built-in constants and their source."
                )
            unknown = sorted(set(self.cycles_per_mac) - set(KINDS) - {"default"})
            if unknown:
                raise ValueError(
                    f"MCU target {self.name!r}: unknown op kind(s) {unknown} in cycles_per_mac; "
                    f"valid kinds are {list(KINDS) + ['default']}."
                )
            bad = {k: v for k, v in self.cycles_per_mac.items() if not isinstance(v, (int, float)) or v < 0}
            if bad:
                raise ValueError(f"MCU target {self.name!r}: cycles_per_mac values must be >= 0, got {bad}.")
            if "default" not in self.cycles_per_mac and set(self.cycles_per_mac) != set(KINDS):
                raise ValueError(
                    f"MCU target {self.name!r}: cycles_per_mac needs a 'default' entry for the op kinds "
                    f"it does not list ({sorted(set(KINDS) - set(self.cycles_per_mac))})."
                )
        object.__setattr__(self, "cycles_per_mac", dict(self.cycles_per_mac))

    # -- MCU cost model -------------------------------------------------
    def cycles_for(self, kind: str) -> float:
        """Cycles per MAC the cost model charges for an op kind (MCU targets)."""
        return float(self.cycles_per_mac.get(kind, self.cycles_per_mac.get("default", 0.0)))

    def estimate(self, model: ModelSource | MacReport) -> TargetLatency:
        """Estimate the latency of a model with this MCU target's cost model.

        Args:
            model: `.tflite` bytes, a file path, or a `MacReport`.

        Returns:
            A `TargetLatency` with `source="estimate"` and per-op milliseconds.

        Raises:
            ValueError: The target is not an MCU target.
            InvalidModelError: The model cannot be parsed.
        """
        if self.kind != "mcu":
            raise ValueError(
                f"Target {self.name!r} is a {self.kind} target: its latency is measured, not "
                "estimated; call latency() instead."
            )
        report = model if isinstance(model, MacReport) else read_graph(model)
        per_op = tuple(
            (self.cycles_for(row.kind) * row.macs + self.op_overhead_cycles) / (self.clock_mhz * 1000.0)
            for row in report.ops
        )
        return TargetLatency(
            median_ms=float(sum(per_op)),
            p90_ms=None,
            cv=None,
            runs=0,
            threads=None,
            use_xnnpack=None,
            source="estimate",
            note=f"estimated from MACs with the {self.name} cost model (@{self.clock_mhz:g} MHz), not measured",
            per_op_ms=per_op,
        )

    # -- measured / estimated latency ------------------------------------
    def latency(self, model_content: ModelSource, runs: int = 50, warmup: int = 5, cache=None) -> TargetLatency:
        """Latency of a model on this target: estimated (MCU) or measured.

        Host targets measure with LiteRT on this machine. Mobile targets run
        `benchmark_model` through `adb` on the first attached device; with
        no device (or no `adb`), they measure on this host instead and say so
        in `note`.

        Args:
            model_content: The `.tflite` flatbuffer as bytes, or a file path.
            runs: Timed runs (measured targets).
            warmup: Untimed warm-up runs (measured targets).
            cache: Optional `LatencyCache` for host measurements.

        Returns:
            A `TargetLatency`.

        Raises:
            InvalidModelError: The model is invalid.

        Example:

        >>> get_target("pixel-cpu").latency(model_bytes).note  # doctest: +SKIP
        'no Android device attached ...: measured on this host ...'
        """
        data = as_model_bytes(model_content)
        if self.kind == "mcu":
            return self.estimate(data)
        note = ""
        if self.kind == "mobile":
            from .benchmark_model import AdbError, adb_devices, run_benchmark_model

            try:
                serial = adb_devices()[0]
            except AdbError as e:
                note = (
                    f"{e} -> measured on this host's CPU with the {self.name} settings "
                    f"({self.threads} threads, XNNPACK {'on' if self.use_xnnpack else 'off'}), "
                    "NOT on the phone"
                )
            else:
                result = run_benchmark_model(
                    data, serial=serial, threads=self.threads, use_xnnpack=self.use_xnnpack,
                    runs=runs, warmup=warmup,
                )  # fmt: skip
                avg = result.get("avg_ms", result["inference_avg_ms"])
                return TargetLatency(
                    median_ms=result.get("median_ms", avg),
                    p90_ms=None,
                    cv=(result["std_ms"] / avg) if avg and "std_ms" in result else None,
                    runs=int(result.get("count", runs)),
                    threads=self.threads,
                    use_xnnpack=self.use_xnnpack,
                    source=f"adb:{serial}",
                    note="benchmark_model on the device; median_ms is its avg when it prints no median",
                )
        from .latency_cache import measure_latency_cached

        measured = measure_latency_cached(
            data, runs=runs, warmup=warmup, num_threads=self.threads,
            use_xnnpack=self.use_xnnpack, cache=cache,
        )  # fmt: skip
        stats = measured.stats
        if measured.remeasured and not note:
            note = f"re-measured {measured.remeasured} time(s) because cv > {measured.max_cv:g}"
        return TargetLatency(
            median_ms=stats.median_ms,
            p90_ms=stats.p90_ms,
            cv=stats.cv,
            runs=stats.runs,
            threads=stats.num_threads,
            use_xnnpack=stats.use_xnnpack,
            source="litert-host",
            note=note,
        )

    def latency_ms(self, model_content: ModelSource, runs: int = 50, warmup: int = 5) -> float:
        """`latency(model_content).median_ms`: estimate (MCU) or measured median (host, mobile).

        Example:

        >>> get_target("cortex-m4").latency_ms(model_bytes)  # doctest: +SKIP
        3.2
        """
        return self.latency(model_content, runs=runs, warmup=warmup).median_ms

    # -- fit checks ---------------------------------------------------------
    def violations(self, profile) -> list[str]:
        """Why a profiled model does not fit this target (empty list = fits).

        Args:
            profile: A `Profile` (or anything with `flash_bytes` and
                `peak_ram_bytes`, and optionally `unsupported_ops_on_tflm`).

        Returns:
            Human-readable reasons, e.g. `"flash 70.1 KB > 64 KB"`.
        """
        problems = []
        flash = getattr(profile, "flash_bytes", None)
        ram = getattr(profile, "peak_ram_bytes", None)
        if self.flash_kb is not None and flash is not None and flash / 1024 > self.flash_kb:
            problems.append(f"flash {flash / 1024:.1f} KB > {self.flash_kb:g} KB")
        if self.ram_kb is not None and ram is not None and ram / 1024 > self.ram_kb:
            problems.append(f"peak RAM (TFLM arena) {ram / 1024:.1f} KB > {self.ram_kb:g} KB")
        if self.kind == "mcu":
            unsupported = tuple(getattr(profile, "unsupported_ops_on_tflm", ()) or ())
            if unsupported:
                problems.append("ops without a TFLite Micro kernel: " + ", ".join(unsupported))
            if ram is None:
                problems.append("TFLite Micro could not run the model (no arena size)")
        return problems

    def fits(self, profile) -> bool:
        """`True` when `violations(profile)` is empty.

        Example:

        >>> get_target("cortex-m4").fits(profile(model_bytes))  # doctest: +SKIP
        True
        """
        return not self.violations(profile)

    def replace(self, **changes: Any) -> "Target":
        """A copy with some fields changed, e.g. `get_target("host").replace(threads=2)`."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable dict of the fields."""
        result = dataclasses.asdict(self)
        result["cycles_per_mac"] = dict(self.cycles_per_mac)
        return result


TARGETS: dict[str, Target] = {
    "host": Target(
        "host", kind="host", threads=1, use_xnnpack=True,
        description="This machine's CPU, LiteRT interpreter (XNNPACK on, 1 thread).",
    ),
    "pixel-cpu": Target(
        "pixel-cpu", kind="mobile", threads=4, use_xnnpack=True,
        description=(
            "Android phone CPU: benchmark_model over adb (4 threads, XNNPACK); "
            "host measurement with a note when no device is attached."
        ),
    ),
    "cortex-m4": Target(
        "cortex-m4", kind="mcu", ram_kb=640, flash_kb=2048, clock_mhz=120,
        cycles_per_mac=CORTEX_M4_TFLM_REF_CYCLES_PER_MAC,
        op_overhead_cycles=CORTEX_M4_OP_OVERHEAD_CYCLES,
        description=(
            "NUCLEO-L4R5ZI (STM32L4R5ZI Cortex-M4F @120 MHz, 640 KB SRAM, 2 MB flash), "
            "the MLPerf Tiny v0.5 reference platform. Measured on the emulated board "
            "(TFLite Micro + CMSIS-NN firmware on QEMU mps2-an386) when the Arm toolchain, "
            "qemu-system-arm and a TFLite Micro tree are available; else the TFLM "
            "reference-kernel cost model."
        ),
        measured_by="emulator",
    ),
    "cortex-m7": Target(
        "cortex-m7", kind="mcu", ram_kb=320, flash_kb=1024, clock_mhz=216,
        cycles_per_mac=CORTEX_M4_TFLM_REF_CYCLES_PER_MAC,
        op_overhead_cycles=CORTEX_M4_OP_OVERHEAD_CYCLES,
        description=(
            "STM32F746 (Cortex-M7 @216 MHz, 320 KB SRAM, 1 MB flash); Cortex-M4 cycles per "
            "MAC (unvalidated upper bound)."
        ),
    ),
}  # fmt: skip
"""Built-in targets by name (see the module docstring for their sources)."""


def get_target(target: str | Target) -> Target:
    """Look up a built-in target by name (a `Target` is returned unchanged).

    Args:
        target: A name in `TARGETS` (`"host"`, `"pixel-cpu"`, `"cortex-m4"`,
            `"cortex-m7"`) or a `Target`.

    Returns:
        The `Target`.

    Raises:
        ValueError: Unknown name (the message lists the known ones).

    Example:

    >>> get_target("cortex-m4").clock_mhz
    120
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, str) and target in TARGETS:
        return TARGETS[target]
    raise ValueError(
        f"Unknown target {target!r}; built-in targets are: {', '.join(sorted(TARGETS))}. "
        "Or define one: Target('my-m4', kind='mcu', clock_mhz=80, ram_kb=128, flash_kb=512, "
        "cycles_per_mac={...})."
    )
