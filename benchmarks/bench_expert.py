"""Benchmark: does the searched int8 winner beat what an engineer designs by hand, at the same size?

For each task, a hand design is trained as an engineer trains it in plain
Keras (Adam 3e-3, no schedule, batch 32, the last epoch, the training split
only, no input normalization) and, beside it, with keras-nas's candidate
recipe (cosine schedule), and both are measured as int8 (flash, TFLite Micro
arena) on the same test split. Its measured flash and arena are the budget keras-nas
searches under, so the winner has to be at least as accurate *within the hand
design's own size*. Keras Tuner's RandomSearch over the same space, trial
budget and epochs (it does not know the limits) is the baseline; its best
trial that fits is retrained and reported.

Tasks:
- `digits`: scikit-learn 8x8 digits; the hand design is the CNN written in
  five minutes (conv 8 3x3 -> max-pool -> conv 16 3x3 -> flatten -> dense).
- `mnist1d`: MNIST-1D (40 steps); a stride-1 CNN (four conv 32 k5 - batch
  norm - ReLU layers, global average, dense).
- `mnist1d-paper`: MNIST-1D with the paper's published CNN (Greydanus 2020,
  three stride-2 convs of 25 channels, flatten, linear) as the hand design.

Usage:
    python benchmarks/bench_expert.py --task digits --seeds 1 2 3 --json benchmarks/results_expert_digits.json
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
import numpy as np  # noqa: E402

from keras_nas import NASModel, tflite  # noqa: E402
from keras_nas.baselines import (  # noqa: E402
    int8_figures, mnist1d_paper_cnn, plain_cnn, stride1_cnn, train_hand_design, train_plainly,
)
from keras_nas.constraints import Constraints  # noqa: E402
from keras_nas.data import prepare_data  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402
from keras_nas.hypermodel import NASHyperModel, training_callbacks  # noqa: E402
from keras_nas.tflite.errors import InvalidModelError  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _results import check_new_output, write_results  # noqa: E402



TASKS = {
    # data set, hand design, trained candidates, epochs
    "digits": ("digits", plain_cnn, 40, 60),
    "mnist1d": ("mnist1d", stride1_cnn, 30, 60),
    "mnist1d-paper": ("mnist1d", mnist1d_paper_cnn, 30, 60),
}


def run_hand(task, data, prepared, seed, plainly: bool = True) -> dict:
    """The hand design trained in plain Keras (`plainly`) or with the candidate recipe, measured as int8."""
    _, build, _, epochs = TASKS[task]
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    if plainly:
        model = train_plainly(build(prepared.input_shape, prepared.num_classes, None, None), data[0], epochs)
    else:
        model = train_hand_design(build(prepared.input_shape, prepared.num_classes, prepared.mean,
                                        prepared.variance), data[0], data[1], epochs)
    result = int8_figures(model, prepared.representative_x, *data[2])
    result["seconds"] = time.perf_counter() - start
    return result


def run_keras_nas(task, data, limits, seed, workdir, budget) -> dict:
    _, _, max_trials, epochs = TASKS[task]
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    start = time.perf_counter()
    model = NASModel(constraints=limits, max_trials=max_trials, seed=seed, max_search_seconds=budget,
                     directory=workdir, project_name=f"nas_{task}_{seed}", overwrite=True)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=1)
    seconds = time.perf_counter() - start
    result = int8_figures(model.model, model.data_.representative_x, x_test, y_test)
    summary = model.search_summary()
    result.update(
        seconds=seconds, summary=summary, winner_trial=model.best_trial_.trial_id,
        finalists=model.finalists_, architecture=dict(model.best_trial_.hyperparameters.values),
    )
    return result


def run_keras_tuner(task, data, prepared, limits, seed, workdir, resume: bool = False) -> dict:
    _, _, max_trials, epochs = TASKS[task]
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    hypermodel = NASHyperModel(prepared.input_shape, prepared.num_classes, mean=prepared.mean,
                               variance=prepared.variance)
    search_epochs = min(epochs, 20)  # as keras-nas with a time budget
    project = os.path.join(workdir, f"kt_{task}_{seed}")
    if os.path.exists(project) and not os.path.exists(os.path.join(project, "oracle.json")):
        # Keras Tuner's overwrite=True deletes the folder: only ever one of its own searches.
        raise SystemExit(f"{project} exists and is not a Keras Tuner search; choose another --workdir.")
    start = time.perf_counter()
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=max_trials, seed=seed,
                                     directory=workdir, project_name=f"kt_{task}_{seed}", overwrite=not resume)
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=search_epochs, batch_size=32, verbose=0)
    constraints = Constraints.from_dict(limits)
    fits = None
    for trial in tuner.oracle.get_best_trials(max_trials):
        keras.backend.clear_session()
        try:
            _, cost = tflite.measure_model(hypermodel.build(trial.hyperparameters), prepared.representative_x,
                                           latency_runs=3)
        except InvalidModelError as error:  # TFLite Micro cannot run it: it cannot ship either
            print(f"Keras Tuner trial {trial.trial_id} does not run on TFLite Micro: {str(error)[:120]}")
            continue
        if not constraints.violations(cost.to_dict()):
            fits = trial
            break
    result = {"search_seconds": time.perf_counter() - start, "best_that_fits": None}
    if fits is not None:
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = hypermodel.build(fits.hyperparameters)
        model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=0,
                  callbacks=training_callbacks(epochs))
        result["best_that_fits"] = int8_figures(model, prepared.representative_x, x_test, y_test)
    result["seconds"] = time.perf_counter() - start
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--keras-tuner-seeds", type=int, nargs="*", default=None,
                        help="seeds for Keras Tuner's RandomSearch baseline (default: all; none: skip)")
    parser.add_argument("--keras-nas-seeds", type=int, nargs="*", default=None,
                        help="seeds keras-nas searches (default: all; none: only the hand designs and "
                             "Keras Tuner, e.g. to add its column to an earlier run's seeds)")
    parser.add_argument("--budget-seconds", type=float, default=900.0,
                        help="keras-nas max_search_seconds (the whole fit: search, finalists, final training)")
    parser.add_argument("--workdir", default="/tmp/keras_nas_expert")
    parser.add_argument("--resume-keras-tuner", action="store_true",
                        help="reuse (and finish) the Keras Tuner searches already in --workdir for these seeds")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.json:
        check_new_output(args.json, "--json")
    dataset = TASKS[args.task][0]
    data = DATASETS[dataset]()
    prepared = prepare_data(*data[0], validation_data=data[1])
    results = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"TF {__import__('tensorflow').__version__}, Keras {keras.__version__}",
        "task": args.task, "runs": [],
    }
    kt_seeds = args.seeds if args.keras_tuner_seeds is None else args.keras_tuner_seeds
    nas_seeds = args.seeds if args.keras_nas_seeds is None else args.keras_nas_seeds
    for seed in args.seeds:
        hand = run_hand(args.task, data, prepared, seed)
        hand_recipe = run_hand(args.task, data, prepared, seed, plainly=False)
        # The budget is the hand design's own measured size (+ 1 %, the run-to-run spread
        # of a calibrated int8 model's flash and arena).
        limits = {"flash_kb": hand["flash_kb"] * 1.01, "peak_ram_kb": hand["peak_ram_kb"] * 1.01}
        print(f"\n=== {args.task}, seed {seed}: hand design {hand}; keras-nas limits {limits}", flush=True)
        nas = (run_keras_nas(args.task, data, limits, seed, args.workdir, args.budget_seconds)
               if seed in nas_seeds else None)
        kt = (run_keras_tuner(args.task, data, prepared, limits, seed, args.workdir, args.resume_keras_tuner)
              if seed in kt_seeds else None)
        run = {"seed": seed, "limits": limits, "hand": hand, "hand_recipe": hand_recipe, "keras_nas": nas,
               "keras_tuner_random": kt}
        results["runs"].append(run)
        print(json.dumps({k: v for k, v in run.items()}, indent=1, default=str), flush=True)
        if args.json:
            write_results(args.json, results)
    nas_runs = [r["keras_nas"] for r in results["runs"] if r["keras_nas"]]
    hand = [r["hand"]["int8_test_accuracy"] for r in results["runs"]]
    # A Keras Tuner search whose every trial breaks the limits ships no model: counted as 0.
    kt = [r["keras_tuner_random"]["best_that_fits"]["int8_test_accuracy"]
          if r["keras_tuner_random"]["best_that_fits"] else 0.0
          for r in results["runs"] if r["keras_tuner_random"]]

    def median(values):
        return float(np.median(values)) if values else None

    results["median"] = {
        "keras_nas_int8_test_accuracy": median([r["int8_test_accuracy"] for r in nas_runs]),
        "hand_int8_test_accuracy": median(hand),
        "hand_recipe_int8_test_accuracy": median([r["hand_recipe"]["int8_test_accuracy"] for r in results["runs"]]),
        "keras_tuner_int8_test_accuracy": median(kt),
        "keras_nas_seconds": median([r["seconds"] for r in nas_runs]),
        "keras_nas_max_seconds": float(np.max([r["seconds"] for r in nas_runs])) if nas_runs else None,
        "keras_nas_rejection_share": median([r["summary"]["rejection_share"] for r in nas_runs]),
    }
    print(f"\n{args.task}: medians over seeds {args.seeds}: {json.dumps(results['median'], indent=1)}")
    print("Reproduce with:", results["command"])
    if args.json:
        write_results(args.json, results)
    return results


if __name__ == "__main__":
    main()
