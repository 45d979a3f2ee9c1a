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

from keras_nas import NASModel, commands, run_record, tabular
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

    def save_winner(cost):
        run_record.save_winner(
            project, fitted.model_, fitted.best_trial_, objective=fitted.objective, epochs=1,
            cost=cost, finalist_scores={}, search=fitted.search_settings(),
        )

    def save_half_then_die(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(good[: len(good) // 2])
        raise KeyboardInterrupt("killed during the save")

    with monkeypatch.context() as m:
        m.setattr(keras.Model, "save", save_half_then_die)
        with pytest.raises(KeyboardInterrupt):
            save_winner(fitted.cost_)
    assert (project / "winner.keras").read_bytes() == good
    keras.models.load_model(project / "winner.keras")

    with pytest.raises(TypeError):
        save_winner({"flash_kb": object()})  # not JSON: the write fails half way
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


# -- no silent or wrong results ----------------------------------------------------------------


def test_proxy_screens_proposals_through_nasmodel(digits, tmp_path):
    x, y, x_val, y_val = digits
    model = NASModel(strategy="random", proxy="naswot", proxy_pool_size=3, max_trials=1, seed=2,
                     space="mlp", initial_architectures=None, latency_runs=1, directory=str(tmp_path))
    model.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    screen = model.tuner.oracle.screen
    assert len(screen.last_scores) == 3  # the trained candidate was picked from a pool of 3
    assert model.trials()[0]["status"] == "COMPLETED"


def test_resume_with_tighter_constraints_never_returns_a_winner_over_them(digits, tmp_path):
    x, y, x_val, y_val = digits
    common = dict(strategy="random", max_trials=2, seed=4, space="mlp", initial_architectures=None,
                  latency_runs=1, directory=str(tmp_path), project_name="p")
    first = NASModel(**common)
    first.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    flash = {row["trial_id"]: row["cost"]["flash_kb"] for row in first.trials()}
    big, small = max(flash, key=flash.get), min(flash, key=flash.get)
    assert flash[big] > flash[small]
    # Make the larger candidate the most accurate one, as it often is.
    path = tmp_path / "p" / f"trial_{big}" / "trial.json"
    state = json.loads(path.read_text())
    state["score"] = 1.0
    path.write_text(json.dumps(state))

    limit = flash[big] - 0.01  # tightened: the most accurate no longer fits
    resumed = NASModel(constraints={"flash_kb": limit}, **common)
    with pytest.warns(UserWarning, match=rf"1 trained candidate\(s\) of this search break the current constraints .*trial {big}: flash"):
        resumed.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    assert resumed.best_trial_.trial_id == small

    tighter = NASModel(constraints={"flash_kb": flash[small] - 0.01}, **common)
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match=r"over the current constraints: \['0000', '0001'\]"):
        tighter.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, y, xv, yv: (x, np.where(np.arange(len(y)) == 3, 10**6, y), xv, yv),
         r"largest label is 1000000, so the classifier would have 1000001 classes, more than the"),
        (lambda x, y, xv, yv: (x, np.eye(10)[y] + np.eye(10)[(y + 1) % 10], xv, np.eye(10)[yv]),
         r"2-D training labels are not one-hot: row 0 is"),
        (lambda x, y, xv, yv: (x * 1e30, y, xv, yv), r"`x` has values up to [0-9.]+e\+3[01] in magnitude.*Rescale the inputs"),
        (lambda x, y, xv, yv: (x, y, np.full_like(xv, -1e20), yv), r"`x_val` has values up to 1e\+20"),
    ],
)
def test_bad_labels_and_inputs_fail_at_fit(digits, tmp_path, change, message):
    x, y, x_val, y_val = change(*digits)
    model = NASModel(strategy="random", max_trials=1, directory=str(tmp_path), latency_runs=1)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    assert time.perf_counter() - start < 5  # refused before any candidate is built
    assert not list(tmp_path.glob("*/trial_*"))


