"""The main job on built-in data: search a classifier for a small board and export it.

Run `python -m keras_nas.demo --help` for the options. By default it searches
scikit-learn's digits for a board with 64 KB of flash and 32 KB of RAM, prints
every trial, trains the winner, tests it, and writes the int8 .tflite and the
TFLite Micro C array to `out/`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from keras_nas.datasets import DATASETS


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m keras_nas.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--max-trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--flash-kb", type=float, default=64)
    parser.add_argument("--ram-kb", type=float, default=32)
    parser.add_argument("--latency-ms", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--directory", default="runs")
    parser.add_argument("--out", default="out")
    parser.add_argument("--overwrite", action="store_true", help="start the search afresh instead of resuming")
    args = parser.parse_args(argv)

    from keras_nas import NASModel

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = DATASETS[args.dataset]()
    print(
        f"{args.dataset}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test "
        f"samples of shape {x_train.shape[1:]}"
    )
    constraints = {"flash_kb": args.flash_kb, "peak_ram_kb": args.ram_kb}
    if args.latency_ms:
        constraints["latency_ms"] = args.latency_ms
    model = NASModel(
        constraints=constraints,
        strategy=args.strategy,
        max_trials=args.max_trials,
        seed=args.seed,
        directory=args.directory,
        project_name=f"{args.dataset}_{args.strategy}",
        overwrite=args.overwrite,
    )
    start = time.perf_counter()
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32, verbose=1)
    seconds = time.perf_counter() - start
    model.summary()
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    report = model.export(args.out, formats=["tflite-int8", "c-array", "keras"])

    from keras_nas import tflite

    int8 = open(report["files"]["tflite-int8"], "rb").read()
    int8_litert = tflite.predict(int8, x_test).argmax(-1)
    int8_micro = tflite.predict(int8, x_test[:50], runtime="micro").argmax(-1)
    print(
        f"\nSearch + training took {seconds:.0f} s. Test accuracy: float {accuracy:.4f}, "
        f"int8 (LiteRT) {np.mean(int8_litert == y_test):.4f}; TFLite Micro agrees with LiteRT "
        f"on {np.mean(int8_micro == int8_litert[:50]):.0%} of 50 test samples."
    )
    return report


if __name__ == "__main__":
    main()
