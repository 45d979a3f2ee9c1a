"""Benchmark: what does keras-nas's candidate recipe cost a fixed architecture against plain Keras?

Trains a fixed architecture with each training recipe, 3 seeds, on the
training split only, and reports the float test accuracy per seed and the
median. `--task`: `digits` (the plain CNN: conv 8 - max-pool - conv 16 -
flatten - dense; every recipe below), `mnist1d` (the stride-1 Conv1D stack,
`keras_nas.baselines.stride1_cnn`) or `spoken_words` (the MLPerf Tiny DS-CNN
on 49x40 log-mel maps of `keras_nas.datasets.load_spoken_words`); the last two
run `plain` and `cosine_last_lr3e-3`, the candidate recipe. Recipes:

- `plain`: what an engineer writes: Adam(3e-3), batch 32, no schedule, no input
  normalization, the last epoch's weights;
- `plain+norm`: the same with the candidates' input normalization;
- `cosine_best_lr1e-3` / `cosine_best_lr3e-3`: the recipe before 2026-12-05
  (normalization, cosine schedule, the best validation epoch kept);
- `cosine_last_lr3e-3`: the recipe since (cosine schedule, the last epoch kept);
- `cosine_last_lr3e-3_bn`: the same with batch norm after each conv, as the
  search space's conv blocks have.

Usage:
    python benchmarks/bench_recipe.py --epochs 60 --json benchmarks/results_recipe_digits.json
    python benchmarks/bench_recipe.py --task spoken_words --epochs 30 --json results_recipe_words.json
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
import numpy as np  # noqa: E402

from keras_nas import baselines  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402
from keras_nas.hypermodel import cosine_schedule  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _results import check_new_output, write_results  # noqa: E402

RECIPES = {
    "plain": dict(norm=False, lr=3e-3, cosine=False, best=False),
    "plain+norm": dict(norm=True, lr=3e-3, cosine=False, best=False),
    "cosine_best_lr1e-3": dict(norm=True, lr=1e-3, cosine=True, best=True),
    "cosine_best_lr3e-3": dict(norm=True, lr=3e-3, cosine=True, best=True),
    "cosine_last_lr3e-3": dict(norm=True, lr=3e-3, cosine=True, best=False),
    "cosine_last_lr3e-3_bn": dict(norm=True, lr=3e-3, cosine=True, best=False, bn=True),
}


# The fixed architecture of each task (`keras_nas.baselines`), and the recipes every task runs.
DESIGNS = baselines.HAND_DESIGN_OF
GENERIC_RECIPES = ("plain", "cosine_last_lr3e-3")


class KeepBestValidationEpoch(keras.callbacks.Callback):
    """The weights of the best `val_accuracy` epoch, restored at the end (the former recipe)."""

    def on_train_begin(self, logs=None):
        self.best, self.weights = -1.0, None

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] > self.best:
            self.best, self.weights = logs["val_accuracy"], self.model.get_weights()

    def on_train_end(self, logs=None):
        self.model.set_weights(self.weights)


def plain_cnn(input_shape, mean, variance, norm: bool, bn: bool) -> keras.Model:
    inputs = keras.Input(input_shape)
    x = keras.layers.Normalization(mean=mean, variance=variance)(inputs) if norm else inputs
    for filters, pool in ((8, True), (16, False)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=not bn)(x)
        if bn:
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        if pool:
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=sorted(DESIGNS), default="digits")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=list(RECIPES))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.json:
        check_new_output(args.json, "--json")
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = DATASETS[args.task]()
    axes = tuple(range(x_train.ndim - 1))  # per channel, as the candidates' normalization
    mean, variance = x_train.mean(axis=axes), x_train.var(axis=axes)
    recipes = args.recipes if args.task == "digits" else [r for r in args.recipes if r in GENERIC_RECIPES]
    num_classes = int(y_train.max()) + 1
    results = {
        "task": args.task, "design": DESIGNS[args.task],
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"Keras {keras.__version__}",
        "epochs": args.epochs, "seeds": args.seeds, "recipes": {},
    }
    for name in recipes:
        recipe, accuracies, start = RECIPES[name], [], time.perf_counter()
        for seed in args.seeds:
            keras.backend.clear_session()
            keras.utils.set_random_seed(seed)
            if args.task == "digits":
                model = plain_cnn(x_train.shape[1:], mean, variance, recipe["norm"], recipe.get("bn", False))
            else:
                model = baselines.HAND_DESIGNS[DESIGNS[args.task]](
                    x_train.shape[1:], num_classes, mean if recipe["norm"] else None, variance)
            model.compile(optimizer=keras.optimizers.Adam(recipe["lr"]), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"], jit_compile=False)
            callbacks = ([cosine_schedule(args.epochs)] if recipe["cosine"] else []) + (
                [KeepBestValidationEpoch()] if recipe["best"] else [])
            model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32,
                      verbose=0, callbacks=callbacks)
            accuracies.append(float(model.evaluate(x_test, y_test, verbose=0)[1]))
        results["recipes"][name] = {"test_accuracy": accuracies, "median": float(np.median(accuracies)),
                                    "seconds": time.perf_counter() - start}
        print(f"{name:24s} test accuracy {np.round(accuracies, 4)} median {np.median(accuracies):.4f}", flush=True)
    print("Reproduce with:", results["command"])
    if args.json:
        write_results(args.json, results)
    return results


if __name__ == "__main__":
    main()
