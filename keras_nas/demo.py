"""The main job on built-in data: search a classifier for a small board and export it.

Run `python -m keras_nas.demo --help` for the options. By default it searches
scikit-learn's digits for a tight board, 8.5 KB of flash and a 3.2 KB tensor
arena (what the CNN an engineer writes by hand in five minutes needs), prints
every trial, trains the winner, tests it, trains that hand design as an
engineer would in plain Keras (Adam 3e-3, no schedule, the last epoch, the
training split only), prints both measured on the same test split, and
writes the int8 .tflite and the TFLite Micro C array to `out/`.
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
    parser.add_argument("--max-trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--max-search-seconds", type=float, default=1200,
                        help="time budget of the whole fit (candidates train for at most 20 epochs)")
    parser.add_argument("--flash-kb", type=float, default=8.5)
    parser.add_argument("--ram-kb", type=float, default=3.2)
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
        max_search_seconds=args.max_search_seconds,
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
    hand = hand_design_figures(args.dataset, model.data_, (x_train, y_train), (x_test, y_test),
                               args.epochs, args.seed)
    winner = {"int8_test_accuracy": float(np.mean(int8_litert == y_test)),
              "flash_kb": report["int8_cost"]["flash_kb"], "peak_ram_kb": report["int8_cost"]["peak_ram_kb"]}
    print(f"\nAgainst the hand design ({hand['name']}, trained in plain Keras: Adam 3e-3, {args.epochs} epochs, "
          "batch 32, the last epoch), on the same test split:")
    print("| model | int8 test accuracy | flash | TFLite Micro arena |")
    print("| --- | --- | --- | --- |")
    for name, figures in (("keras-nas winner", winner), (hand["name"], hand)):
        print(f"| {name} | {100 * figures['int8_test_accuracy']:.1f} % | {figures['flash_kb']:.1f} KB | "
              f"{figures['peak_ram_kb']:.1f} KB |")
    report["hand_design"] = hand
    return report


def hand_design_figures(dataset: str, data, train, test, epochs: int, seed: int) -> dict:
    """Trains the data set's hand design (`keras_nas.baselines`) in plain Keras; measures it as int8, as the winner ships."""
    import keras

    from keras_nas import baselines

    name = baselines.HAND_DESIGN_OF[dataset]
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = baselines.HAND_DESIGNS[name](data.input_shape, data.num_classes, None, None)
    baselines.train_plainly(model, train, epochs)
    figures = baselines.int8_figures(model, data.representative_x, *test)
    return {"name": name, **figures}


if __name__ == "__main__":
    main()
