"""`NASModel.load` reopens a finished search read-only; the tuner's best models and summary (issue 27)."""

import hashlib
import os
import shutil

import keras
import numpy as np
import pytest

from keras_nas import NASModel, tflite
from keras_nas.errors import NotFittedError
from keras_nas.search_dir import SearchLock


@pytest.fixture(scope="module")
def searched(digits, tmp_path_factory):
    (x_train, y_train), (x_val, y_val), _ = digits
    directory = tmp_path_factory.mktemp("runs")
    nas = NASModel(
        num_classes=10,
        constraints={"flash_kb": 64, "peak_ram_kb": 32},
        strategy="evolution",
        max_trials=2,
        strategy_kwargs={"population_size": 2, "sample_size": 2},
        seed=3,
        search_epochs=1,
        finalists=1,
        directory=str(directory),
        project_name="digits",
    )
    nas.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=2, batch_size=32, verbose=0)
    return nas, directory


def snapshot(root) -> dict:
    """Every file under `root` with its mtime and SHA-256, and every folder."""
    files, folders = {}, []
    for folder, _, names in os.walk(root):
        folders.append(folder)
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[path] = (os.stat(path).st_mtime_ns, hashlib.sha256(f.read()).hexdigest())
    return {"files": files, "folders": sorted(folders)}


def test_load_round_trips_a_search(searched, digits):
    nas, directory = searched
    (_, _), (x_val, _), (x_test, y_test) = digits
    loaded = NASModel.load(str(directory), "digits")
    assert isinstance(loaded.model, keras.Model) and loaded.model is not nas.model
    np.testing.assert_allclose(loaded.predict(x_test, verbose=0), nas.predict(x_test, verbose=0), atol=1e-6)
    np.testing.assert_allclose(loaded.evaluate(x_test, y_test, verbose=0), nas.evaluate(x_test, y_test, verbose=0),
                               rtol=1e-5)
    assert loaded.best_trial_.trial_id == nas.best_trial_.trial_id
    assert {k: loaded.cost_[k] for k in ("flash_kb", "peak_ram_kb", "latency_ms")} == {
        k: nas.cost_[k] for k in ("flash_kb", "peak_ram_kb", "latency_ms")}

    def ids_and_scores(rows):
        return [(r["trial_id"], r["score"], r["cost"]["flash_kb"]) for r in rows]

    assert ids_and_scores(loaded.pareto_front()) == ids_and_scores(nas.pareto_front())
    assert ids_and_scores(loaded.trials()) == ids_and_scores(nas.trials())
    assert loaded.search_summary()["trained"] == nas.search_summary()["trained"]
    assert loaded.search_settings() == nas.search_settings()
    assert (loaded.strategy, loaded.strategy_kwargs, loaded.seed) == (nas.strategy, nas.strategy_kwargs, nas.seed)
    assert sorted(loaded.tuner.oracle.trials) == sorted(nas.tuner.oracle.trials)
    assert loaded.tuner.get_best_models(1)[0] is loaded.model


def test_export_from_a_loaded_search(searched, digits, tmp_path):
    nas, directory = searched
    (x_train, _), (x_val, y_val), _ = digits
    loaded = NASModel.load(str(directory), "digits")
    with pytest.raises(ValueError, match="x=x_train"):  # it keeps no data: says what to pass
        loaded.export(tmp_path / "no_data", formats=["tflite-int8"], verbose=False)
    report = loaded.export(tmp_path / "out", formats=["tflite-int8"], verbose=False,
                           x=x_train, validation_data=(x_val, y_val))
    content = (tmp_path / "out" / "model_int8.tflite").read_bytes()
    outputs = tflite.predict(content, x_val)
    assert outputs.shape == (len(x_val), 10)
    assert float(np.mean(outputs.argmax(axis=1) == y_val)) > 0.5  # 10 classes: well above chance
    assert report["scores"]["tflite-int8"] > 0.5


def test_load_writes_nothing_and_takes_no_lock(searched, digits, tmp_path, capsys):
    _, directory = searched
    (x_train, _), (x_val, y_val), _ = digits
    project = directory / "digits"
    lock = SearchLock(str(project))  # as a fit running there would hold it
    lock.acquire()
    before = snapshot(project)
    try:
        loaded = NASModel.load(str(directory), "digits")
        loaded.predict(x_val[:4], verbose=0)
        loaded.trials(), loaded.pareto_front(), loaded.search_summary()
        loaded.tuner.results_summary()
        loaded.tuner.get_best_models(1)
        loaded.export(tmp_path / "out", formats=["tflite-int8"], verbose=False, x=x_train)
        after = snapshot(project)
    finally:
        lock.release()
    assert after == before
    with pytest.raises(NotFittedError, match="x=x_train, y=y_train"):  # it keeps no data: says what to give
        loaded.choose({"maximize": "val_accuracy"})
    with pytest.raises(Exception, match="read-only"):  # the reopened oracle never saves
        loaded.tuner.oracle.save()


