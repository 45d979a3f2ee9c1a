"""Benchmark: one-shot (SPOS) and DARTS vs regularized evolution at equal wall time.

For each data set:

1. `NASModel(strategy="oneshot")`: supernet training plus `--oneshot-trials`
   subnets scored with inherited weights; its search time T (supernet and
   trials) is the budget of the others.
2. `NASModel(strategy="darts")`: cost calibration, DARTS training, then
   candidates drawn from the learned distribution, each trained stand-alone
   for `--epochs`, until `--darts-trials` are trained or T is spent.
3. `NASModel(strategy="evolution")` with `max_search_seconds=T`.

Every winner is retrained from scratch for `--epochs` and converted to int8;
reported: its int8 test accuracy (LiteRT), flash, TFLite Micro arena, the
search time, and the number of candidates. Then the one-shot supernet is
checked: `--rank-sample` random subnets that meet the limits are scored with
inherited weights and trained stand-alone for `--epochs`; the Spearman and
Kendall rank correlations between the two are reported.

Usage:
    python benchmarks/bench_weight_sharing.py                          # both data sets (slow)
    python benchmarks/bench_weight_sharing.py --dataset digits --epochs 2 --supernet-epochs 3 \\
        --oneshot-trials 4 --darts-trials 1 --rank-sample 4            # smoke run
    python benchmarks/bench_weight_sharing.py --strategies oneshot     # the ranking only
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from _results import check_new_output, write_results  # noqa: E402
from keras_nas import NASModel, tflite  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402

LIMITS = {"flash_kb": 64, "peak_ram_kb": 32}


STRATEGIES = ("oneshot", "darts", "evolution")


def winner_figures(model: NASModel, data, seconds: float) -> dict:
    (x_train, _), _, (x_test, y_test) = data
    content = tflite.to_tflite(model.model, "int8", representative_data=x_train[:256])
    summary = model.search_summary()
    return {
        "int8_test_accuracy": float(tflite.accuracy(content, x_test, y_test)),
        "flash_kb": model.cost_["flash_kb"],
        "peak_ram_kb": model.cost_["peak_ram_kb"],
        "search_seconds": seconds,
        "trained_or_scored": summary["trained"],
        "rejected": summary["rejected"],
        "supernet_seconds": summary.get("supernet_seconds", 0.0),
        "winner": dict(model.best_trial_.hyperparameters.values),
    }


def run_search(strategy: str, data, args, workdir: str, strategy_kwargs: dict, max_trials: int) -> tuple:
    (x_train, y_train), (x_val, y_val), _ = data
    model = NASModel(
        constraints=LIMITS, strategy=strategy, max_trials=max_trials, seed=args.seed,
        directory=workdir, project_name=strategy, overwrite=True, strategy_kwargs=strategy_kwargs,
    )
    start = time.perf_counter()
    # The search ends before the final training; time it through the tuner's clock.
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
              batch_size=32, verbose=args.verbose)
    total = time.perf_counter() - start
    summary = model.search_summary()
    search = summary["search_seconds"] + summary.get("supernet_seconds", 0.0)
    return model, search, total


def rank_correlation(model: NASModel, data, args) -> dict:
    """Inherited vs stand-alone accuracy of random subnets that meet the limits."""
    (x_train, y_train), (x_val, y_val), _ = data
    tuner = model.tuner
    space, rank = tuner.space, tuner.rank
    rng = np.random.default_rng(1000 + args.seed)
    inherited, standalone, subnets = [], [], []
    while len(subnets) < args.rank_sample:
        indices = space.sample(rng, rank)
        values = space.decode(indices, rank)
        candidate = tuner.build_values(values)
        _, cost = tflite.measure_model(candidate, x_train[:256], latency_runs=5, signatures=False)
        if cost.flash_kb > LIMITS["flash_kb"] or cost.peak_ram_kb > LIMITS["peak_ram_kb"]:
            continue
        subnets.append(indices)
        inherited.append(tuner.scorer.score(indices)[0])
        keras.utils.set_random_seed(args.seed + len(subnets))
        history = candidate.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
                                batch_size=32, verbose=0)
        standalone.append(float(history.history["val_accuracy"][-1]))
        print(f"  subnet {len(subnets)}: inherited {inherited[-1]:.4f}, stand-alone {standalone[-1]:.4f}",
              flush=True)
    spearman = stats.spearmanr(inherited, standalone)
    kendall = stats.kendalltau(inherited, standalone)
    return {
        "inherited": inherited, "standalone": standalone, "subnets": subnets,
        "spearman": float(spearman.statistic), "spearman_p": float(spearman.pvalue),
        "kendall": float(kendall.statistic), "kendall_p": float(kendall.pvalue),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), action="append")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10, help="Epochs of stand-alone trainings.")
    parser.add_argument("--supernet-epochs", type=int, default=30)
    parser.add_argument("--darts-epochs", type=int, default=15)
    parser.add_argument("--oneshot-trials", type=int, default=60)
    parser.add_argument("--darts-trials", type=int, default=6)
    parser.add_argument("--rank-sample", type=int, default=10)
    parser.add_argument("--output", default="benchmarks/results_weight_sharing.json")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES),
                        help="Which searches to run; `oneshot` always runs (it sets the budget and the "
                             "rank correlation), so `--strategies oneshot` measures only the ranking.")
    args = parser.parse_args(argv)
    check_new_output(args.output, "--output")
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    results = {}
    for dataset in args.dataset or ["digits", "mnist1d"]:
        data = DATASETS[dataset]()
        entry = {}
        with tempfile.TemporaryDirectory() as workdir:
            oneshot, budget, _ = run_search(
                "oneshot", data, args, workdir, {"supernet_epochs": args.supernet_epochs}, args.oneshot_trials)
            entry["oneshot"] = winner_figures(oneshot, data, budget)
            print(f"{dataset} oneshot: {entry['oneshot']}", flush=True)
            entry["rank_correlation"] = rank_correlation(oneshot, data, args)
            print(f"{dataset} rank correlation: Spearman {entry['rank_correlation']['spearman']:.3f}, "
                  f"Kendall {entry['rank_correlation']['kendall']:.3f}", flush=True)
            if "darts" in args.strategies:
                darts, seconds, _ = run_search(
                    "darts", data, args, workdir,
                    {"supernet_epochs": args.darts_epochs, "max_search_seconds": budget}, args.darts_trials)
                entry["darts"] = winner_figures(darts, data, seconds)
                entry["darts"]["derived"] = darts.tuner.darts_result["derived"]
                print(f"{dataset} darts: {entry['darts']}", flush=True)
            if "evolution" in args.strategies:
                evolution, seconds, _ = run_search(
                    "evolution", data, args, workdir, {"max_search_seconds": budget}, 500)
                entry["evolution"] = winner_figures(evolution, data, seconds)
                print(f"{dataset} evolution: {entry['evolution']}", flush=True)
        entry["budget_seconds"] = budget
        results[dataset] = entry
        report = {"command": command, "limits": LIMITS, "args": vars(args),
                  "machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "results": results}
        write_results(args.output, report)  # after every data set: a crash keeps what was done
    print()
    print(f"{'data':<10}{'strategy':<11}{'int8 test':>10}{'flash KB':>10}{'arena KB':>10}{'search s':>10}{'cands':>7}")
    for dataset, entry in results.items():
        for strategy in (s for s in STRATEGIES if s in entry):
            r = entry[strategy]
            print(f"{dataset:<10}{strategy:<11}{r['int8_test_accuracy']:>10.4f}{r['flash_kb']:>10.1f}"
                  f"{r['peak_ram_kb']:>10.1f}{r['search_seconds']:>10.0f}{r['trained_or_scored']:>7}")
        rc = entry["rank_correlation"]
        print(f"{dataset:<10}rank correlation inherited vs stand-alone ({len(rc['inherited'])} subnets): "
              f"Spearman {rc['spearman']:.3f} (p {rc['spearman_p']:.3f}), Kendall {rc['kendall']:.3f}")
    print(f"\nResults in {args.output}. Command: {command}")
    return report


if __name__ == "__main__":
    main()
