"""The `search`, `export` and `report` subcommands, called through a small argparse parser."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from keras_nas import commands, tflite

REPO = Path(__file__).resolve().parents[1]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="keras-nas")
    sub = p.add_subparsers(dest="command", required=True)
    commands.add_parsers(sub)
    return p


def run(*argv) -> int:
    args = parser().parse_args([str(a) for a in argv])
    return args.func(args)


def tiny_config(tmp_path: Path) -> dict:
    return {
        "data": {"builtin": "digits", "max_samples": 300},
        "constraints": {"flash_kb": 64, "peak_ram_kb": 32},
        "strategy": "random",
        "max_trials": 2,
        "epochs": 1,
        "seed": 5,
        "latency_runs": 3,
        "finalists": 1,
        "refit": False,
        "space_fit": False,
        "max_search_seconds": 3600,
        "directory": str(tmp_path / "runs"),
        "project_name": "cli",
        "export": {"dir": str(tmp_path / "out"), "formats": ["tflite-int8", "c-array"]},
    }


@pytest.fixture(scope="module")
def cli_search(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cli")
    config = tiny_config(tmp_path)
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(config))
    code = run("search", "--config", path, "--quiet")
    return code, config, tmp_path


def test_search_from_yaml_config_runs_exports_and_reports(cli_search, capsys):
    code, config, tmp_path = cli_search
    assert code == 0
    project = tmp_path / "runs" / "cli"
    report = json.loads((project / "report.json").read_text())
    assert report["summary"]["trained"] == 2
    assert report["search"]["strategy"] == "random" and report["search"]["max_trials"] == 2
    assert report["search"]["constraints"] == {"flash_kb": 64, "peak_ram_kb": 32}
    assert report["search"]["refit"] is False and report["search"]["space_fit"] is False
    assert "finalists" not in report["summary"]  # finalists: 1, none judged
    winner = json.loads((project / "winner.json").read_text())
    assert report["winner"]["trial_id"] == winner["trial_id"]
    # The export the config asked for, measured, and in the report.
    out = tmp_path / "out"
    assert (out / "model_int8.tflite").is_file() and (out / "model_data.h").is_file()
    assert set(report["export"]["accuracy"]) == {"keras", "tflite-int8"}
    assert report["export"]["int8_cost"]["flash_kb"] <= 64
    assert "## Export" in (project / "report.md").read_text()


def test_export_from_a_project_directory(cli_search, tmp_path, capsys):
    _, config, search_tmp = cli_search
    project = search_tmp / "runs" / "cli"
    data_config = tmp_path / "data.json"
    data_config.write_text(json.dumps({"data": {"builtin": "digits"}}))
    out = tmp_path / "exported"
    assert run("export", project, "--out", out, "--formats", "tflite-int8", "--data", data_config,
               "--quiet") == 0
    assert "Exported trial" in capsys.readouterr().out
    content = (out / "model_int8.tflite").read_bytes()
    report = json.loads((out / "report.json").read_text())
    from keras_nas.datasets import load_digits

    _, (x_val, y_val), _ = load_digits()
    # The reported int8 accuracy is that of the written file on the real LiteRT runtime.
    assert tflite.accuracy(content, x_val, y_val) == pytest.approx(report["accuracy"]["tflite-int8"])
    assert report["accuracy"]["tflite-int8"] == pytest.approx(report["accuracy"]["keras"], abs=0.1)
    # Without --data a project directory made by `search` uses the recorded config's data.
    assert run("export", project, "--out", tmp_path / "again", "--formats", "tflite-float32", "--quiet") == 0
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert again["accuracy"]["tflite-float32"] == pytest.approx(report["accuracy"]["keras"], abs=1e-3)


def test_report_command_prints_every_trial(cli_search, tmp_path, capsys):
    _, _, search_tmp = cli_search
    project = search_tmp / "runs" / "cli"
    capsys.readouterr()
    assert run("report", project, "--out", tmp_path, "--json", "--no-plots") == 0
    printed = json.loads(capsys.readouterr().out)
    ids = sorted(p.name.split("_", 1)[1] for p in project.glob("trial_*"))
    assert [r["trial_id"] for r in printed["trials"]] == ids
    assert printed["export"] is not None  # recorded by the search
    assert (tmp_path / "report.html").is_file()
    assert run("report", project, "--out", tmp_path) == 0
    assert "# keras-nas search report: cli" in capsys.readouterr().out


def test_json_and_yaml_configs_read_alike(tmp_path):
    config = tiny_config(tmp_path)
    (tmp_path / "a.json").write_text(json.dumps(config))
    (tmp_path / "a.yml").write_text(yaml.safe_dump(config))
    assert commands.load_config(tmp_path / "a.json") == commands.load_config(tmp_path / "a.yml")
    example = commands.load_config(REPO / "examples" / "search_digits.yaml")
    assert example["data"] == {"builtin": "digits"} and example["export"]["formats"] == ["tflite-int8", "c-array"]


def test_data_from_npz_and_npy_files(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 8, 1)).astype("float32")
    y = np.arange(20) % 2
    np.savez(tmp_path / "d.npz", inputs=x, labels=y, vx=x[:4], vy=y[:4])
    data = commands.load_data({"npz": "d.npz", "x": "inputs", "y": "labels", "x_val": "vx", "y_val": "vy"},
                              tmp_path)
    np.testing.assert_array_equal(data["x"], x)
    np.testing.assert_array_equal(data["y_val"], y[:4])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    data = commands.load_data({"npy_x": "x.npy", "npy_y": "y.npy", "validation_split": 0.25}, tmp_path)
    np.testing.assert_array_equal(data["y"], y)
    assert data["validation_split"] == 0.25 and "x_val" not in data
    with pytest.raises(commands.ConfigError, match=r"`data.x` is 'images' but .* holds the arrays"):
        commands.load_data({"npz": "d.npz", "x": "images", "y": "labels"}, tmp_path)
    with pytest.raises(commands.ConfigError, match="does not exist"):
        commands.load_data({"npy_x": "nope.npy", "npy_y": "y.npy"}, tmp_path)
    with pytest.raises(commands.ConfigError, match="without labels"):
        commands.load_data({"npz": "d.npz", "x": "inputs", "y": "labels", "x_val": "vx"}, tmp_path)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"data": {"builtin": "digits"}, "max_trial": 3}, r"Unknown key\(s\) \['max_trial'\].*Allowed keys:.*max_trials"),
        ({"constraints": {"flash_kb": 64}}, r"has no `data`.*built-in: digits, meter_digits, mnist1d, spoken_words"),
        ({"data": {"builtin": "cifar"}}, r"`data.builtin` .* is 'cifar'; allowed: \['digits', 'meter_digits', 'mnist1d', 'spoken_words'\]"),
        ({"data": {"npz": "d.npz"}}, r"uses npz but lacks \['x', 'y'\]"),
        ({"data": {"builtin": "digits", "npy_x": "x.npy"}}, "exactly one source"),
        ({"data": {"builtin": "digits"}, "strategy": "grid"}, r"`strategy` .* 'grid'; allowed: .*'evolution'"),
        ({"data": {"builtin": "digits"}, "constraints": {"flash": 64}}, r"`constraints`.*flash"),
        ({"data": {"builtin": "digits"}, "max_trials": "ten"}, "`max_trials` .* must be a positive integer"),
        ({"data": {"builtin": "digits"}, "export": {"formats": ["tflite-int8"]}}, "`export` .* with `dir`"),
        ({"data": {"builtin": "digits"}, "export": {"dir": "o", "formats": ["onnx"]}}, r"unknown format\(s\) \['onnx'\]"),
        ({"data": {"builtin": "digits"}, "space": "resnet"}, r"`space` .* 'resnet'; allowed"),
        ({"data": {"builtin": "digits"}, "refit": "no"}, r"`refit` .* true or false .* \"no\" is a string"),
        ({"data": {"builtin": "digits"}, "max_search_seconds": -5}, r"`max_search_seconds` .* positive number"),
        ({"data": {"builtin": "digits"}, "finalists": 0}, r"`finalists` .* positive integer"),
    ],
)
def test_bad_configs_name_the_key_and_what_is_allowed(tmp_path, capsys, config, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    with pytest.raises(commands.ConfigError, match=message):
        commands.load_config(path)
    assert run("search", "--config", path) == 2
    assert "keras-nas search: error:" in capsys.readouterr().err


def test_missing_and_unreadable_files(tmp_path, capsys):
    assert run("search", "--config", tmp_path / "none.yaml") == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "broken.yaml").write_text("data: [unclosed")
    assert run("search", "--config", tmp_path / "broken.yaml") == 2
    assert "not valid YAML" in capsys.readouterr().err
    (tmp_path / "c.toml").write_text("")
    assert run("search", "--config", tmp_path / "c.toml") == 2
    assert ".yaml, .yml or .json" in capsys.readouterr().err
    assert run("report", tmp_path / "nowhere") == 2
    assert "No search directory" in capsys.readouterr().err
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "oracle.json").write_text("{}")
    assert run("export", tmp_path / "p", "--out", tmp_path / "o") == 2
    assert "no trained winner" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["search"], ["export"], ["report"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(argv + ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage:" in text
    if argv:
        assert {"search": "--config", "export": "--formats", "report": "--json"}[argv[0]] in text
