"""From instructions executed on an emulated Cortex-M to cycles and milliseconds on a real one.

QEMU counts instructions, not cycles: a real core stalls on loads, taken
branches and flash wait states, and dual-issues some pairs (Cortex-M7). The
model here is one number per target and kernel library, cycles per
instruction (CPI), fitted on published latencies of models that
`benchmarks/bench_mcu.py` runs on the same emulated firmware:

    cycles = cpi * instructions,   latency_ms = cycles / (clock_mhz * 1000)

`CycleModel.loo_error` is the leave-one-out error of that fit (fit on all
but one published model, predict the one left out; mean absolute relative
error), the honest error to expect on a new model.

Calibrations
------------
- `cortex-m4`: the four MLPerf Tiny v1.1 closed-division results of Krai's
  `microtvm_cmsis_nn` submission (NUCLEO-L4R5ZI, STM32L4R5 Cortex-M4F @ 120 MHz,
  the CMSIS-NN kernels the firmware runs; github.com/mlcommons/tiny_results_v1.1,
  closed/Krai/results: KWS 99.8 ms, VWW 300.8 ms, IC 389.6 ms, AD 8.6 ms)
  against the instructions of the same reference architectures
  (`benchmarks/mlperf_tiny_models.py`, int8) on `mps2-an386` with the CMSIS-NN
  firmware: CPI 1.59, leave-one-out error 5.0 % mean (KWS +1.1 %, VWW +6.7 %,
  IC +1.9 %, AD -10.1 %). The 2020 MLPerf Tiny v0.5 reference results (TFLM
  v2.3.1 on the same board: KWS 181.9 ms, IC 704.3 ms) keep the same IC/KWS
  ratio (3.87; the firmware's instructions give 3.93) but need a CPI of 2.55
  with a 23 % leave-one-out error: that older TFLM executed more instructions
  than today's TFLM + CMSIS-NN, so those results calibrate it less well. TFLM's
  reference kernels reproduce neither (IC/KWS 2.50). The `reference` firmware
  uses the same CPI (same core and memory system).
- `cortex-m7` and `cortex-m55`: no published TFLite Micro latency of a model
  reproducible here was found; CPI 1.0 (cycles = instructions) is an
  assumption, marked `calibrated=False` and in every `latency_source`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CycleModel:
    """Cycles per executed instruction of one target and kernel library.

    Attributes:
        target: Target name, e.g. `"cortex-m4"`.
        kernels: `"cmsis_nn"` or `"reference"`.
        clock_mhz: Core clock of the modelled board.
        cycles_per_instruction: The fitted (or assumed) CPI.
        calibrated: `True` when fitted on published measurements.
        loo_error: Leave-one-out mean absolute relative error of the fit
            (`None` when not calibrated).
        source: Where the numbers come from.
    """

    target: str
    kernels: str
    clock_mhz: float
    cycles_per_instruction: float
    calibrated: bool
    loo_error: float = None
    source: str = ""

    def cycles(self, instructions: float) -> float:
        """Estimated cycles on the modelled board for an instruction count."""
        return self.cycles_per_instruction * float(instructions)

    def latency_ms(self, instructions: float) -> float:
        """Estimated milliseconds on the modelled board for an instruction count.

        Example:

        >>> CYCLE_MODELS[("cortex-m4", "cmsis_nn")].latency_ms(120_000) > 0
        True
        """
        return self.cycles(instructions) / (self.clock_mhz * 1000.0)

    def describe(self) -> str:
        """One line for reports, e.g. `"CPI 1.31 fitted on 4 MLPerf Tiny results (LOO 6 %)"`."""
        if not self.calibrated:
            return f"CPI {self.cycles_per_instruction:g} assumed (no published {self.target} figure to fit)"
        return f"CPI {self.cycles_per_instruction:.3g} fitted on {self.source} (LOO {100 * self.loo_error:.0f} %)"


_MLPERF_V11_CMSIS_NN = "4 MLPerf Tiny v1.1 CMSIS-NN results (Krai, NUCLEO-L4R5ZI @120 MHz)"

# Fitted by benchmarks/bench_mcu.py on the CMSIS-NN firmware (benchmarks/RESULTS.md, 2026-12-01);
# refit when the firmware or TFLM changes.
CORTEX_M4_CPI = 1.592
CORTEX_M4_LOO = 0.050

CYCLE_MODELS: dict[tuple[str, str], CycleModel] = {
    ("cortex-m4", "cmsis_nn"): CycleModel(
        "cortex-m4", "cmsis_nn", 120.0, CORTEX_M4_CPI, True, CORTEX_M4_LOO, _MLPERF_V11_CMSIS_NN
    ),
    ("cortex-m4", "reference"): CycleModel(
        "cortex-m4", "reference", 120.0, CORTEX_M4_CPI, True, CORTEX_M4_LOO,
        _MLPERF_V11_CMSIS_NN + " with the CMSIS-NN firmware; CPI carried over to reference kernels",
    ),
    ("cortex-m7", "reference"): CycleModel("cortex-m7", "reference", 216.0, 1.0, False),
    ("cortex-m7", "cmsis_nn"): CycleModel("cortex-m7", "cmsis_nn", 216.0, 1.0, False),
    ("cortex-m55", "reference"): CycleModel("cortex-m55", "reference", 160.0, 1.0, False),
    ("cortex-m55", "cmsis_nn"): CycleModel("cortex-m55", "cmsis_nn", 160.0, 1.0, False),
}  # fmt: skip
"""Cycle models by (target, kernels); clocks are those of `keras_nas.tflite.targets` (M55: 160 MHz, Alif E3 HP class)."""


def cycle_model(target: str, kernels: str = "cmsis_nn") -> CycleModel:
    """The cycle model of a target and kernel library.

    Raises:
        ValueError: No model for that pair (the message lists the known ones).
    """
    try:
        return CYCLE_MODELS[(target, kernels)]
    except KeyError:
        raise ValueError(
            f"No cycle model for target {target!r} with {kernels!r} kernels; known: "
            f"{', '.join(f'{t}/{k}' for t, k in CYCLE_MODELS)}."
        ) from None


def fit_cpi(instructions: dict[str, float], published_ms: dict[str, float], clock_mhz: float) -> float:
    """Least-squares CPI through the origin, on relative errors.

    Minimises sum(((cpi * i / f) - ms) / ms)^2, so each model weighs the same
    whatever its size: cpi = sum(x/y) / sum((x/y)^2) with x = i / f.

    Args:
        instructions: Emulated instructions per inference by model name.
        published_ms: Published latency by model name (same names).
        clock_mhz: Clock of the published board.

    Returns:
        The CPI.
    """
    ratios = [instructions[n] / (clock_mhz * 1000.0) / published_ms[n] for n in published_ms]
    return sum(ratios) / sum(r * r for r in ratios)


def leave_one_out(instructions: dict[str, float], published_ms: dict[str, float],
                  clock_mhz: float) -> dict[str, float]:
    """Relative error of each model's latency predicted by a CPI fitted on the others.

    Returns:
        `{name: (predicted - published) / published}`.
    """
    errors = {}
    for name in published_ms:
        rest = {n: v for n, v in published_ms.items() if n != name}
        cpi = fit_cpi(instructions, rest, clock_mhz)
        predicted = cpi * instructions[name] / (clock_mhz * 1000.0)
        errors[name] = (predicted - published_ms[name]) / published_ms[name]
    return errors
