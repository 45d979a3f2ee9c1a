"""Benchmark: int8 conversion time of search candidates, exported path vs the search's frozen path.

For random candidates of the default space (and its DS-CNN starting point) on
digits and MNIST-1D, converts each with `to_tflite(..., signatures=True)` (the
Keras SavedModel export, as shipped) and `signatures=False` (the frozen
inference function the search uses), and prints per data set the median
seconds of each, their ratio, the size difference and whether TFLite Micro's
arena and LiteRT's outputs agree.

Usage:
    python benchmarks/bench_conversion.py --candidates 6
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.data import prepare_data  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.strategies import RandomSearch  # noqa: E402


def candidates(hypermodel: NASHyperModel, count: int, seed: int) -> list[dict]:
    """The DS-CNN starting point and `count - 1` random candidates of the space."""
    oracle = RandomSearch(max_trials=1, seed=seed)
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    oracle.update_space(hp)
    rng = np.random.default_rng(seed)
    return [hypermodel.initial_architectures()[0]] + [oracle.random_values(rng) for _ in range(count - 1)]


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print("| data | candidates | exported path (median s) | search path (median s) | ratio | size difference (bytes) | same arena | max output difference |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in ("digits", "mnist1d"):
        (x, y), (x_val, y_val), _ = DATASETS[name]()
        data = prepare_data(x, y, validation_data=(x_val, y_val))
        hypermodel = NASHyperModel(data.input_shape, data.num_classes, mean=data.mean, variance=data.variance)
        slow, fast, sizes, same_arena, output_diff = [], [], [], True, 0.0
        for values in candidates(hypermodel, args.candidates, args.seed):
            keras.backend.clear_session()
            hp = keras_tuner.HyperParameters()
            hp.values.update(values)
            model = hypermodel.build(hp)
            exported, seconds_slow = timed(lambda: tflite.to_tflite(model, "int8", data.representative_x))
            searched, seconds_fast = timed(
                lambda: tflite.to_tflite(model, "int8", data.representative_x, signatures=False)
            )
            slow.append(seconds_slow)
            fast.append(seconds_fast)
            sizes.append(len(searched) - len(exported))
            same_arena &= tflite.arena_bytes(exported) == tflite.arena_bytes(searched)
            output_diff = max(output_diff, float(np.abs(
                tflite.predict(exported, x_val[:100]) - tflite.predict(searched, x_val[:100])).max()))
        print(f"| {name} | {len(slow)} | {np.median(slow):.2f} | {np.median(fast):.2f} | "
              f"{np.median(slow) / np.median(fast):.1f}x | {min(sizes)} to {max(sizes)} | "
              f"{'yes' if same_arena else 'NO'} | {output_diff:.4f} |")
    print("\nReproduce with: python " + " ".join(shlex.quote(a) for a in sys.argv))


if __name__ == "__main__":
    main()
