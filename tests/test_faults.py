"""Faults (issue 29): nothing a user wrote is lost, bad values fail at the call with a clear error."""

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_nas import export as export_module
from keras_nas.cli import main
from keras_nas.export import EXPORT_MARKER, ExportFolderError, export_model


def tiny_model(seed: int = 0) -> keras.Model:
    """A small dense classifier (8 features, 3 classes) with seeded weights."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8,))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(4, activation="relu")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _export(model, out, formats=("tflite-float32",), **kwargs):
    return export_model(model, out, list(formats), verbose=False, **kwargs)


# -- export never deletes, overwrites or writes through a link what it did not write --------------


def test_export_refuses_a_users_saved_model_folder_and_deletes_nothing(model, tmp_path):
    (tmp_path / "saved_model").mkdir()
    (tmp_path / "saved_model" / "my_notes.txt").write_text("years of work")
    with pytest.raises(ExportFolderError, match=r"saved_model.*another folder.*remove"):
        _export(model, tmp_path, ["saved-model"])
    assert (tmp_path / "saved_model" / "my_notes.txt").read_text() == "years of work"


def test_export_refuses_to_overwrite_files_it_did_not_write(model, tmp_path):
    (tmp_path / "model_float32.tflite").write_bytes(b"my own model")
    (tmp_path / "report.json").write_text('{"mine": true}')
    (tmp_path / "unrelated.txt").write_text("left alone")
    with pytest.raises(ExportFolderError) as error:
        _export(model, tmp_path)
    message = str(error.value)
    assert "model_float32.tflite" in message and "report.json" in message and "Nothing was written" in message
    assert (tmp_path / "model_float32.tflite").read_bytes() == b"my own model"
    assert (tmp_path / "report.json").read_text() == '{"mine": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_float32.tflite", "report.json", "unrelated.txt"]


def test_export_never_writes_through_a_symlink(model, tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "model_float32.tflite").symlink_to(outside)
    with pytest.raises(ExportFolderError, match=r"model_float32\.tflite \(a symbolic link\)"):
        _export(model, out)
    assert outside.read_bytes() == b"precious"
    # Even a link that an earlier export's marker names is refused.
    out2 = tmp_path / "out2"
    _export(model, out2)
    (out2 / "report.md").unlink()
    (out2 / "report.md").symlink_to(outside)
    with pytest.raises(ExportFolderError, match=r"report\.md \(a symbolic link\)"):
        _export(model, out2)
    assert outside.read_bytes() == b"precious"


def test_export_replaces_its_own_earlier_export_but_not_a_file_edited_since(model, tmp_path):
    _export(model, tmp_path, ["tflite-float32", "saved-model"])
    assert (tmp_path / EXPORT_MARKER).is_file() and (tmp_path / "saved_model").is_dir()
    first = (tmp_path / "model_float32.tflite").read_bytes()
    _export(tiny_model(seed=1), tmp_path, ["tflite-float32", "saved-model"])  # an earlier export: replaced
    assert (tmp_path / "model_float32.tflite").read_bytes() != first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    (tmp_path / "model_float32.tflite").write_bytes(b"edited by hand")
    with pytest.raises(ExportFolderError, match="model_float32.tflite"):
        _export(model, tmp_path)
    assert (tmp_path / "model_float32.tflite").read_bytes() == b"edited by hand"


def test_export_is_atomic_a_failure_leaves_the_earlier_export(model, tmp_path, monkeypatch):
    _export(model, tmp_path, ["tflite-float32"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def fail(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(export_module, "export_saved_model", fail)
    with pytest.raises(RuntimeError, match="killed"):
        _export(tiny_model(seed=2), tmp_path, ["tflite-float32", "saved-model"])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_export_refuses_a_search_directory(model, tmp_path):
    (tmp_path / "keras_nas.json").write_text("{}")
    (tmp_path / "report.json").write_text('{"search": 1}')
    with pytest.raises(ExportFolderError, match="search directory"):
        _export(model, tmp_path)
    assert (tmp_path / "report.json").read_text() == '{"search": 1}'


def _fake_search(project: Path, model) -> Path:
    """A search directory holding only what `keras-nas export` reads: a winner and its settings."""
    project.mkdir(parents=True)
    (project / "oracle.json").write_text("{}")
    (project / "keras_nas.json").write_text(json.dumps({"format_version": 1}))
    (project / "report.json").write_text('{"the search": "report"}')
    model.save(project / "winner.keras")
    (project / "winner.json").write_text(json.dumps({"trial_id": "0000"}))
    return project


def test_cli_export_into_the_search_folder_or_over_user_files_is_refused(model, tmp_path, capsys):
    project = _fake_search(tmp_path / "runs" / "p", model)
    assert main(["export", str(project), "--out", str(project), "--formats", "tflite-float32", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "search directory" in err and (project / "report.json").read_text() == '{"the search": "report"}'
    out = tmp_path / "out"
    out.mkdir()
    (out / "model_float32.tflite").write_bytes(b"mine")
    assert main(["export", str(project), "--out", str(out), "--formats", "tflite-float32", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-nas export: error: ") and "model_float32.tflite" in err
    assert (out / "model_float32.tflite").read_bytes() == b"mine"
    assert main(["export", str(project), "--out", str(tmp_path / "new"), "--formats", "tflite-float32",
                 "--quiet"]) == 0
    assert (tmp_path / "new" / "model_float32.tflite").stat().st_size > 0


# -- boolean arguments are booleans ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["no", "false", 0, 1, None])
def test_overwrite_must_be_a_boolean(value, tmp_path):
    from keras_nas import NASModel

    with pytest.raises(TypeError, match=r"`overwrite` must be True or False.*" + repr(value).replace("'", ".")):
        NASModel(directory=str(tmp_path), project_name="p", overwrite=value)


def test_export_verbose_must_be_a_boolean(model, tmp_path):
    with pytest.raises(TypeError, match=r"`verbose` must be True or False"):
        export_model(model, tmp_path / "out", ["tflite-float32"], verbose="no")
    assert not (tmp_path / "out").exists()


# -- benchmarks never overwrite finished results --------------------------------------------------


@pytest.mark.parametrize("script, option, extra", [
    ("bench_tabular", "--output", []), ("bench_strategies", "--output", []),
    ("bench_weight_sharing", "--output", []), ("bench_tasks", "--json", []),
    ("bench_expert", "--json", ["--task", "digits"]), ("bench_recipe", "--json", []),
])
def test_benchmarks_refuse_an_existing_results_file(script, option, extra, tmp_path, monkeypatch):
    import importlib
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).parent.parent / "benchmarks"))
    module = importlib.import_module(script)
    finished = tmp_path / "results.json"
    finished.write_text('{"hours": "of results"}')
    with pytest.raises(SystemExit, match=rf"results\.json exists.*another {option} path"):
        module.main([*extra, option, str(finished)])
    assert finished.read_text() == '{"hours": "of results"}'
    sys.modules.pop(script, None)


# -- winner.keras and winner.json are one unit ------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A one-candidate search, trained for one epoch."""
    from keras_nas import NASModel
    from keras_nas.datasets import load_digits

    (x, y), (x_val, y_val), _ = load_digits()
    directory = tmp_path_factory.mktemp("fitted")
    nas = NASModel(strategy="random", max_trials=1, seed=1, latency_runs=1, directory=str(directory),
                   project_name="p", space="mlp")
    nas.fit(x[:200], y[:200], validation_data=(x_val[:100], y_val[:100]), epochs=1, verbose=0)
    return nas