def test_validation_sample_weights_are_refused_not_dropped(digits, tmp_path):
    x, y, x_val, y_val = digits
    model = NASModel(strategy="random", max_trials=1, directory=str(tmp_path), latency_runs=1)
    with pytest.raises(ValueError, match=r"sample weights \(x_val, y_val, weights\).*would be ignored"):
        model.fit(x, y, validation_data=(x_val, y_val, np.ones(len(y_val))), epochs=1, verbose=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"search_epochs": 0}, r"`search_epochs` must be a positive integer, got 0"),
        ({"search_epochs": -1}, r"`search_epochs` must be a positive integer, got -1"),
        ({"latency_runs": 0}, r"`latency_runs` must be a positive integer, got 0"),
        ({"seed": "abc"}, r"`seed` must be None or an integer >= 0, got 'abc'"),
        ({"seed": 1.5}, r"`seed` must be None or an integer"),
        ({"proxy_pool_size": 0}, r"`proxy_pool_size` must be a positive integer"),
        ({"strategy_kwargs": {"populaton_size": 4}}, r"Unknown strategy_kwargs \['populaton_size'\] for strategy='evolution' \(RegularizedEvolution\). It accepts: .*'population_size'"),
        ({"strategy": "random", "strategy_kwargs": {"population_size": 4}}, r"Unknown strategy_kwargs \['population_size'\] for strategy='random'"),
        ({"strategy_kwargs": {"seed": 3}}, r"strategy_kwargs sets \['seed'\].*NASModel\(seed=...\)"),
        ({"strategy": "oneshot", "strategy_kwargs": {"supernet_epoch": 3}}, r"Unknown strategy_kwargs \['supernet_epoch'\] for strategy='oneshot'"),
    ],
)
def test_bad_constructor_arguments_fail_at_the_constructor(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NASModel(**kwargs)


def test_a_broken_limit_is_shown_with_the_digits_that_show_it():
    from keras_nas import Constraints

    limits = Constraints.from_dict({"flash_kb": 7.21656})
    assert limits.violations({"flash_kb": 7.22656, "peak_ram_kb": 1, "latency_ms": 1}) == ["flash 7.227 KB > 7.21656 KB"]
    assert limits.violations({"flash_kb": 80.0, "peak_ram_kb": 1, "latency_ms": 1}) == ["flash 80.0 KB > 7.21656 KB"]


def test_good_strategy_kwargs_are_accepted():
    NASModel(strategy_kwargs={"population_size": 6, "sample_size": 2, "max_search_seconds": 60})
    NASModel(strategy="oneshot", strategy_kwargs={"supernet_epochs": 2, "search": "random"})
    NASModel(strategy="darts", strategy_kwargs={"supernet_epochs": 2, "latency_weight": 0.1})


def test_xnnpack_failure_retries_on_builtin_kernels(fitted, monkeypatch):
    from keras_nas import tflite
    from keras_nas.tflite import interpreter as interpreter_module

    model_bytes = tflite.to_tflite(fitted.model, "int8", fitted.data_.representative_x)
    real_cls, name = interpreter_module._resolve_runtime()

    class XnnpackFails:
        """The runtime's interpreter, whose default (XNNPACK) delegate fails to prepare."""

        def __new__(cls, model_content, num_threads=1, **options):
            if "experimental_op_resolver_type" not in options:
                raise RuntimeError("Failed to apply XNNPACK delegate: node 12 (CONV_2D) could not be prepared")
            return real_cls(model_content=model_content, num_threads=num_threads, **options)

    XnnpackFails.__module__ = real_cls.__module__
    monkeypatch.setattr(interpreter_module, "_resolve_runtime", lambda: (XnnpackFails, name))
    with pytest.warns(RuntimeWarning, match="XNNPACK delegate could not prepare this model .*builtin kernels"):
        interpreter = tflite.load_interpreter(model_bytes)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8

    class AlwaysFails(XnnpackFails):
        def __new__(cls, model_content, num_threads=1, **options):
            raise RuntimeError("Op builtin_code out of range: 205")

    AlwaysFails.__module__ = real_cls.__module__
    monkeypatch.setattr(interpreter_module, "_resolve_runtime", lambda: (AlwaysFails, name))
    with pytest.raises(tflite.InvalidModelError, match=r"could not load the model .*Op builtin_code out of range.*truncated or corrupted .* or it uses an op"):
        tflite.load_interpreter(model_bytes)


def test_tabular_reader_names_a_binary_file(tmp_path):
    binary = tmp_path / "table.csv"
    binary.write_bytes(b"arch,val_accuracy\n\xff\xfe\x00\x81garbage")
    with pytest.raises(tabular.TableError, match=r"table\.csv: not a UTF-8 text table \(byte 18 is b'\\xff'\)"):
        tabular.TabularBenchmark.from_file(binary)
    fake_gz = tmp_path / "table.csv.gz"
    fake_gz.write_bytes(b"not gzip at all")
    with pytest.raises(tabular.TableError, match="not a valid gzip file"):
        tabular.TabularBenchmark.from_file(fake_gz)


def test_profile_refuses_a_named_pipe_and_a_huge_file_without_reading(tmp_path, capsys):
    import signal

    from keras_nas.cli import main

    pipe = tmp_path / "model.tflite"
    os.mkfifo(pipe)
    huge = tmp_path / "huge.tflite"
    with open(huge, "wb") as f:  # sparse: 3 GiB that take no disk space
        f.truncate(3 * 2**30)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("profile blocked or read the whole file"))
    signal.alarm(20)
    try:
        assert main(["profile", str(pipe)]) == 2
        assert "is a named pipe, device or socket, not a regular file" in capsys.readouterr().err
        start = time.perf_counter()
        assert main(["profile", str(huge)]) == 2
        assert "has 3.0 GiB; a TFLite flatbuffer holds at most 2 GiB" in capsys.readouterr().err
        assert time.perf_counter() - start < 2
    finally:
        signal.alarm(0)


