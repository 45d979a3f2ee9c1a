"""What a search optimises and on how much data: int8 accuracy as the objective, per-trial fidelity."""

import numpy as np
import pytest

from keras_nas import NASModel, tflite
from keras_nas.strategies import NASOracle
from keras_nas.tuner import subsample

CONSTRAINTS = {"flash_kb": 64, "peak_ram_kb": 32}


def test_int8_accuracy_is_the_objective_and_is_measured_on_litert(digits, tmp_path):
    (x_train, y_train), (x_val, y_val), _ = digits
    model = NASModel(
        constraints=CONSTRAINTS, strategy="random", max_trials=2, seed=5,
        objective="int8_val_accuracy", directory=str(tmp_path), project_name="int8",
    )
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=2, verbose=0)
    completed = [row for row in model.trials() if row["status"] == "COMPLETED"]
    assert len(completed) == 2
    for row in completed:
        assert row["score"] == row["metrics"]["int8_val_accuracy"]
        assert 0.0 <= row["score"] <= 1.0
        assert abs(row["score"] - row["metrics"]["val_accuracy"]) < 0.2
    # Both are finalists, trained again: the winner has the best mean of its two int8 scores.
    means = model.finalist_scores_
    assert set(means) == {row["trial_id"] for row in completed}
    assert model.best_trial_.trial_id == max(means, key=means.get)
    # The final model is trained again from the same seed: its int8 accuracy is a real LiteRT figure.
    int8 = tflite.to_tflite(model.model, "int8", x_train[:200])
    assert tflite.accuracy(int8, x_val, y_val) > 0.5


def test_unknown_objective_is_named():
    with pytest.raises(ValueError, match="Unknown objective 'loss'.*int8_val_accuracy"):
        NASModel(objective="loss")


class FixedFidelity(NASOracle):
    """Proposes random architectures, each trained for 3 epochs from epoch 1 on a quarter of the data."""

    def propose(self, trial_id, rng):
        values = self.new_random_values(rng)
        values.update({"tuner/epochs": 3, "tuner/initial_epoch": 1, "nas/data_fraction": 0.25})
        return values


def test_strategy_sets_epochs_and_data_fraction_per_trial(digits, tmp_path):
    (x_train, y_train), (x_val, y_val), _ = digits
    seen = []

    import keras

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, self.params["steps"]))

    model = NASModel(
        constraints=CONSTRAINTS, strategy=FixedFidelity(max_trials=1, seed=2), max_trials=1,
        seed=2, directory=str(tmp_path), project_name="fidelity",
    )
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=2, batch_size=32,
              callbacks=[Record()], verbose=0)
    steps_quarter = int(np.ceil(round(0.25 * len(x_train)) / 32))
    steps_full = int(np.ceil((len(x_train) + len(x_val)) / 32))
    # The trial: epochs 1..2 (initial_epoch 1, epochs 3) on a quarter; the final training (refit): 2 epochs
    # on the training and validation data together.
    assert seen[:2] == [(1, steps_quarter), (2, steps_quarter)]
    assert seen[2:] == [(e, steps_full) for e in range(2)]
    summary = model.tuner.search_summary()
    assert summary["trained"] == 1 and summary["failed"] == 0
    assert 0.0 < summary["measure_share"] < 1.0


def test_subsample_is_a_fixed_subset():
    x = np.arange(100, dtype="float32").reshape(100, 1)
    y = np.arange(100)
    first = subsample((x, y), {}, 0.3, seed=4)
    again = subsample((x, y), {}, 0.3, seed=4)
    assert len(first[0]) == 30
    np.testing.assert_array_equal(first[0][:, 0], first[1])
    np.testing.assert_array_equal(first[0], again[0])
    with pytest.raises(ValueError, match="fraction"):
        subsample((x, y), {}, 1.5, seed=0)


def test_mcu_target_sets_limits_and_latency_is_its_estimate(digits, tmp_path, monkeypatch):
    # The MAC-count fallback: without a TFLite Micro tree the cortex-m4 figures are estimates.
    monkeypatch.delenv("KERAS_NAS_TFLM_DIR", raising=False)
    (x_train, y_train), (x_val, y_val), _ = digits
    target = tflite.get_target("cortex-m4")
    model = NASModel(
        target="cortex-m4", constraints={"latency_ms": 400.0}, strategy="random", max_trials=1,
        seed=4, directory=str(tmp_path), project_name="m4",
    )
    assert model.constraints.flash_kb == target.flash_kb
    assert model.constraints.peak_ram_kb == target.ram_kb
    assert model.constraints.latency_ms == 400.0
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=1, verbose=0)
    row = [r for r in model.trials() if r["status"] == "COMPLETED"][0]
    assert row["cost"]["latency_source"] == "estimate" and row["cost"]["target"] == "cortex-m4"
    assert row["cost"]["host_latency_ms"] < row["cost"]["latency_ms"]  # an M4 at 120 MHz is slower
    int8 = tflite.to_tflite(model.model, "int8", x_train[:200])
    assert model.cost_["latency_ms"] == pytest.approx(target.estimate(int8).median_ms, rel=1e-6)


def test_a_user_named_objective_with_its_direction_drives_the_search(tmp_path):
    # A binary task scored on AUC, a metric only the user's `metrics` report (scikit-learn's
    # bundled breast-cancer data; one-hot labels, which Keras' AUC compares with the softmax).
    import keras
    import keras_tuner
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x, y = x.astype("float32"), keras.utils.to_categorical(y, 2)
    (x_train, y_train), (x_val, y_val) = (x[:400], y[:400]), (x[400:], y[400:])
    model = NASModel(objective=keras_tuner.Objective("val_auc", "max"), metrics=[keras.metrics.AUC(name="auc")],
                     strategy="random", max_trials=2, seed=2, finalists=1,
                     directory=str(tmp_path), project_name="auc")
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=2, verbose=0)
    assert model.tuner.oracle.objective.name == "val_auc" and model.tuner.oracle.objective.direction == "max"
    completed = [row for row in model.trials() if row["status"] == "COMPLETED"]
    assert len(completed) == 2 and all(row["score"] == row["metrics"]["val_auc"] for row in completed)
    assert model.best_trial_.score == max(row["score"] for row in completed) > 0.5
    assert "auc" in model.evaluate(x_val, y_val, return_dict=True, verbose=0)  # the winner compiles it too
    # A minimised one: the winner has the lowest validation loss.
    low = NASModel(objective=keras_tuner.Objective("val_loss", "min"), strategy="random", max_trials=2, seed=2,
                   finalists=1, directory=str(tmp_path), project_name="loss")
    low.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=2, verbose=0)
    scores = [row["score"] for row in low.trials() if row["status"] == "COMPLETED"]
    assert low.best_trial_.score == min(scores)
    assert low.pareto_front()[0]["score"] == min(scores)


def test_a_user_named_objective_must_be_a_reported_validation_metric():
    import keras_tuner

    with pytest.raises(ValueError, match=r"NASModel\(metrics=\[\.\.\.\]\).*val_auc"):
        NASModel(objective=keras_tuner.Objective("val_auc", "max"))
    with pytest.raises(ValueError, match="maximised; got direction='min'"):
        NASModel(objective=keras_tuner.Objective("val_accuracy", "min"))
    with pytest.raises(ValueError, match="Unknown metric 'no_such_metric'"):
        NASModel(metrics=["no_such_metric"])
    with pytest.raises(ValueError, match=r"Valid objectives: \['val_accuracy', 'int8_val_accuracy'\].*keras_tuner"):
        NASModel(objective="val_auc")
