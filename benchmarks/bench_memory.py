"""Benchmark: does a long search keep memory flat?

Keras Tuner users report RAM climbing with every trial. keras-nas clears the
Keras session before each build (Keras Tuner's `_try_build`) and measures
TFLite Micro in a worker process. This runs a search of many short trials on
digits and prints the resident memory (VmRSS) after every trial, and the growth
per trial over the second half of the search (after warm-up).

Usage:
    python benchmarks/bench_memory.py --trials 30 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import keras_nas.model  # noqa: E402
from keras_nas import NASModel  # noqa: E402
from keras_nas.datasets import load_digits  # noqa: E402
from keras_nas.tuner import NASTuner  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


RSS_AFTER_TRIAL: list[float] = []


class RecordingTuner(NASTuner):
    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        RSS_AFTER_TRIAL.append(rss_mb())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--strategy", default="random")
    parser.add_argument("--workdir", default="/tmp/keras_nas_bench_memory")
    args = parser.parse_args(argv)
    keras_nas.model.NASTuner = RecordingTuner  # record RSS after every trial
    (x_train, y_train), (x_val, y_val), _ = load_digits()
    start = rss_mb()
    model = NASModel(constraints={"flash_kb": 64, "peak_ram_kb": 32}, strategy=args.strategy,
                     max_trials=args.trials, seed=0, directory=args.workdir, project_name="memory",
                     overwrite=True)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, verbose=1)
    rss = np.array(RSS_AFTER_TRIAL)
    half = len(rss) // 2
    slope = np.polyfit(np.arange(half, len(rss)), rss[half:], 1)[0]
    print("\nRSS after each trial (MB):", " ".join(f"{v:.0f}" for v in rss))
    print(f"before search {start:.0f} MB; after trial 1 {rss[0]:.0f} MB; after trial {half} "
          f"{rss[half - 1]:.0f} MB; after the last ({len(rss)}) {rss[-1]:.0f} MB")
    print(f"growth over the second half: {slope:.2f} MB per trial (least-squares slope)")
    print("Reproduce with: python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
