"""Tests for `keras_nas.tflite` on the real runtimes (TF converter, LiteRT, TFLite Micro).

No mocks: every test converts real Keras models and runs them in LiteRT and
TFLite Micro; the C array test compiles with g++.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import base64  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import zlib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.tflite.convert import calibration_samples  # noqa: E402

N_TRAIN = 1400

# A small int8 CNN (zlib + base64). With byte 859 changed from 0x09 to
# 0x19 it still passes LiteRT's verifier, but TFLite Micro aborts (SIGABRT)
# while creating its interpreter: found by fuzzing, kept as a regression case.
_SMALL_CNN_INT8 = (
    "eNq1Vn1sU1UUv10frFv3ZWigcwU2Y3AyUtY5O+1bdEuLDrKN7iMICbE+1sfa2LVb+x4hfrUlGofO"
    "ZAuLTAMJ4uI/QpgCsqAmhszEIBpDSPSPYXRBloiMGQeOfT3Pee++vrduhhjDTX7v4757zvmdc885"
    "79oIIa3P1D9mIcXERqzEQgpIDsyZCAPPBOYIGQBMAoYyCPkKYMsmxAjvBkABwZEtS6EMfJLlUa4a"
    "kA+I8dF9wXC7z8/v5cSQIMsxgF5Jkkz0Ge8RUegUBV85obpx3jkvSQzV+SIf5WI+gQ/HIlFcA1RI"
    "JV03CrrM9HkVwL29cceW5pat2xt9DVtaaz21rbVgQ+FokhlrazuCYV9UDAvBDt63j4/GgpGwbO8L"
    "IHEGcARQDcjBd5g/ARgEHAH0AwSqa4xyfYHyNZG8lD2MU6kcq5Xy3Eoqg37eMOJ6NfaMLPtO48/X"
    "dr7SMZdB/WRkSUIq7BUOO0SocUGxhXoddkelXY6aMrqnJakH0AvoB7xE19YB9sfPfXDnz8NVz5cW"
    "nH9rPnlt7HrblNiVvHl33HR2orZ88MbZZMmXC10TG9ik2/6rg0nWlY1/V/n1gW/Wry58PT6au8Y0"
    "G7/gWPHX91RnMbn3mKFrvYDnkt7fmF1Hv/VG4/mBE4bPH1g181lZ0v3E2o01joDz5eSZJye7P+2M"
    "X942/VPTh7cGk3Fman1xX+aptS0fPztkiZedftyzMblt3XBfSWhkQ85wcoek6DbRWGKsuu+C/wDM"
    "vYb6rc3F7kgY9lXg/XZ5jUVmlZeKOO5HHp3HvK2BRR5AnUGJewcXDBM1z2g9eHV6HqR6zFSPTXE7"
    "y0bjY0zbd0ISTxt0nDMBF8EPRR8xFVDd6EvrjCSpa4w0B3Aelkt6H8w6H2AUqTpQdoDqUGVX0HmU"
    "t8g5tIS74WGarzlyhmGMMuW8xG8GKm+guox0nxmi9QVTygYEAuMFC0dgwSVYYAV4gMgAxheQoLK/"
    "z6BPxGClcaumsnjz6vzG2r00o/SOAmonISlDsZlgi+DaInACv1cMebmoEBSgqnm/mwuFfA5XuazL"
    "QPvAntnFdmsof7S7M82uZ1axq8Y2V5fn+P72hYTLJve8LpGHlsKBuc1+aFk83Bs4oUEMVai9S7U/"
    "toz9TGo/oLOPdkfS7Kt+q/bdn5S6NqXbbw9F9sADB0XAtfO+zkgkBP24wo+UeC6s54O6o3MaH8wB"
    "D80d5LOf7pXKR8XuuX/fj9n6PJZN5xTlfSER7s18SGQXfWmDapW54UMkJOLOpXql3ubxeYUnxqKb"
    "5iJyxN78B+VTr+3l/x6o5+jQ365xctX1Xs+Ua3OumS3fxbAnm267jr9703XrejZbku7nst5o/zyj"
    "rmaiC4v9YRSzGb34L5q/P/7MfjTtPD961flj/LbztcPmqiujTNWpLXecUwcmnNYucxX2BC4aFAJ2"
    "4B8TuLCg7cNDksb3mNYHsobhElpQ+O6mOX4/Buq1BA6yJ988xDLv97HHrvSzFx89yBZd7mGtGa+y"
    "pwNvsAuP9LAN5/rYe9SkQ62B7FR8V8vnoTX0D6GMTJhVSh1rw0pl8OaV94uR9+yp/1h/UAt+sQ0T"
    "wxcM+4NtfEz7lyEPPJkVpU5mRO7Feh6V9H9k0PWM9Bo1yF1clWfo+WT5em2KJ9h1S89tPv35C1ro"
    "kppUz2yYo5tofPD9B9BbqMWq8Bd4z9LyO2sS3ku176X4z8nX8TRquWX8BwT/BQM="
)
TFLM_CRASH_OFFSET = 859


def _cnn(channels: int = 16) -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(channels, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(2 * channels, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"digits_cnn_{channels}")


def _model_1d() -> keras.Model:
    inputs = keras.Input((40, 1))
    x = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.DepthwiseConv1D(3, padding="same")(x)
    x = keras.layers.Activation("hard_swish")(x)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="sequence_1d")


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    x = (data.images.astype("float32") / 16.0)[..., None]
    y = data.target.astype("int64")
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


@pytest.fixture(scope="module")
def cnn(digits):
    x_train, y_train, _, _ = digits
    keras.utils.set_random_seed(0)
    model = _cnn(16)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def cnn_int8(cnn, digits):
    return tflite.to_tflite(cnn, "int8", representative_data=digits[0])


@pytest.fixture(scope="module")
def data_1d():
    return np.random.default_rng(0).normal(size=(64, 40, 1)).astype("float32")


@pytest.fixture(scope="module")
def model_1d_measured(data_1d):
    keras.utils.set_random_seed(1)
    return tflite.measure_model(_model_1d(), data_1d, latency_runs=5)


def _corruptions(model_bytes):
    rng = np.random.default_rng(7)
    flipped = bytearray(model_bytes)
    flipped[4:8] = b"XXXX"
    return {
        "random": rng.bytes(2048),
        "truncated": model_bytes[: len(model_bytes) // 2],
        "truncated_header": model_bytes[:6],
        "empty": b"",
        "bad_identifier": bytes(flipped),
    }


# --- conversion -------------------------------------------------------------


def test_int8_model_is_full_integer(cnn_int8):
    interpreter = tflite.load_interpreter(cnn_int8)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    assert tflite.runtime_name().startswith("ai-edge-litert ")


def test_litert_and_micro_agree_and_int8_accuracy_is_close(cnn, cnn_int8, digits):
    _, _, x_test, y_test = digits
    litert = tflite.predict(cnn_int8, x_test[:100], runtime="litert")
    micro = tflite.predict(cnn_int8, x_test[:100], runtime="micro")
    assert litert.shape == micro.shape == (100, 10)
    agreement = np.mean(litert.argmax(1) == micro.argmax(1))
    assert agreement >= 0.95, agreement

    float_accuracy = float(np.mean(cnn.predict(x_test, verbose=0).argmax(1) == y_test))
    int8_accuracy = tflite.accuracy(cnn_int8, x_test, y_test)
    assert float_accuracy > 0.6, "the fixture model did not learn"
    assert abs(int8_accuracy - float_accuracy) <= 0.05, (int8_accuracy, float_accuracy)
    one_hot = np.eye(10)[y_test]
    assert tflite.accuracy(cnn_int8, x_test, one_hot) == int8_accuracy
    micro_accuracy = tflite.accuracy(cnn_int8, x_test[:100], y_test[:100], runtime="micro")
    assert abs(micro_accuracy - float(np.mean(micro.argmax(1) == y_test[:100]))) < 1e-9


def test_predict_any_batch_size(cnn_int8, digits):
    _, _, x_test, _ = digits
    whole = tflite.predict(cnn_int8, x_test)  # 397 samples: more than one LiteRT chunk
    parts = np.concatenate(
        [tflite.predict(cnn_int8, x_test[i : i + 1]) for i in range(5)]
        + [tflite.predict(cnn_int8, x_test[5:])]
    )
    np.testing.assert_array_equal(whole, parts)
    assert tflite.predict(cnn_int8, x_test[:0]).shape == (0, 10)
    with pytest.raises(ValueError, match=r"\(n, 8, 8, 1\)"):
        tflite.predict(cnn_int8, x_test[:3, :4])
    with pytest.raises(ValueError, match="runtime"):
        tflite.predict(cnn_int8, x_test[:3], runtime="gpu")


def test_float_conversions(cnn, digits):
    x = digits[2][:20]
    expected = cnn.predict(x, verbose=0)
    for quantization, tolerance in (("float32", 1e-4), ("float16", 2e-2), ("dynamic", 5e-2)):
        model_bytes = tflite.to_tflite(cnn, quantization)
        interpreter = tflite.load_interpreter(model_bytes)
        assert interpreter.get_input_details()[0]["dtype"] == np.float32
        np.testing.assert_allclose(tflite.predict(model_bytes, x), expected, atol=tolerance)
    # float32 runs in TFLite Micro too.
    float_bytes = tflite.to_tflite(cnn, "float32")
    np.testing.assert_allclose(tflite.run_micro(float_bytes, x), expected, atol=1e-4)


def test_conversion_argument_errors(cnn, digits):
    with pytest.raises(ValueError) as info:
        tflite.to_tflite(cnn, "int4")
    for name in tflite.QUANTIZATIONS:
        assert repr(name) in str(info.value)
    with pytest.raises(ValueError, match="representative_data"):
        tflite.to_tflite(cnn, "int8")
    with pytest.raises(ValueError, match="shape"):
        tflite.to_tflite(cnn, "int8", representative_data=np.zeros((5, 8, 8, 3)))


def test_conversion_error_names_the_unsupported_op():
    inputs = keras.Input((8,))
    x = keras.layers.Lambda(lambda t: keras.ops.cumprod(t, axis=-1))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(tflite.ConversionError, match="tf.Cumprod"):
        tflite.to_tflite(model, "float32")


def test_conversion_and_measurement_are_quiet(cnn, digits, capfd):
    capfd.readouterr()
    model_bytes = tflite.to_tflite(cnn, "int8", representative_data=digits[0][:50])
    tflite.measure(model_bytes, latency_runs=3)
    tflite.predict(model_bytes, digits[2][:5], runtime="micro")
    tflite.arena_bytes(model_bytes, isolated=False)
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out[-300:], err[-300:])


def test_predict_fixed_batch_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6,), batch_size=1)
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model_bytes = tflite.to_tflite(model, "float32")
    assert list(tflite.load_interpreter(model_bytes).get_input_details()[0]["shape_signature"]) == [1, 6]
    x = np.random.default_rng(0).normal(size=(7, 6)).astype("float32")
    np.testing.assert_allclose(tflite.predict(model_bytes, x), model.predict(x, verbose=0), atol=1e-5)


def test_calibration_subset_is_deterministic():
    data = np.arange(1000 * 4, dtype="float32").reshape(1000, 4)
    first = calibration_samples(data, 200)
    assert first.shape == (200, 4)
    np.testing.assert_array_equal(first, calibration_samples(data, 200))
    assert len(np.unique(first[:, 0])) == 200
    np.testing.assert_array_equal(calibration_samples(data[:50], 200), data[:50])
    with pytest.raises(ValueError):
        calibration_samples(np.full((3, 4), np.nan))


# --- TFLite Micro -----------------------------------------------------------


def test_arena_bytes(cnn, cnn_int8, digits):
    arena = tflite.arena_bytes(cnn_int8)
    assert arena > 0
    assert tflite.arena_bytes(cnn_int8, isolated=False) == arena

    wide = tflite.to_tflite(_cnn(64), "int8", representative_data=digits[0][:100])
    assert tflite.arena_bytes(wide) > arena

    # Same graph, other weight values. (Not fresh initial weights: the
    # converter drops an all-zero Dense bias, which removes a tensor and
    # changes the arena by a few bytes.)
    rng = np.random.default_rng(123)
    other_weights = keras.models.clone_model(cnn)
    other_weights.set_weights([w * rng.uniform(0.5, 1.5, w.shape) for w in cnn.get_weights()])
    other_bytes = tflite.to_tflite(other_weights, "int8", representative_data=digits[0])
    assert other_bytes != cnn_int8
    assert tflite.arena_bytes(other_bytes) == arena


def test_run_micro_in_worker_matches_in_process(cnn_int8, digits):
    x = digits[2][:10]
    np.testing.assert_array_equal(
        tflite.run_micro(cnn_int8, x), tflite.run_micro(cnn_int8, x, isolated=False)
    )


def test_tflm_crash_is_contained(cnn_int8):
    model = zlib.decompress(base64.b64decode("".join(_SMALL_CNN_INT8)))
    assert tflite.arena_bytes(model) > 0
    crasher = bytearray(model)
    assert crasher[TFLM_CRASH_OFFSET] == 0x09
    crasher[TFLM_CRASH_OFFSET] = 0x19
    crasher = bytes(crasher)
    tflite.load_interpreter(crasher)  # LiteRT accepts it

    # Raw TFLite Micro, in a throw-away process: it dies on a signal.
    raw = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from tflite_micro.python.tflite_micro import runtime\n"
            "runtime.Interpreter.from_bytes(sys.stdin.buffer.read(), arena_size=1 << 20)\n",
        ],
        input=crasher,
        capture_output=True,
    )
    if raw.returncode >= 0:
        pytest.skip("this tflite_micro version no longer crashes on the damaged model")

    # Through keras_nas.tflite: an exception here, and the worker comes back.
    with pytest.raises(tflite.InvalidModelError, match="crashed"):
        tflite.arena_bytes(crasher)
    with pytest.raises(tflite.InvalidModelError, match="crashed"):
        tflite.measure(crasher)
    assert tflite.arena_bytes(model) > 0
    assert tflite.arena_bytes(cnn_int8) > 0


def test_micro_rejects_float16_with_reason(cnn):
    float16 = tflite.to_tflite(cnn, "float16")
    with pytest.raises(tflite.InvalidModelError, match="TFLite Micro could not run"):
        tflite.arena_bytes(float16)


# --- cost and latency -------------------------------------------------------


def test_measure(cnn_int8):
    cost = tflite.measure(cnn_int8, latency_runs=10)
    assert cost.flash_bytes == len(cnn_int8)
    assert cost.peak_ram_bytes == tflite.arena_bytes(cnn_int8)
    assert cost.latency_ms > 0 and cost.latency_cv >= 0
    assert {"CONV_2D", "FULLY_CONNECTED"} <= set(cost.ops)
    assert list(cost.ops) == sorted(cost.ops)
    assert cost.flash_kb == cost.flash_bytes / 1024
    assert cost.peak_ram_kb == cost.peak_ram_bytes / 1024
    as_dict = json.loads(json.dumps(cost.to_dict()))
    assert as_dict["flash_kb"] == cost.flash_kb and as_dict["ops"] == list(cost.ops)
    assert tflite.model_ops(cnn_int8) == cost.ops


def test_measure_model_1d(model_1d_measured, data_1d):
    model_bytes, cost = model_1d_measured
    assert cost.flash_bytes == len(model_bytes)
    assert cost.peak_ram_bytes > 0 and cost.latency_ms > 0
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "HARD_SWISH", "FULLY_CONNECTED"} <= set(cost.ops)
    litert = tflite.predict(model_bytes, data_1d[:20])
    micro = tflite.predict(model_bytes, data_1d[:20], runtime="micro")
    assert np.mean(litert.argmax(1) == micro.argmax(1)) >= 0.95


def test_measure_latency(cnn_int8):
    stats = tflite.measure_latency(cnn_int8, runs=7, warmup=2)
    assert isinstance(stats, tflite.LatencyStats)
    assert stats.runs == 7 and stats.num_threads == 1
    assert stats.median_ms > 0 and stats.mean_ms > 0
    assert stats.p90_ms >= stats.median_ms and stats.cv >= 0
    with pytest.raises(ValueError):
        tflite.measure_latency(cnn_int8, runs=0)


# --- corrupt input ----------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["random", "truncated", "truncated_header", "empty", "bad_identifier"]
)
def test_corrupt_bytes_raise_invalid_model_error(cnn_int8, kind):
    bad = _corruptions(cnn_int8)[kind]
    for function in (tflite.load_interpreter, tflite.arena_bytes, tflite.measure):
        with pytest.raises(tflite.InvalidModelError):
            function(bad)
    with pytest.raises(tflite.InvalidModelError):
        tflite.run_micro(bad, np.zeros((1, 8, 8, 1), "float32"))
    with pytest.raises(tflite.InvalidModelError):
        tflite.arena_bytes(bad, isolated=False)


def test_randomly_damaged_models_never_crash(cnn_int8):
    # Damaged-but-plausible flatbuffers: each either still works or raises
    # InvalidModelError, in this very process (a crash would kill pytest).
    rng = np.random.default_rng(2024)
    outcomes = {"ok": 0, "invalid": 0}
    for _ in range(40):
        damaged = bytearray(cnn_int8)
        start = int(rng.integers(8, len(damaged) - 4))
        damaged[start : start + 4] = rng.bytes(4)
        try:
            assert tflite.arena_bytes(bytes(damaged)) > 0
            outcomes["ok"] += 1
        except tflite.InvalidModelError:
            outcomes["invalid"] += 1
    assert outcomes["invalid"] > 0


def test_missing_file_is_invalid_model(tmp_path):
    with pytest.raises(tflite.InvalidModelError, match="Cannot read"):
        tflite.load_interpreter(tmp_path / "missing.tflite")
    not_tflite = tmp_path / "model.keras"
    not_tflite.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(tflite.InvalidModelError, match="TFL3"):
        tflite.measure(not_tflite)


# --- C array ----------------------------------------------------------------


def test_c_array_round_trip_and_compiles(cnn_int8, digits, tmp_path):
    labels = [f"digit {i}" for i in range(9)] + ['ten "10"\\?']
    cc_path, h_path = tflite.write_c_array(cnn_int8, tmp_path / "out", name="digits_model", labels=labels)
    assert (cc_path.name, h_path.name) == ("digits_model.cc", "digits_model.h")
    assert tflite.read_c_array(cc_path) == cnn_int8

    cc, header = cc_path.read_text(), h_path.read_text()
    assert "alignas(16) const unsigned char g_digits_model[] = {" in cc
    assert f"const unsigned int g_digits_model_len = {len(cnn_int8)};" in cc
    array_lines = [line for line in cc.splitlines() if line.startswith("    0x")]
    assert all(line.count("0x") == 12 for line in array_lines[:-1])

    arena = tflite.arena_bytes(cnn_int8)
    declared = int(re.search(r"constexpr int kDigitsModelArenaSize = (\d+);", header).group(1))
    assert declared >= arena and declared % 16 == 0
    ops = tflite.model_ops(cnn_int8)
    assert f"constexpr int kDigitsModelOpCount = {len(ops)};" in header
    assert "if (resolver.AddConv2D() != 0) return false;" in header
    assert "if (resolver.AddFullyConnected() != 0) return false;" in header
    scale, zero_point = tflite.load_interpreter(cnn_int8).get_input_details()[0]["quantization"]
    assert f"constexpr int kDigitsModelInputZeroPoint = {zero_point};" in header

    # The bytes parsed back from the .cc run in TFLite Micro exactly like the original.
    x = digits[2][:8]
    np.testing.assert_array_equal(
        tflite.run_micro(tflite.read_c_array(cc_path), x), tflite.run_micro(cnn_int8, x)
    )

    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ not installed")
    flags = ["-std=c++17", "-Wall", "-Wextra", "-Werror"]
    main = tmp_path / "out" / "main.cc"
    main.write_text(
        '#include <cstdio>\n#include "digits_model.h"\n'
        "int main() {\n"
        "  unsigned long sum = 0;\n"
        "  for (unsigned int i = 0; i < g_digits_model_len; ++i) sum += g_digits_model[i];\n"
        '  std::printf("%u %lu %d %s %d\\n", g_digits_model_len, sum,\n'
        "              kDigitsModelArenaSize, kDigitsModelLabels[9],\n"
        "              static_cast<int>(reinterpret_cast<unsigned long>(g_digits_model) % 16));\n"
        "}\n"
    )
    for source in (cc_path, main):
        subprocess.run([compiler, *flags, "-c", source.name], cwd=source.parent, check=True)
    binary = tmp_path / "out" / "check"
    subprocess.run(
        [compiler, "-o", str(binary), "digits_model.o", "main.o"], cwd=binary.parent, check=True
    )
    printed = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split(" ", 3)
    assert printed[:3] == [str(len(cnn_int8)), str(sum(cnn_int8)), str(declared)]
    assert printed[3].strip() == labels[9] + " 0"


def test_c_array_arguments(cnn_int8, tmp_path):
    with pytest.raises(ValueError, match="identifier"):
        tflite.write_c_array(cnn_int8, tmp_path, name="3-model")
    cc_path, h_path = tflite.write_c_array(
        cnn_int8, tmp_path, name="m", arena_bytes=1000, input_quantization=(0.5, 3)
    )
    header = h_path.read_text()
    assert "constexpr int kMArenaSize = 2032;" in header  # 1000 + 1024, rounded to 16
    assert "constexpr float kMInputScale = 0.5f;" in header
    assert "constexpr int kMInputZeroPoint = 3;" in header
    assert "Labels" not in header
    bad = tmp_path / "bad.cc"
    bad.write_text(cc_path.read_text().replace(f"_len = {len(cnn_int8)};", "_len = 1;"))
    with pytest.raises(ValueError, match="declares 1 bytes"):
        tflite.read_c_array(bad)
