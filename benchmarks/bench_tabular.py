"""Benchmark: search strategies on a tabular NAS benchmark (no training, simulated time).

Each strategy runs `--max-trials` look-ups per seed through Keras Tuner's search
loop (`keras_nas.tabular.run`); the clock advances by each architecture's
recorded training time. Printed per strategy: mean +- std over seeds of the
test accuracy of the best-so-far architecture (by validation accuracy) at
several trial budgets, the simulated hours spent, and the hypervolume of the
(val_accuracy, latency/other cost) front when `--objectives` names several.

THE TABLE. `--table` takes any table file (see `keras_nas/tabular.py`): CSV
(optionally .gz; `#` lines are comments) or JSON lines, with a column `arch`
(a NAS-Bench-201 string or a JSON object of hyperparameter values) and numeric
metric columns. For the published NAS-Bench-201 results, export a CSV with
the columns

    arch,val_accuracy,test_accuracy,train_seconds[,latency_ms,flash_kb,...]

from the official API (`pip install nas-bench-201`, file NAS-Bench-201-v1_1-096897.pth):

    from nas_201_api import NASBench201API
    api = NASBench201API("NAS-Bench-201-v1_1-096897.pth", verbose=False)
    with open("nb201_cifar10.csv", "w") as f:
        f.write("arch,val_accuracy,test_accuracy,train_seconds,latency_ms,params_m\\n")
        for i, arch in enumerate(api.meta_archs):
            valid = api.get_more_info(i, "cifar10-valid", hp="200", is_random=False)
            test = api.get_more_info(i, "cifar10", hp="200", is_random=False)
            cost = api.get_cost_info(i, "cifar10-valid", hp="200")
            f.write(f"{arch},{valid['valid-accuracy'] / 100},{test['test-accuracy'] / 100},"
                    f"{valid['train-all-time']},{cost['latency'] * 1000},{cost['params']}\\n")

(accuracies as fractions; `train-all-time` is the simulated training cost).
Without `--table` the SYNTHETIC test fixture `tests/data/tabular/nb201_synthetic.csv.gz`
is used: it has the NB201 space but made-up numbers (see its generator), so its
results say nothing about NAS-Bench-201.

Usage:
    python benchmarks/bench_tabular.py --table nb201_cifar10.csv --seeds 10 --max-trials 100
    python benchmarks/bench_tabular.py --strategies random,evolution --budgets 10,25,50
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from _results import check_new_output, write_results  # noqa: E402
from keras_nas import tabular  # noqa: E402
from keras_nas.strategies import STRATEGIES  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "data", "tabular", "nb201_synthetic.csv.gz")


def parse_objectives(text: str | None) -> list[tuple[str, str]] | None:
    """`"val_accuracy:max,latency_ms:min"` -> `[("val_accuracy", "max"), ("latency_ms", "min")]`."""
    if not text:
        return None
    result = []
    for part in text.split(","):
        name, _, direction = part.strip().partition(":")
        if direction not in ("max", "min"):
            raise argparse.ArgumentTypeError(
                f"objective {part!r} must be NAME:max or NAME:min, e.g. latency_ms:min"
            )
        result.append((name, direction))
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=FIXTURE, help="Table file (default: the synthetic fixture).")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seeds", type=int, default=5, help="Seeds 1..N per strategy.")
    parser.add_argument("--max-trials", type=int, default=50)
    parser.add_argument("--budgets", default=None, help="Trial budgets to report, e.g. 10,25,50.")
    parser.add_argument("--objectives", type=parse_objectives, default="val_accuracy:max,latency_ms:min",
                        help="Front objectives NAME:max|min,...; '' for none.")
    parser.add_argument("--test-metric", default="test_accuracy")
    parser.add_argument("--time-metric", default="train_seconds")
    parser.add_argument("--max-epochs", type=int, default=27, help="Hyperband's max_epochs.")
    parser.add_argument("--output", default=None, help="Write all trajectories to this JSON file.")
    args = parser.parse_args(argv)
    check_new_output(args.output, "--output")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from {list(STRATEGIES)}")
    budgets = (
        [int(b) for b in args.budgets.split(",")] if args.budgets
        else sorted({max(1, args.max_trials // 4), max(1, args.max_trials // 2), args.max_trials})
    )
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])

    start = time.perf_counter()
    table = tabular.TabularBenchmark.from_file(args.table)
    objectives = args.objectives if args.objectives and len(args.objectives) >= 2 else None
    print(f"Table {args.table}: {len(table)} architectures, metrics {table.metrics}")
    if os.path.abspath(args.table) == os.path.abspath(FIXTURE):
        print("NOTE: synthetic test fixture, not NAS-Bench-201 results; pass --table for real data.")
    best = max(table.rows, key=lambda r: r["val_accuracy"])
    if args.test_metric:
        print(f"Best architecture by validation: {best['arch']} "
              f"(val {best['val_accuracy']:.4f}, test {best[args.test_metric]:.4f})")

    runs = {}
    for strategy in strategies:
        kwargs = {"max_epochs": args.max_epochs} if strategy == "hyperband" else {}
        for seed in range(1, args.seeds + 1):
            result = tabular.run(
                strategy, table, max_trials=args.max_trials, seed=seed, objectives=objectives,
                test_metric=args.test_metric or None, time_metric=args.time_metric or None,
                strategy_kwargs=kwargs,
            )
            runs.setdefault(strategy, []).append(result)

    head = f"{'strategy':<11}" + "".join(f"{f'test@{b}':>17}" for b in budgets) + f"{'sim. hours':>13}"
    if objectives:
        head += f"{'hypervolume':>18}"
    print("\n" + head + "\n" + "-" * len(head))
    summary = {}
    for strategy, results in runs.items():
        entry = {}
        cells = []
        for b in budgets:
            values = [r.best_test_at(b) for r in results]
            values = np.array([np.nan if v is None else v for v in values], dtype=float)
            entry[f"test@{b}"] = (float(np.nanmean(values)), float(np.nanstd(values)))
            cells.append(f"{entry[f'test@{b}'][0]:.4f}+-{entry[f'test@{b}'][1]:.4f}")
        hours = np.array([r.trajectory[-1]["elapsed_seconds"] / 3600 for r in results])
        entry["simulated_hours"] = (float(hours.mean()), float(hours.std()))
        row = f"{strategy:<11}" + "".join(f"{c:>17}" for c in cells) + f"{hours.mean():>13.2f}"
        if objectives:
            volumes = np.array([r.hypervolume for r in results])
            entry["hypervolume"] = (float(volumes.mean()), float(volumes.std()))
            row += f"{f'{volumes.mean():.4f}+-{volumes.std():.4f}':>18}"
        summary[strategy] = entry
        print(row)
    print(f"\n{args.seeds} seeds x {args.max_trials} trials per strategy in "
          f"{time.perf_counter() - start:.0f} s. Command: {command}")
    report = {"command": command, "table": args.table, "budgets": budgets, "summary": summary,
              "runs": {s: [r.to_dict() for r in rs] for s, rs in runs.items()}}
    if args.output:
        write_results(args.output, report)
        print(f"Trajectories in {args.output}.")
    return report


if __name__ == "__main__":
    main()
