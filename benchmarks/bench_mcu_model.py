"""Check the cortex-m4 latency cost model against published MLPerf Tiny latencies.

Builds the four MLPerf Tiny v0.5 reference models in Keras
(`mlperf_tiny_models.py`: DS-CNN KWS, MobileNetV1-0.25 VWW, ResNet-8 IC,
FC autoencoder AD), converts them to int8 (random calibration data: enough for
size, MACs and latency), counts MACs from the .tflite, estimates latency with
the built-in `cortex-m4` target and compares with the latency published for
the same models on the reference platform.

Published figures: MLPerf Tiny v0.5, closed division, "Reference" submission,
NUCLEO-L4R5ZI (STM32L4R5ZI Cortex-M4F @120 MHz), TensorFlow Lite for
Microcontrollers v2.3.1. Latency = runtime / inferences from
https://github.com/mlcommons/tiny_results_v0.5/tree/main/closed/reference/results/Nucleo-L4R5ZI
(`<task>/performance/results.txt`, median window):
KWS 18.192 s / 100, VWW 60.054 s / 100, IC 70.426 s / 100, AD 10.052 s / 1000.

The built-in constants were fitted on these same four models, so the script
also refits them and reports the leave-one-out error (fit on three, predict
the fourth), which is the honest estimate for a new model.

Run: `.venv/bin/python benchmarks/bench_mcu_model.py [--out FILE]`
"""

import argparse
import datetime
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy.optimize import nnls  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mlperf_tiny_models import REFERENCE_MODELS  # noqa: E402

from keras_nas.tflite import InvalidModelError, arena_bytes, count_macs, get_target, to_tflite  # noqa: E402
from keras_nas.tflite.targets import CORTEX_M4_OP_OVERHEAD_CYCLES, CORTEX_M4_TFLM_REF_CYCLES_PER_MAC  # noqa: E402

SOURCE = "https://github.com/mlcommons/tiny_results_v0.5/tree/main/closed/reference/results/Nucleo-L4R5ZI"
PUBLISHED_MS = {"kws": 18192 / 100, "vww": 60054 / 100, "ic": 70426 / 100, "ad": 10052 / 1000}
FITTED = ("conv", "depthwise", "fc")
CLOCK_MHZ = 120.0


def fixed_cycles(report) -> float:
    """Cycles the model does not fit: other kinds at `default` cycles/MAC + per-op overhead."""
    default = CORTEX_M4_TFLM_REF_CYCLES_PER_MAC["default"]
    other = sum(v for k, v in report.macs_by_kind.items() if k not in FITTED)
    return other * default + len(report.ops) * CORTEX_M4_OP_OVERHEAD_CYCLES


def fit(reports, names):
    a = np.array([[reports[n].macs_by_kind[k] for k in FITTED] for n in names], dtype=float)
    y = np.array([PUBLISHED_MS[n] * CLOCK_MHZ * 1000 - fixed_cycles(reports[n]) for n in names])
    coef, _ = nnls(a, y)
    return dict(zip(FITTED, coef))


