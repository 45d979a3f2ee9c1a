"""Benchmark: do proposals reach the limits? Feasible-first search with and without widening.

Runs the same search (digits, default space, evolution, short trainings) with
`keras_nas.strategies.proposals.GROW_PROBABILITY` at its default and at 0 (no
widening of proposals far under the limits), for each seed, and prints the
trained candidates' use of the limits (`search_summary()["limit_use"]`) and
the share over 75 % of their binding limit (`near_limit_share`).

Usage:
    python benchmarks/bench_steering.py --flash-kb 32 --ram-kb 12 --seeds 0 1 2 --trials 12 --json steering.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_nas import NASModel  # noqa: E402
from keras_nas.datasets import load_digits  # noqa: E402
from keras_nas.strategies import proposals  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _results import check_new_output, write_results  # noqa: E402


def run(limits: dict, seed: int, trials: int, grow_probability: float) -> dict:
    proposals.GROW_PROBABILITY = grow_probability
    (x, y), (x_val, y_val), _ = load_digits()
    model = NASModel(constraints=limits, max_trials=trials, search_epochs=3, seed=seed, finalists=1,
                     directory=tempfile.mkdtemp(prefix="keras_nas_steering_"), project_name="s")
    model.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    summary = model.search_summary()
    return {key: summary.get(key) for key in ("trained", "rejected", "skipped", "grown", "limit_use",
                                               "near_limit_share")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flash-kb", type=float, default=32.0)
    parser.add_argument("--ram-kb", type=float, default=12.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.json:
        check_new_output(args.json, "--json")
    limits = {"flash_kb": args.flash_kb, "peak_ram_kb": args.ram_kb}
    default = proposals.GROW_PROBABILITY
    results = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "limits": limits, "runs": []}
    for seed in args.seeds:
        for name, probability in (("widened", default), ("not widened", 0.0)):
            row = {"seed": seed, "proposals": name, **run(limits, seed, args.trials, probability)}
            results["runs"].append(row)
            print(f"seed {seed} {name:12s} near-limit share {row['near_limit_share']:.2f}  grown {row['grown']}  "
                  f"trained {row['trained']}  rejected {row['rejected']}", flush=True)
    proposals.GROW_PROBABILITY = default
    results["median_near_limit_share"] = {
        name: float(np.median([r["near_limit_share"] for r in results["runs"] if r["proposals"] == name]))
        for name in ("widened", "not widened")
    }
    print("Median near-limit share:", results["median_near_limit_share"])
    print("Reproduce with:", results["command"])
    if args.json:
        write_results(args.json, results)
    return results


if __name__ == "__main__":
    main()
