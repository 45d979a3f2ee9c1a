"""Benchmark: keras-nas search vs Keras Tuner's RandomSearch vs a hand-designed model.

For each data set (digits, MNIST-1D) and the same board limits, it reports the
winner's int8 test accuracy (LiteRT), flash, TFLite Micro arena, host latency
and the wall time of the search, for:

- keras-nas `NASModel` (regularized evolution, hardware-aware: rejects
  candidates over the limits before training),
- Keras Tuner's own `RandomSearch` over the same hypermodel and the same number
  of trained candidates and epochs (it does not know the limits: its winner is
  checked afterwards, and its best trial that fits is reported too),
- a hand-designed model an engineer would write for the same limits
  (a DS-CNN: stride-1 stem, depthwise-separable blocks, global pooling).

Usage:
    python benchmarks/bench_search.py                       # both data sets, defaults below
    python benchmarks/bench_search.py --dataset digits --max-trials 10 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402

from keras_nas import NASModel, tflite  # noqa: E402
from keras_nas.constraints import Constraints  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402

# Sized so that the whole benchmark runs in about 40 minutes on 2 CPU cores.
DEFAULTS = {
    "digits": {"epochs": 20, "max_trials": 15},
    "mnist1d": {"epochs": 30, "max_trials": 12},
}


def hand_designed(input_shape, num_classes, mean, variance) -> keras.Model:
    """The DS-CNN an engineer would write for a 64 KB / 32 KB board."""
    conv, dwconv, pool = (
        (keras.layers.Conv1D, keras.layers.DepthwiseConv1D, keras.layers.GlobalAveragePooling1D)
        if len(input_shape) == 2
        else (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.GlobalAveragePooling2D)
    )
    inputs = keras.Input(input_shape)
    x = keras.layers.Normalization(mean=mean, variance=variance)(inputs)
    x = conv(32, 5 if len(input_shape) == 2 else 3, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
    for filters, stride in [(32, 1), (64, 2), (64, 1), (64, 2)]:
        x = dwconv(3, strides=stride, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
        x = conv(filters, 1, use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
    x = pool()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=False,  # as the searched candidates (XLA compile dominates on CPU)
    )
    return model


def int8_figures(model, x_rep, x_test, y_test) -> dict:
    content, cost = tflite.measure_model(model, x_rep)
    return {
        "int8_test_accuracy": tflite.accuracy(content, x_test, y_test),
        "flash_kb": cost.flash_kb,
        "peak_ram_kb": cost.peak_ram_kb,
        "latency_ms": cost.latency_ms,
    }


def run_keras_nas(data, limits, args, seed, workdir) -> dict:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    start = time.perf_counter()
    model = NASModel(constraints=limits, strategy=args.strategy, max_trials=args.max_trials, seed=seed,
                     directory=workdir, project_name=f"nas_{seed}", overwrite=True)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32, verbose=1)
    seconds = time.perf_counter() - start
    trials = model.trials()
    result = int8_figures(model.model, model.data_.representative_x, x_test, y_test)
    measure = sum(t["cost"]["measure_seconds"] for t in trials if t["cost"])
    result.update(
        search_seconds=seconds,
        trained=sum(t["status"] == "COMPLETED" for t in trials),
        rejected=sum(t["status"] == "REJECTED" for t in trials),
        measure_share=measure / seconds,
        winner_trial=model.best_trial_.trial_id,
        architecture=model.best_trial_.hyperparameters.values,
    )
    return result


def run_keras_tuner_random(data, limits, args, seed, workdir) -> dict:
    from keras_nas.data import prepare_data

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    prepared = prepare_data(x_train, y_train, validation_data=(x_val, y_val))
    hypermodel = NASHyperModel(prepared.input_shape, prepared.num_classes, mean=prepared.mean, variance=prepared.variance)
    start = time.perf_counter()
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=args.max_trials,
                                     seed=seed, directory=workdir, project_name=f"kt_{seed}", overwrite=True)
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    constraints = Constraints.from_dict(limits)
    ranked = tuner.oracle.get_best_trials(args.max_trials)
    feasible_rank, fits = None, 0
    for rank, trial in enumerate(ranked):
        keras.backend.clear_session()
        _, cost = tflite.measure_model(hypermodel.build(trial.hyperparameters), prepared.representative_x, latency_runs=5)
        if not constraints.violations(cost.to_dict()):
            fits += 1
            feasible_rank = rank if feasible_rank is None else feasible_rank
    result = {"search_seconds": seconds, "trained": len(ranked), "trials_that_fit": fits}
    for label, rank in [("best", 0), ("best_that_fits", feasible_rank)]:
        if rank is None:
            result[label] = None
            continue
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = hypermodel.build(ranked[rank].hyperparameters)
        model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32, verbose=0)
        figures = int8_figures(model, prepared.representative_x, x_test, y_test)
        figures["fits"] = not constraints.violations(figures)
        result[label] = figures
    return result


def run_hand_designed(data, args, seed) -> dict:
    from keras_nas.data import prepare_data

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    prepared = prepare_data(x_train, y_train, validation_data=(x_val, y_val))
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = hand_designed(prepared.input_shape, prepared.num_classes, prepared.mean, prepared.variance)
    start = time.perf_counter()
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32, verbose=0)
    result = int8_figures(model, prepared.representative_x, x_test, y_test)
    result["train_seconds"] = time.perf_counter() - start
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), action="append")
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--max-trials", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--flash-kb", type=float, default=64)
    parser.add_argument("--ram-kb", type=float, default=32)
    parser.add_argument("--seed", type=int, nargs="+", default=[1],
                        help="one or more seeds; with several, medians over seeds are printed too")
    parser.add_argument("--workdir", default="/tmp/keras_nas_bench")
    parser.add_argument("--json", default=None, help="write all figures to this file")
    parser.add_argument("--no-keras-tuner", action="store_true",
                        help="skip Keras Tuner's RandomSearch (half the time): keras-nas vs the hand design only")
    args = parser.parse_args(argv)
    limits = {"flash_kb": args.flash_kb, "peak_ram_kb": args.ram_kb}
    results = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
                          f"TF {__import__('tensorflow').__version__}, Keras {keras.__version__}",
               "limits": limits, "datasets": {}}
    for name in args.dataset or ["digits", "mnist1d"]:
        run_args = argparse.Namespace(**vars(args))
        run_args.epochs = args.epochs or DEFAULTS[name]["epochs"]
        run_args.max_trials = args.max_trials or DEFAULTS[name]["max_trials"]
        data = DATASETS[name]()
        runs = []
        for seed in args.seed:
            print(f"\n=== {name}, seed {seed}: {run_args.max_trials} trained candidates, "
                  f"{run_args.epochs} epochs each, limits {limits}")
            run = {
                "seed": seed,
                "epochs": run_args.epochs,
                "max_trials": run_args.max_trials,
                "keras_nas": run_keras_nas(data, limits, run_args, seed, args.workdir),
                "keras_tuner_random": (None if args.no_keras_tuner
                                       else run_keras_tuner_random(data, limits, run_args, seed, args.workdir)),
                "hand_designed": run_hand_designed(data, run_args, seed),
            }
            print_table(f"{name}, seed {seed}", run)
            runs.append(run)
        results["datasets"][name] = runs
        if len(runs) > 1:
            print_medians(name, runs)
    print("\nReproduce with:", results["command"])
    print("Machine:", results["machine"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return results


def print_medians(name, runs):
    import numpy as np

    def median(values):
        values = [v for v in values if v is not None]
        return f"{100 * float(np.median(values)):.1f} %" if values else "-"

    nas = [r["keras_nas"]["int8_test_accuracy"] for r in runs]
    kt = [(r["keras_tuner_random"] or {}).get("best_that_fits") for r in runs]
    kt = [f and f["int8_test_accuracy"] for f in kt]
    hand = [r["hand_designed"]["int8_test_accuracy"] for r in runs]
    wins = sum(a > b for a, b in zip(nas, hand))
    print(f"\n{name}: median int8 test accuracy over seeds {[r['seed'] for r in runs]}")
    print(f"| keras-nas | {median(nas)} | per seed {[round(100 * v, 1) for v in nas]}")
    print(f"| Keras Tuner RandomSearch, best that fits | {median(kt)} | per seed {[v and round(100 * v, 1) for v in kt]}")
    print(f"| hand-designed DS-CNN | {median(hand)} | per seed {[round(100 * v, 1) for v in hand]}")
    print(f"keras-nas above the hand design in {wins} of {len(runs)} seeds")


def print_table(name, r):
    def row(label, f, seconds=None):
        if f is None:
            return f"| {label} | - | - | - | - | - |"
        s = f"{seconds:.0f} s" if seconds is not None else "-"
        return (f"| {label} | {100 * f['int8_test_accuracy']:.1f} % | {f['flash_kb']:.1f} KB | "
                f"{f['peak_ram_kb']:.1f} KB | {f['latency_ms']:.3f} ms | {s} |")

    nas, kt, hand = r["keras_nas"], r["keras_tuner_random"], r["hand_designed"]
    print(f"\n{name}: int8 winner on the test set")
    print("| method | int8 test accuracy | flash | TFLM arena | host latency | search wall time |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(row(f"keras-nas {nas['trained']} trained + {nas['rejected']} rejected", nas, nas["search_seconds"]))
    if kt is not None:
        print(row(f"Keras Tuner RandomSearch, best ({'fits' if kt['best'] and kt['best']['fits'] else 'over the limits'})", kt["best"], kt["search_seconds"]))
        print(row(f"Keras Tuner RandomSearch, best that fits ({kt['trials_that_fit']}/{kt['trained']} fit)", kt["best_that_fits"]))
    print(row("hand-designed DS-CNN", hand))
    print(f"keras-nas measurement overhead: {100 * nas['measure_share']:.1f} % of the search time")


if __name__ == "__main__":
    main()
