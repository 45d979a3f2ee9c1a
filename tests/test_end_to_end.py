"""NASModel.fit end to end on real data (digits) and the real runtimes (LiteRT, TFLite Micro)."""

import json
import shutil
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nas import InfeasibleConstraintsError, NASModel, tflite

CONSTRAINTS = {"flash_kb": 64, "peak_ram_kb": 32}


@pytest.fixture(scope="module")
def searched(digits, tmp_path_factory):
    (x_train, y_train), (x_val, y_val), _ = digits
    directory = tmp_path_factory.mktemp("runs")
    model = NASModel(
        num_classes=10,
        constraints=CONSTRAINTS,
        strategy="evolution",
        max_trials=4,
        strategy_kwargs={"population_size": 2, "sample_size": 2},
        seed=3,
        search_epochs=2,
        finalists=1,  # the finalists' round: tests/test_feasible_first.py, tests/test_finalists.py
        directory=str(directory),
        project_name="digits",
    )
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=4, batch_size=32, verbose=1)
    return model, history, directory


def test_fit_returns_history_of_the_final_training(searched):
    model, history, _ = searched
    assert isinstance(history, keras.callbacks.History)
    assert len(history.history["loss"]) == 4
    assert "val_accuracy" in history.history
    assert isinstance(model.model, keras.Model)


def test_every_trained_candidate_fits_the_board(searched):
    model, _, _ = searched
    trials = model.trials()
    trained = [t for t in trials if t["status"] == "COMPLETED"]
    assert len(trained) == 4
    for trial in trials:
        cost = trial["cost"]
        assert cost is not None and cost["flash_kb"] > 0 and cost["peak_ram_kb"] > 0 and cost["latency_ms"] > 0
        fits = cost["flash_kb"] <= 64 and cost["peak_ram_kb"] <= 32
        assert fits == (trial["status"] == "COMPLETED"), trial
        if trial["status"] == "REJECTED":
            assert "> 64 KB" in trial["message"] or "> 32 KB" in trial["message"]
    for trial in trained:
        assert trial["metrics"]["flash_kb"] == pytest.approx(trial["cost"]["flash_kb"])
    assert model.best_trial_.score == max(t["score"] for t in trained)


def test_behaves_as_the_winning_keras_model(searched, digits, tmp_path, capsys):
    model, _, _ = searched
    _, _, (x_test, y_test) = digits
    probabilities = model.predict(x_test[:5], verbose=0)
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.8, accuracy
    model.summary()
    assert "Total params" in capsys.readouterr().out
    assert model.layers == model.model.layers  # forwarded attributes
    path = tmp_path / "winner.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode: standard layers only
    np.testing.assert_allclose(reloaded.predict(x_test[:5], verbose=0), probabilities, atol=1e-5)


def test_export_int8_and_c_array_run_on_litert_and_tflite_micro(searched, digits, tmp_path, capsys):
    model, _, _ = searched
    _, _, (x_test, y_test) = digits
    report = model.export(tmp_path, formats=["tflite-int8", "c-array"])
    printed = capsys.readouterr().out
    assert "float (Keras)" in printed and "tflite-int8" in printed

    int8 = (tmp_path / "model_int8.tflite").read_bytes()
    assert report["int8_cost"]["flash_bytes"] == len(int8)
    assert report["int8_cost"]["flash_kb"] <= 64 and report["int8_cost"]["peak_ram_kb"] <= 32
    assert report["accuracy"]["tflite-int8"] >= report["accuracy"]["keras"] - 0.05
    assert json.loads((tmp_path / "report.json").read_text())["accuracy"] == report["accuracy"]

    # The C array holds exactly the .tflite bytes, and those bytes run in TFLite Micro.
    assert tflite.read_c_array(tmp_path / "model_data.cc") == int8
    header = (tmp_path / "model_data.h").read_text()
    assert "ArenaSize" in header
    litert = tflite.predict(int8, x_test[:40]).argmax(-1)
    micro = tflite.predict(tflite.read_c_array(tmp_path / "model_data.cc"), x_test[:40], runtime="micro").argmax(-1)
    assert np.mean(litert == micro) >= 0.95
    assert np.mean(micro == y_test[:40]) > 0.75
    if shutil.which("g++"):
        subprocess.run(
            ["g++", "-std=c++17", "-c", str(tmp_path / "model_data.cc"), "-o", str(tmp_path / "model_data.o")],
            check=True, cwd=tmp_path,
        )


def test_search_resumes_without_losing_trials(searched, digits):
    model, _, directory = searched
    (x_train, y_train), (x_val, y_val), _ = digits
    before = {t["trial_id"]: t["score"] for t in model.trials()}
    resumed = NASModel(
        num_classes=10, constraints=CONSTRAINTS, strategy="evolution", max_trials=5,
        strategy_kwargs={"population_size": 2, "sample_size": 2}, seed=3, search_epochs=2,
        directory=str(directory), project_name="digits",
    )
    resumed.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=1, batch_size=32, verbose=0)
    after = {t["trial_id"]: t["score"] for t in resumed.trials()}
    assert {k: after[k] for k in before} == before  # finished trials kept as they were
    assert sum(t["status"] == "COMPLETED" for t in resumed.trials()) == 5


