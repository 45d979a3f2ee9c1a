"""Reliability of searches: SIGKILL and resume, damaged or foreign search directories,
failures of every kind recorded with their reason, nothing in a directory executed."""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner
import pytest
import tensorflow as tf

from keras_nas import NASModel
from keras_nas.blocks import Block
from keras_nas.datasets import load_digits
from keras_nas.search_dir import (
    FORMAT_VERSION,
    MARKER_FILE,
    SearchDirectoryError,
    atomic_write_json,
    check_search_marker,
    write_search_marker,
)
from keras_nas.strategies import RandomSearch, RegularizedEvolution

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("_search_script.py")
SOURCES = [ROOT / "keras_nas", ROOT / "blocks", ROOT / "tflite"]


# -- a search killed with SIGKILL mid-trial resumes to the uninterrupted result ----------


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(tmp_path: Path, name: str, run: str) -> tuple[subprocess.Popen, Path]:
    config = {
        "directory": str(tmp_path), "project_name": name, "seed": 5, "strategy": "evolution",
        "max_trials": 3, "n_train": 300, "space": "tiny",
        "strategy_kwargs": {"population_size": 2, "sample_size": 2},
        "out": str(tmp_path / f"{name}-{run}.json"),
    }
    config_path = tmp_path / f"{name}-{run}.cfg"
    config_path.write_text(json.dumps(config))
    log = open(tmp_path / f"{name}-{run}.log", "w")
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(config_path)], stdout=log,
                               stderr=subprocess.STDOUT, env=_clean_env())
    return process, Path(config["out"])


def _finish(process: subprocess.Popen, out: Path, timeout: float = 300) -> dict:
    assert process.wait(timeout) == 0, Path(str(out).replace(".json", ".log")).read_text()[-3000:]
    return json.loads(out.read_text())


def _wait_for_training(project: Path, trial_id: str, process: subprocess.Popen, timeout: float = 240) -> None:
    """Waits until `trial_id` was measured (cost.json) and is training (RUNNING)."""
    deadline = time.monotonic() + timeout
    trial_dir = project / f"trial_{trial_id}"
    while time.monotonic() < deadline:
        assert process.poll() is None, "the search ended before it could be killed"
        if (trial_dir / "cost.json").exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"trial {trial_id} never started training")


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sigkill")
    whole, whole_out = _start(tmp_path, "whole", "whole")
    victim, _ = _start(tmp_path, "split", "killed")
    project = tmp_path / "split"
    _wait_for_training(project, "0001", victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    killed_state = json.loads((project / "oracle.json").read_text())
    killed_trial = json.loads((project / "trial_0001" / "trial.json").read_text())
    sentinel = _plant_pickles(project, tmp_path / "pwned")
    resumed, resumed_out = _start(tmp_path, "split", "resumed")
    return {
        "whole": _finish(whole, whole_out),
        "resumed": _finish(resumed, resumed_out),
        "killed_state": killed_state,
        "killed_trial": killed_trial,
        "resumed_log": (tmp_path / "split-resumed.log").read_text(),
        "sentinel": sentinel,
    }


def _plant_pickles(project: Path, sentinel: Path) -> Path:
    """Pickles that would create `sentinel` if anything unpickled them."""

    class Payload:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    for path in [project / "oracle.pkl", project / "tuner0.pkl", project / "trial_0000" / "checkpoint.pkl",
                 project / "trial_0001" / "trial.pkl"]:
        path.write_bytes(pickle.dumps(Payload()))
    return sentinel


def test_sigkill_mid_trial_then_resume_equals_uninterrupted(killed_and_resumed):
    run = killed_and_resumed
    # The kill really hit trial 0001 while it was running.
    assert run["killed_trial"]["status"] == "RUNNING"
    assert run["killed_state"]["ongoing_trials"] == {"tuner0": "0001"}
    assert "Reloading Tuner" in run["resumed_log"]

    whole, resumed = run["whole"]["trials"], run["resumed"]["trials"]
    assert [t["status"] for t in whole] == ["COMPLETED"] * 3
    assert [t["status"] for t in resumed] == ["COMPLETED"] * 3  # none lost, none stuck RUNNING
    assert [t["trial_id"] for t in resumed] == [t["trial_id"] for t in whole]  # none counted twice
    assert [t["hyperparameters"] for t in resumed] == [t["hyperparameters"] for t in whole]
    # Training under a fixed seed on CPU is bit-exact, the re-run killed trial included.
    assert [t["score"] for t in resumed] == [t["score"] for t in whole]
    assert run["resumed"]["best_score"] == run["whole"]["best_score"]
    assert run["resumed"]["best_trial_id"] == run["whole"]["best_trial_id"]


def test_resuming_never_unpickles_files_of_the_directory(killed_and_resumed):
    """Pickles planted in the killed search's directory were not loaded by the resume."""
    assert not killed_and_resumed["sentinel"].exists()


def test_no_loader_can_execute_code():
    """Static guard: no pickle-based loading, no unsafe Keras deserialization, no eval/exec."""
    forbidden = re.compile(
        r"^\s*(import|from)\s+(pickle|cPickle|dill|cloudpickle|joblib|shelve)\b"
        r"|allow_pickle\s*=\s*True|safe_mode\s*=\s*False|enable_unsafe_deserialization"
        r"|(?<![\w.])(eval|exec)\(|marshal\.loads",
        re.MULTILINE,
    )
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for folder in SOURCES
        for path in folder.rglob("*.py")
        for match in forbidden.finditer(path.read_text())
    ]
    assert offenders == []


