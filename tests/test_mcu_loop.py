"""The cortex-m4 target in the loop: every figure measured by TFLite Micro firmware on an emulated board.

Real toolchain, real QEMU (mps2-an386), real data (digits). The board tests
need the Arm GNU toolchain, qemu-system-arm and a TFLite Micro tree: the
`board` fixture points $KERAS_NAS_TFLM_DIR at the kit next to the repository
(`../shared/tflm/tflite-micro`) for the test only, and skips, saying why,
when something is missing. The fallback test needs none of them.
"""

import json
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import NASModel, cli, tflite  # noqa: E402
from keras_nas.datasets import load_digits  # noqa: E402
from keras_nas.export import _integer_costs, format_report  # noqa: E402
from keras_nas.tflite.emulator import measure_on_board  # noqa: E402
from keras_nas.tflite.emulator_backend import EmulatorBackend  # noqa: E402
from keras_nas.tflite.firmware import TFLM_DIR_ENV, toolchain_problem  # noqa: E402

_KIT = Path(__file__).resolve().parents[1].parent / "shared" / "tflm" / "tflite-micro"
_BOARD_SOURCE = "qemu mps2-an386"


@pytest.fixture
def board(monkeypatch):
    """$KERAS_NAS_TFLM_DIR set to the test kit (skips without toolchain, QEMU or kit)."""
    problem = toolchain_problem()
    if problem:
        pytest.skip(problem)
    if not _KIT.exists():
        pytest.skip(f"no TFLite Micro tree for the emulated board: the test kit {_KIT} is absent")
    monkeypatch.setenv(TFLM_DIR_ENV, str(_KIT))
    return str(_KIT)


@pytest.fixture(scope="module")
def digits():
    (x, y), (x_val, y_val), _ = load_digits()
    return (x / 16.0, y), (x_val / 16.0, y_val)


def _small_cnn(x, last_activation="softmax") -> bytes:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(10, activation=last_activation)(h)
    return tflite.to_tflite(keras.Model(inputs, outputs), "int8", representative_data=x[:100])


def _assert_from_board(cost: dict) -> None:
    assert cost["latency_source"].startswith(_BOARD_SOURCE) and "CPI" in cost["latency_source"]
    assert cost["cycles"] > cost["instructions"] > 10_000
    assert cost["latency_ms"] == pytest.approx(cost["cycles"] / 120e3)  # at 120 MHz
    # Flash: the firmware image (tens of KB of TFLM + kernels) with the model linked in.
    assert cost["flash_bytes"] == cost["firmware_flash_bytes"] + cost["model_flash_bytes"]
    assert cost["firmware_flash_bytes"] > 20_000 and "firmware image" in cost["flash_source"]
    # RAM: the firmware's arena + static data + measured stack.
    assert cost["peak_ram_bytes"] == cost["board_arena_bytes"] + cost["static_ram_bytes"] + cost["stack_bytes"]
    assert cost["stack_bytes"] > 256 and _BOARD_SOURCE in cost["peak_ram_source"]


def test_a_cortex_m4_search_measures_every_candidate_on_the_emulated_board(board, digits, tmp_path):
    (x, y), (x_val, y_val) = digits
    model = NASModel(
        target="cortex-m4", constraints={"latency_ms": 50.0, "flash_kb": 400, "peak_ram_kb": 200},
        strategy="random", max_trials=2, finalists=1, seed=1, latency_runs=2,
        directory=str(tmp_path), project_name="m4",
    )  # fmt: skip
    model.fit(x[:400], y[:400], validation_data=(x_val[:100], y_val[:100]), epochs=1, verbose=0)
    # The predictor (model-only flash, host arena) is not used against whole-firmware limits.
    assert model.tuner.cost_filter is None
    rows = [r for r in model.trials() if r.get("cost")]
    assert len([r for r in rows if r["status"] == "COMPLETED"]) == 2
    for row in rows:
        _assert_from_board(row["cost"])
        assert not model.constraints.violations(row["cost"]) or row["status"] == "REJECTED"
    # The winner is measured as it ships on the board: the exported file in the firmware.
    winner = model.cost_
    _assert_from_board(winner)
    assert winner["flash_source"] == "exported-file + firmware image (linker sections)"
    shipped = tflite.metadata.with_metadata(model.model, tflite.to_tflite(model.model, "int8", x[:200]))
    direct = measure_on_board(shipped, "cortex-m4")
    assert winner["instructions"] == pytest.approx(direct.instructions, rel=0.02)
    assert winner["firmware_flash_bytes"] == direct.firmware_flash_bytes
    assert not model.constraints.violations(winner)


