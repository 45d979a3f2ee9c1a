"""Trust (issue 17): nothing is deleted outside a search, bad values fail where they are given."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from keras_nas import NASModel, commands, tabular
from keras_nas.datasets import load_digits
from keras_nas.search_dir import (
    LOCK_FILE,
    MARKER_FILE,
    SearchDirectoryError,
    SearchLock,
    SearchLockedError,
)

BAD_PROJECT_NAMES = ["..", ".", "../../x", "a/b", "/tmp/abs", "", "a\\b"]


@pytest.fixture(scope="module")
def digits():
    (x, y), (x_val, y_val), _ = load_digits()
    return x[:200], y[:200], x_val[:100], y_val[:100]


@pytest.fixture(scope="module")
def fitted(digits, tmp_path_factory):
    """A one-candidate search, trained for one epoch."""
    x, y, x_val, y_val = digits
    directory = tmp_path_factory.mktemp("fitted")
    model = NASModel(strategy="random", max_trials=1, seed=1, latency_runs=1, directory=str(directory),
                     project_name="p", space="mlp")
    model.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    return model


def small_table():
    return tabular.TabularBenchmark.from_rows(
        [{"arch": {"w": w, "k": k}, "val_accuracy": 0.5 + w / 100 + k / 1000, "train_seconds": 1}
         for w in (1, 2, 3, 4) for k in (3, 5, 7)]
    )


# -- project_name is one folder; overwrite deletes only a keras-nas search ---------------


@pytest.mark.parametrize("name", BAD_PROJECT_NAMES)
def test_project_name_must_be_one_folder_name(name, tmp_path):
    with pytest.raises(ValueError, match="project_name"):
        NASModel(directory=str(tmp_path / "a" / "b"), project_name=name, overwrite=True)
    with pytest.raises(ValueError, match="project_name"):
        tabular.run("random", small_table(), max_trials=1, directory=tmp_path, project_name=name,
                    test_metric=None)
    config = {"data": {"builtin": "digits"}, "project_name": name}
    with pytest.raises(commands.ConfigError, match="project_name"):
        commands.check_config(config)


def test_overwrite_refuses_a_folder_or_file_that_is_not_a_search(digits, tmp_path):
    x, y, x_val, y_val = digits
    victim = tmp_path / "thesis"
    victim.mkdir()
    (victim / "chapter1.tex").write_text("years of work")
    model = NASModel(strategy="random", max_trials=1, directory=str(tmp_path), project_name="thesis",
                     overwrite=True, latency_runs=1)
    with pytest.raises(SearchDirectoryError, match=r"not a keras-nas search directory .*chapter1\.tex.*Nothing was deleted"):
        model.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    assert (victim / "chapter1.tex").read_text() == "years of work"

    (tmp_path / "notes.txt").write_text("keep me")
    model = NASModel(strategy="random", max_trials=1, directory=str(tmp_path), project_name="notes.txt",
                     overwrite=True, latency_runs=1)
    with pytest.raises(SearchDirectoryError, match="is not a folder"):
        model.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_overwrite_empties_a_keras_nas_search(tmp_path):
    table = small_table()
    tabular.run("random", table, max_trials=2, seed=1, directory=tmp_path, project_name="p", test_metric=None)
    assert (tmp_path / "p" / MARKER_FILE).is_file() and (tmp_path / "p" / "trial_0001").is_dir()
    tabular.run("random", table, max_trials=1, seed=1, directory=tmp_path, project_name="p", test_metric=None,
                overwrite=True)
    assert not (tmp_path / "p" / "trial_0001").exists()  # the old search is gone, the new one has one trial


def test_tabular_run_resumes_instead_of_overwriting_by_default(tmp_path):
    table = small_table()
    first = tabular.run("random", table, max_trials=3, seed=1, directory=tmp_path, project_name="p",
                        test_metric=None)
    (tmp_path / "p" / "notes.txt").write_text("mine")
    again = tabular.run("random", table, max_trials=3, seed=1, directory=tmp_path, project_name="p",
                        test_metric=None)
    assert (tmp_path / "p" / "notes.txt").read_text() == "mine"
    assert [s["arch"] for s in again.trajectory] == [s["arch"] for s in first.trajectory]


# -- typed CLI config values ----------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"overwrite": "no"}, r"`overwrite` .* must be true or false .*unquoted.*'no'"),
        ({"overwrite": 1}, r"`overwrite` .* must be true or false"),
        ({"max_trials": 0}, r"`max_trials` .* must be a positive integer, got 0"),
        ({"epochs": True}, r"`epochs` .* must be a positive integer, got True"),
        ({"directory": 3}, r"`directory` .* must be a non-empty string"),
        ({"strategy_kwargs": [1]}, r"`strategy_kwargs` .* must be a mapping"),
        ({"data": {"builtin": "digits", "max_samples": -5}}, r"`data.max_samples` .* must be a positive integer, got -5"),
        ({"data": {"builtin": "digits", "validation_split": "x"}}, r"`data.validation_split` .* must be a number in \[0, 1\).*'x'"),
        ({"data": {"builtin": "digits", "validation_split": 1.5}}, r"`data.validation_split`"),
        ({"data": {"npy_x": 3, "npy_y": "y.npy"}}, r"`data.npy_x` .* must be a file name"),
    ],
)
def test_cli_config_values_are_type_checked(change, message):
    config = dict({"data": {"builtin": "digits"}}, **change)
    with pytest.raises(commands.ConfigError, match=message):
        commands.check_config(config, source="search.yaml")


# -- a lost trial never gives its id to another trial ------------------------------------------


def test_corrupt_trial_json_advice_works_and_no_trial_id_is_reused(tmp_path):
    table = small_table()
    run = dict(seed=1, directory=tmp_path, project_name="p", test_metric=None)
    tabular.run("random", table, max_trials=4, **run)
    project = tmp_path / "p"
    finished = (project / "trial_0003" / "trial.json").read_text()
    damaged = project / "trial_0001" / "trial.json"
    damaged.write_text(damaged.read_text()[:40])
    with pytest.raises(SearchDirectoryError, match=r"delete the folder .*trial_0001 \(the resumed search records that trial as lost") as info:
        tabular.run("random", table, max_trials=6, **run)
    # Follow the advice.
    folder = str(info.value).split("delete the folder ")[1].split(" ")[0]
    import shutil

    shutil.rmtree(folder)
    result = tabular.run("random", table, max_trials=6, **run)
    assert (project / "trial_0003" / "trial.json").read_text() == finished  # not overwritten
    ids = [s["trial_id"] for s in result.trajectory]
    assert sorted(ids) == [f"{i:04d}" for i in range(6)]
    lost = json.loads((project / "trial_0001" / "trial.json").read_text())
    assert lost["status"] == "FAILED" and "Lost" in lost["message"]


# -- one process per search directory ------------------------------------------------------


def test_a_second_process_is_refused_and_a_dead_holder_does_not_block(digits, tmp_path):
    x, y, x_val, y_val = digits
    project = tmp_path / "p"
    project.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time\n"
         "f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); f.write('4242'); f.flush()\n"
         "print('locked', flush=True); time.sleep(120)",
         str(project / LOCK_FILE)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        model = NASModel(strategy="random", max_trials=1, directory=str(tmp_path), project_name="p",
                         latency_runs=1)
        with pytest.raises(SearchLockedError, match=r"Another process \(pid 4242\) is running a search in .*p"):
            model.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
        assert os.listdir(project) == [LOCK_FILE]  # refused before anything was written
    finally:
        holder.kill()
        holder.wait()
    # The holder died (as after a SIGKILL): its lock file stays but no longer blocks.
    assert (project / LOCK_FILE).exists()
    SearchLock(str(project)).acquire().release()


def test_fit_releases_the_lock_and_writes_the_winner_atomically(fitted, monkeypatch):
    project = Path(fitted.tuner.project_dir)
    # Released at the end of fit: this process can take it again.
    SearchLock(str(project)).acquire().release()

    good = (project / "winner.keras").read_bytes()
    info = (project / "winner.json").read_text()

    def save_half_then_die(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(good[: len(good) // 2])
        raise KeyboardInterrupt("killed during the save")

    with monkeypatch.context() as m:
        m.setattr(keras.Model, "save", save_half_then_die)
        with pytest.raises(KeyboardInterrupt):
            fitted._save_winner(fitted.best_trial_, 1)
    assert (project / "winner.keras").read_bytes() == good
    keras.models.load_model(project / "winner.keras")

    cost = fitted.cost_
    fitted.cost_ = {"flash_kb": object()}  # not JSON: the write fails half way
    try:
        with pytest.raises(TypeError):
            fitted._save_winner(fitted.best_trial_, 1)
    finally:
        fitted.cost_ = cost
    assert (project / "winner.json").read_text() == info
    assert not [n for n in os.listdir(project) if ".tmp-" in n]


def test_cli_unwritable_directory_is_one_clear_line(tmp_path, capsys):
    from keras_nas.cli import main

    if os.geteuid() == 0:  # root writes anywhere: a path under a file cannot be written either
        (tmp_path / "file").write_text("")
        directory = tmp_path / "file" / "runs"
    else:
        directory = tmp_path / "readonly"
        directory.mkdir()
        directory.chmod(0o500)
    config = tmp_path / "search.json"
    config.write_text(json.dumps({
        "data": {"builtin": "digits", "max_samples": 100}, "strategy": "random", "max_trials": 1,
        "epochs": 1, "latency_runs": 1, "directory": str(directory), "project_name": "p",
    }))
    assert main(["search", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras-nas search: error: cannot write the search or its outputs: ")
    assert "Traceback" not in err and len(err.splitlines()) == 1
