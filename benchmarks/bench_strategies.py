"""Benchmark: every search strategy on the same space, data, limits and trial budget.

For each data set, strategy and seed, a `NASModel` searches with `max_trials`
trained candidates of `--epochs` epochs each, then trains the winner for the
same epochs. Recorded per run:

- best validation accuracy after each trained trial, and against the wall time
  of the trials (from each trial's timing file),
- the winner's int8 test accuracy (LiteRT) and its flash / RAM / latency,
- the hypervolume of the (val_accuracy max, latency_ms min, flash_kb min) front
  of the completed trials, with the reference (0, latency limit, flash limit),
- trials trained / rejected and the search time.

Results go to a JSON file; a table of mean +- std over seeds is printed with the
command line that produced it.

Usage:
    python benchmarks/bench_strategies.py                                 # full run (slow)
    python benchmarks/bench_strategies.py --dataset digits --strategies random,pareto \\
        --seeds 1 --max-trials 3 --epochs 1                                # smoke run
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

from keras_nas import NASModel, pareto, tflite  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402
from keras_nas.strategies import STRATEGIES  # noqa: E402

LIMITS = {"flash_kb": 64, "peak_ram_kb": 32, "latency_ms": 5.0}
OBJECTIVES = [("val_accuracy", "max"), ("latency_ms", "min"), ("flash_kb", "min")]


def trial_seconds(model: NASModel, trial_id: str) -> float:
    """Wall seconds of one trial, from the timing file the tuner writes (0 if none)."""
    from keras_nas import tuner as tuner_module

    name = getattr(tuner_module, "TIMING_FILE", None)
    if name is None:
        return 0.0
    path = os.path.join(model.tuner.get_trial_dir(trial_id), name)
    if not os.path.exists(path):
        return 0.0
    with open(path) as f:
        return float(json.load(f).get("trial_seconds", 0.0))


def run_one(data, strategy: str, seed: int, args, workdir: str) -> dict:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    strategy_kwargs = {}
    if strategy == "hyperband":
        strategy_kwargs = {"max_epochs": args.epochs}
    start = time.perf_counter()
    model = NASModel(
        constraints=LIMITS, strategy=strategy, max_trials=args.max_trials, seed=seed,
        search_epochs=args.epochs, directory=workdir, project_name=f"{strategy}_{seed}",
        overwrite=True, strategy_kwargs=strategy_kwargs,
    )
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
              batch_size=32, verbose=args.verbose)
    seconds = time.perf_counter() - start
    rows = model.trials()
    # Best val accuracy vs trained trial and vs wall time (trials in id = start order).
    curve, best, elapsed = [], None, 0.0
    for row in rows:
        elapsed += trial_seconds(model, row["trial_id"])
        if row["status"] == "COMPLETED":
            value = row["metrics"]["val_accuracy"]
            best = value if best is None else max(best, value)
            curve.append({"trial": len(curve) + 1, "best_val_accuracy": best, "wall_seconds": elapsed})
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    front = pareto.pareto_front(completed, OBJECTIVES)
    points = [[pareto.metric_value(r, name) for name, _ in OBJECTIVES] for r in front]
    reference = [0.0, LIMITS["latency_ms"], LIMITS["flash_kb"]]
    volume = pareto.hypervolume(points, [d for _, d in OBJECTIVES], reference) if points else 0.0
    content = tflite.to_tflite(model.model, "int8", representative_data=x_train[:256])
    return {
        "strategy": strategy,
        "seed": seed,
        "curve": curve,
        "best_val_accuracy": best,
        "int8_test_accuracy": float(tflite.accuracy(content, x_test, y_test)),
        "winner_cost": model.cost_,
        "hypervolume": volume,
        "front_size": len(front),
        "trained": len(completed),
        "rejected": sum(r["status"] == "REJECTED" for r in rows),
        "search_seconds": seconds,
    }


def summarize(results: list[dict]) -> dict:
    """Mean and std over seeds of the headline figures, per dataset and strategy."""
    table = {}
    for r in results:
        table.setdefault((r["dataset"], r["strategy"]), []).append(r)
    summary = {}
    for (dataset, strategy), runs in table.items():
        entry = {}
        for key in ("best_val_accuracy", "int8_test_accuracy", "hypervolume", "search_seconds", "rejected"):
            values = np.array([run[key] for run in runs], dtype=float)
            entry[key] = (float(values.mean()), float(values.std()))
        summary[f"{dataset}/{strategy}"] = entry
    return summary


def print_table(summary: dict) -> None:
    head = f"{'dataset/strategy':<22}{'best val':>16}{'int8 test':>16}{'hypervolume':>18}{'search s':>14}{'rejected':>12}"
    print(head)
    print("-" * len(head))
    for name, e in summary.items():
        cells = [f"{e[k][0]:.4f}+-{e[k][1]:.4f}" for k in ("best_val_accuracy", "int8_test_accuracy")]
        cells.append(f"{e['hypervolume'][0]:.3f}+-{e['hypervolume'][1]:.3f}")
        cells.append(f"{e['search_seconds'][0]:.0f}+-{e['search_seconds'][1]:.0f}")
        cells.append(f"{e['rejected'][0]:.1f}")
        print(f"{name:<22}{cells[0]:>16}{cells[1]:>16}{cells[2]:>18}{cells[3]:>14}{cells[4]:>12}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), action="append",
                        help="Data set (repeatable); default: digits and mnist1d.")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"Comma-separated strategies; default: all of {list(STRATEGIES)}.")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds 1..N per strategy.")
    parser.add_argument("--max-trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=10, help="Epochs per candidate and for the winner.")
    parser.add_argument("--output", default="benchmarks/results_strategies.json")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from {list(STRATEGIES)}")
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    results = []
    for dataset in args.dataset or ["digits", "mnist1d"]:
        data = DATASETS[dataset]()
        for strategy in strategies:
            for seed in range(1, args.seeds + 1):
                with tempfile.TemporaryDirectory() as workdir:
                    result = run_one(data, strategy, seed, args, workdir)
                result["dataset"] = dataset
                results.append(result)
                print(f"{dataset} {strategy} seed {seed}: best val {result['best_val_accuracy']:.4f}, "
                      f"int8 test {result['int8_test_accuracy']:.4f}, hypervolume "
                      f"{result['hypervolume']:.3f}, {result['search_seconds']:.0f} s", flush=True)
    summary = summarize(results)
    report = {
        "command": command,
        "limits": LIMITS,
        "objectives": OBJECTIVES,
        "args": vars(args),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "summary": summary,
        "runs": results,
    }
    with open(args.output, "w") as f:
        json.dump(report, f, indent=1)
    print()
    print_table(summary)
    print(f"\nResults in {args.output}. Command: {command}")
    return report


if __name__ == "__main__":
    main()
