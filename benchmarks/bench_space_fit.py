"""Benchmark: under an arena below the DS-CNN's, does the search beat the DS-CNN shrunk by width alone?

On the spoken-words data set (`keras_nas.datasets.load_spoken_words`: 40-band
log-mel maps, 49 frames, speaker-disjoint splits), the MLPerf Tiny DS-CNN
(`keras_nas.baselines.ds_cnn`, width 64) is measured as int8: its flash F and
TFLite Micro arena A. For each `--arena-factor` f, the limits are flash F and
arena f x A, and per seed:

- the baseline: the DS-CNN shrunk by width alone (the widest of `WIDTHS`
  whose int8 model fits both limits, measured), trained as an engineer trains
  it in plain Keras (Adam 3e-3, batch 32, no schedule, the last epoch, the
  training split only), int8 test accuracy on LiteRT;
- keras-nas: `NASModel(space="kws", constraints=..., max_search_seconds=...)`
  (its space fitted to the limits unless `--no-space-fit`), the winner's int8
  test accuracy, the trained candidates' widths, frequency strides and use of
  the binding limit, and the space-fit table.

Usage:
    python benchmarks/bench_space_fit.py --arena-factor 0.5 --seeds 0 1 2 --json benchmarks/results_space_fit.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_nas import NASModel, tflite  # noqa: E402
from keras_nas.baselines import ds_cnn, int8_figures, train_plainly  # noqa: E402
from keras_nas.data import prepare_data  # noqa: E402
from keras_nas.datasets import load_spoken_words  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _results import check_new_output, write_results  # noqa: E402

# Widths the DS-CNN is shrunk through, widest first (64: the reference).
WIDTHS = (64, 56, 48, 40, 32, 24, 16, 12, 8)


def measured(model, representative_x) -> dict:
    _, cost = tflite.measure_model(model, representative_x, latency_runs=3)
    return cost.to_dict()


def shrunk_baseline(data, prepared, limits: dict, seed: int, epochs: int) -> dict:
    """The widest DS-CNN of `WIDTHS` that fits `limits` (measured), trained plainly."""
    for width in WIDTHS:
        keras.backend.clear_session()
        cost = measured(ds_cnn(prepared.input_shape, prepared.num_classes, None, None, width),
                        prepared.representative_x)
        if cost["flash_kb"] <= limits["flash_kb"] and cost["peak_ram_kb"] <= limits["peak_ram_kb"]:
            break
    else:
        return {"width": None}
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = train_plainly(ds_cnn(prepared.input_shape, prepared.num_classes, None, None, width), data[0], epochs)
    result = int8_figures(model, prepared.representative_x, *data[2])
    result.update(width=width, seconds=time.perf_counter() - start)
    return result


def search(data, limits: dict, seed: int, epochs: int, budget: float, workdir: str, space_fit: bool) -> dict:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    start = time.perf_counter()
    nas = NASModel(space="kws", constraints=limits, seed=seed, max_trials=20, max_search_seconds=budget,
                   directory=workdir, project_name=f"kws_{limits['peak_ram_kb']:.0f}_{seed}", overwrite=True,
                   space_fit=space_fit)
    nas.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=1)
    seconds = time.perf_counter() - start
    result = int8_figures(nas.model, nas.data_.representative_x, x_test, y_test)
    rows = [r for r in nas.trials() if r["outcome"] == "trained"]
    summary = nas.search_summary()
    result.update(
        seconds=seconds, winner=dict(nas.best_trial_.hyperparameters.values),
        trained_widths=[r["hyperparameters"].get("kws_space/width") for r in rows],
        trained_freq_strides=[r["hyperparameters"].get("kws_space/freq_strides") for r in rows],
        near_limit_share=summary.get("near_limit_share"), limit_use=summary.get("limit_use"),
        space_fit=summary.get("space_fit"), trained=summary["trained"], rejected=summary["rejected"],
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arena-factor", type=float, nargs="+", default=[0.9, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--budget-seconds", type=float, default=1800.0,
                        help="keras-nas's whole fit (search, finalists, final training)")
    parser.add_argument("--no-space-fit", action="store_true")
    parser.add_argument("--workdir", default="/tmp/keras_nas_space_fit")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    check_new_output(args.json, "--json")
    data = load_spoken_words("log-mel")
    prepared = prepare_data(*data[0], validation_data=data[1])
    keras.utils.set_random_seed(0)
    reference = measured(ds_cnn(prepared.input_shape, prepared.num_classes, None, None), prepared.representative_x)
    print(f"DS-CNN (width 64): flash {reference['flash_kb']:.1f} KB, arena {reference['peak_ram_kb']:.1f} KB")
    results = {"reference": reference, "runs": {}}
    for factor in args.arena_factor:
        limits = {"flash_kb": reference["flash_kb"], "peak_ram_kb": round(factor * reference["peak_ram_kb"], 1)}
        runs = results["runs"][str(factor)] = {"limits": limits, "seeds": {}}
        for seed in args.seeds:
            hand = shrunk_baseline(data, prepared, limits, seed, args.epochs)
            nas = search(data, limits, seed, args.epochs, args.budget_seconds, args.workdir, not args.no_space_fit)
            runs["seeds"][str(seed)] = {"shrunk_ds_cnn": hand, "keras_nas": nas}
            print(f"arena x{factor} seed {seed}: DS-CNN width {hand['width']} "
                  f"{hand.get('int8_test_accuracy', float('nan')):.4f}; keras-nas {nas['int8_test_accuracy']:.4f} "
                  f"({nas['flash_kb']:.1f} KB / {nas['peak_ram_kb']:.1f} KB, {nas['seconds'] / 60:.1f} min); "
                  f"trained widths {nas['trained_widths']}; near limit {nas['near_limit_share']}")
        hands = [s["shrunk_ds_cnn"].get("int8_test_accuracy", np.nan) for s in runs["seeds"].values()]
        searched = [s["keras_nas"]["int8_test_accuracy"] for s in runs["seeds"].values()]
        runs["median"] = {"shrunk_ds_cnn": float(np.median(hands)), "keras_nas": float(np.median(searched))}
        print(f"arena x{factor} ({limits}): median int8 test accuracy DS-CNN shrunk {np.median(hands):.4f}, "
              f"keras-nas {np.median(searched):.4f}")
    command = "python benchmarks/bench_space_fit.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    results.update(command=command, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   machine=f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores")
    print("Reproduce with:", command)
    if args.json:
        write_results(args.json, results)
        print("wrote", args.json)
    return results


if __name__ == "__main__":
    main()