def test_load_of_a_folder_that_is_no_finished_search_fails_clearly(searched, tmp_path):
    _, directory = searched
    with pytest.raises(FileNotFoundError, match="Check directory and project_name"):
        NASModel.load(str(tmp_path), "missing")
    assert not (tmp_path / "missing").exists()  # nothing created
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    with pytest.raises(FileNotFoundError, match="not a search directory"):
        NASModel.load(str(tmp_path), "plain")
    assert os.listdir(tmp_path / "plain") == ["notes.txt"]
    # A search whose fit did not finish: no winner.
    shutil.copytree(directory / "digits", tmp_path / "unfinished")
    for name in ("winner.keras", "winner.json"):
        (tmp_path / "unfinished" / name).unlink()
    before = snapshot(tmp_path / "unfinished")
    with pytest.raises(FileNotFoundError, match="not a finished keras-nas search.*Run fit to the end"):
        NASModel.load(str(tmp_path), "unfinished")
    assert snapshot(tmp_path / "unfinished") == before


def test_load_of_a_search_on_a_metric_of_the_users(searched, tmp_path):
    # `metrics=[AUC(name="auc")]` with objective val_auc: the metrics are not recorded, the objective is.
    import json

    _, directory = searched
    shutil.copytree(directory / "digits", tmp_path / "digits")
    path = tmp_path / "digits" / "winner.json"
    info = json.loads(path.read_text())
    info["objective"] = info["search"]["objective"] = "val_auc"
    path.write_text(json.dumps(info))
    loaded = NASModel.load(str(tmp_path), "digits")
    assert loaded.objective == "val_auc" and loaded.search_settings()["objective"] == "val_auc"
    assert loaded.task == "classification" and loaded.model is not None


def test_get_best_models_returns_the_final_winner(searched):
    nas, _ = searched
    best = nas.tuner.get_best_models(1)[0]
    assert best is nas.model  # the final training's weights, not the search-epoch candidate
    both = nas.tuner.get_best_models(2)
    assert both[0] is nas.model and len(both) == 2 and both[1] is not nas.model


def test_results_summary_shows_each_trials_cost(searched, capsys):
    nas, _ = searched
    nas.tuner.results_summary(2)
    out = capsys.readouterr().out
    for row in nas.trials():
        cost = row["cost"]
        assert (f"Cost: flash {cost['flash_kb']:.1f} KB, peak RAM {cost['peak_ram_kb']:.1f} KB, "
                f"latency {cost['latency_ms']:.3f} ms (host)") in out
    assert out.count("Cost: flash") == 2
    assert "Final winner" in out


def test_keras_save_model_of_a_nasmodel_says_to_save_its_model(searched, tmp_path):
    nas, _ = searched
    with pytest.raises(TypeError, match=r"keras.saving.save_model\(nas.model, path\)"):
        keras.saving.save_model(nas, str(tmp_path / "nas.keras"))
    keras.saving.save_model(nas.model, str(tmp_path / "winner.keras"))  # what it says works
    assert keras.models.load_model(tmp_path / "winner.keras").count_params() == nas.model.count_params()


def test_choose_after_load_trains_and_records_another_winner(searched, digits, tmp_path):
    nas, directory = searched
    (x_train, y_train), (x_val, y_val), _ = digits
    shutil.copytree(directory / "digits", tmp_path / "digits")  # the module's search stays as it is
    loaded = NASModel.load(str(tmp_path), "digits")
    other = next(row["trial_id"] for row in loaded.trials()
                 if row["status"] == "COMPLETED" and row["trial_id"] != loaded.best_trial_.trial_id)
    history = loaded.choose(other, x=x_train, y=y_train, validation_data=(x_val, y_val), batch_size=32)
    assert len(history.history["loss"]) == 2  # the recorded epochs of the final training
    assert loaded.best_trial_.trial_id == other
    assert loaded.tuner.get_best_models(1)[0] is loaded.model
    again = NASModel.load(str(tmp_path), "digits")
    assert again.best_trial_.trial_id == other
    np.testing.assert_allclose(again.predict(x_val, verbose=0), loaded.predict(x_val, verbose=0), atol=1e-6)
    assert again.search_settings() == nas.search_settings()
    with pytest.raises(TypeError, match="only for a search reopened"):
        nas.choose(other, x=x_train)
