"""The status line a search shows between its per-trial lines (keras_nas.progress)."""

import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_nas import progress  # noqa: E402
from keras_nas.progress import EpochStatus, StatusLine  # noqa: E402


def test_the_line_is_rewritten_in_place_and_left_out_where_it_cannot_be():
    out = io.StringIO()
    line = StatusLine(out, enabled=True)
    line.show("trial 0001: measuring its int8 cost")
    line.show("trial 0001: epoch 1/2")
    line.clear()
    assert out.getvalue() == ("\rtrial 0001: measuring its int8 cost" + "\rtrial 0001: epoch 1/2" + " " * 14
                              + "\r" + " " * 21 + "\r")
    log = io.StringIO()  # a file: not a terminal, no kernel
    StatusLine(log).show("anything")
    assert log.getvalue() == "" or "ipykernel" in __import__("sys").modules

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.default_rng(0).normal(size=(16, 3)), np.arange(16) % 2
    fitted = io.StringIO()
    model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0,
              callbacks=[EpochStatus(StatusLine(fitted, enabled=True), "trial 0002", "val_accuracy")])
    assert "\rtrial 0002: epoch 3/3 val_accuracy 0." in fitted.getvalue()


def test_a_search_at_verbose_1_shows_each_phase(tmp_path, capsys, monkeypatch):
    from keras_nas import NASModel
    from keras_nas.datasets import load_digits

    monkeypatch.setattr(progress, "updates_in_place", lambda stream: True)
    (x, y), (x_val, y_val), _ = load_digits()
    model = NASModel(strategy="random", max_trials=2, search_epochs=2, seed=1, latency_runs=2,
                     constraints={"flash_kb": 64, "peak_ram_kb": 32}, directory=str(tmp_path), project_name="p")
    model.fit(x[:300], y[:300], validation_data=(x_val, y_val), epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "\rtrial 0000: measuring its int8 cost" in out
    assert "\rtrial 0001: epoch 2/2 val_accuracy " in out
    assert "\rfinalist 000" in out and ", fold 3/3: epoch 2/2" in out
    # The per-trial line starts on a clean line: the status line was erased before it.
    assert "\r\nTrial" not in out and all(not line.startswith("trial 0000: epoch") for line in out.split("\n"))
