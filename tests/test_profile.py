"""Tests for profiling: MACs, targets, latency cache/predictor, benchmark_model, profile(), CLI.

Real runtimes only (TF converter, LiteRT, TFLite Micro) on tiny models; the
`benchmark_model` parser is tested on real recorded output (see
tests/data/benchmark_model/SOURCES.md).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_nas import cli  # noqa: E402
from keras_nas import tflite  # noqa: E402
from keras_nas.tflite import latency_cache as latency_cache_module  # noqa: E402
from keras_nas.tflite.benchmark_model import parse_adb_devices  # noqa: E402
from keras_nas.tflite.macs import float_ops  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data", "benchmark_model")
RNG = np.random.default_rng(0)


def _int8(model, n=16):
    x = RNG.random((n, *model.input_shape[1:])).astype("float32")
    return tflite.to_tflite(model, "int8", representative_data=x)


def _cnn(width: int = 8) -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def cnn_bytes():
    return _int8(_cnn(8))


# --- MACs -------------------------------------------------------------------


def test_macs_match_hand_computation(cnn_bytes):
    report = tflite.count_macs(cnn_bytes)
    rows = {row.op: row for row in report.ops}
    assert rows["CONV_2D"].macs == 8 * 8 * 8 * 3 * 3 * 1  # out HxWxC * kh*kw*cin
    assert rows["CONV_2D"].params == 8 * 9 + 8  # weights + bias
    assert rows["DEPTHWISE_CONV_2D"].macs == 8 * 8 * 8 * 3 * 3
    assert rows["AVERAGE_POOL_2D"].macs == 4 * 4 * 8 * 2 * 2
    assert rows["MEAN"].macs == 4 * 4 * 8
    assert rows["FULLY_CONNECTED"].macs == 8 * 10
    assert rows["FULLY_CONNECTED"].output_shape == (1, 10)
    assert report.macs == sum(row.macs for row in report.ops)
    assert report.flops == 2 * report.macs
    assert report.macs_by_kind["conv"] == 4608 and report.macs_by_kind["depthwise"] == 4608


def test_conv1d_counts_as_height_one_conv2d():
    inputs = keras.Input((40, 1))
    x = keras.layers.Conv1D(6, 5, padding="valid")(inputs)  # 36 x 6 outputs, kernel 5 x 1
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(4)(x)
    report = tflite.count_macs(_int8(keras.Model(inputs, outputs)))
    conv = [row for row in report.ops if row.op == "CONV_2D"]
    assert len(conv) == 1
    assert conv[0].macs == 36 * 6 * 5 * 1
    assert conv[0].output_shape == (1, 1, 36, 6)
    fc = [row for row in report.ops if row.op == "FULLY_CONNECTED"][0]
    assert fc.macs == 36 * 6 * 4


def test_float_ops_detects_mid_graph_float():
    inputs = keras.Input((64,))
    outputs = keras.layers.Dense(32)(inputs)  # 2048 weights: enough for the converter to quantize
    model = keras.Model(inputs, outputs)
    float_model = tflite.to_tflite(model, "float32")
    dynamic = tflite.to_tflite(model, "dynamic")
    assert float_ops(tflite.count_macs(float_model)) == ()  # not an integer model at all
    # Dynamic-range: int8 weights, float activations -> the FC computes in float.
    [row] = tflite.count_macs(dynamic).ops
    assert row.weight_dtypes[0] == "int8" and row.input_dtypes == ("float32",)
    assert [row.op for row in float_ops(tflite.count_macs(dynamic))] == ["FULLY_CONNECTED"]
    assert float_ops(tflite.count_macs(_int8(model))) == ()  # full-integer: nothing listed


# --- targets ----------------------------------------------------------------


def test_builtin_targets_and_custom_mcu(cnn_bytes):
    m4 = tflite.get_target("cortex-m4")
    assert (m4.kind, m4.clock_mhz, m4.ram_kb, m4.flash_kb) == ("mcu", 120, 640, 2048)
    assert tflite.get_target("pixel-cpu").threads == 4 and tflite.get_target("pixel-cpu").use_xnnpack
    report = tflite.count_macs(cnn_bytes)
    expected_cycles = sum(m4.cycles_for(row.kind) * row.macs + m4.op_overhead_cycles for row in report.ops)
    assert m4.latency_ms(cnn_bytes) == pytest.approx(expected_cycles / 120e3)
    # Same cost model at a lower clock is proportionally slower; doubling conv cost adds conv MACs.
    mine = tflite.Target("my-m4", kind="mcu", clock_mhz=60, ram_kb=128, flash_kb=512,
                         cycles_per_mac=m4.cycles_per_mac, op_overhead_cycles=m4.op_overhead_cycles)
    assert mine.latency_ms(cnn_bytes) == pytest.approx(2 * m4.latency_ms(cnn_bytes))
    costly = mine.replace(cycles_per_mac={**m4.cycles_per_mac, "conv": 2 * m4.cycles_per_mac["conv"]})
    extra = m4.cycles_per_mac["conv"] * report.macs_by_kind["conv"] / 60e3
    assert costly.latency_ms(cnn_bytes) == pytest.approx(mine.latency_ms(cnn_bytes) + extra)
    with pytest.raises(ValueError, match="unknown op kind"):
        tflite.Target("x", kind="mcu", clock_mhz=80, cycles_per_mac={"convolution": 1, "default": 1})
    with pytest.raises(ValueError, match="clock_mhz"):
        tflite.Target("x", kind="mcu", cycles_per_mac={"default": 1})
    with pytest.raises(ValueError, match="Unknown target 'cortex-m99'.*cortex-m4"):
        tflite.get_target("cortex-m99")


def test_mobile_target_without_device_says_it_measured_the_host(cnn_bytes, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb anywhere
    result = tflite.get_target("pixel-cpu").latency(cnn_bytes, runs=5, warmup=1, cache=tflite.LatencyCache())
    assert result.source == "litert-host"
    assert "adb" in result.note and "NOT on the phone" in result.note
    assert result.threads == 4 and result.use_xnnpack is True


# --- XNNPACK switch, latency cache ----------------------------------------------


def test_xnnpack_switch_changes_the_interpreter_graph(cnn_bytes):
    with_xnn = tflite.load_interpreter(cnn_bytes)
    without = tflite.load_interpreter(cnn_bytes, use_xnnpack=False)
    names_with = {op["op_name"] for op in with_xnn._get_ops_details()}
    names_without = {op["op_name"] for op in without._get_ops_details()}
    assert "DELEGATE" in names_with
    assert "DELEGATE" not in names_without and "CONV_2D" in names_without
    stats = tflite.measure_latency(cnn_bytes, runs=5, warmup=1, use_xnnpack=False)
    assert stats.use_xnnpack is False and stats.runs == 5 and stats.min_ms <= stats.median_ms <= stats.max_ms


def test_latency_cache_hit_creates_no_interpreter(cnn_bytes, monkeypatch, tmp_path):
    calls = []
    real = latency_cache_module._latency.measure_latency

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(latency_cache_module._latency, "measure_latency", counting)
    path = tmp_path / "cache.json"
    cache = tflite.LatencyCache(path, max_cv=10.0)
    first = cache.measure(cnn_bytes, runs=10, warmup=1)
    second = cache.measure(cnn_bytes, runs=10, warmup=1)
    assert len(calls) == 1 and not first.cache_hit and second.cache_hit
    assert second.stats == first.stats
    # Another setting is another key; a new process (new cache object) reuses the file.
    cache.measure(cnn_bytes, runs=10, warmup=1, use_xnnpack=False)
    assert len(calls) == 2 and len(cache) == 2
    reloaded = tflite.LatencyCache(path).measure(cnn_bytes, runs=10, warmup=1)
    assert reloaded.cache_hit and reloaded.stats == first.stats and len(calls) == 2
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a keras-nas latency cache"):
        tflite.LatencyCache(path)


def test_latency_cache_remeasures_noisy_results(cnn_bytes):
    # max_cv so small that every measurement is "too noisy": all retries are used.
    cache = tflite.LatencyCache(max_cv=1e-9, max_remeasure=2)
    result = cache.measure(cnn_bytes, runs=5, warmup=0)
    assert result.remeasured == 2 and cache.measurements == 3 and not result.cache_hit


# --- latency predictor -------------------------------------------------------------


def test_latency_predictor_ranks_real_measurements():
    widths = [2, 4, 8, 12, 16, 24, 32, 48, 64, 96]
    models = []
    for w in widths:
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.Conv2D(w, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.Conv2D(w, 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        models.append(_int8(keras.Model(inputs, keras.layers.Dense(10)(x)), n=8))
    cache = tflite.LatencyCache(max_remeasure=1)
    measured = [cache.measure(m, runs=30, warmup=3, use_xnnpack=False).median_ms for m in models]
    train, test = slice(0, None, 2), slice(1, None, 2)
    predictor = tflite.LatencyPredictor().fit(models[train], measured[train])
    assert predictor.coef_ms_per_mmac["conv"] > 0
    # Measured on 2 shared cores: pick a threshold a MAC-blind predictor cannot reach.
    assert predictor.score(models[test], measured[test]) >= 0.8
    assert predictor.score(models, measured) >= 0.85
    with pytest.raises(RuntimeError, match="before fit"):
        tflite.LatencyPredictor().predict(models[0])


# --- benchmark_model (recorded real output) ----------------------------------------


def _read(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read()


def test_parse_benchmark_output_android_adb():
    out = tflite.parse_benchmark_output(_read("tf42507_android_adb.txt"))
    assert out["init_ms"] == pytest.approx(0.855)
    assert out["first_inference_ms"] == pytest.approx(49.060)
    assert out["warmup_avg_ms"] == pytest.approx(34.8251)
    assert out["inference_avg_ms"] == pytest.approx(33.2094)
    assert out["count"] == 50 and out["warmup_count"] == 15
    assert (out["min_ms"], out["max_ms"], out["std_ms"]) == pytest.approx((32.641, 34.005, 0.450))
    assert out["avg_ms"] == pytest.approx(33.2094)
    assert out["memory_kind"] == "peak" and out["memory_overall_mb"] == pytest.approx(12.8672)
    assert out["num_threads"] == 4 and out["model_size_mb"] == pytest.approx(0.004448)


def test_parse_benchmark_output_xnnpack_and_info_prefix():
    rpi = tflite.parse_benchmark_output(_read("xnnpack999_rpi_int8.txt"))
    assert rpi["inference_avg_ms"] == pytest.approx(55.0432)
    assert rpi["count"] == 50 and rpi["std_ms"] == pytest.approx(1.562)
    assert rpi["memory_kind"] == "delta"
    assert (rpi["memory_init_mb"], rpi["memory_overall_mb"]) == pytest.approx((8.97656, 18.7227))
    assert rpi["xnnpack"] is True and rpi["session_init_ms"] == pytest.approx(18.777)
    host = tflite.parse_benchmark_output(_read("tf73862_info_prefix.txt"))
    assert host["init_ms"] == pytest.approx(12.75) and host["inference_avg_ms"] == pytest.approx(13.5202)
    assert host["count"] == 74 and host["warmup_count"] == 37 and host["min_ms"] == pytest.approx(13.105)
    assert "memory_kind" not in host


def test_parse_benchmark_output_rejects_failed_runs():
    failed = "INFO: STARTING!\nERROR: Node number 57 (BATCH_MATMUL) failed to prepare.\nERROR: Benchmarking failed.\n"
    with pytest.raises(tflite.BenchmarkOutputError, match="failed to prepare"):
        tflite.parse_benchmark_output(failed)


def test_adb_missing_and_no_device_messages(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tflite.AdbNotFoundError, match="`adb` was not found on PATH"):
        tflite.adb_devices()
    with pytest.raises(tflite.AdbNotFoundError):
        tflite.run_benchmark_model(b"....TFL3")
    assert parse_adb_devices("List of devices attached\n\n") == []
    assert parse_adb_devices("List of devices attached\nABC123\tunauthorized\nXYZ\tdevice\n") == ["XYZ"]


# --- profile() and CLI -----------------------------------------------------------------


def test_profile_host_and_mcu(cnn_bytes, monkeypatch):
    # The MAC-count fallback: without a TFLite Micro tree the cortex-m4 figures are estimates.
    monkeypatch.delenv("KERAS_NAS_TFLM_DIR", raising=False)
    host = tflite.profile(cnn_bytes, runs=10, warmup=1)
    assert host.flash_bytes == len(cnn_bytes)
    assert host.peak_ram_bytes == tflite.arena_bytes(cnn_bytes)
    assert host.macs == tflite.count_macs(cnn_bytes).macs and host.params > 0
    assert host.unsupported_ops_on_tflm == () and host.not_fully_integer_ops == ()
    assert host.latency_source == "litert-host" and host.latency_runs == 10 and host.xnnpack is True
    assert host.fits and "CONV_2D" in str(host) and "TFLite Micro arena" in str(host)
    json.dumps(host.to_dict())
    m4 = tflite.profile(cnn_bytes, target="cortex-m4")
    assert m4.latency_source == "estimate" and m4.latency_runs == 0
    assert sum(row.estimated_ms for row in m4.per_op) == pytest.approx(m4.latency_median_ms)
    tiny = tflite.Target("tiny", kind="mcu", clock_mhz=48, ram_kb=1, flash_kb=1, cycles_per_mac={"default": 5})
    small = tflite.profile(cnn_bytes, target=tiny)
    assert not small.fits and any("flash" in v for v in small.violations)
    assert any("peak RAM" in v for v in small.violations)


def test_profile_keras_model_needs_representative_data():
    model = _cnn(4)
    with pytest.raises(ValueError, match="representative_data"):
        tflite.profile(model)
    result = tflite.profile(model, target="cortex-m7", representative_data=RNG.random((8, 8, 8, 1)))
    assert result.target == "cortex-m7" and result.macs == 8 * 8 * 4 * 9 * 2 + 4 * 4 * 4 * 4 + 4 * 4 * 4 + 40 + 10


def test_profile_rejects_invalid_files(cnn_bytes, tmp_path):
    cases = {
        "truncated.tflite": cnn_bytes[: len(cnn_bytes) // 2],
        "random.tflite": np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "notes.txt": b"this is a text file, not a model\n" * 20,
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(tflite.InvalidModelError, match="TFL3|rejected|corrupted|truncated"):
            tflite.profile(str(path))


def test_cli_profile(cnn_bytes, tmp_path, capsys):
    path = tmp_path / "model.tflite"
    path.write_bytes(cnn_bytes)
    assert cli.main(["profile", str(path), "--target", "cortex-m4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == "cortex-m4" and out["macs"] == tflite.count_macs(cnn_bytes).macs
    bad = tmp_path / "bad.tflite"
    bad.write_text("hello")
    assert cli.main(["profile", str(bad)]) == 2
    assert "not a TFLite flatbuffer" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    run = subprocess.run(
        [sys.executable, "-m", "keras_nas.cli", "profile", str(path), "--runs", "5"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Profile on target 'host'" in run.stdout and "MACs" in run.stdout


# --- the measurement service (tflite.Measurer) and its backends ----------------------------


class _InProcessArena:
    """A second backend: TFLite Micro's arena measured in this process, not in the worker."""

    def measure(self, model_bytes, target, runs, warmup, cache):
        latency = tflite.get_target("host").latency(model_bytes, runs=runs, warmup=warmup, cache=cache)
        arena = tflite.arena_bytes(model_bytes, isolated=False)
        return tflite.BackendFigures(
            peak_ram_bytes=arena, peak_ram_source="tflite-micro-in-process", latency=latency,
            extra={"arena_words": arena // 4},
        )


def test_measurer_records_each_figure_with_its_source(cnn_bytes, monkeypatch):
    # The MAC-count fallback: without a TFLite Micro tree the cortex-m4 figures are estimates.
    monkeypatch.delenv("KERAS_NAS_TFLM_DIR", raising=False)
    x = RNG.random((16, 8, 8, 1)).astype("float32")
    host = tflite.Measurer("host", latency_runs=5, latency_cache=tflite.LatencyCache()).measure_bytes(cnn_bytes)
    assert host.flash_bytes == len(cnn_bytes) and host.peak_ram_bytes == tflite.arena_bytes(cnn_bytes)
    assert (host.flash_source, host.peak_ram_source, host.latency_source) == (
        "flatbuffer", "tflite-micro-host", "litert-host")
    assert host.host_latency_ms is None and "host_latency_ms" not in host.to_dict()
    m4 = tflite.Measurer("cortex-m4", x, latency_runs=5).measure_bytes(cnn_bytes).to_dict()
    assert m4["latency_source"] == "estimate" and m4["target"] == "cortex-m4"
    assert m4["latency_ms"] == pytest.approx(tflite.get_target("cortex-m4").latency_ms(cnn_bytes))
    assert m4["host_latency_ms"] > 0 and m4["peak_ram_bytes"] == host.peak_ram_bytes
    json.dumps(m4)
    # A trained model is measured as it ships: the exported file, metadata included.
    model = _cnn(8)
    record = tflite.Measurer("host", x, latency_runs=5).measure_trained(model)
    shipped = tflite.metadata.with_metadata(model, tflite.to_tflite(model, "int8", representative_data=x))
    assert record.flash_bytes == len(shipped) and record.flash_source == "exported-file"
    # An untrained candidate is counted with the metadata too: far from the limit within the
    # signature def's ~150 bytes of the file it will ship as once trained (distinct weights),
    # near the limit exactly that file.
    trained = _cnn(8)
    tflite.measurement.randomize_weights(trained, seed=7)
    shipped = tflite.metadata.with_metadata(trained, tflite.to_tflite(trained, "int8", representative_data=x))
    far = tflite.Measurer("host", x, latency_runs=5).measure_untrained(_cnn(8), seed=1)
    assert far.flash_source == "flatbuffer+metadata" and 0 < len(shipped) - far.flash_bytes < 400
    near = tflite.Measurer("host", x, latency_runs=5).measure_untrained(_cnn(8), seed=1,
                                                                         flash_limit_kb=len(shipped) / 1024)
    assert near.flash_source == "exported-file" and near.flash_bytes == len(shipped)


def test_a_target_names_its_measurement_backend(cnn_bytes, monkeypatch):
    monkeypatch.setitem(tflite.BACKENDS, "in-process", _InProcessArena())
    board = tflite.Target("my-board", kind="mcu", clock_mhz=48, cycles_per_mac={"default": 5},
                          measured_by="in-process")
    record = tflite.Measurer(board, latency_runs=3).measure_bytes(cnn_bytes)
    assert record.peak_ram_source == "tflite-micro-in-process"
    assert record.peak_ram_bytes == tflite.arena_bytes(cnn_bytes)
    assert record.to_dict()["arena_words"] == record.peak_ram_bytes // 4
    assert record.latency_source == "litert-host"  # the backend's, not the MCU estimate
    profiled = tflite.profile(cnn_bytes, target=board, runs=3, warmup=1)
    assert profiled.peak_ram_source == "tflite-micro-in-process" and profiled.latency_source == "litert-host"
    unknown = board.replace(measured_by="qemu")
    with pytest.raises(ValueError, match="measured by 'qemu'.*known backends"):
        tflite.Measurer(unknown)
    with pytest.raises(ValueError, match="measured_by"):
        tflite.Target("x", measured_by="")