def test_a_winner_keras_that_is_not_winner_json_s_is_refused_clearly(fitted, model, tmp_path, capsys):
    from keras_nas import run_record

    project = Path(fitted.tuner.project_dir)
    assert run_record.load_winner_model(project).count_params() == fitted.model_.count_params()
    good = (project / "winner.keras").read_bytes()
    try:
        # Killed between the two files: a new winner.keras beside the old winner.json.
        model.save(project / "winner.keras")
        with pytest.raises(run_record.SearchDirectoryError, match=r"winner\.keras is not the model winner\.json "
                           r"describes.*run the same fit again"):
            run_record.load_winner_model(project)
        # A truncated file whose digest is recorded nowhere (an old directory): one clear error too.
        info = json.loads((project / "winner.json").read_text())
        digest = info.pop("model_sha256")
        (project / "winner.json").write_text(json.dumps(info))
        (project / "winner.keras").write_bytes(good[: len(good) // 2])
        with pytest.raises(run_record.SearchDirectoryError, match=r"cannot be loaded.*run the same fit again"):
            run_record.load_winner_model(project)
        assert main(["export", str(project), "--out", str(tmp_path / "o"), "--formats", "keras", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("keras-nas export: error: ") and len(err.splitlines()) == 1
        info["model_sha256"] = digest
        (project / "winner.json").write_text(json.dumps(info))
    finally:
        (project / "winner.keras").write_bytes(good)
    run_record.load_winner_model(project)


# -- tabular.run writes into and empties only its own folders, under a lock ---------------------------


def _small_table():
    from keras_nas import tabular

    return tabular.TabularBenchmark.from_rows(
        [{"arch": {"w": w, "k": k}, "val_accuracy": 0.5 + w / 100 + k / 1000, "train_seconds": 1}
         for w in (1, 2, 3) for k in (3, 5)]
    )


@pytest.mark.parametrize("overwrite", [False, True])
def test_tabular_run_never_touches_a_nasmodel_search_or_a_users_folder(overwrite, tmp_path):
    from keras_nas import tabular
    from keras_nas.search_dir import SearchDirectoryError

    search = tmp_path / "search"
    (search / "trial_0000").mkdir(parents=True)
    (search / "keras_nas.json").write_text(json.dumps({"format_version": 1, "input_shape": [8], "space": "MLP"}))
    (search / "oracle.json").write_text('{"the": "search"}')
    (search / "trial_0000" / "trial.json").write_text('{"trial_id": "0000"}')
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work")
    for folder, what in ((search, "a NASModel search"), (thesis, r"chapter1\.tex")):
        before = sorted((p.relative_to(folder), p.read_bytes() if p.is_file() else None) for p in folder.rglob("*"))
        with pytest.raises(SearchDirectoryError, match=rf"not a tabular search's folder: it holds {what}.*nothing was "
                                                       "written or deleted"):
            tabular.run("random", _small_table(), max_trials=2, seed=1, directory=tmp_path,
                        project_name=folder.name, test_metric=None, overwrite=overwrite)
        after = sorted((p.relative_to(folder), p.read_bytes() if p.is_file() else None) for p in folder.rglob("*"))
        assert after == before  # not even a lock file


def test_tabular_run_takes_the_search_lock(tmp_path):
    from keras_nas import tabular
    from keras_nas.search_dir import SearchLock, SearchLockedError

    with SearchLock(str(tmp_path / "p")):
        with pytest.raises(SearchLockedError):
            tabular.run("random", _small_table(), max_trials=2, seed=1, directory=tmp_path, project_name="p",
                        test_metric=None)
    run = tabular.run("random", _small_table(), max_trials=2, seed=1, directory=tmp_path, project_name="p",
                      test_metric=None)
    assert len(run.trajectory) == 2


# -- a config's plugins are code: run only by `keras-nas search --allow-plugins`, after validation ----


def _plugin_config(tmp_path, name="search.json", **extra) -> Path:
    """A config whose plugin leaves a file `ran` beside it when it is imported."""
    ran = tmp_path / "ran"
    (tmp_path / "evil.py").write_text(f"open({str(ran)!r}, 'w').write('imported')\n")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(40, 8)).astype("float32"))
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 40))
    config = {"data": {"npy_x": "x.npy", "npy_y": "y.npy"}, "plugins": ["evil.py"], **extra}
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def test_a_configs_plugins_are_not_run_unless_allowed_and_never_before_validation(tmp_path):
    from keras_nas import commands

    path = _plugin_config(tmp_path)
    commands.load_config(path)
    assert not (tmp_path / "ran").exists()
    bad = _plugin_config(tmp_path, "bad.json", no_such_key=1)
    with pytest.raises(commands.ConfigError, match="no_such_key"):
        commands.load_config(bad, allow_plugins=True)
    assert not (tmp_path / "ran").exists()  # validated first: the bad config ran nothing
    commands.load_config(path, allow_plugins=True)
    assert (tmp_path / "ran").read_text() == "imported"


