"""Benchmark: a search of the audio front-end with the network, on raw speech, against the fixed MLPerf Tiny pipeline.

Issue 28. Data: `keras_nas.datasets.load_spoken_words` (12 classes, espeak-ng
voices, speaker-disjoint splits), the same clips as raw audio and as the
MLPerf Tiny front-end's features (49x10 MFCC: 40-ms windows every 20 ms, 40
mel bands, DCT to 10 coefficients). Limits: flash and RAM for the whole
pipeline (front-end + network), 64 KB each by default.

Per seed:

- the fixed pipeline: the MLPerf Tiny DS-CNN (width 64) on the 49x10 MFCC,
  trained as an engineer trains it in plain Keras (Adam 3e-3, batch 32, no
  schedule, the last epoch, the training split), int8 test accuracy on
  LiteRT; its network's flash and arena, measured;
- keras-nas on raw audio: `NASModel(front_end=FrontEndSpace(), space="kws",
  constraints=..., max_search_seconds=...)`: window, hop and mel bands
  searched with the network, every candidate's flash and arena the whole
  pipeline's (the front-end's file and TFLite Micro arena measured); the
  winner's int8 test accuracy (the network on TFLite Micro's features), its
  front-end and its share of flash and arena, the front-ends trained;
- both on the emulated Cortex-M4 (the firmware with TFLite Micro's signal ops
  and CMSIS-NN, instruction-counted): the front-end's time per frame, the
  network's per inference, and the front-end's share of a 1-s clip's work.

Usage:
    python benchmarks/bench_front_end.py --seeds 0 1 2 --json benchmarks/results_front_end.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_nas import NASModel  # noqa: E402
from keras_nas.baselines import ds_cnn, int8_figures, train_plainly  # noqa: E402
from keras_nas.data import prepare_data  # noqa: E402
from keras_nas.datasets import load_spoken_words  # noqa: E402
from keras_nas.front_end_space import FrontEndSpace  # noqa: E402
from keras_nas.tflite.front_end_layer import split_front_end  # noqa: E402
from keras_nas.tflite.measurement import Measurer  # noqa: E402
from keras_nas.tflite.signal_front_end import FrontEnd, front_end_model  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _results import check_new_output, finish_run  # noqa: E402

FRONT_END_HPS = ("front_end/window_ms", "front_end/hop_ms", "front_end/bands")
# The fixed pipeline's front-end on the board: 40-ms windows every 20 ms, 40 mel bands (its 10-coefficient
# DCT, 400 multiply-adds a frame, is not counted).
MLPERF_FRONT_END = FrontEnd(window_ms=40, hop_ms=20, bands=40)


def on_board(front_end: FrontEnd, network: bytes, clip_samples: int = 16000) -> dict:
    """The front-end (one frame) and the int8 network (one inference) on the emulated Cortex-M4.

    Returns latencies in ms, the front-end's share of one second of audio's work, or `{"error": why}`
    without the toolchain and a TFLite Micro tree (`$KERAS_NAS_TFLM_DIR`).
    """
    from keras_nas.tflite.emulator import measure_on_board
    from keras_nas.tflite.firmware import FirmwareError

    window = np.zeros((1, front_end.window_samples), np.int16)
    window[0, ::7] = 1000  # not silence: the FFT's scaling and the log see real values
    try:
        frame = measure_on_board(front_end_model(front_end), "cortex-m4", inputs=window)
        net = measure_on_board(network, "cortex-m4")
    except FirmwareError as e:
        return {"error": str(e)}
    frames = front_end.frames(clip_samples)
    per_second = frames * frame.latency_ms + net.latency_ms
    return {"front_end_frame_ms": frame.latency_ms, "front_end_frame_instructions": frame.instructions,
            "network_ms": net.latency_ms, "network_instructions": net.instructions, "frames_per_clip": frames,
            "clip_ms": per_second, "front_end_share_of_clip": frames * frame.latency_ms / per_second,
            "source": net.latency_source}


def fixed_pipeline(mfcc, seed: int, epochs: int) -> dict:
    """The MLPerf Tiny DS-CNN on 49x10 MFCC, trained plainly; int8 test accuracy and the network's cost."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mfcc
    prepared = prepare_data(x_train, y_train, validation_data=(x_val, y_val))
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model = train_plainly(ds_cnn(prepared.input_shape, prepared.num_classes, None, None, 64),
                          (x_train, y_train), epochs)
    result = int8_figures(model, prepared.representative_x, x_test, y_test)
    result.update(seconds=time.perf_counter() - start,
                  board=on_board(MLPERF_FRONT_END, Measurer("host", prepared.representative_x).to_int8(model)))
    return result


