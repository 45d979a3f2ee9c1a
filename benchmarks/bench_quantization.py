"""Float vs PTQ int8 vs QAT int8 vs pruned int8 (and int16x8) on the offline data sets.

Cases:

1. `mlp-gain-G` (digits): Normalization - Flatten - Dense(32) - ReLU -
   Dense(10, softmax), trained 30 epochs; then two hidden units are scaled by
   `G` and the next layer's rows for them by `1/G`. ReLU is positively
   homogeneous, so the float model computes the same function, but the hidden
   activation tensor (int8 activations are quantized per tensor) gets a range
   `G` times wider: the classic per-tensor range imbalance (Nagel et al. 2019,
   "Data-free quantization") that costs the other units their resolution under
   post-training quantization. `G=1` is the untouched model.
2. `ds-relu`, `mbconv-se-hswish` (digits) and `mbconv-se-hswish-1d` (mnist1d):
   candidates of our search space, trained normally.

Every accuracy is measured on the test split with LiteRT (int8 also on TFLite
Micro for the first 200 test samples). int16x8 is converted where the
converter supports the ops and run on LiteRT and TFLite Micro.

Run: `.venv/bin/python benchmarks/bench_quantization.py [--json out.json] [--quick]`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from keras_nas import blocks, tflite  # noqa: E402
from keras_nas.datasets import load_digits, load_mnist1d  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.tflite.convert import convert  # noqa: E402
from keras_nas.tflite.qat import prune, quantization_aware_training  # noqa: E402

MICRO_SAMPLES = 200


def _mlp(x_train):
    inputs = keras.Input((8, 8, 1), name="input")
    x = keras.layers.Normalization(mean=[x_train.mean()], variance=[x_train.var()], name="normalization")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(32, name="hidden")(x)
    x = keras.layers.ReLU(name="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _with_gain(model, gain, units=(0, 1)):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    kernel, bias = clone.get_layer("hidden").get_weights()
    out_kernel, out_bias = clone.get_layer("predictions").get_weights()
    kernel[:, list(units)] *= gain
    bias[list(units)] *= gain
    out_kernel[list(units), :] /= gain
    clone.get_layer("hidden").set_weights([kernel, bias])
    clone.get_layer("predictions").set_weights([out_kernel, out_bias])
    return clone


def _candidate(input_shape, x_train, block_type, activation, fixed):
    hypermodel = NASHyperModel(
        input_shape, 10,
        space=blocks.ConvSpace(max_stages=1, block_type=block_type, activation=activation),
        head=blocks.ClassifierHead(10, pooling="avg", dropout=0.0),
        mean=np.array([x_train.mean()]),  # one input channel in digits and mnist1d
        variance=np.array([x_train.var()]),
    )
    hp = keras_tuner.HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    hp.Fixed("learning_rate", 3e-3)
    return hypermodel.build(hp)


def _float_accuracy(model, x, y):
    return float(np.mean(model.predict(x, verbose=0, batch_size=256).argmax(-1) == y))


def _int16x8(model, x_train, x_test, y_test):
    try:
        content = convert(model, "int16x8", representative_data=x_train)
    except tflite.ConversionError as e:
        return {"error": str(e).split("failed: ")[-1][:160]}
    result = {"litert": tflite.accuracy(content, x_test, y_test), "size_bytes": len(content)}
    try:
        result["micro"] = tflite.accuracy(content, x_test[:MICRO_SAMPLES], y_test[:MICRO_SAMPLES], runtime="micro")
        result["micro_litert_same_samples"] = tflite.accuracy(
            content, x_test[:MICRO_SAMPLES], y_test[:MICRO_SAMPLES]
        )
        result["arena_bytes"] = tflite.arena_bytes(content)
    except tflite.InvalidModelError as e:
        result["micro_error"] = str(e)[:200]
    return result


def run_case(name, model, data, qat_epochs, prune_epochs, qat_lr):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    row = {"case": name, "float": _float_accuracy(model, x_test, y_test)}
    ptq = tflite.to_tflite(model, "int8", x_train)
    row["ptq_int8"] = tflite.accuracy(ptq, x_test, y_test)
    row["ptq_int8_micro"] = tflite.accuracy(ptq, x_test[:MICRO_SAMPLES], y_test[:MICRO_SAMPLES], runtime="micro")
    row["ptq_size"] = len(ptq)
    start = time.perf_counter()
    qat, _, _ = quantization_aware_training(
        model, x_train, y_train, validation_data=(x_val, y_val), epochs=qat_epochs, learning_rate=qat_lr
    )
    row["qat_seconds"] = round(time.perf_counter() - start, 1)
    row["qat_int8"] = tflite.accuracy(qat, x_test, y_test)
    row["qat_int8_micro"] = tflite.accuracy(qat, x_test[:MICRO_SAMPLES], y_test[:MICRO_SAMPLES], runtime="micro")
    row["qat_size"] = len(qat)
    row["qat_ops"] = list(tflite.model_ops(qat))
    _, pruned, sparsity = prune(model, x_train, y_train, target_sparsity=0.5, epochs=prune_epochs)
    row["pruned_int8"] = tflite.accuracy(pruned, x_test, y_test)
    row["pruned_sparsity"] = sparsity
    row["pruned_size"] = len(pruned)
    row["int16x8"] = _int16x8(model, x_train, x_test, y_test)
    return row


def int16x8_matrix():
    """Which block ops run as int16x8 on LiteRT and TFLite Micro (untrained candidates)."""
    rng = np.random.default_rng(0)
    rows = []
    for shape in ((8, 8, 1), (40, 1)):
        x = rng.normal(size=(64, *shape)).astype(np.float32)
        for activation in ("relu", "relu6", "hard_swish"):
            for block_type in ("ds", "mbconv"):
                for pooling in ("avg", "max", "flatten"):
                    hypermodel = NASHyperModel(
                        shape, 10,
                        space=blocks.ConvSpace(max_stages=1, activation=activation, block_type=block_type),
                        head=blocks.ClassifierHead(10, pooling=pooling, dropout=0.0),
                        mean=np.zeros(1), variance=np.ones(1),
                    )
                    hp = keras_tuner.HyperParameters()
                    if block_type == "mbconv":
                        hp.Fixed("conv_space/stage_1/se_ratio", 0.25)
                        hp.Fixed("conv_space/stage_1/expansion", 2)
                    row = {"shape": shape, "activation": activation, "block": block_type, "pooling": pooling}
                    try:
                        content = convert(hypermodel.build(hp), "int16x8", representative_data=x)
                    except tflite.ConversionError as e:
                        row["convert"] = str(e).split("failed: ")[-1][:90]
                        rows.append(row)
                        print(row, flush=True)
                        continue
                    row["ops"] = list(tflite.model_ops(content))
                    litert = tflite.predict(content, x[:8])
                    try:
                        micro = tflite.predict(content, x[:8], runtime="micro")
                        row["micro"] = f"ok, max |micro - litert| {np.abs(micro - litert).max():.2g}"
                    except tflite.InvalidModelError as e:
                        row["micro"] = "fails: " + str(e).split("[")[-1][:90]
                    rows.append(row)
                    print(row, flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--quick", action="store_true", help="only the MLP gain cases")
    parser.add_argument("--int16-matrix", action="store_true",
                        help="only the int16x8 LiteRT / TFLite Micro support matrix of the block ops")
    args = parser.parse_args(argv)
    if args.int16_matrix:
        int16x8_matrix()
        return

    digits = load_digits()
    (x_train, y_train), _, _ = digits
    rows = []
    keras.utils.set_random_seed(0)
    base = _mlp(x_train)
    base.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    for gain in (1.0, 100.0, 300.0):
        rows.append(run_case(f"mlp-gain-{gain:g}", _with_gain(base, gain), digits, 5, 3, 1e-3))
        print(json.dumps(rows[-1]), flush=True)
    if not args.quick:
        fixed_2d = {"conv_space/stem/filters": 16, "conv_space/stage_1/filters": 24,
                    "conv_space/stage_1/depth": 2, "conv_space/stage_1/strides": 2}
        se = {"conv_space/stage_1/se_ratio": 0.25, "conv_space/stage_1/expansion": 2}
        cases = [
            ("ds-relu", (8, 8, 1), digits, "ds", "relu", fixed_2d, 20),
            ("mbconv-se-hswish", (8, 8, 1), digits, "mbconv", "hard_swish", {**fixed_2d, **se}, 20),
        ]
        mnist1d = load_mnist1d()
        fixed_1d = {"conv_space/stem/filters": 16, "conv_space/stage_1/filters": 24,
                    "conv_space/stage_1/depth": 1, "conv_space/stage_1/strides": 2, **se}
        cases.append(("mbconv-se-hswish-1d", (40, 1), mnist1d, "mbconv", "hard_swish", fixed_1d, 15))
        for name, shape, data, block_type, activation, fixed, epochs in cases:
            keras.utils.set_random_seed(0)
            model = _candidate(shape, data[0][0], block_type, activation, fixed)
            model.fit(data[0][0], data[0][1], epochs=epochs, batch_size=32, verbose=0)
            rows.append(run_case(name, model, data, 3, 3, 1e-4))
            print(json.dumps(rows[-1]), flush=True)

    print()
    print(f"{'case':<22}{'float':>7}{'PTQ':>7}{'QAT':>7}{'pruned':>8}{'spars.':>7}"
          f"{'int16x8':>9}{'size PTQ/QAT/pruned (B)':>26}")
    for r in rows:
        i16 = r["int16x8"].get("litert")
        print(f"{r['case']:<22}{r['float']:>7.4f}{r['ptq_int8']:>7.4f}{r['qat_int8']:>7.4f}"
              f"{r['pruned_int8']:>8.4f}{r['pruned_sparsity']:>7.2f}"
              f"{'n/a' if i16 is None else f'{i16:.4f}':>9}"
              f"{r['ptq_size']:>10}/{r['qat_size']}/{r['pruned_size']}")
    print()
    print("command:", " ".join([".venv/bin/python", *sys.argv]))
    print("machine:", platform.platform(), f"{os.cpu_count()} cores,", tflite.runtime_name())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "command": " ".join(sys.argv)}, f, indent=1)


if __name__ == "__main__":
    main()
