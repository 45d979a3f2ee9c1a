"""Benchmark: regression and anomaly detection searches against hand designs of the same size.

For each task a hand design is trained with the search's recipe (cosine
schedule, best validation epoch kept, same epochs) and measured as the winner
ships: its int8 file (metadata included) on LiteRT and TFLite Micro. Its flash
and arena are the limits keras-nas searches under, so the winner has to do
better *within the hand design's own flash and RAM*. Both are scored on a held-out test split, float
(Keras) and int8 (LiteRT, dequantized outputs).

Tasks:
- `regression`: scikit-learn's diabetes (442 patients, 10 features, disease
  progression after a year), split 282 / 70 / 90. Hand design: a small MLP
  (normalization, Dense 32 - ReLU x2, linear output); also scored, the
  linear model (normalization, one Dense output), an engineer's first try on
  tabular data. Score: test MAE (lower is better).
- `circuit`: scikit-learn's RLC-circuit simulation (`make_friedman2`: the
  impedance of a series circuit from its resistance, angular frequency,
  inductance and capacitance, features of very different scales), 4,000 /
  1,000 / 1,000 samples. Hand designs as for `regression`. Score: test MAE
  in ohms (lower is better).
- `anomaly`: MNIST-1D (4,000 signals of 40 steps) as normal data; validation
  and test signals get, half of them, an injected sensor fault (three spikes
  of 4 standard deviations, or a 12-step dropout to 0). Hand design: the MLPerf
  Tiny anomaly-detection dense autoencoder (4 x Dense + BN + ReLU, bottleneck
  8, mirrored), its width scaled from 128 to 64 to fit the budget. Score:
  test AUC of the reconstruction error (higher is better).

Usage:
    python benchmarks/bench_tasks.py --seeds 1 2 3 --trials 10 --json benchmarks/results_tasks.json
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

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from keras_nas import NASModel, blocks, tasks, tflite  # noqa: E402
from keras_nas.data import prepare_data  # noqa: E402
from keras_nas.datasets import inject_faults, load_mnist1d  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from _results import check_new_output, write_results  # noqa: E402


def diabetes_splits():
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x, y = data.data.astype("float32"), data.target.astype("float32")
    order = np.random.default_rng(0).permutation(len(x))
    train, val, test = order[:282], order[282:352], order[352:]
    return (x[train], y[train]), (x[val], y[val]), (x[test], y[test])


def circuit_splits():
    from sklearn.datasets import make_friedman2

    x, y = make_friedman2(n_samples=6000, noise=0.0, random_state=0)
    x, y = x.astype("float32"), y.astype("float32")
    return (x[:4000], y[:4000]), (x[4000:5000], y[4000:5000]), (x[5000:], y[5000:])


def faulty_mnist1d_splits():
    (x_train, _), (x_val, _), (x_test, _) = load_mnist1d(num_samples=4000, validation_fraction=0.2)
    return x_train, inject_faults(x_val, 0.5, seed=1), inject_faults(x_test, 0.5, seed=2)


class NoHiddenLayers(blocks.Block):
    """No layers: with a `RegressionHead`, the linear model."""

    def build(self, hp, inputs):
        return inputs


def hand_design(task: str, data, linear: bool = False) -> NASHyperModel:
    """The hypermodel of a hand design: a fixed point with the search's normalization and output layers."""
    if task == "regression":
        space = (NoHiddenLayers() if linear else
                 blocks.DenseBlock(units=32, num_layers=2, dropout=0.0, activation="relu", use_batchnorm=False))
        head = blocks.RegressionHead(1, dropout=0.0)
    else:
        space = blocks.DenseAutoencoder(units=64, num_layers=4, bottleneck=8, use_batchnorm=True)
        head = None
    hypermodel = NASHyperModel(data.input_shape, None, space=space, head=head, mean=data.mean,
                               variance=data.variance, task=task, targets=data.targets,
                               validation=(data.x_val, data.y_val),
                               # a linear model needs a larger step to converge in the same epochs
                               learning_rates=[1e-2 if linear else 1e-3])
    return hypermodel


def shipped_figures(task: tasks.Task, model: keras.Model, representative_x, x_test, y_test) -> dict:
    """Float and int8 test scores and the int8 file's cost, as `NASModel.export` ships it."""
    from keras_nas.tflite.measurement import Measurer
    from keras_nas.tflite.metadata import with_metadata

    name, objective = task.export_metric(y_test)
    measurer = Measurer("host", representative_x, latency_runs=20)
    content = with_metadata(model, measurer.to_int8(model))
    cost = measurer.measure_bytes(content)
    return {
        f"float_test_{name}": task.score(objective, model.predict(x_test, verbose=0), x_test, y_test),
        f"int8_test_{name}": task.score(objective, tflite.predict(content, x_test), x_test, y_test),
        "flash_kb": cost.flash_kb, "peak_ram_kb": cost.peak_ram_kb, "latency_ms": cost.latency_ms,
        "params": int(model.count_params()),
    }


