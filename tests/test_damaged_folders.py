"""Damaged or tampered search folders (issue 29): nothing finished is lost, every damage is one clear error."""

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from keras_nas import tabular
from keras_nas.cli import main
from keras_nas.run_record import SearchDirectoryError


def _table():
    return tabular.TabularBenchmark.from_rows(
        [{"arch": {"w": w, "k": k}, "val_accuracy": 0.5 + w / 100 + k / 1000, "train_seconds": 1}
         for w in (1, 2, 3, 4) for k in (3, 5, 7)]
    )


def _search(tmp_path, max_trials=3, strategy="random"):
    """A finished table search of `max_trials` trials; returns (project dir, how to run it again)."""
    run = dict(seed=1, directory=tmp_path, project_name="p", test_metric=None)
    tabular.run(strategy, _table(), max_trials=max_trials, **run)
    return tmp_path / "p", lambda n: tabular.run(strategy, _table(), max_trials=n, **run)


def _trial_files(project: Path) -> dict:
    return {p.parent.name: p.read_text() for p in project.glob("trial_*/trial.json")}


def _edit_json(path: Path, **changes):
    state = json.loads(path.read_text())
    state.update(changes)
    path.write_text(json.dumps(state))


# -- a damaged oracle.json is rebuilt from the trial files: no finished trial is lost ----------------


ORACLE_DAMAGE = {
    "cut short": lambda path: path.write_text(path.read_text()[:30]),
    "a list": lambda path: path.write_text("[]"),
    "wrong types": lambda path: _edit_json(path, start_order=5, seed="x"),
    "huge retry id": lambda path: _edit_json(path, retry_queue=["99999999999"]),
    "huge retry id as a number": lambda path: _edit_json(path, retry_queue=[99999999999]),
}


@pytest.mark.parametrize("damage", sorted(ORACLE_DAMAGE))
@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_a_damaged_oracle_json_is_rebuilt_and_the_resume_keeps_every_trial(damage, strategy, tmp_path):
    project, again = _search(tmp_path, strategy=strategy)
    finished = _trial_files(project)
    oracle = project / "oracle.json"
    ORACLE_DAMAGE[damage](oracle)
    damaged_text = oracle.read_text()
    with pytest.warns(UserWarning, match=r"oracle\.json was damaged .*kept as oracle\.json\.damaged.*rebuilt "
                                         r"from the 3 trial files.*keeps every finished trial"):
        result = again(5)
    assert (project / "oracle.json.damaged").read_text() == damaged_text
    assert {name: text for name, text in _trial_files(project).items() if name in finished} == finished
    assert [s["trial_id"] for s in result.trajectory] == [f"{i:04d}" for i in range(5)]
    state = json.loads(oracle.read_text())
    assert state["start_order"] == [f"{i:04d}" for i in range(5)] and state["retry_queue"] == []
    # The five architectures differ: the rebuilt state knows what was tried.
    values = [json.loads(t)["hyperparameters"]["values"] for t in _trial_files(project).values()]
    assert len({json.dumps(v, sort_keys=True) for v in values}) == 5
    # A sound oracle.json is left as it is.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        again(5)


# -- a tampered trial folder is one clear error, before anything is written ---------------------------


TRIAL_DAMAGE = {
    "a list": (lambda path: path.write_text("[]"), "holds a JSON list"),
    "an empty object": (lambda path: path.write_text("{}"), "has no trial_id"),
    "an infinite score": (lambda path: _edit_json(path, score=float("inf")), "score inf is not a finite number"),
    "a NaN score": (lambda path: _edit_json(path, score=float("nan")), "score nan is not a finite number"),
    "another trial's id": (lambda path: _edit_json(path, trial_id="0002"), "trial_id '0002' is not its folder"),
    "an unknown status": (lambda path: _edit_json(path, status="WON"), "status 'WON' is none of"),
}


@pytest.mark.parametrize("damage", sorted(TRIAL_DAMAGE))
def test_a_tampered_trial_json_is_a_clear_corrupt_file_error(damage, tmp_path):
    project, again = _search(tmp_path)
    edit, reason = TRIAL_DAMAGE[damage]
    edit(project / "trial_0001" / "trial.json")
    before = sorted(os.listdir(project))
    with pytest.raises(SearchDirectoryError, match=r"corrupt file trial_0001/trial\.json \(.*"
                       + reason.replace("(", r"\(") + r".*To continue, delete the folder .*trial_0001"):
        again(5)
    assert sorted(os.listdir(project)) == before


def test_a_stray_trial_folder_is_a_clear_error_not_thousands_of_lost_trials(tmp_path):
    project, again = _search(tmp_path)
    (project / "trial_3000").mkdir()
    with pytest.raises(SearchDirectoryError, match=r"corrupt trial folder trial_3000.*far beyond the 3 trials"
                                                   r".*To continue, delete that folder"):
        again(5)
    assert sorted(p.name for p in project.glob("trial_*")) == ["trial_0000", "trial_0001", "trial_0002",
                                                               "trial_3000"]
    shutil.rmtree(project / "trial_3000")  # the advice works
    assert [s["trial_id"] for s in again(5).trajectory] == [f"{i:04d}" for i in range(5)]


@pytest.mark.parametrize("change", [{"trial_id": ["0001"]}, {"score": float("inf")}, {"model_sha256": 5}])
def test_a_tampered_winner_json_is_a_clear_error_in_python_and_the_cli(change, tmp_path, capsys):
    from keras_nas import run_record

    project, _ = _search(tmp_path)
    (project / "winner.keras").write_bytes(b"not read")
    (project / "winner.json").write_text(json.dumps({"trial_id": "0001", "score": 0.5, **change}))
    with pytest.raises(SearchDirectoryError, match=r"corrupt file winner\.json.*run the same fit again"):
        run_record.read_winner(project)
    assert main(["export", str(project), "--out", str(tmp_path / "out"), "--formats", "keras", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras-nas export: error: ") and "winner.json" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_report_md_escapes_the_project_name(tmp_path):
    from keras_nas.report import write_report

    name = "# <img src=x>*[a](b)`"
    table = tabular.TabularBenchmark.from_rows(
        [{"arch": {"w": w}, "val_accuracy": 0.5 + w / 100, "train_seconds": 1} for w in (1, 2, 3)])
    tabular.run("random", table, max_trials=2, seed=1, directory=tmp_path, project_name=name, test_metric=None)
    write_report(tmp_path / name)
    title, _, where = (tmp_path / name / "report.md").read_text().splitlines()[:3]
    assert title == r"# keras-nas search report: \# \<img src=x\>\*\[a\]\(b\)\`"
    assert where.startswith(f"Project directory `` {tmp_path / name} ``,")


def test_a_folder_overwrite_refused_keeps_no_lock_file(tmp_path):
    from keras_nas import NASModel
    from keras_nas.datasets import load_digits

    (x, y), (x_val, y_val), _ = load_digits()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    model = NASModel(strategy="random", max_trials=1, seed=1, directory=str(tmp_path), project_name="mine",
                     space="mlp", overwrite=True)
    with pytest.raises(SearchDirectoryError, match="not a keras-nas search directory"):
        model.fit(x[:50], y[:50], validation_data=(x_val[:20], y_val[:20]), epochs=1, verbose=0)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