def test_cli_search_runs_plugins_only_with_allow_plugins_and_export_never(model, tmp_path, capsys):
    path = _plugin_config(tmp_path, strategy="from-the-plugin", directory=str(tmp_path / "runs"))
    assert main(["search", "--config", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--allow-plugins" in err and not (tmp_path / "ran").exists()
    project = _fake_search(tmp_path / "runs" / "p", model)
    assert main(["export", str(project), "--out", str(tmp_path / "out"), "--data", str(path),
                 "--formats", "tflite-float32", "--quiet"]) == 0
    assert not (tmp_path / "ran").exists()
    # With --allow-plugins the plugin runs (it registers nothing, so the strategy stays unknown).
    assert main(["search", "--config", str(path), "--quiet", "--allow-plugins"]) == 2
    assert (tmp_path / "ran").read_text() == "imported"


# -- bad numbers fail at the call ------------------------------------------------------------------


def test_a_huge_num_classes_fails_at_the_constructor(tmp_path):
    from keras_nas import NASModel

    with pytest.raises(ValueError, match=r"`num_classes` must be at most 10,000.*got 1,000,000.*np\.unique"):
        NASModel(num_classes=10**6, directory=str(tmp_path), project_name="p")
    NASModel(num_classes=10, directory=str(tmp_path), project_name="p")


# -- class names: one printable line each, one per class, refused before any work ------------------


@pytest.mark.parametrize("labels, message", [
    (["cat", "dog\nrm -rf", "bird"], "one printable line"),
    (["cat", "", "bird"], "non-empty"),
    (["zero", "one", "two", "three"], "4 labels for a classifier of 3 classes"),
    ("cat dog bird", "must be a list"),
])
def test_export_refuses_bad_class_names_before_writing(model, tmp_path, labels, message):
    out = tmp_path / "out"
    with pytest.raises((ValueError, TypeError), match=message):
        _export(model, out, formats=("tflite-float32", "c-array"), labels=labels,
                representative_data=np.zeros((4, 8), "float32"))
    assert not out.exists()


def test_cli_search_refuses_bad_labels_before_searching(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(40, 8)).astype("float32"))
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 40))
    base = {"data": {"npy_x": "x.npy", "npy_y": "y.npy"}, "directory": str(tmp_path / "runs"),
            "project_name": "p", "max_trials": 1}
    newline = tmp_path / "newline.json"
    newline.write_text(json.dumps({**base, "labels": ["a", "b\nc", "d"]}))
    assert main(["search", "--config", str(newline), "--quiet"]) == 2
    assert "one printable line" in capsys.readouterr().err
    three_for_ten = tmp_path / "count.json"
    three_for_ten.write_text(json.dumps({**base, "labels": ["a", "b"]}))
    assert main(["search", "--config", str(three_for_ten), "--quiet"]) != 0
    assert "2 labels for a classifier of 3 classes" in capsys.readouterr().err
    assert not list((tmp_path / "runs").glob("p/trial_*"))  # refused before any trial