# -- a search cut between two file writes is repaired on resume (table, no training) ----

CHOICES = {f"op{i}": [0, 1, 2, 3] for i in range(4)}


class TableTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """Scores an architecture from a table; counts the trials it really runs."""

    runs = 0

    def run_trial(self, trial, *args, **kwargs):
        TableTuner.runs += 1
        values = trial.hyperparameters.values
        return {"val_accuracy": 0.5 + 0.01 * sum(values[k] * (i + 1) for i, k in enumerate(CHOICES))}


def _declare(hp):
    for name, values in CHOICES.items():
        hp.Choice(name, values)


def _table_search(tmp_path, name, max_trials, overwrite=True, cls=RegularizedEvolution):
    kwargs = dict(population_size=3, sample_size=2) if cls is RegularizedEvolution else {}
    tuner = TableTuner(oracle=cls(max_trials=max_trials, seed=3, **kwargs), hypermodel=_declare,
                       directory=str(tmp_path), project_name=name, overwrite=overwrite)
    tuner.oracle.verbose = 0
    TableTuner.runs = 0
    tuner.search()
    return tuner.oracle


def _sequence(oracle):
    return [(i, oracle.trials[i].status, oracle.trials[i].hyperparameters.values, oracle.trials[i].score)
            for i in sorted(oracle.trials)]


def test_killed_after_trial_json_before_oracle_json_is_not_run_twice(tmp_path):
    whole = _table_search(tmp_path, "whole", 6)
    _table_search(tmp_path, "cut", 4)
    # State left by a kill inside `end_trial` after trial_0003/trial.json said COMPLETED
    # but before oracle.json was saved: oracle.json still has 0003 running.
    state_path = tmp_path / "cut" / "oracle.json"
    state = json.loads(state_path.read_text())
    state["end_order"].remove("0003")
    state["ongoing_trials"] = {"tuner0": "0003"}
    state["run_times"].pop("0003")
    state_path.write_text(json.dumps(state))

    resumed = _table_search(tmp_path, "cut", 6, overwrite=False)
    assert TableTuner.runs == 2  # 0004 and 0005; the finished 0003 is not trained again
    assert _sequence(resumed) == _sequence(whole)
    assert resumed.end_order == whole.end_order