def test_impossible_constraints_name_the_smallest_point_of_the_space(digits, tmp_path):
    (x_train, y_train), (x_val, y_val), _ = digits
    model = NASModel(constraints={"flash_kb": 1}, strategy="random", max_trials=3, seed=0,
                     directory=str(tmp_path), project_name="tiny")
    with pytest.raises(InfeasibleConstraintsError, match=r"No candidate of this space can meet the constraints \(flash_kb <= 1\): after \d+ rejected candidates, its smallest point \(predicted and measured\) needs flash [\d.]+ KB"):
        model.fit(x_train[:200], y_train[:200], validation_data=(x_val, y_val), epochs=1, verbose=0)
    trials = model.trials()
    assert all(t["status"] == "REJECTED" for t in trials if t["status"] != "RUNNING")


def test_fit_on_a_dataset_with_validation_split_semantics(digits, tmp_path):
    (x_train, y_train), (x_val, y_val), _ = digits
    train = tf.data.Dataset.from_tensor_slices((x_train[:300], y_train[:300])).batch(64)
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(64)
    model = NASModel(max_trials=1, strategy="random", seed=5, directory=str(tmp_path), project_name="ds")
    history = model.fit(train, validation_data=val, epochs=1, verbose=0)
    assert model.num_classes == 10 and model.input_shape == (8, 8, 1)
    assert len(history.history["loss"]) == 1
    # And arrays with validation_split, one-hot labels.
    model = NASModel(max_trials=1, strategy="random", seed=5, directory=str(tmp_path), project_name="split")
    model.fit(x_train[:400], np.eye(10)[y_train[:400]], validation_split=0.2, epochs=1, verbose=0)
    assert model.predict(x_val[:3], verbose=0).shape == (3, 10)


def test_search_measurement_bounds_the_shipped_model(searched):
    # Candidates are measured without the signature def (3x faster conversion): within a few
    # hundred bytes of the trained winner's exported file; the same TFLite Micro arena.
    model, _, _ = searched
    row = next(r for r in model.trials() if r["trial_id"] == model.best_trial_.trial_id)
    assert abs(row["cost"]["flash_bytes"] - model.cost_["flash_bytes"]) <= 1024
    assert row["cost"]["peak_ram_bytes"] == model.cost_["peak_ram_bytes"]


def test_near_the_flash_limit_the_shipped_size_decides(digits, tmp_path):
    (x_train, y_train), (x_val, y_val), _ = digits
    probe = NASModel(strategy="random", max_trials=1, seed=6, directory=str(tmp_path), project_name="probe")
    probe.fit(x_train[:300], y_train[:300], validation_data=(x_val, y_val), epochs=1, verbose=0)
    exact = probe.cost_["flash_bytes"]  # the exported size of this architecture
    # The same first candidate (given explicitly: the search would otherwise scale its
    # expert designs to the limit), a limit 100 bytes above its exported size.
    first_values = dict(probe.best_trial_.hyperparameters.values)
    tight = NASModel(constraints={"flash_kb": (exact + 100) / 1024}, strategy="random", max_trials=1,
                     seed=6, directory=str(tmp_path), project_name="tight",
                     initial_architectures=[first_values])
    tight.fit(x_train[:300], y_train[:300], validation_data=(x_val, y_val), epochs=1, verbose=0)
    first = tight.trials()[0]
    assert first["status"] == "COMPLETED"
    assert first["cost"]["flash_bytes"] == exact


def test_pareto_front_and_choosing_a_member(searched, digits):
    model, _, _ = searched
    rows = [r for r in model.trials() if r["status"] == "COMPLETED"]
    front = model.pareto_front()
    assert front and all(r["status"] == "COMPLETED" for r in front)
    keys = ("latency_ms", "peak_ram_kb", "flash_kb")

    def point(r):
        return (r["metrics"]["val_accuracy"], *(-r["metrics"][k] for k in keys))

    for r in rows:
        dominated = any(
            all(a >= b for a, b in zip(point(o), point(r))) and point(o) != point(r) for o in rows
        )
        assert dominated == (r["trial_id"] not in {f["trial_id"] for f in front})
    # The smallest-flash member, chosen by a rule, becomes the model (trained again).
    smallest = min(front, key=lambda r: r["metrics"]["flash_kb"])
    previous = model.best_trial_.trial_id
    model.choose({"minimize": "flash_kb"}, epochs=1)
    assert model.best_trial_.trial_id == smallest["trial_id"]
    assert abs(model.cost_["flash_kb"] - smallest["cost"]["flash_kb"]) < 1.0
    model.choose(previous, epochs=1)
    assert model.best_trial_.trial_id == previous
    with pytest.raises(ValueError, match="Unknown trial"):
        model.choose("9999")
    summary = model.search_summary()
    assert summary["trained"] == 4 and summary["search_seconds"] > 0
