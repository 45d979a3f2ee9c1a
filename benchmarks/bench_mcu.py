"""MLPerf Tiny models on an emulated Cortex-M4: instructions from the real firmware, calibrated latency.

Builds the four MLPerf Tiny v0.5 reference architectures (`mlperf_tiny_models.py`),
converts them to int8 (weights perturbed as the search does, random calibration
data: enough for instruction counts),
runs each on QEMU's `mps2-an386` (Cortex-M4) with the TFLite Micro firmware of
`keras_nas.tflite.firmware`, once with TFLM's reference kernels (what the
published MLPerf Tiny v0.5 reference submission ran) and once with CMSIS-NN,
and compares with two published sets of latencies on the same board
(NUCLEO-L4R5ZI, STM32L4R5 Cortex-M4F @ 120 MHz), both closed division (the
reference models):
- MLPerf Tiny v0.5, `closed/reference` (TFLM v2.3.1, 2020): the issue's
  yardstick for the ResNet-8 / DS-CNN ratio;
- MLPerf Tiny v1.1, `closed/Krai`, `microtvm_cmsis_nn` (the CMSIS-NN kernels
  the firmware runs, 2022): what the CMSIS-NN cycle model is fitted on.

Reports:
- the ResNet-8 / DS-CNN latency ratio from the emulator vs the published
  704.26 / 181.92 ms (an instruction ratio: no calibration involved);
- per firmware and published set, the cycles-per-instruction fitted on the
  models and its leave-one-out error (fit on the others, predict the one left);
- wall time per emulated inference.

Run: `.venv/bin/python benchmarks/bench_mcu.py [--tflm-dir DIR] [--json FILE]`
(`$KERAS_NAS_TFLM_DIR` names the TFLite Micro tree when --tflm-dir is not given).
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mlperf_tiny_models import REFERENCE_MODELS  # noqa: E402

from keras_nas.tflite import count_macs, to_tflite  # noqa: E402
from keras_nas.tflite.emulator import run_on_board
from keras_nas.tflite.errors import InvalidModelError  # noqa: E402
from keras_nas.tflite.firmware import build_firmware  # noqa: E402
from keras_nas.tflite.mcu_cycles import fit_cpi, leave_one_out  # noqa: E402
from keras_nas.tflite.measurement import randomize_weights  # noqa: E402

SOURCE = "https://github.com/mlcommons/tiny_results_v0.5/tree/main/closed/reference/results/Nucleo-L4R5ZI"
PUBLISHED_MS = {"kws": 18192 / 100, "vww": 60054 / 100, "ic": 70426 / 100, "ad": 10052 / 1000}
# Throughput (inferences/s) of MLPerf Tiny v1.1 closed/Krai microtvm_cmsis_nn on NUCLEO_L4R5ZI, as latency.
CMSIS_NN_SOURCE = "https://github.com/mlcommons/tiny_results_v1.1/blob/main/closed/Krai/results/README.md"
CMSIS_NN_MS = {"kws": 1000 / 10.019, "vww": 1000 / 3.324, "ic": 1000 / 2.567, "ad": 1000 / 116.212}
PUBLISHED_SETS = {"v0.5-reference": PUBLISHED_MS, "v1.1-krai-cmsis-nn": CMSIS_NN_MS}
CLOCK_MHZ = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflm-dir", default=None, help="TFLite Micro tree (default $KERAS_NAS_TFLM_DIR)")
    parser.add_argument("--json", default=None, help="write the raw results here")
    parser.add_argument("--models", nargs="*", default=list(REFERENCE_MODELS), choices=list(REFERENCE_MODELS))
    args = parser.parse_args()
    start = time.time()
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "published_ms": PUBLISHED_MS,
        "published_source": SOURCE,
        "cmsis_nn_ms": CMSIS_NN_MS,
        "cmsis_nn_source": CMSIS_NN_SOURCE,
        "clock_mhz": CLOCK_MHZ,
        "models": {},
        "firmware": {},
    }
    models = {}
    for name in args.models:
        model = REFERENCE_MODELS[name]()
        # As the search measures an untrained candidate: distinct weights. Fresh from its
        # initializers, the VWW MobileNet's features are all ~0 and TFLite Micro aborts on it.
        randomize_weights(model, seed=0)
        x = np.random.default_rng(0).random((32, *model.input_shape[1:])).astype("float32")
        models[name] = to_tflite(model, "int8", representative_data=x)
        result["models"][name] = {"model_bytes": len(models[name]), "macs": int(count_macs(models[name]).macs)}
    for kernels in ("reference", "cmsis_nn"):
        t0 = time.perf_counter()
        fw = build_firmware("cortex-m4", tflm_dir=args.tflm_dir, kernels=kernels)
        result["firmware"][kernels] = {
            "cached": fw.cached, "build_seconds": fw.build_seconds, "call_seconds": time.perf_counter() - t0,
        }  # fmt: skip
        for name, data in models.items():
            row = result["models"][name].setdefault(kernels, {})
            try:
                run = run_on_board(data, firmware=fw, timeout=1800)
            except InvalidModelError as e:
                row["error"] = str(e).splitlines()[0]
                print(f"{kernels:9s} {name}: {row['error']}", flush=True)
                continue
            row.update(instructions=run.instructions, arena_bytes=run.arena_bytes, stack_bytes=run.stack_bytes,
                       wall_seconds=round(run.wall_seconds, 2))  # fmt: skip
            print(f"{kernels:9s} {name}: {run.instructions / 1e6:8.2f} M instructions, arena {run.arena_bytes} B, "
                  f"stack {run.stack_bytes} B, QEMU {run.wall_seconds:.1f} s", flush=True)  # fmt: skip

    summary = {}
    for kernels in ("reference", "cmsis_nn"):
        instr = {n: result["models"][n][kernels]["instructions"] for n in models
                 if "instructions" in result["models"][n][kernels]}
        entry = {}
        if "ic" in instr and "kws" in instr:
            ratio = instr["ic"] / instr["kws"]
            entry["ic_kws_ratio"] = ratio
            entry["ic_kws_ratio_vs_published"] = ratio / (PUBLISHED_MS["ic"] / PUBLISHED_MS["kws"])
        for set_name, published_ms in PUBLISHED_SETS.items():
            published = {n: published_ms[n] for n in instr}
            if len(published) < 2:
                continue
            cpi = fit_cpi(instr, published, CLOCK_MHZ)
            loo = leave_one_out(instr, published, CLOCK_MHZ)
            entry[set_name] = dict(
                cpi=cpi,
                loo_errors=loo,
                loo_mean_abs=float(np.mean([abs(e) for e in loo.values()])),
                loo_max_abs=float(max(abs(e) for e in loo.values())),
                calibrated_ms={n: cpi * instr[n] / (CLOCK_MHZ * 1000) for n in instr},
            )
        summary[kernels] = entry
    result["summary"] = summary
    result["seconds"] = round(time.time() - start, 1)

    lines = [
        "| model | MACs | v0.5 ref. ms | v1.1 CMSIS-NN ms | ref. kernels: M instr. | CMSIS-NN: M instr. | "
        "CMSIS-NN calibrated ms | LOO error |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    fitted = summary["cmsis_nn"].get("v1.1-krai-cmsis-nn", {})
    for n in models:
        r = result["models"][n]
        instructions = [f"{r[k]['instructions'] / 1e6:.2f}" if "instructions" in r[k] else r[k].get("error", "")[:60]
                        for k in ("reference", "cmsis_nn")]
        calibrated = fitted.get("calibrated_ms", {})
        lines.append(
            f"| {n} | {r['macs'] / 1e6:.2f} M | {PUBLISHED_MS[n]:.1f} | {CMSIS_NN_MS[n]:.1f} | {instructions[0]} | "
            f"{instructions[1]} | {calibrated[n]:.1f} | {100 * fitted['loo_errors'][n]:+.1f} % |"
            if n in calibrated else
            f"| {n} | {r['macs'] / 1e6:.2f} M | {PUBLISHED_MS[n]:.1f} | {CMSIS_NN_MS[n]:.1f} | {instructions[0]} | "
            f"{instructions[1]} | | |"
        )  # fmt: skip
    print("\n".join(lines))
    for kernels, entry in summary.items():
        if "ic_kws_ratio" in entry:
            print(f"{kernels}: IC/KWS instruction ratio {entry['ic_kws_ratio']:.2f} = "
                  f"{entry['ic_kws_ratio_vs_published']:.2f} x the published {PUBLISHED_MS['ic'] / PUBLISHED_MS['kws']:.2f}")  # fmt: skip
        for set_name in PUBLISHED_SETS:
            if set_name in entry:
                fit = entry[set_name]
                print(f"{kernels} firmware vs {set_name}: CPI {fit['cpi']:.3f}, LOO mean |error| "
                      f"{100 * fit['loo_mean_abs']:.1f} %, max {100 * fit['loo_max_abs']:.1f} %")  # fmt: skip
    print("Reproduce with: python " + " ".join(sys.argv))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
