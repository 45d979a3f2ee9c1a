"""The run record: one module owns the search directory, outcomes are recorded, old directories still work."""

import ast
import json
import re
import shutil
from pathlib import Path

import keras_tuner
import numpy as np
import pytest
from keras_tuner.engine import trial as trial_module

from keras_nas import NASModel, distributed, run_record, tabular
from keras_nas.cli import main
from keras_nas.datasets import load_digits
from keras_nas.strategies import get_strategy

PACKAGE = Path(run_record.__file__).parent
ROOT = PACKAGE.parent
OLD_SEARCH = ROOT / "tests" / "data" / "old_search" / "old"
TABLES = ROOT / "tests" / "data" / "tabular"


def package_sources():
    """Every Python file of the package: keras_nas/ and the folders mapped into it (blocks/, tflite/)."""
    for folder in (PACKAGE, ROOT / "blocks", ROOT / "tflite"):
        yield from sorted(folder.rglob("*.py"))


# -- one home ---------------------------------------------------------------------------------


def string_literals(path: Path) -> set[str]:
    """The strings a module's code spells (docstrings left out; f-strings by their literal parts)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def test_the_search_directory_file_names_are_spelled_in_the_run_record_only():
    names = {
        run_record.MARKER_FILE, run_record.LOCK_FILE, run_record.ORACLE_FILE, run_record.LATENCY_CACHE_FILE,
        run_record.TRIAL_FILE, run_record.COST_FILE, run_record.TIMING_FILE, run_record.WINNER_MODEL,
        run_record.WINNER_INFO, run_record.SEARCH_INFO, run_record.HISTORY_PLOT, run_record.SUPERNET_WEIGHTS,
        run_record.DARTS_FILE, *run_record.REPORT_FILES.values(), run_record.TRIAL_PREFIX,
    }
    # The export folder (not a search directory) has its own report.json and report.md.
    export_folder = {run_record.REPORT_FILES["json"], run_record.REPORT_FILES["md"]}
    found = {}
    for path in package_sources():
        for literal in string_literals(path):
            # "trial.json", "runs/x/trial.json", "trial_*", f"trial_{id}" (whose literal part is "trial_")
            name = literal.rsplit("/", 1)[-1].rstrip("*")
            if name in names:
                found.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    for name, modules in found.items():
        allowed = {"keras_nas/run_record.py"} | ({"keras_nas/export.py"} if name in export_folder else set())
        assert modules <= allowed, f"{name!r} spelled in {sorted(modules)}"
    assert set(found) == names  # the check sees them where they are spelled


def test_no_code_but_the_legacy_reader_looks_for_a_rejection_in_a_message():
    users = {
        path.relative_to(ROOT).as_posix()
        for path in package_sources()
        if "REJECTION_MARKER" in path.read_text() or "is_rejection" in path.read_text()
    }
    # failure_text.py defines the marker, errors.py writes it (CandidateRejected); run_record
    # reads it in old directories only.
    assert users == {"keras_nas/failure_text.py", "keras_nas/errors.py", "keras_nas/run_record.py"}
    source = (PACKAGE / "run_record.py").read_text()
    start = source.index("def _legacy_rejection_reason")
    end = source.index("\ndef ", start + 1)
    outside = source[:start] + source[end:]
    assert outside.count("REJECTION_MARKER") == 1  # its import; every use is in the legacy reader


# -- the outcome is a recorded field ----------------------------------------------------------


def test_a_rejection_is_recorded_with_the_trial_and_read_without_its_message(tmp_path):
    table = tabular.TabularBenchmark.from_file(TABLES / "values_synthetic.jsonl")
    tabular.run("random", table, max_trials=6, seed=1, constraints={"flash_kb": 10},
                directory=tmp_path, project_name="t")
    project = tmp_path / "t"
    rows = run_record.read_trials(project)
    rejected = [r for r in rows if r["status"] == "REJECTED"]
    assert rejected and len([r for r in rows if r["status"] == "COMPLETED"]) == 6
    for row in rows:
        state = json.loads((project / f"trial_{row['trial_id']}" / "trial.json").read_text())
        assert state["outcome"]["status"] == row["outcome"]
    for row in rejected:
        assert re.fullmatch(r"flash_kb [\d.]+ > 10", row["message"]), row["message"]
        # The outcome is the recorded field: a message without the marker does not change it.
        path = project / f"trial_{row['trial_id']}" / "trial.json"
        state = json.loads(path.read_text())
        state["message"] = "anything"
        path.write_text(json.dumps(state))
    assert run_record.read_trials(project) == rows
    # A resumed strategy reads the recorded outcomes back: rejections still do not spend the budget.
    oracle = get_strategy("random", objective=keras_tuner.Objective("val_accuracy", "max"),
                                  max_trials=6, seed=1)
    oracle._set_project_dir(str(tmp_path), "t")
    oracle.reload()
    assert oracle.rejected_count() == len(rejected) and oracle.trained_count() == 6
    summary = run_record.read_summary(project)
    assert (summary["trials"], summary["trained"], summary["rejected"], summary["failed"]) == (
        len(rows), 6, len(rejected), 0)


def test_a_workers_outcome_reaches_the_chief():
    # Keras Tuner's gRPC Trial carries metrics only: the outcome travels as a metric name.
    trial = trial_module.Trial(keras_tuner.HyperParameters(), trial_id="0007",
                               status=trial_module.TrialStatus.FAILED, message="Traceback ...")
    run_record.record_rejection(trial, ["flash 80.1 KB > 64 KB", "latency 9 ms > 5 ms"])
    distributed.attach_message(trial)
    received = trial_module.Trial.from_proto(trial.to_proto())
    assert run_record.outcome_of(received).status == run_record.FAILED  # before the oracle takes it
    distributed.take_message(received)
    assert run_record.outcome_of(received) == run_record.Outcome(
        "rejected", "flash 80.1 KB > 64 KB; latency 9 ms > 5 ms")
    assert received.metrics.metrics == {}
    with pytest.raises(ValueError, match="Unknown trial outcome"):
        run_record.Outcome("skipped")


# -- directories written before the run record ----------------------------------------------------


@pytest.fixture
def old_search(tmp_path):
    shutil.copytree(OLD_SEARCH, tmp_path / "runs" / "old")
    assert "outcome" not in (tmp_path / "runs" / "old" / "trial_0000" / "trial.json").read_text()
    return tmp_path / "runs" / "old"


def test_an_old_directory_reports_and_exports(old_search, tmp_path, capsys):
    assert main(["report", str(old_search), "--no-plots", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    statuses = {row["trial_id"]: (row["status"], row["message"]) for row in report["trials"]}
    assert statuses == {"0000": ("REJECTED", "latency 0.8 ms > 0.5 ms"),
                        "0001": ("COMPLETED", None), "0002": ("COMPLETED", None)}
    summary = report["summary"]
    assert (summary["trained"], summary["rejected"], summary["failed"]) == (2, 1, 0)
    assert summary["search_seconds"] > 0 and report["winner"]["trial_id"] == "0002"
    assert report["search"]["constraints"] == {"flash_kb": 2048, "peak_ram_kb": 640, "latency_ms": 0.5}
    (tmp_path / "data.yaml").write_text("data: {builtin: digits}\n")
    out = tmp_path / "out"
    assert main(["export", str(old_search), "--out", str(out), "--data", str(tmp_path / "data.yaml"),
                 "--formats", "tflite-int8", "--quiet"]) == 0
    assert "Exported trial 0002" in capsys.readouterr().out
    assert (out / "model_int8.tflite").read_bytes()[4:8] == b"TFL3"
    assert json.loads((old_search / "search.json").read_text())["export_dir"] == str(out.resolve())


def test_an_old_directory_resumes(old_search):
    (x, y), (x_val, y_val), _ = load_digits()
    # As tests/data/old_search/make_old_search.py, with one more trained candidate.
    model = NASModel(
        constraints={"latency_ms": 0.5}, target="cortex-m4", strategy="random", space="mlp",
        max_trials=3, max_rejected_trials=3, seed=3, latency_runs=2, finalists=1,
        directory=str(old_search.parent), project_name="old",
    )
    model.fit(x[:300], y[:300], validation_data=(x_val[:100], y_val[:100]), epochs=1, verbose=0)
    rows = model.trials()
    # The old rejection is read as one (it did not spend the budget of 3 trained candidates).
    assert [(r["trial_id"], r["status"]) for r in rows[:3]] == [
        ("0000", "REJECTED"), ("0001", "COMPLETED"), ("0002", "COMPLETED")]
    assert rows[0]["message"] == "latency 0.8 ms > 0.5 ms"
    assert sum(r["status"] == "COMPLETED" for r in rows) == 3
    assert all(r["status"] in ("COMPLETED", "REJECTED") for r in rows[3:]) and len(rows) >= 4
    summary = model.search_summary()
    assert (summary["trained"], summary["rejected"]) == (3, len(rows) - 3)
    # New trials are written with their outcome; the report reads both kinds alike.
    for row in rows[3:]:
        state = json.loads((old_search / f"trial_{row['trial_id']}" / "trial.json").read_text())
        assert state["outcome"]["status"] == row["outcome"]
    assert run_record.read_trials(old_search) == rows
    winner = run_record.read_winner(old_search)
    assert winner["trial_id"] == model.best_trial_.trial_id and winner["search"]["max_trials"] == 3
    assert np.isfinite(model.evaluate(x_val[:50], y_val[:50], verbose=0)[0])
