"""TFLite Micro firmware on emulated Cortex-M boards: real toolchain, real QEMU, real int8 models.

The firmware (`keras_nas.tflite.firmware`) is built from the TFLite Micro tree
named by $KERAS_NAS_TFLM_DIR, else the kit next to the repository
(`../shared/tflm/tflite-micro`); the tests skip, saying why, when that tree,
the Arm GNU toolchain or qemu-system-arm is missing. The build is cached
(~/.cache/keras-nas/firmware): the first run on a machine compiles it once.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from keras_nas import tflite  # noqa: E402
from keras_nas.tflite import mcu_cycles  # noqa: E402
from keras_nas.tflite.emulator import UnsupportedOpsError, measure_on_board, run_on_board  # noqa: E402
from keras_nas.tflite.errors import InvalidModelError  # noqa: E402
from keras_nas.tflite.firmware import (  # noqa: E402
    TFLM_DIR_ENV,
    FirmwareError,
    build_firmware,
    resolve_tflm_dir,
    section_sizes,
    toolchain_problem,
)

_KIT = Path(__file__).resolve().parents[1].parent / "shared" / "tflm" / "tflite-micro"


def _tflm_dir():
    return os.environ.get(TFLM_DIR_ENV) or (str(_KIT) if _KIT.exists() else None)


@pytest.fixture(scope="module")
def firmware():
    problem = toolchain_problem()
    if problem:
        pytest.skip(problem)
    if _tflm_dir() is None:
        pytest.skip(f"no TFLite Micro tree: set ${TFLM_DIR_ENV} (or put the kit at {_KIT})")
    start = time.perf_counter()
    fw = build_firmware("cortex-m4", tflm_dir=_tflm_dir())
    print(f"\nfirmware cortex-m4: cached={fw.cached} build {fw.build_seconds:.0f} s, "
          f"this call {time.perf_counter() - start:.1f} s")  # fmt: skip
    return fw


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained on digits (float: 86 % on the held-out images) and the digits images."""
    data = load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(12, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.DepthwiseConv2D(3, padding="same")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU(6.0)(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(16, 1, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1400], data.target[:1400], epochs=60, batch_size=32, verbose=0)
    return model, x, data.target


def _int8_and_samples(model, x):
    data_int8 = tflite.to_tflite(model, "int8", representative_data=x[:200])
    interpreter = tflite.load_interpreter(data_int8)
    scale, zero = interpreter.get_input_details()[0]["quantization"]
    samples = np.clip(np.round(x[1400:1440] / scale + zero), -128, 127).astype(np.int8)
    return data_int8, samples


@pytest.fixture(scope="module")
def digits(trained):
    """The trained CNN as int8 .tflite, and 40 quantized held-out samples with their labels."""
    model, x, y = trained
    data_int8, samples = _int8_and_samples(model, x)
    return data_int8, samples, y[1400:1440]


def _assert_like_litert(board, reference):
    """The board's int8 outputs are LiteRT's up to rounding: CMSIS-NN's kernels round a few
    intermediate values differently from LiteRT's builtin ones (1 step on 2 of 400 logits:
    `test_firmware_logits_are_litert_s_within_one_step`), and the softmax's exponential is
    approximated differently (`arm_softmax_s8` against LiteRT's lookup table): 2 steps on 2 of 400
    outputs (CI, 2026-12-06). The predicted class is the same wherever LiteRT's top two are more
    than 4 steps apart."""
    assert board.shape == reference.shape and board.dtype == reference.dtype == np.int8
    difference = np.abs(board.astype(int) - reference.astype(int))
    assert difference.max() <= 2, f"outputs differ by up to {difference.max()} steps"
    top2 = np.sort(reference.astype(int), axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 4
    np.testing.assert_array_equal(np.argmax(board, 1)[clear], np.argmax(reference, 1)[clear])


def _litert_outputs(model_bytes, samples):
    """LiteRT's builtin int8 kernels (XNNPACK's own int8 kernels round differently, by up to 9 steps here)."""
    interpreter = tflite.load_interpreter(model_bytes, use_xnnpack=False)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for sample in samples:
        interpreter.set_tensor(inp["index"], sample[None])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(rows)


def test_firmware_runs_a_trained_int8_model_like_litert(firmware, digits):
    model_bytes, samples, labels = digits
    run = run_on_board(model_bytes, firmware=firmware, inputs=samples)
    board = run.outputs[0]
    reference = _litert_outputs(model_bytes, samples)
    assert board.shape == reference.shape == (40, 10) and board.dtype == np.int8
    _assert_like_litert(board, reference)
    assert np.mean(np.argmax(board, 1) == labels) >= 0.8  # a trained model, not noise
    # Inferences differ only by data-dependent branches (clamps, softmax): < 2 % between samples.
    assert max(run.sample_instructions) - min(run.sample_instructions) < 0.02 * run.instructions
    assert 10_000 < run.instructions < 50_000_000
    ops = tflite.model_ops(model_bytes)
    assert {tag for tag, _ in run.op_instructions} <= set(ops)
    assert len(run.op_instructions) >= len(ops)
    assert sum(n for _, n in run.op_instructions) <= run.instructions
    # CMSIS-NN requests scratch buffers the host's reference kernels do not.
    assert run.arena_bytes >= tflite.arena_bytes(model_bytes) - 1024
    assert 256 < run.stack_bytes < 64 * 1024


def test_firmware_logits_are_litert_s_within_one_step(firmware, trained):
    # The same trained network with linear logits (no softmax): CMSIS-NN's conv, depthwise, pooling
    # and fully-connected kernels follow TFLite's int8 rounding but for rare one-step differences.
    model, x, _ = trained
    dense = model.layers[-1]
    logits_layer = keras.layers.Dense(10)
    logits = keras.Model(model.input, logits_layer(dense.input))
    logits_layer.set_weights(dense.get_weights())
    model_bytes, samples = _int8_and_samples(logits, x)
    run = run_on_board(model_bytes, firmware=firmware, inputs=samples)
    difference = np.abs(run.outputs[0].astype(int) - _litert_outputs(model_bytes, samples).astype(int))
    assert difference.max() <= 1 and np.mean(difference == 0) >= 0.98


def test_measure_on_board_reports_flash_ram_and_its_sources(firmware, digits):
    model_bytes, _, _ = digits
    first = measure_on_board(model_bytes, "cortex-m4", tflm_dir=_tflm_dir())
    start = time.perf_counter()
    again = measure_on_board(model_bytes, "cortex-m4", tflm_dir=_tflm_dir())
    warm_seconds = time.perf_counter() - start
    print(f"\nmeasure_on_board warm: {warm_seconds:.2f} s (QEMU {again.wall_seconds:.2f} s), "
          f"{first.instructions} instructions, {first.latency_ms:.2f} ms, flash {first.flash_bytes} B, "
          f"RAM {first.ram_bytes} B")  # fmt: skip
    assert again.instructions == first.instructions  # deterministic (-icount shift=0)
    assert first.ram_bytes == first.arena_bytes + first.static_ram_bytes + first.stack_bytes
    assert first.flash_bytes == first.firmware_flash_bytes + len(model_bytes)
    # The image that registers only the model's ops is smaller than the all-ops firmware.
    assert first.firmware_flash_bytes < section_sizes(firmware.elf).flash_bytes
    assert 20_000 < first.firmware_flash_bytes < 1_000_000
    assert "mps2-an386" in first.latency_source and "icount" in first.latency_source
    model = mcu_cycles.cycle_model("cortex-m4", "cmsis_nn")
    assert first.latency_ms == pytest.approx(model.latency_ms(first.instructions))
    assert warm_seconds < 10


def test_ops_the_firmware_lacks_are_named(firmware, digits, tmp_path):
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3)(inputs)
    outputs = keras.layers.UpSampling2D(interpolation="bilinear")(h)  # RESIZE_BILINEAR
    model_bytes = tflite.to_tflite(keras.Model(inputs, outputs), "int8",
                                   representative_data=np.random.default_rng(0).random((16, 8, 8, 1), "float32"))
    with pytest.raises(UnsupportedOpsError, match="RESIZE_BILINEAR"):
        measure_on_board(model_bytes, "cortex-m4", tflm_dir=_tflm_dir())
    # The firmware's own check: an image without CONV_2D's kernel names the op TFLite Micro lacks.
    elf = firmware.link(tmp_path / "no_conv.elf", ops=[op for op in firmware.ops if op != "CONV_2D"])
    with pytest.raises(InvalidModelError, match="CONV_2D"):
        run_on_board(digits[0], firmware=firmware, elf=elf)


def test_exported_c_array_runs_in_the_firmware_like_litert(firmware, digits, tmp_path):
    model_bytes, samples, _ = digits
    cc, _ = tflite.write_c_array(model_bytes, tmp_path, name="model_data")
    elf = firmware.link_c_array(cc, tmp_path / "c_array.elf", name="model_data")
    run = run_on_board(model_bytes, firmware=firmware, elf=elf, inputs=samples)
    assert "model_source=linked" in run.log
    declared = int(run.log.split("declared_arena_bytes=")[1].split()[0])
    assert run.arena_bytes <= declared  # the header's arena (host measurement + margin) suffices
    _assert_like_litert(run.outputs[0], _litert_outputs(model_bytes, samples))
    # Same kernels, same model bytes: the linked array computes what the semihosted file does.
    loaded = run_on_board(model_bytes, firmware=firmware, inputs=samples)
    np.testing.assert_array_equal(run.outputs[0], loaded.outputs[0])


def test_missing_tflm_tree_and_bad_arguments_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(TFLM_DIR_ENV, raising=False)
    with pytest.raises(FirmwareError, match=TFLM_DIR_ENV):
        resolve_tflm_dir(None)
    with pytest.raises(FirmwareError, match="micro_interpreter.cc"):
        resolve_tflm_dir(tmp_path)
    with pytest.raises(ValueError, match="cortex-m4"):
        build_firmware("cortex-m3", tflm_dir=tmp_path)
    with pytest.raises(ValueError, match="reference"):
        build_firmware("cortex-m4", tflm_dir=tmp_path, kernels="fast")


def test_cycle_model_fit_and_leave_one_out():
    instructions = {"a": 1.0e6, "b": 4.0e6, "c": 9.0e6}
    exact = {name: 1.3 * n / 120e3 for name, n in instructions.items()}
    assert mcu_cycles.fit_cpi(instructions, exact, 120.0) == pytest.approx(1.3)
    assert all(abs(e) < 1e-12 for e in mcu_cycles.leave_one_out(instructions, exact, 120.0).values())
    noisy = dict(exact, c=exact["c"] * 1.2)
    errors = mcu_cycles.leave_one_out(instructions, noisy, 120.0)
    assert errors["c"] == pytest.approx(1 / 1.2 - 1)  # fitted on a and b (CPI 1.3), c is 20 % slower
    with pytest.raises(ValueError, match="cortex-m4"):
        mcu_cycles.cycle_model("cortex-m3")


def test_the_library_cache_is_shared_by_every_checkout_and_follows_header_content(tmp_path, monkeypatch):
    """The library's cache key depends on what is compiled, not on where keras-nas is checked out."""
    from keras_nas.tflite import firmware as fw

    if _tflm_dir() is None or toolchain_problem():
        pytest.skip("needs the Arm toolchain and a TFLite Micro tree")
    root, board = resolve_tflm_dir(_tflm_dir()), fw.BOARDS["cortex-m4"]
    sources = fw._sources(root, "cmsis_nn")

    def key() -> str:
        return fw._library_key(root, board, "cmsis_nn", fw._flags(root, board, "cmsis_nn"), sources)

    here = key()
    copy = tmp_path / "elsewhere" / "firmware_src"
    shutil.copytree(fw._SRC_DIR, copy)
    monkeypatch.setattr(fw, "_SRC_DIR", copy)
    assert key() == here
    header = sorted(copy.glob("*.h"))[0]
    header.write_text(header.read_text() + "\n// changed\n")
    assert key() != here


def test_a_damaged_cache_entry_is_rebuilt_and_one_process_builds_at_a_time(tmp_path):
    """A truncated library passed the manifest check and broke every later link; an entry without a
    manifest raised a plain OSError; two processes built the same entry in full (issue 29)."""
    import threading
    import warnings

    from keras_nas.tflite.firmware import _cached_build, entry_problem

    builds = []

    def build(out: Path) -> dict:
        builds.append(threading.get_ident())
        time.sleep(0.3)  # long enough for a second caller to arrive meanwhile
        out.mkdir()
        (out / "libknas.a").write_bytes(b"!<arch>\n" + b"x" * 4096)
        return {"objects": 1}

    entry = tmp_path / "firmware" / ("lib-" + "a" * 32)
    results = []
    callers = [threading.Thread(target=lambda: results.append(_cached_build(entry, build, {}, ["libknas.a"])))
               for _ in range(2)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert len(builds) == 1 and sorted(results) == [False, True]
    assert entry_problem(entry) is None

    # Truncated: detected, rebuilt with a warning, whole again.
    (entry / "libknas.a").write_bytes(b"!<arch>\n" + b"x" * 100)
    assert "changed since it was built" in entry_problem(entry)
    with pytest.warns(RuntimeWarning, match="damaged: libknas.a changed"):
        assert _cached_build(entry, build, {}, ["libknas.a"]) is False
    assert (entry / "libknas.a").stat().st_size == 4104 and len(builds) == 2

    # An entry folder without a manifest (a foreign or interrupted build) is rebuilt too.
    (entry / "manifest.json").unlink()
    with pytest.warns(RuntimeWarning, match="no manifest.json"):
        assert _cached_build(entry, build, {}, ["libknas.a"]) is False
    assert entry_problem(entry) is None and len(builds) == 3
    assert sorted(p.name for p in entry.parent.iterdir()) == [".lib-" + "a" * 32 + ".lock", entry.name]

    # A damaged folder that is not named as an entry is never removed.
    odd = tmp_path / "firmware" / "my-notes"
    odd.mkdir()
    (odd / "keep.txt").write_text("mine")
    with pytest.raises(FirmwareError, match="does not look like a keras-nas firmware cache entry"):
        _cached_build(odd, build, {}, ["libknas.a"])
    assert (odd / "keep.txt").read_text() == "mine"


def test_the_audio_front_end_runs_on_the_board_as_on_the_host(firmware, tmp_path):
    """TFLite Micro's signal ops in the firmware: the front-end's file (and its C array) computes on the
    emulated Cortex-M4 the features the host's TFLite Micro computes, and is instruction-counted."""
    from keras_nas.tflite import signal_front_end as sfe

    front_end = sfe.FrontEnd(window_ms=30, hop_ms=20, bands=40, pcan=True)  # every signal op the front-end has
    t = np.arange(8000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)
             + 0.05 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)[None]
    windows = sfe.frames(audio, front_end)[0][:4]  # (4, 480) int16, one frame per sample
    content = sfe.front_end_model(front_end)
    run = run_on_board(content, firmware=firmware, inputs=windows)
    np.testing.assert_array_equal(run.outputs[0], sfe.features(audio, front_end)[0][:4])
    measured = measure_on_board(content, "cortex-m4", tflm_dir=_tflm_dir(), inputs=windows)
    assert set(measured.ops) == {"SignalWindow", "SignalFftAutoScale", "SignalRfft", "SignalEnergy",
                                 "SignalFilterBank", "SignalFilterBankSquareRoot",
                                 "SignalFilterBankSpectralSubtraction", "SignalPCAN", "SignalFilterBankLog"}
    assert 10_000 < measured.instructions < 5_000_000 and measured.latency_ms > 0
    # Its C array, linked into the firmware, registers the signal ops and computes the same.
    cost = sfe.front_end_cost(front_end)
    cc, _ = tflite.write_c_array(content, tmp_path, name="front_end_data", arena_bytes=cost["front_end_arena_bytes"],
                                 input_quantization=(0.0, 0), output_quantization=(0.0, 0))
    elf = firmware.link_c_array(cc, tmp_path / "front_end.elf", name="front_end_data")
    linked = run_on_board(content, firmware=firmware, elf=elf, inputs=windows)
    assert "model_source=linked" in linked.log
    np.testing.assert_array_equal(linked.outputs[0], run.outputs[0])
