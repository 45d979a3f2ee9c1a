"""Plots the curves of `bench_strategies.py`: best-so-far objective vs trials and vs wall time.

One row of two panels per data set: the median over seeds of the best
objective (by default int8 validation accuracy on LiteRT) after each trained
trial, and at each second of trial wall time up to the shortest run's total.

Usage:
    python benchmarks/plot_strategies.py benchmarks/results_strategies_int8_*.json \\
        --output benchmarks/strategies_int8.png
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bench_strategies import best_at  # noqa: E402  (benchmarks/ is the script's folder)
import numpy as np  # noqa: E402


def median_curves(runs: list[dict]) -> dict:
    """Per strategy: (trials, median best) and (seconds, median best) over its seeds.

    Args:
        runs: The `runs` of one data set from the benchmark's JSON files.

    Returns:
        `{strategy: {"trials": (x, y), "time": (x, y)}}`; the time axis ends at
        the shortest run's total trial time, so every strategy had that long.
    """
    horizon = min(run["curve"][-1]["wall_seconds"] for run in runs if run["curve"])
    seconds = np.linspace(0.0, horizon, 200)
    by_strategy: dict[str, list[dict]] = {}
    for run in runs:
        by_strategy.setdefault(run["strategy"], []).append(run)
    curves = {}
    for strategy, group in by_strategy.items():
        trials = np.arange(1, max(len(run["curve"]) for run in group) + 1)
        # Before a run's first trained trial it has no model: nan, left out of the median.
        at_trial = [[best_at(run["curve"], "trial", n, np.nan) for n in trials] for run in group]
        at_time = [[best_at(run["curve"], "wall_seconds", t, np.nan) for t in seconds] for run in group]
        with warnings.catch_warnings():  # an all-nan column (no model yet) has a nan median
            warnings.simplefilter("ignore", RuntimeWarning)
            curves[strategy] = {
                "trials": (trials, np.nanmedian(np.array(at_trial, dtype=float), axis=0)),
                "time": (seconds, np.nanmedian(np.array(at_time, dtype=float), axis=0)),
            }
    return curves


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="JSON files written by bench_strategies.py.")
    parser.add_argument("--output", default="benchmarks/strategies.png")
    args = parser.parse_args(argv)
    runs, objective, commands = [], None, []
    for path in args.results:
        with open(path) as f:
            report = json.load(f)
        runs += report["runs"]
        objective = report["runs"][0].get("objective", "val_accuracy")
        commands.append(report["command"])
    datasets = sorted({run["dataset"] for run in runs})
    figure, axes = plt.subplots(len(datasets), 2, figsize=(11, 3.6 * len(datasets)), squeeze=False)
    for row, dataset in enumerate(datasets):
        curves = median_curves([run for run in runs if run["dataset"] == dataset])
        for strategy, curve in sorted(curves.items()):
            axes[row, 0].plot(*curve["trials"], marker="o", label=strategy)
            axes[row, 1].plot(*curve["time"], drawstyle="steps-post", label=strategy)
        seeds = len({run["seed"] for run in runs if run["dataset"] == dataset})
        axes[row, 0].set(title=f"{dataset}: median of {seeds} seeds", xlabel="trained trials",
                         ylabel=f"best {objective}")
        axes[row, 1].set(title=f"{dataset}: at equal wall time", xlabel="trial wall time (s)")
        axes[row, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[row, 0].legend(fontsize=8)
        for axis in axes[row]:
            axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.output, dpi=110)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    print(f"Wrote {args.output} from the runs of: {'; '.join(commands)}\nCommand: {command}")
    return args.output


if __name__ == "__main__":
    main()
