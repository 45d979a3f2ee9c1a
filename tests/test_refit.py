"""The winner trains on all the data `fit` got (refit=True, the default), or on the training data only."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_nas import NASModel
from keras_nas.datasets import load_digits

TINY = dict(constraints={"flash_kb": 64, "peak_ram_kb": 32}, latency_runs=3, finalists=1,
            initial_architectures=None, max_trials=1, seed=3)


class CountSamples(keras.callbacks.Callback):
    """How many samples the last `fit` this callback saw trained on, per epoch."""

    def on_train_begin(self, logs=None):
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


@pytest.fixture(scope="module")
def digits():
    (x, y), (xv, yv), _ = load_digits()
    return x[:320], y[:320], xv[:96], yv[:96]


@pytest.mark.parametrize("refit", [True, False])
def test_the_winner_trains_on_train_and_validation_unless_refit_is_false(digits, tmp_path, refit):
    x, y, xv, yv = digits
    counter = CountSamples()
    model = NASModel(directory=str(tmp_path), project_name="refit", refit=refit, **TINY)
    model.fit(x, y, validation_data=(xv, yv), epochs=1, batch_size=32, callbacks=[counter], verbose=0)
    # The search's candidate trained on the 320 training samples (10 steps); the winner on 416 (13) or 320.
    assert counter.steps == (13 if refit else 10)
    winner = json.loads((Path(model.tuner.project_dir) / "winner.json").read_text())
    assert winner["trained_on"] == ("train+validation" if refit else "train")
    assert winner["search"]["refit"] is refit
    report = model.export(tmp_path / "out", formats=("tflite-int8",), verbose=False)
    assert report["validation_in_training"] is refit
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert ("not held out" in markdown) is refit


def test_refit_on_datasets_and_anomaly_normal_samples_only(digits, tmp_path):
    import tensorflow as tf

    x, y, xv, yv = digits
    counter = CountSamples()
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    model = NASModel(directory=str(tmp_path), project_name="ds", **TINY)
    model.fit(train, validation_data=(xv, yv), epochs=1, callbacks=[counter], verbose=0)
    assert counter.steps == 13  # 10 training batches, then the 96 validation samples in 3 of 32
    # Anomaly: the winner also trains on the validation data's normal samples, never its anomalies.
    normal, labels = xv.reshape(len(xv), -1)[:64], (np.arange(64) % 4 == 0).astype(int)
    counter = CountSamples()
    detector = NASModel(task="anomaly", directory=str(tmp_path), project_name="ad", **TINY)
    detector.fit(x.reshape(len(x), -1), validation_data=(normal, labels), epochs=1, batch_size=16,
                 callbacks=[counter], verbose=0)
    assert counter.steps == (320 + 48) // 16


def test_sample_weight_with_refit_is_refused_at_fit(digits, tmp_path):
    x, y, xv, yv = digits
    model = NASModel(directory=str(tmp_path), **TINY)
    with pytest.raises(ValueError, match="sample_weight.*refit=False"):
        model.fit(x, y, validation_data=(xv, yv), sample_weight=np.ones(len(x)), verbose=0)
    with pytest.raises(TypeError, match="refit"):
        NASModel(refit="no")


def test_search_summary_reports_how_much_of_the_limits_the_trained_candidates_use(digits, tmp_path):
    from keras_nas import run_record

    rows = [
        {"outcome": "trained", "cost": {"flash_kb": 8.0, "peak_ram_kb": 1.0}},
        {"outcome": "trained", "cost": {"flash_kb": 2.0, "peak_ram_kb": 3.5}},
        {"outcome": "trained", "cost": {"flash_kb": 4.0, "peak_ram_kb": 1.0}},
        {"outcome": "rejected", "cost": {"flash_kb": 20.0, "peak_ram_kb": 9.0}},
    ]
    for row in rows:
        row.update(seconds=1.0, measure_seconds=0.1)
    use = run_record.limit_use(rows, {"flash_kb": 10.0, "peak_ram_kb": 4.0})
    assert use["limit_use"]["flash_kb"]["median"] == pytest.approx(0.4)
    assert use["limit_use"]["peak_ram_kb"]["max"] == pytest.approx(0.875)
    # Binding limits: flash 80 %, RAM 87.5 %, flash 40 %: two of three near their limit.
    assert use["near_limit_share"] == pytest.approx(2 / 3)
    # A real search reports it, from the trials' measured costs.
    x, y, xv, yv = digits
    model = NASModel(directory=str(tmp_path), project_name="use", refit=False, **TINY)
    model.fit(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    summary = model.search_summary()
    (row,) = [r for r in model.trials() if r["outcome"] == "trained"]
    assert summary["limit_use"]["flash_kb"]["median"] == pytest.approx(row["cost"]["flash_kb"] / 64)
    assert summary["near_limit_share"] == float(max(row["cost"]["flash_kb"] / 64, row["cost"]["peak_ram_kb"] / 32) > 0.75)
    assert run_record.read_summary(model.tuner.project_dir)["limit_use"] == summary["limit_use"]