def test_profile_on_cortex_m4_gives_the_board_cycles_flash_and_ram(board, digits, tmp_path, capsys):
    (x, _), _ = digits
    model_bytes = _small_cnn(x)
    direct = measure_on_board(model_bytes, "cortex-m4")
    p = tflite.profile(model_bytes, target="cortex-m4", runs=2, warmup=1)
    assert p.latency_source == direct.latency_source and p.latency_source.startswith(_BOARD_SOURCE)
    assert p.cycles == pytest.approx(direct.cycles) and p.latency_median_ms == pytest.approx(direct.latency_ms)
    assert p.flash_bytes == direct.flash_bytes == direct.firmware_flash_bytes + len(model_bytes)
    assert p.firmware_flash_bytes == direct.firmware_flash_bytes
    assert p.peak_ram_bytes == direct.ram_bytes > tflite.arena_bytes(model_bytes)
    assert p.fits and "cycles" in str(p) and "firmware image" in str(p)
    # The CLI and the export report show the same figures.
    path = tmp_path / "m.tflite"
    path.write_bytes(model_bytes)
    assert cli.main(["profile", str(path), "--target", "cortex-m4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cycles"] == pytest.approx(direct.cycles) and out["latency_source"] == direct.latency_source
    assert out["flash_bytes"] == direct.flash_bytes and out["peak_ram_bytes"] == direct.ram_bytes
    costs = _integer_costs(model_bytes)
    entry = costs["latency_ms"]["cortex-m4"]
    assert entry["cycles"] == pytest.approx(direct.cycles) and entry["flash_bytes"] == direct.flash_bytes
    text = format_report({"formats": {"tflite-int8": {"size_bytes": len(model_bytes), **costs}}})
    assert f"{direct.cycles:,.0f} cycles" in text and f"{direct.flash_bytes / 1024:.1f} KB" in text


def test_an_op_the_firmware_lacks_rejects_the_candidate(board, digits):
    (x, _), _ = digits
    model_bytes = _small_cnn(x, last_activation="log_softmax")
    assert "LOG_SOFTMAX" in tflite.model_ops(model_bytes)
    with pytest.raises(tflite.InvalidModelError, match="no TFLite Micro kernel for LOG_SOFTMAX"):
        tflite.Measurer("cortex-m4", latency_runs=2).measure_bytes(model_bytes)
    p = tflite.profile(model_bytes, target="cortex-m4", runs=2, warmup=1)
    assert not p.fits and "LOG_SOFTMAX" in p.tflm_error and p.latency_source == "estimate"


def test_without_a_tflm_tree_cortex_m4_falls_back_and_says_so(digits, monkeypatch):
    (x, _), _ = digits
    monkeypatch.delenv(TFLM_DIR_ENV, raising=False)
    monkeypatch.setitem(tflite.BACKENDS, "emulator", EmulatorBackend())
    monkeypatch.setattr(tflite.measurement, "_WARNED", set())  # warns once per process
    model_bytes = _small_cnn(x)
    measurer = tflite.Measurer("cortex-m4", latency_runs=2)
    with pytest.warns(UserWarning, match=f"not measured on its emulated board.*{TFLM_DIR_ENV}"):
        record = measurer.measure_bytes(model_bytes)
    assert record.latency_source == "estimate" and record.peak_ram_source == "tflite-micro-host"
    assert record.extra["emulator"].startswith("not used: ")
    assert record.flash_bytes == len(model_bytes) and record.flash_source == "flatbuffer"
    assert record.latency_ms == pytest.approx(tflite.get_target("cortex-m4").latency_ms(model_bytes))
    assert record.peak_ram_bytes == tflite.arena_bytes(model_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once, not at every candidate
        assert measurer.measure_bytes(model_bytes).to_dict()["emulator"] == record.extra["emulator"]
    p = tflite.profile(model_bytes, target="cortex-m4", runs=2, warmup=1)
    assert p.cycles is None and p.latency_source == "estimate" and p.flash_bytes == len(model_bytes)


def test_a_model_on_raw_audio_is_measured_on_the_board_as_its_whole_pipeline(board):
    """On the emulated Cortex-M4 the front-end runs in the firmware: its frame's time joins the network's
    latency, its arena the RAM, its signal kernels the firmware's flash."""
    from keras_nas.tflite.front_end_layer import FrontEndLayer
    from keras_nas.tflite.signal_front_end import FrontEnd, front_end_cost

    front_end = FrontEnd(window_ms=32, hop_ms=16, bands=16)
    inputs = keras.Input((8000, 1))
    features = FrontEndLayer(front_end)(inputs)
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(features)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h)))
    audio = np.random.default_rng(0).uniform(-0.3, 0.3, (8, 8000, 1)).astype(np.float32)
    board_record = tflite.Measurer("cortex-m4", representative_data=audio).measure_untrained(model, seed=0)
    host_record = tflite.Measurer("host", representative_data=audio).measure_untrained(model, seed=0)
    network_only = tflite.Measurer("cortex-m4").measure_bytes(tflite.Measurer("host", audio).to_int8(model, fast=True))
    frame = board_record.front_end_latency_ms
    assert frame is not None and frame > 0 and host_record.front_end_latency_ms is None
    assert board_record.latency_ms == pytest.approx(network_only.latency_ms + frame)
    assert board_record.peak_ram_bytes > network_only.peak_ram_bytes
    assert board_record.flash_bytes > network_only.flash_bytes + front_end_cost(front_end)["front_end_flash_bytes"]
    assert board_record.to_dict()["front_end_latency_ms"] == frame
