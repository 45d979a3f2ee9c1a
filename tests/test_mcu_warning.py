"""The "not measured on its emulated board" warning: for an MCU target only, one line, naming what is missing."""

import os
import stat
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.export import export_model  # noqa: E402
from keras_nas.tflite import measurement  # noqa: E402
from keras_nas.tflite.emulator_backend import EmulatorBackend  # noqa: E402
from keras_nas.tflite.firmware import TFLM_DIR_ENV  # noqa: E402

TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-ar", "qemu-system-arm")


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype("float32")
    y = np.arange(64) % 4
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return model, x, y, tflite.to_tflite(model, "int8", representative_data=x[:32])


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A fresh emulator backend and warning memory, no TFLite Micro tree, and a PATH of `tools`."""
    monkeypatch.delenv(TFLM_DIR_ENV, raising=False)
    monkeypatch.setitem(tflite.BACKENDS, "emulator", EmulatorBackend())
    monkeypatch.setattr(measurement, "_WARNED", set())

    def path_with(*tools):
        folder = tmp_path / "bin"
        folder.mkdir(exist_ok=True)
        for tool in tools:
            (folder / tool).write_text("#!/bin/sh\nexit 1\n")
            (folder / tool).chmod(stat.S_IRWXU)
        monkeypatch.setenv("PATH", str(folder))

    return path_with


def _mcu_warnings(caught):
    return [w for w in caught if "emulated board" in str(w.message)]


def _measure(model_bytes):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tflite.Measurer("cortex-m4", latency_runs=2).measure_bytes(model_bytes)  # the user's call
    return _mcu_warnings(caught)


def test_toolchain_installed_no_tree_names_the_tree_only(small, fresh):
    fresh(*TOOLS)
    (w,) = _measure(small[3])
    text = str(w.message)
    assert "\n" not in text and len(text) < 300
    assert TFLM_DIR_ENV in text and "apt-get" not in text
    assert w.filename == __file__  # stacklevel: the user's line, not library code


def test_missing_qemu_suggests_only_qemu(small, fresh):
    fresh(*TOOLS[:3])
    (w,) = _measure(small[3])
    text = str(w.message)
    assert "apt-get install qemu-system-arm" in text and "gcc-arm-none-eabi" not in text
    assert TFLM_DIR_ENV in text and "\n" not in text


def test_nothing_installed_names_toolchain_qemu_and_tree(small, fresh):
    fresh()
    (w,) = _measure(small[3])
    text = str(w.message)
    assert "gcc-arm-none-eabi" in text and "qemu-system-arm" in text and TFLM_DIR_ENV in text
    assert "\n" not in text
    assert _measure(small[3]) == []  # once, not at every candidate


def test_profile_on_cortex_m4_warns_at_the_users_call(small, fresh):
    fresh(*TOOLS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tflite.profile(small[3], target="cortex-m4", runs=2, warmup=1)
    (w,) = _mcu_warnings(caught)
    assert w.filename == __file__


def test_host_export_prints_no_mcu_warning(small, fresh, tmp_path):
    """An export reports MCU estimates beside the host figures; the user's target is not an MCU."""
    fresh()
    model, x, y, _ = small
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = export_model(model, tmp_path / "out", ["tflite-int8"], representative_data=x[:32],
                              x_val=x, y_val=y, verbose=False)
    assert _mcu_warnings(caught) == []
    assert report["formats"]["tflite-int8"]["latency_ms"]["cortex-m4"]["source"] == "estimate"