def predict_ms(report, coef) -> float:
    cycles = sum(coef[k] * report.macs_by_kind[k] for k in FITTED) + fixed_cycles(report)
    return cycles / (CLOCK_MHZ * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the Markdown section to this file")
    args = parser.parse_args()
    start = time.time()
    target = get_target("cortex-m4")
    reports, rows = {}, []
    for name, build in REFERENCE_MODELS.items():
        model = build()
        x = np.random.default_rng(0).random((32, *model.input_shape[1:])).astype("float32")
        data = to_tflite(model, "int8", representative_data=x)
        reports[name] = count_macs(data)
        try:
            arena = arena_bytes(data)
        except InvalidModelError as e:  # reported in the table, not hidden
            print(f"{name}: TFLite Micro could not run it on this host: {e}")
            arena = None
        rows.append((name, data, reports[name], target.estimate(data).median_ms, arena))
    names = list(REFERENCE_MODELS)
    full = fit(reports, names)
    loo = {n: predict_ms(reports[n], fit(reports, [m for m in names if m != n])) for n in names}

    header = "| model | MACs | params | flash KB | TFLM arena KB | est. ms (shipped constants) | published ms | error % | leave-one-out est. ms | LOO error % |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    errors, loo_errors = [], []
    for name, data, report, est, arena in rows:
        pub = PUBLISHED_MS[name]
        err = 100 * (est - pub) / pub
        lerr = 100 * (loo[name] - pub) / pub
        errors.append(abs(err))
        loo_errors.append(abs(lerr))
        lines.append(
            f"| {name} | {report.macs:,} | {report.params:,} | {len(data) / 1024:.1f} | "
            f"{'n/a (TFLM aborted)' if arena is None else f'{arena / 1024:.1f}'} | "
            f"{est:.1f} | {pub:.2f} | {err:+.1f} | {loo[name]:.1f} | {lerr:+.1f} |"
        )
    shipped = {k: CORTEX_M4_TFLM_REF_CYCLES_PER_MAC[k] for k in FITTED}
    summary = [
        "",
        f"Mean |error| with the shipped constants (fitted on these same 4 models): {np.mean(errors):.1f} %.",
        f"Mean |error| leave-one-out (fit on 3, predict the 4th): {np.mean(loo_errors):.1f} % "
        f"(max {np.max(loo_errors):.1f} %).",
        "",
        "Refit on all 4 (cycles/MAC): " + ", ".join(f"{k} {v:.2f}" for k, v in full.items())
        + "; shipped: " + ", ".join(f"{k} {v:.2f}" for k, v in shipped.items())
        + f"; fixed: default {CORTEX_M4_TFLM_REF_CYCLES_PER_MAC['default']:g} cycles/MAC for other kinds, "
        f"{CORTEX_M4_OP_OVERHEAD_CYCLES:g} cycles/op overhead.",
    ]
    table = "\n".join(lines + summary)
    print(table)
    print(f"\n({time.time() - start:.0f} s) reproduce: .venv/bin/python benchmarks/bench_mcu_model.py")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(section(table, time.time() - start))
        print(f"wrote {args.out}")


def section(table: str, seconds: float) -> str:
    return f"""## MCU latency cost model vs MLPerf Tiny (cortex-m4)

Date {datetime.date.today()}; this machine: {platform.machine()}, {os.cpu_count()} cores (the estimate needs no board; {seconds:.0f} s
for the whole script, mostly the four int8 conversions).
Command: `.venv/bin/python benchmarks/bench_mcu_model.py`

Models: the four MLPerf Tiny v0.5 reference architectures rebuilt in Keras
(`benchmarks/mlperf_tiny_models.py`), untrained, int8 with random calibration data
(architecture, not weights, sets MACs and latency). MACs are counted from the .tflite
by `keras_nas.tflite.count_macs`; the TFLite Micro arena is measured by the real
TFLite Micro interpreter on this host.

Published latency: MLPerf Tiny v0.5 closed division, Reference submission on the
NUCLEO-L4R5ZI (STM32L4R5ZI, Cortex-M4F @120 MHz, TFLite Micro v2.3.1), runtime / inferences
of the median window in `<task>/performance/results.txt` at {SOURCE}.

{table}

How to read it: the shipped `cortex-m4` constants (`keras_nas/tflite/targets.py`) are a
least-squares fit of cycles/MAC for `conv`, `depthwise` and `fc` to these four published
latencies, so their in-sample error is optimistic. The leave-one-out column is the honest
figure for a model unlike the others: it is large for `ic` (the only model without depthwise
layers: with it held out, the depthwise/conv split is fitted from KWS and VWW alone) and for
`ad` (with it held out, almost no fully-connected MACs remain to fit the `fc` constant).
The model uses one cost per MAC per op kind; it ignores memory layout, kernel variants
(1x1 vs 3x3, strides) and CMSIS-NN (the reference submission used TFLM reference kernels,
which are several times slower than CMSIS-NN). Use the estimates to rank candidates on one
board, and calibrate `cycles_per_mac` on your own board for absolute numbers.

"n/a (TFLM aborted)": the host TFLite Micro interpreter (tflite-micro Python package)
aborts (SIGABRT, no message) on the int8 VWW MobileNetV1-0.25 model, although LiteRT
runs it; the abort happens in a worker process, so `arena_bytes` raises
`InvalidModelError` instead of killing the caller. Not investigated further here.
"""


if __name__ == "__main__":
    main()