def test_anomaly_with_a_classifier_space_is_a_clear_error(tmp_path):
    """`space="mlp"` ends in hidden units, not a reconstruction: it failed with a raw TF shape error."""
    from keras_nas import NASModel

    x = np.random.default_rng(0).normal(size=(60, 8)).astype("float32")
    model = NASModel(space="mlp", task="anomaly", max_trials=1, search_epochs=1, finalists=1,
                     directory=str(tmp_path), project_name="p")
    with pytest.raises(ValueError, match=r"needs outputs of shape \(8,\) per sample.*gives \(16,\).*space='autoencoder'"):
        model.fit(x, validation_data=x[:20], epochs=1, verbose=0)


def test_cli_export_from_a_read_only_search_refuses_before_writing_outputs(model, tmp_path, capsys, monkeypatch):
    """It wrote the outputs, then reported "cannot write" (the search folder records the export)."""
    from keras_nas import run_record

    project = _fake_search(tmp_path / "runs" / "p", model)

    def read_only(project_dir, info):
        raise PermissionError(13, "Permission denied", str(project_dir))

    monkeypatch.setattr(run_record, "save_search_info", read_only)
    out = tmp_path / "out"
    assert main(["export", str(project), "--out", str(out), "--formats", "tflite-float32", "--quiet"]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not out.exists()


def test_ctrl_c_during_a_cli_search_says_how_to_resume_without_a_traceback(tmp_path, capsys, monkeypatch):
    from keras_nas import NASModel

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(NASModel, "fit", interrupted)
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(40, 8)).astype("float32"))
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 40))
    config = tmp_path / "search.json"
    config.write_text(json.dumps({"data": {"npy_x": "x.npy", "npy_y": "y.npy"}, "directory": str(tmp_path / "runs"),
                                  "project_name": "p", "max_trials": 1}))
    assert main(["search", "--config", str(config), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "stopped (Ctrl-C)" in err and "run the same command again" in err and "Traceback" not in err


@pytest.mark.parametrize("scale", [1e20, 1e300])
def test_huge_regression_targets_fail_at_fit_not_in_the_runtime(tmp_path, scale):
    """Targets near 1e20 segfaulted inside LiteRT (float32 variance overflow); near 1e300 the error
    blamed the learning rate."""
    from keras_nas import NASModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype("float32")
    y = rng.normal(size=60) * scale
    model = NASModel(task="regression", max_trials=1, finalists=1, directory=str(tmp_path), project_name="p")
    with pytest.raises(ValueError, match=r"targets up to .*e\+(20|300) in magnitude.*Rescale the targets"):
        model.fit(x[:40], y[:40], validation_data=(x[40:], y[40:]), epochs=1, verbose=0)
    assert not list(tmp_path.glob("p/trial_*"))