def test_c_array_registers_the_model_ops_in_real_code(fitted, tmp_path):
    import re
    import shutil

    from keras_nas import tflite
    from keras_nas.tflite.ops import resolver_method

    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ not installed")
    model_bytes = tflite.to_tflite(fitted.model, "int8", fitted.data_.representative_x)
    ops = tflite.model_ops(model_bytes)
    tflite.write_c_array(model_bytes, tmp_path, name="model_data")
    header = (tmp_path / "model_data.h").read_text()
    assert f"constexpr int kModelDataOpCount = {len(ops)};" in header
    # A stand-in for tflite::MicroMutableOpResolver that records the calls.
    methods = "\n".join(f'  int {resolver_method(op)}() {{ std::printf("{resolver_method(op)}\\n"); return 0; }}'
                        for op in ops)
    (tmp_path / "main.cc").write_text(
        "#include <cstdio>\n#include \"model_data.h\"\n"
        f"struct Resolver {{\n{methods}\n}};\n"
        "int main() { Resolver r; return ModelDataRegisterOps(r) ? 0 : 1; }\n"
    )
    subprocess.run([compiler, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-o", "check", "main.cc"],
                   cwd=tmp_path, check=True)
    called = subprocess.run([str(tmp_path / "check")], capture_output=True, text=True, check=True).stdout.split()
    assert called == [resolver_method(op) for op in ops]
    assert not re.search(r"^//\s+resolver\.", header, re.M)  # code, not comments


@pytest.mark.parametrize("strategy", ["oneshot", "darts"])
def test_weight_sharing_strategies_refuse_distributed_mode_as_the_readme_says(strategy, digits, tmp_path,
                                                                              monkeypatch):
    x, y, x_val, y_val = digits
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    model = NASModel(strategy=strategy, max_trials=1, seed=0, directory=str(tmp_path), latency_runs=1)
    with pytest.raises(ValueError, match=r"Weight-sharing strategies \('oneshot', 'darts'\) run in one process"):
        model.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "`darts` train one supernet in one process and refuse it" in readme


# -- install and first contact ---------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_cli_help_is_fast_and_the_package_import_does_not_import_tensorflow():
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    shown = subprocess.run([sys.executable, "-m", "keras_nas.cli", "--help"], capture_output=True, text=True,
                           env=env, check=True)
    assert time.perf_counter() - start < 2.0
    assert "usage: keras-nas" in shown.stdout and "--version" in shown.stdout
    version = subprocess.run([sys.executable, "-m", "keras_nas.cli", "--version"], capture_output=True,
                             text=True, check=True)
    import keras_nas

    assert version.stdout.strip() == f"keras-nas {keras_nas.__version__}"
    probe = ("import sys, keras_nas, keras_nas.cli; assert 'tensorflow' not in sys.modules, 'TF imported'; "
             "from keras_nas import NASModel, Constraints; assert 'tensorflow' in sys.modules")
    subprocess.run([sys.executable, "-c", probe], check=True, env=env)


def test_pyproject_license_and_makefile():
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert not (REPO / "setup.py").exists()
    assert project["tool"]["setuptools"]["package-dir"]["keras_nas.blocks"] == "blocks"
    assert project["tool"]["setuptools"]["package-dir"]["keras_nas.tflite"] == "tflite"
    assert project["project"]["scripts"]["keras-nas"] == "keras_nas.cli:main"
    extras = project["project"]["optional-dependencies"]
    assert set(extras["qat"]) == {"tensorflow-model-optimization", "tf-keras"} and extras["mnist1d"] == ["mnist1d"]
    requirements = {Requirement(r).name: Requirement(r) for r in project["project"]["dependencies"]}
    assert not {"mnist1d", "tf-keras", "tensorflow-model-optimization"} & set(requirements)
    micro = requirements["tflite-micro"]
    assert micro.specifier.contains(importlib.metadata.version("tflite-micro"), prereleases=True)
    assert str(micro.specifier) and "dev0" not in str(micro.specifier)  # pinned, not "any nightly"
    license_text = (REPO / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    makefile = (REPO / "Makefile").read_text()
    assert "$(VENV)/.installed: pyproject.toml" in makefile and ".[test,distributed,qat,mnist1d]" in makefile


def test_missing_mnist1d_names_the_extra(monkeypatch):
    from keras_nas.datasets import load_mnist1d

    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"pip install 'keras-nas\[mnist1d\]'"):
        load_mnist1d(num_samples=100)


# -- plots and the HTML report ---------------------------------------------------------------


def _rows(target=None, source=None):
    rows = []
    for i, (acc, latency, status) in enumerate(
        [(0.80, 0.10, "COMPLETED"), (0.90, 0.30, "COMPLETED"), (None, 0.05, "REJECTED"), (0.85, 0.20, "COMPLETED")]
    ):
        cost = {"latency_ms": latency, "flash_kb": 10.0 + i, "peak_ram_kb": 5.0 + i}
        if target:
            cost.update(target=target, latency_source=source)
        rows.append({"trial_id": f"{i:04d}", "status": status, "score": acc,
                     "metrics": {} if acc is None else {"val_accuracy": acc}, "cost": cost})
    return rows


def test_pareto_plot_legend_is_outside_and_limits_and_latency_source_are_drawn():
    import matplotlib.pyplot as plt

    from keras_nas import plots

    fig = plots.plot_pareto(_rows("cortex-m4", "estimate"), x="latency_ms", winner="0001",
                            limits={"latency_ms": 0.25, "flash_kb": 64})
    try:
        ax = fig.axes[0]
        fig.canvas.draw()
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1  # right of the data: it hides no marker
        assert any(list(line.get_xdata()) == [0.25, 0.25] for line in ax.lines)
        assert ax.get_xlabel() == "latency on cortex-m4: estimate from MAC counts, not measured (ms)"
        assert ax.get_title() == "Pareto front: validation accuracy vs latency"
    finally:
        plt.close(fig)
    fig = plots.plot_pareto(_rows(), x="latency_ms")
    assert fig.axes[0].get_xlabel() == "latency on this host, int8 LiteRT (ms)"
    plt.close(fig)


def test_history_plot_has_integer_trial_ticks():
    import matplotlib.pyplot as plt

    from keras_nas import plots

    fig = plots.plot_history(_rows())
    try:
        ax = fig.axes[0]
        fig.canvas.draw()
        assert all(float(t).is_integer() for t in ax.get_xticks())
        assert ax.get_title() == "Validation accuracy over the search"
        assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
    finally:
        plt.close(fig)


def test_report_html_embeds_its_images(fitted, tmp_path):
    import shutil

    from keras_nas.report import write_report

    report = write_report(fitted, path=tmp_path / "report")
    assert report["plots"]
    moved = tmp_path / "mailed.html"
    shutil.copy(report["files"]["html"], moved)  # alone, without the PNG files
    page = moved.read_text()
    assert page.count("<img src='data:image/png;base64,") == len(report["plots"])
    assert "src='history.png'" not in page


# -- the flash limit holds for the bytes that ship ---------------------------------------------


def test_near_the_flash_limit_the_search_measures_the_file_with_its_metadata(fitted):
    from keras_tuner.engine import trial as trial_module

    from keras_nas import Constraints, tflite
    from keras_nas.export import with_metadata
    from keras_nas.tuner import randomize_weights

    tuner = fitted.tuner
    best = fitted.best_trial_
    recorded = tuner.recorded_cost(best.trial_id)
    trial = trial_module.Trial(best.hyperparameters, trial_id="0099")
    constraints = tuner.constraints
    tuner.constraints = Constraints.from_dict({"flash_kb": recorded["flash_kb"] + 0.5})
    try:
        cost = tuner.measure_candidate(trial)
    finally:
        tuner.constraints = constraints
    model = tuner._try_build(best.hyperparameters)
    randomize_weights(model, tuner.trial_seed(trial))
    shipped = with_metadata(tuner._try_build(best.hyperparameters),
                            tflite.to_tflite(model, "int8", tuner.representative_data))
    assert cost["flash_bytes"] == len(shipped)
    # The winner's recorded flash is the exported file's (no labels).
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        report = fitted.export(out, formats=["tflite-int8"], verbose=False)
    assert fitted.cost_["flash_bytes"] == report["formats"]["tflite-int8"]["size_bytes"]


def test_export_warns_when_the_shipped_int8_file_is_over_the_flash_limit(fitted, tmp_path):
    from keras_nas import Constraints

    report = fitted.export(tmp_path / "a", formats=["tflite-int8"], verbose=False)
    size_kb = report["formats"]["tflite-int8"]["size_bytes"] / 1024
    assert size_kb == (tmp_path / "a" / "model_int8.tflite").stat().st_size / 1024
    constraints = fitted.constraints
    fitted.constraints = Constraints.from_dict({"flash_kb": size_kb - 0.05})
    try:
        with pytest.warns(UserWarning, match=r"exported tflite-int8 file is [0-9.]+ KB, over the flash_kb limit"):
            fitted.export(tmp_path / "b", formats=["tflite-int8"], labels=[str(i) for i in range(10)],
                          verbose=False)
    finally:
        fitted.constraints = constraints


def test_cli_report_and_export_to_an_unwritable_folder_are_one_clear_line(fitted, tmp_path, capsys):
    from keras_nas.cli import main

    (tmp_path / "file").write_text("")
    unwritable = tmp_path / "file" / "out"  # under a regular file: no one can create it
    project = fitted.tuner.project_dir
    assert main(["report", project, "--out", str(unwritable), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras-nas report: error: cannot write the report: ") and len(err.splitlines()) == 1
    config = tmp_path / "data.json"
    config.write_text(json.dumps({"data": {"builtin": "digits", "max_samples": 100}}))
    assert main(["export", project, "--out", str(unwritable), "--data", str(config), "--formats", "keras",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras-nas export: error: cannot write: ") and len(err.splitlines()) == 1


def test_nasmodel_resumes_after_a_trial_folder_was_deleted(digits, tmp_path):
    import shutil

    x, y, x_val, y_val = digits
    common = dict(strategy="random", seed=3, space="mlp", initial_architectures=None, latency_runs=1,
                  directory=str(tmp_path), project_name="p")
    NASModel(max_trials=2, **common).fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    project = tmp_path / "p"
    kept = (project / "trial_0001" / "trial.json").read_text()
    shutil.rmtree(project / "trial_0000")
    resumed = NASModel(max_trials=3, **common)
    resumed.fit(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    rows = {row["trial_id"]: row for row in resumed.trials()}
    assert sorted(rows) == ["0000", "0001", "0002"]
    assert rows["0000"]["status"] == "FAILED" and "Lost" in rows["0000"]["message"]
    assert (project / "trial_0001" / "trial.json").read_text() == kept
    assert rows["0002"]["status"] == "COMPLETED"
    assert resumed.best_trial_.trial_id in ("0001", "0002")
    from keras_nas.report import write_report

    report = write_report(resumed, path=tmp_path / "report")  # the lost trial does not break it
    assert [r["trial_id"] for r in report["trials"]] == ["0000", "0001", "0002"]
