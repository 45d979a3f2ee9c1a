"""Benchmark: every search strategy on the same space, data, limits and trial budget.

For each data set, strategy and seed, a `NASModel` searches with `max_trials`
trained candidates of `--epochs` epochs each, then trains the winner for the
same epochs. The objective (`--objective`) is by default the int8 validation
accuracy: every trained candidate is converted to full-integer int8 and run on
LiteRT, so the curves show what survives quantization. Recorded per run:

- the best objective value after each trained trial, and against the wall time
  of the trials (from each trial's timing file, which includes the int8
  conversion and its evaluation),
- the winner's int8 test accuracy (LiteRT) and its flash / RAM / latency,
- the hypervolume of the (objective max, latency_ms min, flash_kb min) front
  of the completed trials, with the reference (0, latency limit, flash limit),
- trials trained / rejected and the search time.

Results go to a JSON file. Two tables are printed with the command line that
produced them: the headline figures (median over seeds, then mean +- std), and
the best-so-far objective at equal trials (after `--at-trials` trained trials
and after all of them) and at equal wall time (half and all of the shortest
run's trial time on that data set, so every run had that much time), with the
median seconds the runs took to reach their final best.

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

from _results import check_new_output, write_results  # noqa: E402
from keras_nas import NASModel, pareto, tflite  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402
from keras_nas.strategies import STRATEGIES  # noqa: E402

LIMITS = {"flash_kb": 64, "peak_ram_kb": 32, "latency_ms": 5.0}
HEADLINE = ("best_objective", "int8_test_accuracy", "hypervolume", "search_seconds", "rejected")
COSTS = [("latency_ms", "min"), ("flash_kb", "min")]


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
        overwrite=True, strategy_kwargs=strategy_kwargs, objective=args.objective,
    )
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
              batch_size=32, verbose=args.verbose)
    seconds = time.perf_counter() - start
    # Trial ids are zero-padded only to the width of max_trials ("9" < "10" must hold).
    rows = sorted(model.trials(), key=lambda row: (len(row["trial_id"]), row["trial_id"]))
    # Best objective vs trained trial and vs wall time (trials in id = start order).
    curve, best, elapsed = [], None, 0.0
    for row in rows:
        elapsed += trial_seconds(model, row["trial_id"])
        if row["status"] == "COMPLETED":
            value = row["metrics"][args.objective]
            best = value if best is None else max(best, value)
            curve.append({"trial": len(curve) + 1, "best_objective": best, "wall_seconds": elapsed})
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    objectives = [(args.objective, "max"), *COSTS]
    front = pareto.pareto_front(completed, objectives)
    points = [[pareto.metric_value(r, name) for name, _ in objectives] for r in front]
    reference = [0.0, LIMITS["latency_ms"], LIMITS["flash_kb"]]
    volume = pareto.hypervolume(points, [d for _, d in objectives], reference) if points else 0.0
    content = tflite.to_tflite(model.model, "int8", representative_data=x_train[:256])
    return {
        "strategy": strategy,
        "seed": seed,
        "curve": curve,
        "objective": args.objective,
        "best_objective": best,
        "seconds_to_best": next((p["wall_seconds"] for p in curve if p["best_objective"] == best), None),
        "int8_test_accuracy": float(tflite.accuracy(content, x_test, y_test)),
        "winner_cost": model.cost_,
        # Every trained trial's float and int8 accuracy and cost, for the quantization gap per candidate.
        "trials": [{"trial_id": r["trial_id"], **{k: r["metrics"].get(k) for k in
                    ("val_accuracy", "int8_val_accuracy", "flash_kb", "peak_ram_kb", "latency_ms")}}
                   for r in completed],
        "hypervolume": volume,
        "front_size": len(front),
        "trained": len(completed),
        "rejected": sum(r["status"] == "REJECTED" for r in rows),
        "search_seconds": seconds,
    }


def best_at(curve: list[dict], key: str, limit: float, default: float = 0.0) -> float:
    """Best objective of the last curve point with `key` <= `limit` (`default` if none: no model yet)."""
    values = [p["best_objective"] for p in curve if p[key] <= limit]
    return values[-1] if values else default


def stats(values) -> dict:
    values = np.array([np.nan if v is None else v for v in values], dtype=float)
    return {"median": float(np.nanmedian(values)), "mean": float(np.nanmean(values)),
            "std": float(np.nanstd(values)), "n": int(np.isfinite(values).sum())}


def summarize(results: list[dict], at_trials: int, max_trials: int) -> dict:
    """Median, mean and std over seeds per dataset and strategy, at equal trials and equal time.

    The equal-time budgets of a data set are half and all of the shortest run's
    total trial time on it (a time every run reached).
    """
    table = {}
    for r in results:
        table.setdefault((r["dataset"], r["strategy"]), []).append(r)
    budgets = {}
    for r in results:
        total = r["curve"][-1]["wall_seconds"] if r["curve"] else 0.0
        budgets[r["dataset"]] = min(budgets.get(r["dataset"], total), total)
    summary = {}
    for (dataset, strategy), runs in table.items():
        entry = {key: stats([run[key] for run in runs]) for key in HEADLINE}
        entry["seconds_to_best"] = stats([run["seconds_to_best"] for run in runs])
        for n in sorted({at_trials, max_trials}):
            entry[f"best_at_trial_{n}"] = stats([best_at(run["curve"], "trial", n) for run in runs])
        budget = budgets[dataset]
        entry["time_budgets"] = [budget / 2, budget]
        entry["best_at_half_time"] = stats([best_at(run["curve"], "wall_seconds", budget / 2) for run in runs])
        entry["best_at_full_time"] = stats([best_at(run["curve"], "wall_seconds", budget) for run in runs])
        summary[f"{dataset}/{strategy}"] = entry
    return summary


def print_table(summary: dict, at_trials: int, max_trials: int, objective: str) -> None:
    def cell(e, digits):
        return f"{e['median']:.{digits}f} ({e['mean']:.{digits}f}+-{e['std']:.{digits}f})"

    print("Median over seeds (mean+-std):")
    head = (f"{'dataset/strategy':<20}{'best ' + objective:>24}{'int8 test':>24}{'hypervolume':>26}"
            f"{'search s':>16}{'rejected':>10}")
    print(head)
    print("-" * len(head))
    for name, e in summary.items():
        print(f"{name:<20}{cell(e['best_objective'], 4):>24}{cell(e['int8_test_accuracy'], 4):>24}"
              f"{cell(e['hypervolume'], 3):>26}{e['search_seconds']['median']:>16.0f}"
              f"{e['rejected']['median']:>10.1f}")
    print()
    budgets = {name.split("/")[0]: e["time_budgets"] for name, e in summary.items()}
    print(f"Best-so-far {objective}, median over seeds, at equal trials and equal wall time "
          "(time budgets: " + ", ".join(f"{d} {b[0]:.0f} s / {b[1]:.0f} s" for d, b in budgets.items()) + "):")
    trial_keys = [f"best_at_trial_{n}" for n in sorted({at_trials, max_trials})]
    head = (f"{'dataset/strategy':<20}" + "".join(f"{'after ' + k.rsplit('_', 1)[1] + ' trials':>17}" for k in trial_keys)
            + f"{'at half time':>14}{'at full time':>14}{'s to best':>11}")
    print(head)
    print("-" * len(head))
    for name, e in summary.items():
        print(f"{name:<20}" + "".join(f"{e[k]['median']:>17.4f}" for k in trial_keys)
              + f"{e['best_at_half_time']['median']:>14.4f}{e['best_at_full_time']['median']:>14.4f}"
              f"{e['seconds_to_best']['median']:>11.0f}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), action="append",
                        help="Data set (repeatable); default: digits and mnist1d.")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"Comma-separated strategies; default: all of {list(STRATEGIES)}.")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds 1..N per strategy.")
    parser.add_argument("--max-trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=10, help="Epochs per candidate and for the winner.")
    parser.add_argument("--objective", choices=["int8_val_accuracy", "val_accuracy"], default="int8_val_accuracy",
                        help="What the searches maximise and the curves show (int8 on LiteRT, or float).")
    parser.add_argument("--at-trials", type=int, default=4,
                        help="Also report the best objective after this many trained trials (at most --max-trials).")
    parser.add_argument("--output", default="benchmarks/results_strategies.json")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    check_new_output(args.output, "--output")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from {list(STRATEGIES)}")
    if args.at_trials < 1:
        parser.error(f"--at-trials must be a positive number of trials, got {args.at_trials}")
    args.at_trials = min(args.at_trials, args.max_trials)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    print(f"Command: {command}", flush=True)
    results = []
    for dataset in args.dataset or ["digits", "mnist1d"]:
        data = DATASETS[dataset]()
        for strategy in strategies:
            for seed in range(1, args.seeds + 1):
                with tempfile.TemporaryDirectory() as workdir:
                    result = run_one(data, strategy, seed, args, workdir)
                result["dataset"] = dataset
                results.append(result)
                print(f"{dataset} {strategy} seed {seed}: best {args.objective} {result['best_objective']:.4f}, "
                      f"int8 test {result['int8_test_accuracy']:.4f}, hypervolume "
                      f"{result['hypervolume']:.3f}, {result['trained']} trained, {result['rejected']} rejected, "
                      f"{result['search_seconds']:.0f} s", flush=True)
    summary = summarize(results, args.at_trials, args.max_trials)
    report = {
        "command": command,
        "limits": LIMITS,
        "objectives": [(args.objective, "max"), *COSTS],
        "args": vars(args),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "summary": summary,
        "runs": results,
    }
    write_results(args.output, report)
    print()
    print_table(summary, args.at_trials, args.max_trials, args.objective)
    print(f"\nResults in {args.output}. Command: {command}")
    return report


if __name__ == "__main__":
    main()