def search(raw, limits: dict, seed: int, epochs: int, budget: float, workdir: str) -> dict:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = raw
    start = time.perf_counter()
    nas = NASModel(front_end=FrontEndSpace(), space="kws", constraints=limits, seed=seed, max_trials=20,
                   max_search_seconds=budget, directory=workdir,
                   project_name=f"raw_{limits['flash_kb']:.0f}_{limits['peak_ram_kb']:.0f}_{seed}", overwrite=True)
    nas.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=1)
    seconds = time.perf_counter() - start
    result = int8_figures(nas.model, nas.data_.representative_x, x_test, y_test)
    rows = [r for r in nas.trials() if r["outcome"] == "trained"]
    summary = nas.search_summary()
    front_end, _ = split_front_end(nas.model)
    cost = nas.cost_ or {}
    result["board"] = on_board(front_end, Measurer("host", nas.data_.representative_x).to_int8(nas.model))
    result.update(
        seconds=seconds, winner=dict(nas.best_trial_.hyperparameters.values),
        front_end={"window_ms": front_end.window_ms, "hop_ms": front_end.hop_ms, "bands": front_end.bands},
        front_end_flash_share=cost.get("front_end_flash_bytes", 0) / max(cost.get("flash_bytes", 1), 1),
        front_end_arena_share=cost.get("front_end_arena_bytes", 0) / max(cost.get("peak_ram_bytes", 1), 1),
        trained_front_ends=[[r["hyperparameters"].get(name) for name in FRONT_END_HPS] for r in rows],
        trained_widths=[r["hyperparameters"].get("kws_space/width") for r in rows],
        near_limit_share=summary.get("near_limit_share"), space_fit=summary.get("space_fit"),
        trained=summary["trained"], rejected=summary["rejected"], finalists=summary.get("finalists"),
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--flash-kb", type=float, default=64.0)
    parser.add_argument("--ram-kb", type=float, default=64.0)
    parser.add_argument("--budget-seconds", type=float, default=1800.0,
                        help="keras-nas's whole fit (search, finalists, final training)")
    parser.add_argument("--workdir", default="/tmp/keras_nas_front_end")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    check_new_output(args.json, "--json")
    raw, mfcc = load_spoken_words("raw"), load_spoken_words("mfcc")
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(raw, mfcc)), "the raw and MFCC sets must be the same clips"
    limits = {"flash_kb": args.flash_kb, "peak_ram_kb": args.ram_kb}
    results = {"limits": limits, "seeds": {}}
    for seed in args.seeds:
        fixed = fixed_pipeline(mfcc, seed, args.epochs)
        nas = search(raw, limits, seed, args.epochs, args.budget_seconds, args.workdir)
        results["seeds"][str(seed)] = {"fixed_mfcc_ds_cnn": fixed, "keras_nas": nas}
        print(f"seed {seed}: MFCC DS-CNN {fixed['int8_test_accuracy']:.4f} (network {fixed['flash_kb']:.1f} KB / "
              f"{fixed['peak_ram_kb']:.1f} KB); keras-nas on raw audio {nas['int8_test_accuracy']:.4f} "
              f"({nas['flash_kb']:.1f} KB / {nas['peak_ram_kb']:.1f} KB with its front-end {nas['front_end']}, "
              f"{nas['seconds'] / 60:.1f} min); front-ends trained {nas['trained_front_ends']}")
    fixed = [s["fixed_mfcc_ds_cnn"]["int8_test_accuracy"] for s in results["seeds"].values()]
    searched = [s["keras_nas"]["int8_test_accuracy"] for s in results["seeds"].values()]
    results["median"] = {"fixed_mfcc_ds_cnn": float(np.median(fixed)), "keras_nas": float(np.median(searched))}
    print(f"median int8 test accuracy: MFCC DS-CNN {np.median(fixed):.4f}, keras-nas on raw audio "
          f"{np.median(searched):.4f}")
    finish_run(results, "bench_front_end.py", argv, args.json)


if __name__ == "__main__":
    main()
