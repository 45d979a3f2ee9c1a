"""`profile()`: everything a model costs on a target, in one call.

Flash (flatbuffer size), peak RAM (TFLite Micro's own arena figure), MACs,
FLOPs, parameters, the ops and whether TFLite Micro has kernels for them,
ops that are not fully integer, and latency (measured with LiteRT on host /
mobile targets, estimated from MACs on MCU targets), with a per-op table.
On a target measured on an emulated board (`cortex-m4` with the Arm toolchain,
QEMU and a TFLite Micro tree), flash, RAM, cycles and latency are the
firmware's (see `keras_nas.tflite.emulator_backend`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .interpreter import as_model_bytes, load_interpreter
from .macs import float_ops, read_graph
from .measurement import FLASH_FROM_FLATBUFFER, FLASH_OF_FIRMWARE, Measurer, warn_fallback
from .ops import model_ops, resolver_method
from .targets import Target


@dataclass(frozen=True)
class OpRow:
    """One row of the per-op table.

    Attributes:
        index: Position in the graph.
        op: TFLite op name.
        kind: Op kind (see `keras_nas.tflite.macs.KINDS`).
        macs: Multiply-accumulates.
        params: Elements of constant inputs.
        output_shape: Shape of the first output.
        tflm_supported: Whether TFLite Micro has a kernel for the op.
        estimated_ms: Estimated milliseconds (MCU targets), else `None`.
    """

    index: int
    op: str
    kind: str
    macs: int
    params: int
    output_shape: tuple[int, ...]
    tflm_supported: bool
    estimated_ms: float | None = None


@dataclass(frozen=True)
class Profile:
    """The cost of a model on a target.

    Attributes:
        target: Target name.
        flash_bytes: `.tflite` size, plus `firmware_flash_bytes`.
        peak_ram_bytes: TFLite Micro tensor arena (`arena_bytes`), or on an
            emulated board the firmware's arena + static data + measured
            stack; `None` when TFLite Micro cannot run the model (see `tflm_error`).
        macs: Multiply-accumulates per inference.
        flops: `2 * macs`.
        params: Parameters (elements of constant tensors).
        ops: Sorted distinct op names.
        unsupported_ops_on_tflm: Ops with no TFLite Micro kernel.
        not_fully_integer_ops: Ops computing in float (or converting) inside
            an integer model, e.g. a mid-graph `DEQUANTIZE`, as
            `"INDEX:OP"` strings.
        latency_median_ms: Median measured latency, or the MCU estimate.
        latency_p90_ms: 90th percentile (measured only).
        latency_cv: Coefficient of variation (measured only).
        latency_runs: Timed runs (0 for an estimate).
        threads: Threads of the measurement (`None` for an estimate).
        xnnpack: XNNPACK delegate on (`None` for an estimate).
        latency_source: `"estimate"`, `"litert-host"`, `"adb:<serial>"`, or
            `"qemu <board> ..."` (an emulated board: instructions x CPI).
        latency_note: Caveat about the latency figure.
        tflm_error: Why TFLite Micro could not run the model (or `""`).
        fits: Whether the model fits the target's limits.
        violations: Reasons it does not fit.
        per_op: The per-op table (`OpRow`s).
        flash_source: Where the flash figure comes from (`"flatbuffer"`: the
            bytes profiled).
        peak_ram_source: Where the arena figure comes from (the target's
            measurement backend, e.g. `"tflite-micro-host"`).
        cycles: Cycles per inference on the target's core (an emulated
            board's instructions x CPI), `None` when not measured.
        firmware_flash_bytes: The firmware image the model is linked into
            (emulated board), included in `flash_bytes`; 0 otherwise.
    """

    target: str
    flash_bytes: int
    peak_ram_bytes: int | None
    macs: int
    flops: int
    params: int
    ops: tuple[str, ...]
    unsupported_ops_on_tflm: tuple[str, ...]
    not_fully_integer_ops: tuple[str, ...]
    latency_median_ms: float
    latency_p90_ms: float | None
    latency_cv: float | None
    latency_runs: int
    threads: int | None
    xnnpack: bool | None
    latency_source: str
    latency_note: str = ""
    tflm_error: str = ""
    fits: bool = True
    violations: tuple[str, ...] = ()
    per_op: tuple[OpRow, ...] = field(default_factory=tuple)
    flash_source: str = FLASH_FROM_FLATBUFFER
    peak_ram_source: str = ""
    cycles: float | None = None
    firmware_flash_bytes: int = 0

    @property
    def flash_kb(self) -> float:
        """`flash_bytes / 1024`."""
        return self.flash_bytes / 1024

    @property
    def peak_ram_kb(self) -> float | None:
        """`peak_ram_bytes / 1024` (`None` when unknown)."""
        return None if self.peak_ram_bytes is None else self.peak_ram_bytes / 1024

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable dict (tuples as lists, per-op rows as dicts, KB figures added).

        Example:

        >>> json.dumps(profile(model_bytes).to_dict())  # doctest: +SKIP
        """
        result = asdict(self)
        for key, value in list(result.items()):
            if isinstance(value, tuple):
                result[key] = list(value)
        result["per_op"] = [dict(asdict(row), output_shape=list(row.output_shape)) for row in self.per_op]
        result["flash_kb"] = self.flash_kb
        result["peak_ram_kb"] = self.peak_ram_kb
        return result

    def format(self, per_op: bool = True) -> str:
        """A readable multi-line report (summary, then the per-op table)."""
        def num(value, fmt="{:,}"):
            return "n/a" if value is None else fmt.format(value)

        latency = f"{self.latency_median_ms:.4g} ms"
        host_arena = self.peak_ram_source in ("", "tflite-micro-host")
        ram_source = "TFLite Micro arena" if host_arena else self.peak_ram_source
        if self.latency_source == "estimate":
            latency += " (estimate)"
        elif self.cycles is not None:
            latency += f", {self.cycles:,.0f} cycles [{self.latency_source}]"
        else:
            latency += (
                f" median, p90 {num(self.latency_p90_ms, '{:.4g}')} ms, cv {num(self.latency_cv, '{:.3f}')}, "
                f"{self.latency_runs} runs, {self.threads} thread(s), "
                f"XNNPACK {'on' if self.xnnpack else 'off'} [{self.latency_source}]"
            )
        lines = [
            f"Profile on target {self.target!r}",
            f"  flash        {self.flash_bytes:,} B ({self.flash_kb:.1f} KB"
            + (f", {self.flash_source})" if self.firmware_flash_bytes else ")"),
            "  peak RAM     "
            + (f"{self.peak_ram_bytes:,} B ({self.peak_ram_kb:.1f} KB, {ram_source})"
               if self.peak_ram_bytes is not None else f"n/a (TFLite Micro: {self.tflm_error})"),
            f"  MACs         {self.macs:,} ({self.flops:,} FLOPs)",
            f"  params       {self.params:,}",
            f"  ops          {', '.join(self.ops)}",
            f"  not on TFLM  {', '.join(self.unsupported_ops_on_tflm) or 'none'}",
            f"  float ops    {', '.join(self.not_fully_integer_ops) or 'none (fully integer)'}",
            f"  latency      {latency}",
        ]  # fmt: skip
        if self.latency_note:
            lines.append(f"  note         {self.latency_note}")
        lines.append(f"  fits target  {'yes' if self.fits else 'NO: ' + '; '.join(self.violations)}")
        if per_op and self.per_op:
            estimated = any(row.estimated_ms is not None for row in self.per_op)
            header = f"  {'#':>3} {'op':<22} {'kind':<11} {'MACs':>12} {'params':>9} {'output':<18} TFLM"
            lines += ["", header + ("  est. ms" if estimated else ""), "  " + "-" * (len(header) + 7)]
            for row in self.per_op:
                line = (
                    f"  {row.index:>3} {row.op[:22]:<22} {row.kind:<11} {row.macs:>12,} {row.params:>9,} "
                    f"{'x'.join(str(d) for d in row.output_shape):<18} {'yes' if row.tflm_supported else 'NO ':<4}"
                )
                if estimated:
                    line += f" {row.estimated_ms:8.3f}"
                lines.append(line)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _is_keras_model(obj) -> bool:
    return hasattr(obj, "inputs") and hasattr(obj, "predict") and not isinstance(obj, (bytes, str))