def run(task_name: str, seed: int, trials: int, epochs: int, workdir: str) -> dict:
    task = tasks.get("regression" if task_name == "circuit" else task_name)
    if task_name in ("regression", "circuit"):
        splits = diabetes_splits() if task_name == "regression" else circuit_splits()
        (x_train, y_train), validation, (x_test, y_test) = splits
        fit_args, batch_size = (x_train, y_train), 32 if task_name == "regression" else 64
    else:
        x_train, validation, (x_test, y_test) = faulty_mnist1d_splits()
        fit_args, batch_size = (x_train,), 64
    data = prepare_data(*fit_args, validation_data=validation, batch_size=batch_size, task=task)

    def trained_hand_design(linear: bool = False) -> dict:
        start = time.perf_counter()
        keras.utils.set_random_seed(seed)
        hypermodel = hand_design(task.name, data, linear)
        baseline = hypermodel.build(keras_tuner.HyperParameters())
        hypermodel.fit(keras_tuner.HyperParameters(), baseline, *data.train_args,
                       validation_data=data.validation_data, epochs=epochs, batch_size=batch_size, verbose=0)
        figures = shipped_figures(task, baseline, data.representative_x, x_test, y_test)
        figures["seconds"] = time.perf_counter() - start
        print(f"[{task_name} seed {seed}] hand design{' (linear)' if linear else ''}: {json.dumps(figures)}",
              flush=True)
        return figures

    hand = trained_hand_design()
    result = {"task": task_name, "seed": seed, "hand_design": hand}
    if task.name == "regression":
        result["hand_linear"] = trained_hand_design(linear=True)

    # The search runs under the hand design's own flash and arena (the file that ships).
    start = time.perf_counter()
    limits = {"flash_kb": hand["flash_kb"], "peak_ram_kb": hand["peak_ram_kb"]}
    model = NASModel(task=task.name, constraints=limits, max_trials=trials,
                     seed=seed, directory=workdir, project_name=f"{task_name}_{seed}", overwrite=True,
                     finalists=2)
    model.fit(*fit_args, validation_data=validation, epochs=epochs, batch_size=batch_size, verbose=0)
    searched = shipped_figures(task, model.model, data.representative_x, x_test, y_test)
    summary = model.search_summary()
    searched.update(seconds=time.perf_counter() - start, objective=model.objective,
                    trained=summary["trained"], rejected=summary["rejected"], failed=summary["failed"],
                    winner_hyperparameters=dict(model.best_trial_.hyperparameters.values))
    print(f"[{task_name} seed {seed}] keras-nas winner: {json.dumps(searched, default=str)}", flush=True)
    return {**result, "keras_nas": searched}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["regression", "anomaly"], choices=["regression", "circuit", "anomaly"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    check_new_output(args.json, "--json")
    command = "python benchmarks/bench_tasks.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="keras_nas_tasks_")
    results = {
        "command": command,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "tensorflow": __import__("tensorflow").__version__,
                    "keras": keras.__version__},
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "runs": [],
    }
    for task_name in args.tasks:
        for seed in args.seeds:
            results["runs"].append(run(task_name, seed, args.trials, args.epochs, workdir))
            if args.json:
                write_results(args.json, results)
    for task_name in args.tasks:
        runs = [r for r in results["runs"] if r["task"] == task_name]
        metric = "auc" if task_name == "anomaly" else "mae"
        for who in ("hand_linear", "hand_design", "keras_nas"):
            if who not in runs[0]:
                continue
            values = [r[who][f"int8_test_{metric}"] for r in runs]
            flash = [r[who]["flash_kb"] for r in runs]
            arena = [r[who]["peak_ram_kb"] for r in runs]
            print(f"{task_name:>10} {who:<11} int8 test {metric} median {np.median(values):.4f} "
                  f"(seeds {args.seeds}: {', '.join(f'{v:.4f}' for v in values)}), "
                  f"flash {', '.join(f'{v:.1f}' for v in flash)} KB, arena {', '.join(f'{v:.1f}' for v in arena)} KB")
    print(f"Reproduce: {command}")
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    if args.json:
        write_results(args.json, results)


if __name__ == "__main__":
    main()
