"""Benchmark: under an arena below the hand design's, does the search beat that design shrunk by width alone?

Two tasks (`--task`), each with the design an engineer uses for it
(`keras_nas.baselines`), measured as int8: its flash F and TFLite Micro arena
A. For each `--arena-factor` f, the limits are flash F and arena f x A:

- "spoken_words" (`keras_nas.datasets.load_spoken_words`: 40-band log-mel
  maps, 49 frames, speaker-disjoint splits), the MLPerf Tiny DS-CNN (width
  64), searched in `space="kws"`;
- "meter_digits" (`keras_nas.datasets.load_meter_digits`: 32x32 digit crops,
  font-disjoint splits), the three-stage `meter_cnn` (width 16), searched in
  the default space (`space=None`, the expert designs scaled to the limits).

Per seed:

- the baseline: the hand design shrunk by width alone (the widest of the
  task's widths whose int8 model fits both limits, measured), trained as an
  engineer trains it in plain Keras (Adam 3e-3, batch 32, no schedule, the
  last epoch, the training split only), int8 test accuracy on LiteRT;
- keras-nas: `NASModel(space=..., constraints=..., max_search_seconds=...)`
  (its space fitted to the limits unless `--no-space-fit`), the winner's int8
  test accuracy, the trained candidates' resolution and width choices and use
  of the binding limit, and the space-fit table.

Usage:
    python benchmarks/bench_space_fit.py --arena-factor 0.5 --seeds 0 1 2 --json benchmarks/results_space_fit.json
    python benchmarks/bench_space_fit.py --task meter_digits --arena-factor 0.5 --budget-seconds 900 --json benchmarks/results_space_fit_meter.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_nas import NASModel, tflite  # noqa: E402
from keras_nas.baselines import ds_cnn, int8_figures, meter_cnn, train_plainly  # noqa: E402
from keras_nas.data import prepare_data  # noqa: E402
from keras_nas.datasets import load_meter_digits, load_spoken_words  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _results import check_new_output, finish_run  # noqa: E402

# Per task: the data, the hand design (a builder with a `width`), the widths it is shrunk through
# (widest first; the first is the reference), the space searched, and the hyperparameters that
# set each candidate's width and resolution (recorded per trained candidate).
TASKS = {
    "spoken_words": dict(load=lambda: load_spoken_words("log-mel"), design=ds_cnn,
                         widths=(64, 56, 48, 40, 32, 24, 16, 12, 8), space="kws",
                         width_hp="kws_space/width", resolution_hp="kws_space/freq_strides"),
    "meter_digits": dict(load=load_meter_digits, design=meter_cnn, widths=(16, 14, 12, 10, 8, 6, 5, 4, 3, 2),
                         space=None, width_hp="conv_space/stem/filters", resolution_hp="conv_space/stem/strides"),
}


def measured(model, representative_x) -> dict:
    _, cost = tflite.measure_model(model, representative_x, latency_runs=3)
    return cost.to_dict()


def shrunk_baseline(task: dict, data, prepared, limits: dict, seed: int, epochs: int) -> dict:
    """The widest of the task's widths whose hand design fits `limits` (measured), trained plainly."""
    build = task["design"]
    for width in task["widths"]:
        keras.backend.clear_session()
        cost = measured(build(prepared.input_shape, prepared.num_classes, None, None, width),
                        prepared.representative_x)
        if cost["flash_kb"] <= limits["flash_kb"] and cost["peak_ram_kb"] <= limits["peak_ram_kb"]:
            break
    else:
        return {"width": None}
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = train_plainly(build(prepared.input_shape, prepared.num_classes, None, None, width), data[0], epochs)
    result = int8_figures(model, prepared.representative_x, *data[2])
    result.update(width=width, cost=cost, seconds=time.perf_counter() - start)
    return result


def search(task_name: str, data, limits: dict, seed: int, epochs: int, budget: float, workdir: str,
           space_fit: bool) -> dict:
    task = TASKS[task_name]
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    start = time.perf_counter()
    nas = NASModel(space=task["space"], constraints=limits, seed=seed, max_trials=20, max_search_seconds=budget,
                   directory=workdir, project_name=f"{task_name}_{limits['peak_ram_kb']:.0f}_{seed}",
                   overwrite=True, space_fit=space_fit)
    nas.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=1)
    seconds = time.perf_counter() - start
    result = int8_figures(nas.model, nas.data_.representative_x, x_test, y_test)
    rows = [r for r in nas.trials() if r["outcome"] == "trained"]
    summary = nas.search_summary()
    result.update(
        seconds=seconds, winner=dict(nas.best_trial_.hyperparameters.values),
        trained_widths=[r["hyperparameters"].get(task["width_hp"]) for r in rows],
        trained_resolutions=[r["hyperparameters"].get(task["resolution_hp"]) for r in rows],
        near_limit_share=summary.get("near_limit_share"), limit_use=summary.get("limit_use"),
        space_fit=summary.get("space_fit"), trained=summary["trained"], rejected=summary["rejected"],
        finalists=summary.get("finalists"),
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="spoken_words")
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
    task = TASKS[args.task]
    data = task["load"]()
    prepared = prepare_data(*data[0], validation_data=data[1])
    keras.utils.set_random_seed(0)
    design = task["design"].__name__
    reference = measured(task["design"](prepared.input_shape, prepared.num_classes, None, None, task["widths"][0]),
                         prepared.representative_x)
    print(f"{design} (width {task['widths'][0]}): flash {reference['flash_kb']:.1f} KB, "
          f"arena {reference['peak_ram_kb']:.1f} KB")
    results = {"task": args.task, "design": design, "reference": reference, "runs": {}}
    for factor in args.arena_factor:
        limits = {"flash_kb": reference["flash_kb"], "peak_ram_kb": round(factor * reference["peak_ram_kb"], 1)}
        runs = results["runs"][str(factor)] = {"limits": limits, "seeds": {}}
        for seed in args.seeds:
            hand = shrunk_baseline(task, data, prepared, limits, seed, args.epochs)
            nas = search(args.task, data, limits, seed, args.epochs, args.budget_seconds, args.workdir,
                         not args.no_space_fit)
            runs["seeds"][str(seed)] = {"shrunk_design": hand, "keras_nas": nas}
            print(f"arena x{factor} seed {seed}: {design} width {hand['width']} "
                  f"{hand.get('int8_test_accuracy', float('nan')):.4f}; keras-nas {nas['int8_test_accuracy']:.4f} "
                  f"({nas['flash_kb']:.1f} KB / {nas['peak_ram_kb']:.1f} KB, {nas['seconds'] / 60:.1f} min); "
                  f"trained widths {nas['trained_widths']}, resolutions {nas['trained_resolutions']}; "
                  f"near limit {nas['near_limit_share']}")
        hands = [s["shrunk_design"].get("int8_test_accuracy", np.nan) for s in runs["seeds"].values()]
        searched = [s["keras_nas"]["int8_test_accuracy"] for s in runs["seeds"].values()]
        runs["median"] = {"shrunk_design": float(np.median(hands)), "keras_nas": float(np.median(searched))}
        print(f"arena x{factor} ({limits}): median int8 test accuracy {design} shrunk {np.median(hands):.4f}, "
              f"keras-nas {np.median(searched):.4f}")
    finish_run(results, "bench_space_fit.py", argv, args.json)


if __name__ == "__main__":
    main()
