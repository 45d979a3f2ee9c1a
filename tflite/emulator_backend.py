"""`EmulatorBackend`: a target's figures measured by TFLite Micro firmware on an emulated Cortex-M.

The measurement backend of the `cortex-m4` target (`Target.measured_by ==
"emulator"`, registered in `keras_nas.tflite.measurement.BACKENDS`). Each
model runs in the cached TFLite Micro + CMSIS-NN firmware on QEMU
(`keras_nas.tflite.emulator.measure_on_board`), which gives:

- latency: executed instructions x the target's cycles per instruction
  (`keras_nas.tflite.mcu_cycles`), at the board's clock;
- RAM: the firmware's tensor arena + its static data (`.data` + `.bss`) +
  the measured stack high-water mark;
- flash: the firmware image that registers the model's ops (linker section
  sizes) + the model itself.

The firmware needs the Arm GNU toolchain, `qemu-system-arm` and a TFLite
Micro source tree (`tflm_dir`, else `$KERAS_NAS_TFLM_DIR`). Without them the
backend falls back to the host runtimes (the MAC-count latency estimate and
the host interpreter's arena, model bytes as flash), warns once how to
enable the emulator (one line naming what is missing, shown by `Measurer` and `profile`
for the user's target only), and every record says why under `extra["emulator"]`.

Example:

```python
from keras_nas import tflite
from keras_nas.tflite.emulator_backend import EmulatorBackend

tflite.BACKENDS["emulator"] = EmulatorBackend(tflm_dir="/opt/tflite-micro")  # or set KERAS_NAS_TFLM_DIR
record = tflite.Measurer("cortex-m4").measure_bytes(model_bytes)
record.latency_source, record.extra["cycles"]
```
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

from .emulator import DEFAULT_TIMEOUT_S, measure_on_board
from .errors import InvalidModelError
from .firmware import BOARDS, FirmwareError, build_firmware, tflm_tree_problem, toolchain_problem
from .latency_cache import LatencyCache
from .backends import BackendFigures, RuntimesBackend
from .targets import Target, TargetLatency


class EmulatorBackend:
    """Measures a target on its emulated board; falls back to the host runtimes without a toolchain or tree.

    Args:
        tflm_dir: The TFLite Micro source tree the firmware is built from
            (default: `$KERAS_NAS_TFLM_DIR`, read at each measurement).
        kernels: `"cmsis_nn"` (default, what Cortex-M deployments use) or `"reference"`.
        timeout: Seconds before an emulated run is stopped (the candidate is then rejected).
    """

    def __init__(
        self,
        tflm_dir: str | os.PathLike | None = None,
        kernels: str = "cmsis_nn",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.tflm_dir = tflm_dir
        self.kernels = kernels
        self.timeout = timeout
        self.fallback = RuntimesBackend()
        self._front_ends: dict = {}  # front_end_figures by (file digest, network ops, target)

    def unavailable_reason(self, target: Target) -> str | None:
        """Why `target` cannot be measured on its emulated board here (`None`: it can).

        Builds the firmware on first use (minutes, once per machine and tree; then cached).
        """
        if target.name not in BOARDS:
            return f"no emulated board for target {target.name!r} (boards: {', '.join(BOARDS)})"
        problem = toolchain_problem()
        if problem:
            return problem
        try:
            build_firmware(target.name, tflm_dir=self.tflm_dir, kernels=self.kernels)
        except FirmwareError as e:
            return str(e)
        return None

    def measures_firmware(self, target: Target) -> bool:
        """Whether the figures of `target` are of the whole firmware (emulator available) or of the model alone."""
        return self.unavailable_reason(target) is None

    def measure(
        self, model_bytes: bytes, target: Target, runs: int, warmup: int, cache: LatencyCache | None
    ) -> BackendFigures:
        reason = self.unavailable_reason(target)
        if reason is not None:
            return self._fall_back(reason, model_bytes, target, runs, warmup, cache)
        try:
            board = measure_on_board(
                model_bytes, target.name, tflm_dir=self.tflm_dir, kernels=self.kernels, timeout=self.timeout
            )
        except (InvalidModelError, FirmwareError) as e:
            # Ops without a kernel in the firmware, a TFLite Micro abort, a time-out:
            # this model cannot be measured on the board (a rejected candidate).
            return BackendFigures(
                peak_ram_bytes=None,
                peak_ram_source=f"qemu {BOARDS[target.name].machine}",
                latency=dataclasses.replace(
                    target.latency(model_bytes, runs=runs, warmup=warmup, cache=cache),
                    note=f"the emulated board could not run the model: {e}",
                ),
                ram_error=str(e),
            )
        latency = TargetLatency(
            median_ms=board.latency_ms,
            p90_ms=None,
            cv=None,
            runs=1,
            threads=None,
            use_xnnpack=None,
            source=board.latency_source,
            note=f"{board.instructions:,} instructions x CPI = {board.cycles:,.0f} cycles @{board.clock_mhz:g} MHz",
        )
        return BackendFigures(
            peak_ram_bytes=board.ram_bytes,
            peak_ram_source=(
                f"qemu {board.machine} ({board.kernels} firmware): arena {board.arena_bytes} B + "
                f".data/.bss {board.static_ram_bytes} B + measured stack {board.stack_bytes} B"
            ),
            latency=latency,
            firmware_flash_bytes=board.firmware_flash_bytes,
            extra={
                "cycles": board.cycles,
                "instructions": board.instructions,
                "board_arena_bytes": board.arena_bytes,
                "static_ram_bytes": board.static_ram_bytes,
                "stack_bytes": board.stack_bytes,
                "emulator_seconds": board.wall_seconds,
            },
        )

    def front_end_figures(self, front_end_bytes: bytes, network_ops, target: Target) -> dict | None:
        """An audio front-end's file on the emulated board beside a network using `network_ops`.

        One frame runs in the firmware (instruction-counted); the front-end
        adds its time per frame, its arena (the firmware's static data and
        stack are the network's, shared) and the code of its signal kernels
        (the image registering both op sets against the network's alone).

        Returns:
            `{"latency_ms", "arena_bytes", "firmware_flash_bytes", "source"}`, or
            `None` when the board cannot run here (the host figures stand).
        """
        if self.unavailable_reason(target) is not None:
            return None
        key = (hashlib.sha256(front_end_bytes).hexdigest(), tuple(sorted(network_ops)), target.name)
        if key not in self._front_ends:
            board = measure_on_board(front_end_bytes, target.name, tflm_dir=self.tflm_dir, kernels=self.kernels,
                                     timeout=self.timeout)
            firmware = build_firmware(target.name, tflm_dir=self.tflm_dir, kernels=self.kernels)
            both = firmware.image_sizes({*network_ops, *board.ops}).flash_bytes
            self._front_ends[key] = {
                "latency_ms": board.latency_ms, "arena_bytes": board.arena_bytes,
                "firmware_flash_bytes": both - firmware.image_sizes(network_ops).flash_bytes,
                "source": f"{board.latency_source}: one frame, {board.instructions:,} instructions",
            }
        return self._front_ends[key]

    def _fall_back(self, reason, model_bytes, target, runs, warmup, cache) -> BackendFigures:
        figures = self.fallback.measure(model_bytes, target, runs, warmup, cache)
        return BackendFigures(
            peak_ram_bytes=figures.peak_ram_bytes,
            peak_ram_source=figures.peak_ram_source,
            latency=figures.latency,
            ram_error=figures.ram_error,
            extra={"emulator": f"not used: {reason}"},
            fallback_warning=self.fallback_warning(target, reason),
        )

    def fallback_warning(self, target: Target, reason: str) -> str:
        """One line: `target` is not measured on its emulated board, and what is missing here.

        Names the missing tools (with the `apt-get` packages of those only)
        and the missing TFLite Micro tree; else the first line of `reason`
        (e.g. a failed firmware build).
        """
        missing = [p for p in (toolchain_problem(), tflm_tree_problem(self.tflm_dir)) if p]
        why = "; ".join(missing) if missing else reason.strip().splitlines()[0]
        return (f"Target {target.name!r} is not measured on its emulated board (latency: MAC-count "
                f"estimate, RAM: host TFLite Micro arena): {why}.")

