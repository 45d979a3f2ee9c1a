"""Benchmark: a `target="cortex-m4"` search with a latency limit, every candidate measured on the emulated board.

Runs `NASModel(target="cortex-m4", constraints={"latency_ms": ...})` on digits
(the firmware built once beforehand, so the figure is the per-candidate cost
after the one-time build) and prints the median seconds each candidate's
measurement took (conversion + firmware run on QEMU), the trials' latency
sources, and the winner's board figures.

Usage:
    KERAS_NAS_TFLM_DIR=/path/to/tflite-micro python benchmarks/bench_mcu_search.py --trials 8 --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_nas import NASModel  # noqa: E402
from keras_nas.datasets import load_digits  # noqa: E402
from keras_nas.tflite.firmware import build_firmware  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    build_firmware("cortex-m4")  # the one-time build (cached)
    build_seconds = time.perf_counter() - start
    (x_train, y_train), (x_val, y_val), _ = load_digits()
    with tempfile.TemporaryDirectory() as runs:
        model = NASModel(
            target="cortex-m4", constraints={"latency_ms": args.latency_ms},
            max_trials=args.trials, seed=args.seed, directory=runs, project_name="mcu",
        )
        start = time.perf_counter()
        model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, verbose=0)
        fit_seconds = time.perf_counter() - start
        rows = model.trials()
        summary = model.search_summary()  # reads the search folder: before it is removed
    measured = [r["measure_seconds"] for r in rows if r.get("measure_seconds") is not None]
    sources = sorted({str(r["cost"].get("latency_source", ""))[:40] for r in rows if r.get("cost")})
    result = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "firmware_build_seconds": build_seconds,
        "fit_seconds": fit_seconds,
        "candidates_measured": len(measured),
        "median_measure_seconds": float(np.median(measured)),
        "max_measure_seconds": float(np.max(measured)),
        "latency_sources": sources,
        "winner_cost": {k: v for k, v in model.cost_.items() if isinstance(v, (int, float, str))},
        "summary": summary,
    }
    print(json.dumps(result, indent=1, default=str))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    main()
