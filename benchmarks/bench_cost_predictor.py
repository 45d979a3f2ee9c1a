"""Benchmark: how well `keras_nas.cost_predictor` predicts int8 flash and TFLite Micro arena.

Draws random candidates of the default space on digits (8x8x1) and MNIST-1D
(40x1), measures each as the search does (perturbed weights, int8 TFLite,
TFLite Micro arena), fits the linear model on the first half and reports the
relative error on the second half; prints the coefficients fitted on all
(the source of `PRIOR_FLASH` / `PRIOR_ARENA`).

Usage:
    python benchmarks/bench_cost_predictor.py --samples 60 --out benchmarks/results_cost_predictor.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.cost_predictor import CostPredictor, graph_features  # noqa: E402
from keras_nas.data import prepare_data  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.strategies.base import is_active  # noqa: E402
from keras_nas.tuner import randomize_weights  # noqa: E402


def sample_candidates(dataset: str, n: int, seed: int) -> list[dict]:
    (x_train, y_train), (x_val, y_val), _ = DATASETS[dataset]()
    data = prepare_data(x_train, y_train, validation_data=(x_val, y_val))
    hypermodel = NASHyperModel(data.input_shape, data.num_classes, mean=data.mean, variance=data.variance)
    space = keras_tuner.HyperParameters()
    hypermodel.build(space)
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < n:
        values = {}
        for hp in space.space:
            if is_active(hp, values):
                values[hp.name] = hp.random_sample(int(rng.integers(2**31 - 1)))
        hp = keras_tuner.HyperParameters()
        hp.values.update(values)
        keras.backend.clear_session()
        model = hypermodel.build(hp)
        features = graph_features(model)
        randomize_weights(model, len(rows))
        start = time.perf_counter()
        try:
            _, cost = tflite.measure_model(model, data.representative_x, latency_runs=3, signatures=False)
        except (tflite.ConversionError, tflite.InvalidModelError) as e:
            print("skipped:", str(e)[:100])
            continue
        rows.append({"dataset": dataset, "features": features, "flash_kb": cost.flash_kb,
                     "peak_ram_kb": cost.peak_ram_kb, "measure_seconds": time.perf_counter() - start})
        print(dataset, len(rows), features, f"{cost.flash_kb:.1f} KB / {cost.peak_ram_kb:.1f} KB", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60, help="candidates per data set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for dataset in ("digits", "mnist1d"):
        rows += sample_candidates(dataset, args.samples, args.seed)
    order = np.random.default_rng(args.seed).permutation(len(rows))
    train, test = [rows[i] for i in order[: len(rows) // 2]], [rows[i] for i in order[len(rows) // 2 :]]
    predictor = CostPredictor(min_samples=1, ridge=1e-6)
    for row in train:
        predictor.observe(row["features"], row)
    result = {"command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), "samples": len(rows)}
    for key in ("flash_kb", "peak_ram_kb"):
        errors = [abs(getattr(predictor.predict(r["features"]), key) - r[key]) / r[key] for r in test]
        result[f"{key}_heldout_median_error"] = float(np.median(errors))
        result[f"{key}_heldout_p90_error"] = float(np.percentile(errors, 90))
        result[f"{key}_heldout_max_error"] = float(np.max(errors))
    everything = CostPredictor(min_samples=1, ridge=1e-6)
    for row in rows:
        everything.observe(row["features"], row)
    flash, arena = everything._coefficients
    result["flash_coefficients"] = [round(float(c), 2) for c in flash]
    result["arena_coefficients"] = [round(float(c), 2) for c in arena]
    result["median_measure_seconds"] = float(np.median([r["measure_seconds"] for r in rows]))
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**result, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