def test_killed_inside_create_trial_reruns_the_half_created_trial(tmp_path):
    whole = _table_search(tmp_path, "whole", 6)
    _table_search(tmp_path, "cut", 4)
    # State left by a kill inside `create_trial` after trial_0004/trial.json was written
    # (RUNNING) but before oracle.json knew the trial.
    trial = json.loads((tmp_path / "whole" / "trial_0004" / "trial.json").read_text())
    trial.update(status="RUNNING", score=None, best_step=0, metrics={"metrics": {}})
    (tmp_path / "cut" / "trial_0004").mkdir()
    (tmp_path / "cut" / "trial_0004" / "trial.json").write_text(json.dumps(trial))

    resumed = _table_search(tmp_path, "cut", 6, overwrite=False)
    assert TableTuner.runs == 2  # 0004 (re-run) and 0005
    assert _sequence(resumed) == _sequence(whole)
    assert all(t.status == "COMPLETED" for t in resumed.trials.values())


@pytest.mark.parametrize(
    "damaged, expected",
    [
        ("tuner0.json", r"corrupt file tuner0\.json .*overwrite=True"),
        ("trial_0002/trial.json", r"corrupt file trial_0002/trial\.json .*delete the folder .*trial_0002"),
    ],
)
def test_truncated_file_in_a_resumed_directory_is_named(tmp_path, damaged, expected):
    # A cut-short oracle.json is rebuilt from the trial files instead (tests/test_damaged_folders.py).
    _table_search(tmp_path, "p", 4, cls=RandomSearch)
    path = tmp_path / "p" / damaged
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(SearchDirectoryError, match=expected):
        _table_search(tmp_path, "p", 6, overwrite=False, cls=RandomSearch)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "state.json"
    atomic_write_json(str(path), {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(str(path), {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["state.json"]


# -- a directory from another project or version is refused -----------------------------

INFO = {
    "format_version": FORMAT_VERSION, "keras_nas_version": "0.1.0", "input_shape": [8, 8, 1],
    "num_classes": 10, "space": "ConvSpace(conv_space)", "hyperparameters": "abc",
    "hyperparameter_names": ["a", "b"], "strategy": "RandomSearch", "objective": "val_accuracy",
}


def test_search_marker_checks(tmp_path):
    check_search_marker(str(tmp_path / "new"), INFO)  # nothing there yet: a new search
    write_search_marker(str(tmp_path / "p"), INFO)
    check_search_marker(str(tmp_path / "p"), dict(INFO, keras_nas_version="0.2.0"))  # same format

    other = dict(INFO, input_shape=[40, 1], num_classes=4, hyperparameters="def", hyperparameter_names=["a", "c"])
    with pytest.raises(SearchDirectoryError) as info:
        check_search_marker(str(tmp_path / "p"), other)
    message = str(info.value)
    assert "input_shape: the directory has [8, 8, 1], this search has [40, 1]" in message
    assert "num_classes: the directory has 10, this search has 4" in message
    assert "only in the directory: ['b']; only in this search: ['c']" in message
    assert "overwrite=True" in message and "project_name" in message

    with pytest.raises(SearchDirectoryError, match=r"format version 1; .*reads format version 2 only"):
        check_search_marker(str(tmp_path / "p"), dict(INFO, format_version=2))

    plain = tmp_path / "plain"
    (plain / "trial_00").mkdir(parents=True)
    (plain / "oracle.json").write_text("{}")
    with pytest.raises(SearchDirectoryError, match="without a keras-nas marker"):
        check_search_marker(str(plain), INFO)


def test_fit_refuses_the_directory_of_another_project(tmp_path):
    (x_train, y_train), (x_val, y_val), _ = load_digits()
    project = tmp_path / "digits"
    write_search_marker(str(project), dict(INFO, input_shape=[40, 1], num_classes=4))
    (project / "oracle.json").write_text("{}")
    model = NASModel(strategy="random", max_trials=1, seed=0, directory=str(tmp_path), project_name="digits")
    with pytest.raises(SearchDirectoryError, match=r"belongs to another search \(input_shape: the directory has \[40, 1\], this search has \[8, 8, 1\]; num_classes"):
        model.fit(x_train[:100], y_train[:100], validation_data=(x_val, y_val), epochs=1, verbose=0)
    assert not list(project.glob("trial_*"))  # refused before any trial
    # overwrite=True is the way out that the message names.
    marker = json.loads((project / MARKER_FILE).read_text())
    assert marker["input_shape"] == [40, 1]


# -- failures of every kind are recorded with their reason; the search goes on ------------


class OutOfMemoryInTraining(keras.layers.Layer):
    """Identity at inference (so it converts and measures); out of memory when training."""

    def call(self, inputs, training=None):
        if training:
            raise tf.errors.ResourceExhaustedError(
                None, None, "OOM when allocating tensor with shape[32,8,8,4096] and type float"
            )
        return inputs


class ErfInv(keras.layers.Layer):
    """An op with no TFLite builtin kernel: the int8 conversion fails."""

    def call(self, inputs):
        return keras.ops.erfinv(keras.ops.clip(inputs * 0.01, -0.5, 0.5))


class FailureProbe(Block):
    """A space whose 'kind' choice builds a plain candidate, one that runs out of memory
    in training, or one the int8 converter cannot convert."""

    def build(self, hp, inputs):
        kind = hp.Choice("kind", ["plain", "oom", "unconvertible"])
        x = keras.layers.Conv2D(hp.Choice("filters", [4, 8]), 3, padding="same", activation="relu",
                                name=f"{self.name}_conv")(inputs)
        if kind == "oom":
            x = OutOfMemoryInTraining(name=f"{self.name}_oom")(x)
        elif kind == "unconvertible":
            x = ErfInv(name=f"{self.name}_erfinv")(x)
        return x


class KindsInOrder(RandomSearch):
    """Random candidates whose 'kind' follows a fixed order: each failure kind, then a plain one."""

    ORDER = ["oom", "unconvertible", "plain"]

    def propose(self, trial_id, rng):
        kind = self.ORDER[len(self.trials) % len(self.ORDER)]
        return self.random_values(rng, base={"failure_probe/kind": kind})


def test_out_of_memory_and_converter_failures_are_recorded_and_the_search_goes_on(tmp_path):
    (x_train, y_train), (x_val, y_val), _ = load_digits()
    model = NASModel(space=FailureProbe(), strategy=KindsInOrder(max_trials=3, seed=1), latency_runs=3,
                     directory=str(tmp_path), project_name="failures")
    model.fit(x_train[:200], y_train[:200], validation_data=(x_val, y_val), epochs=1, verbose=0)
    trials = {t["hyperparameters"]["failure_probe/kind"]: t for t in model.trials()}
    assert list(trials) == KindsInOrder.ORDER

    oom = trials["oom"]
    assert oom["status"] == "FAILED"
    assert oom["message"].startswith(
        "Out of memory while building or training this "
        "candidate (ResourceExhaustedError: OOM when allocating tensor"
    ), oom["message"]
    assert "Lower batch_size, search a smaller space" in oom["message"]
    assert oom["cost"] is not None  # it was measured (inference fits) and failed in training

    unconvertible = trials["unconvertible"]
    assert unconvertible["status"] == "FAILED"
    assert "could not be converted to int8 TFLite" in unconvertible["message"]
    assert "Erfinv" in unconvertible["message"]
    assert unconvertible["cost"] is None

    # The search went on after two failures and trained the plain candidate: the winner.
    assert trials["plain"]["status"] == "COMPLETED"
    assert model.best_trial_.trial_id == trials["plain"]["trial_id"]
