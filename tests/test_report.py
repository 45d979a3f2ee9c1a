"""The search report and plots: a tiny real search on digits, reported from the model and from disk."""

import base64
import json
import shutil

import matplotlib
import numpy as np
import pytest

from keras_nas import NASModel
from keras_nas.datasets import load_digits
from keras_nas.plots import plot_history, plot_pareto
from keras_nas.report import load_search, read_trials, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    (x_train, y_train), (x_val, y_val), _ = load_digits()
    directory = tmp_path_factory.mktemp("runs")
    model = NASModel(
        constraints={"flash_kb": 64, "peak_ram_kb": 32},
        strategy="random",
        max_trials=2,
        seed=7,
        latency_runs=3,
        finalists=1,  # finalists' reports: tests/test_feasible_first.py
        directory=str(directory),
        project_name="digits",
    )
    model.fit(x_train[:300], y_train[:300], validation_data=(x_val, y_val), epochs=1, verbose=0)
    return model


def test_report_from_the_directory_alone_has_every_trial(searched, tmp_path):
    # A copy without the live model: only the JSON files on disk are read.
    project = tmp_path / "copy"
    shutil.copytree(searched.tuner.project_dir, project)
    report = write_report(str(project))
    # Rows and summary are built by keras_nas.run_record from what the directory holds.
    live = searched.trials()
    assert [r["trial_id"] for r in report["trials"]] == [r["trial_id"] for r in live]
    assert all(row["seconds"] > 0 for row in report["trials"])
    assert report["winner"]["trial_id"] == searched.best_trial_.trial_id
    assert report["search"]["seed"] == 7 and report["search"]["strategy"]  # from the directory's marker
    assert report["winner"]["cost"]["flash_kb"] == pytest.approx(searched.cost_["flash_kb"])
    assert report["summary"]["trained"] == 2
    front = {r["trial_id"] for r in searched.pareto_front()}
    assert set(report["pareto_front"]["trial_ids"]) == front
    # Every hyperparameter a trial used is in the recorded space, with its choices.
    space = {hp["name"]: hp for hp in report["space"]}
    for row in live:
        for name, value in row["hyperparameters"].items():
            assert name in space
            if "values" in space[name]:
                assert value in space[name]["values"], (name, value)

    written = json.loads((project / "report.json").read_text())
    assert [r["trial_id"] for r in written["trials"]] == [r["trial_id"] for r in live]
    markdown = (project / "report.md").read_text()
    page = (project / "report.html").read_text()
    for row in live:
        assert f"| {row['trial_id']} | {row['status']} |" in markdown
        assert f"<td>{row['trial_id']}</td>" in page
    for name in report["plots"].values():
        assert (project / name).read_bytes()[:8] == PNG_MAGIC
        assert f"![{name}]({name})" in markdown
        # The HTML page embeds the PNG itself.
        embedded = base64.b64encode((project / name).read_bytes()).decode()
        assert f"src='data:image/png;base64,{embedded}' alt='{name}'" in page
    assert set(report["plots"]) == {"pareto_latency_ms", "pareto_flash_kb", "pareto_peak_ram_kb", "history"}


def test_report_from_the_model_records_strategy_budget_and_constraints(searched, tmp_path):
    report = write_report(searched, path=tmp_path, plots=False)
    search = report["search"]
    assert search["strategy"] == "random" and search["seed"] == 7 and search["max_trials"] == 2
    assert search["constraints"] == {"flash_kb": 64, "peak_ram_kb": 32}
    assert search["epochs"] == 1
    assert (tmp_path / "report.md").exists() and not list(tmp_path.glob("*.png"))
    assert "random (seed 7)" in (tmp_path / "report.md").read_text()
    # The space's size is counted as the search sampled it (conditional scopes respected; the
    # product of every choice's size it showed before counted inactive hyperparameters as choices).
    import keras_tuner

    from keras_nas.blocks.space_size import count_active_combinations

    declared = keras_tuner.HyperParameters()
    searched.tuner.hypermodel.build(declared)
    assert report["space_size"] == count_active_combinations(declared) == search["space_size"]
    assert f"{report['space_size']:,} architectures" in (tmp_path / "report.md").read_text()
    # Recorded in search.json, so a later report from the directory alone has it too.
    again = load_search(searched.tuner.project_dir)["search"]
    assert again["space_size"] == report["space_size"]
    assert again["strategy"] == "random" and again["constraints"] == {"flash_kb": 64, "peak_ram_kb": 32}