def profile(
    model_or_tflite,
    target: str | Target = "host",
    representative_data=None,
    runs: int = 50,
    warmup: int = 5,
    cache=None,
    warn_unmeasured: bool = True,
) -> Profile:
    """Profile a model: size, TFLite Micro arena, MACs, ops and latency on a target.

    Args:
        model_or_tflite: `.tflite` bytes, a `.tflite` file path, or a built
            Keras model (converted to full-integer int8 first, which needs
            `representative_data`).
        target: A `Target` or a built-in name (`"host"`, `"pixel-cpu"`,
            `"cortex-m4"`, `"cortex-m7"`): it sets the threads/XNNPACK of
            the measurement, or the MCU cost model, and the memory limits.
        representative_data: Float array `(n, *input_shape)` for the int8
            calibration of a Keras model; ignored for `.tflite` input.
        runs: Timed runs of the latency measurement (host/mobile targets).
        warmup: Untimed warm-up runs before timing.
        cache: Optional `LatencyCache` (default: the process-wide one).
        warn_unmeasured: Warn (once, `EmulatorUnavailableWarning`) when the
            target's emulated board cannot run here and its figures are
            estimates; `False` for side estimates of a target the user did
            not choose (`keras_nas.export` reports MCU estimates of every model).

    Returns:
        A `Profile` (`print(p)` shows a table, `p.to_dict()` a JSON-ready dict).

    Raises:
        ValueError: A Keras model without `representative_data`, an unknown
            target name, or bad `runs`/`warmup`.
        InvalidModelError: The bytes/file are not a valid TFLite model
            (empty, truncated, random bytes, a text file...).
        ConversionError: The Keras model could not be converted.

    Example:

    >>> p = profile("model.tflite", target="cortex-m4")  # doctest: +SKIP
    >>> p.peak_ram_kb, p.macs, p.latency_median_ms  # doctest: +SKIP
    (2.3, 19328, 0.68)
    >>> print(p)  # doctest: +SKIP
    """
    measurer = Measurer(target, representative_data, latency_runs=runs, latency_cache=cache, warmup=warmup)
    target = measurer.target
    if not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be a positive int, got {runs!r}.")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}.")
    if _is_keras_model(model_or_tflite):
        if representative_data is None:
            raise ValueError(
                "profile() got a Keras model: it is converted to int8 first, which needs "
                "representative_data (a float array of shape (n, *input_shape), e.g. 100-200 "
                "training inputs). Or pass the .tflite bytes / path instead."
            )
        data = measurer.to_int8(model_or_tflite)
    else:
        data = as_model_bytes(model_or_tflite)
    load_interpreter(data)  # full validation (verifier) before anything else parses the bytes
    report = read_graph(data)
    ops = model_ops(data)
    unsupported = tuple(op for op in ops if resolver_method(op) is None)
    # The arena and latency as the search measures them; a model the runtime cannot run is profiled all the same.
    figures = measurer.backend.measure(data, target, runs=runs, warmup=warmup, cache=cache)
    if warn_unmeasured:
        warn_fallback(figures)
    latency = figures.latency
    per_op_ms = latency.per_op_ms or (None,) * len(report.ops)
    rows = tuple(
        OpRow(
            index=row.index, op=row.op, kind=row.kind, macs=row.macs, params=row.params,
            output_shape=row.output_shape, tflm_supported=resolver_method(row.op) is not None,
            estimated_ms=ms,
        )
        for row, ms in zip(report.ops, per_op_ms)
    )  # fmt: skip
    firmware = figures.firmware_flash_bytes
    result = Profile(
        target=target.name,
        flash_bytes=firmware + len(data),
        flash_source=f"{FLASH_FROM_FLATBUFFER} + {FLASH_OF_FIRMWARE}" if firmware else FLASH_FROM_FLATBUFFER,
        firmware_flash_bytes=firmware,
        cycles=figures.extra.get("cycles"),
        peak_ram_bytes=figures.peak_ram_bytes,
        macs=report.macs,
        flops=report.flops,
        params=report.params,
        ops=ops,
        unsupported_ops_on_tflm=unsupported,
        not_fully_integer_ops=tuple(f"{row.index}:{row.op}" for row in float_ops(report)),
        latency_median_ms=latency.median_ms,
        latency_p90_ms=latency.p90_ms,
        latency_cv=latency.cv,
        latency_runs=latency.runs,
        threads=latency.threads,
        xnnpack=latency.use_xnnpack,
        latency_source=latency.source,
        latency_note=latency.note,
        tflm_error=figures.ram_error,
        peak_ram_source=figures.peak_ram_source,
        per_op=rows,
    )
    violations = tuple(target.violations(result))
    return _replace(result, fits=not violations, violations=violations)


def _replace(profile_: Profile, **changes) -> Profile:
    import dataclasses

    return dataclasses.replace(profile_, **changes)


def profiles_table(profiles: list[Profile]) -> str:
    """One line per profile (target, flash, RAM, MACs, latency), for comparisons."""
    lines = [f"{'target':<12} {'flash KB':>9} {'RAM KB':>8} {'MACs':>12} {'latency ms':>11} source"]
    for p in profiles:
        ram = f"{p.peak_ram_kb:.1f}" if p.peak_ram_kb is not None else "n/a"
        lines.append(
            f"{p.target:<12} {p.flash_kb:>9.1f} {ram:>8} {p.macs:>12,} {p.latency_median_ms:>11.4g} {p.latency_source}"
        )
    return "\n".join(lines)