def test_report_rejects_what_is_not_a_search(tmp_path):
    with pytest.raises(FileNotFoundError, match="No search directory"):
        write_report(str(tmp_path / "missing"))
    (tmp_path / "runs" / "digits").mkdir(parents=True)
    (tmp_path / "runs" / "digits" / "oracle.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"no oracle.json.*\['digits'\]"):
        read_trials(tmp_path / "runs")
    with pytest.raises(FileNotFoundError, match="No export report"):
        write_report(str(tmp_path / "runs" / "digits"), export_dir=tmp_path / "nothing")


ROWS = [  # trials() rows: two trained on the front, one dominated, one rejected, one failed
    {"trial_id": "00", "status": "COMPLETED", "score": 0.9,
     "metrics": {"val_accuracy": 0.9, "latency_ms": 0.05, "flash_kb": 40.0}, "cost": {"latency_ms": 0.05}},
    {"trial_id": "01", "status": "COMPLETED", "score": 0.7,
     "metrics": {"val_accuracy": 0.7, "latency_ms": 0.02, "flash_kb": 10.0}, "cost": {"latency_ms": 0.02}},
    {"trial_id": "02", "status": "COMPLETED", "score": 0.6,
     "metrics": {"val_accuracy": 0.6, "latency_ms": 0.04, "flash_kb": 30.0}, "cost": {"latency_ms": 0.04}},
    {"trial_id": "03", "status": "REJECTED", "score": None, "metrics": {},
     "cost": {"latency_ms": 0.3, "flash_kb": 120.0}, "message": "flash 120 KB > 64 KB"},
    {"trial_id": "04", "status": "FAILED", "score": None, "metrics": {}, "cost": None, "message": "NaN"},
]


def test_plot_pareto_draws_front_rejections_and_winner(tmp_path):
    assert matplotlib.get_backend().lower() == "agg"  # no display in the tests
    path = tmp_path / "front.png"
    fig = plot_pareto(ROWS, x="latency_ms", winner="00", path=path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["trained (3)", "Pareto front (2)", "rejected for its cost (1)", "winner (trial 00)"]
    step = ax.get_lines()[0]  # the front: 01 then 00, in latency order
    np.testing.assert_allclose(step.get_xdata(), [0.02, 0.05])
    np.testing.assert_allclose(step.get_ydata(), [0.7, 0.9])
    rejected = ax.collections[2].get_offsets()
    assert rejected[0][0] == pytest.approx(0.3) and rejected[0][1] < 0.6
    winner = ax.collections[3].get_offsets()
    np.testing.assert_allclose(winner, [[0.05, 0.9]])
    assert "Pareto front" in ax.get_title() and "ms" in ax.get_xlabel()
    with pytest.raises(ValueError, match=r"`x='energy'` is not a metric.*latency_ms"):
        plot_pareto(ROWS, x="energy")
    with pytest.raises(ValueError, match="no trials"):
        plot_pareto([])


def test_plot_history_shows_best_so_far(tmp_path):
    path = tmp_path / "history.png"
    fig = plot_history(ROWS, path=path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    ax = fig.axes[0]
    points, best = ax.get_lines()[:2]
    np.testing.assert_allclose(points.get_ydata(), [0.9, 0.7, 0.6])
    np.testing.assert_allclose(best.get_ydata(), [0.9, 0.9, 0.9])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "rejected (1)" in labels and "failed (1)" in labels
