"""The import contracts of `pyproject.toml` (import-linter) hold, and fail on an import that runs back up.

Each case copies the package's sources to a temporary tree, puts back one of
the imports that made a circle (issue 31) or adds a new upward one (inside a
function, under `TYPE_CHECKING`, at a file's end), and runs the same check
`make test` runs (`tools/lint_imports.py`) on it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = ROOT / "tools" / "lint_imports.py"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LINT), "--root", str(root), "--no-logo"],
                          capture_output=True, text=True, timeout=120)


def _copy_tree(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("keras_nas", "tflite", "blocks"):
        shutil.copytree(ROOT / folder, target / folder, ignore=ignore)
    shutil.copyfile(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_package_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout
    # The laid-out package has the mapped folders (an editable install's source tree has not).
    assert "keras_nas.tflite" in result.stdout and "BROKEN" not in result.stdout


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer has {old!r}: update this case"
    path.write_text(text.replace(old, new))


def _append(path: Path, lines: str) -> None:
    path.write_text(path.read_text() + "\n" + lines + "\n")


# (the file, how it is changed, what lint-imports must report)
CASES = {
    "tasks <-> task_training": (
        "keras_nas/task_training.py",
        lambda p: _replace(p, "from keras_nas.anomaly_scores import", "from keras_nas.tasks import"),
        "keras_nas.task_training is not allowed to import keras_nas.tasks",
    ),
    "tflite.metadata <-> tflite.standardization": (
        "tflite/metadata.py",
        lambda p: _replace(p, "from .normalization import applies", "from .standardization import applies"),
        "keras_nas.tflite.metadata is not allowed to import",
    ),
    "tflite.measurement <-> tflite.emulator_backend, at the file's end": (
        "tflite/emulator_backend.py",
        lambda p: _append(p, "from .measurement import BACKENDS  # noqa: E402"),
        "keras_nas.tflite.emulator_backend is not allowed to import",
    ),
    "model -> selection -> model: selection taking the NASModel again": (
        "keras_nas/selection.py",
        lambda p: _append(p, "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                             "    from keras_nas.model import NASModel  # noqa: F401"),
        "keras_nas.selection is not allowed to import keras_nas.model",
    ),
    "model -> search_setup -> model, inside a function": (
        "keras_nas/search_setup.py",
        lambda p: _append(p, "def _facade():\n    from keras_nas.model import NASModel\n\n    return NASModel"),
        "keras_nas.search_setup is not allowed to import keras_nas.model",
    ),
    "the tuner reaching the facade inside a function": (
        "keras_nas/tuner.py",
        lambda p: _append(p, "def _facade():\n    from keras_nas.model import NASModel\n\n    return NASModel"),
        "keras_nas.tuner is not allowed to import keras_nas.model",
    ),
    "a block naming the tuner under TYPE_CHECKING": (
        "blocks/base.py",
        lambda p: _append(p, "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                             "    from keras_nas.tuner import NASTuner  # noqa: F401"),
        "keras_nas.blocks is not allowed to import keras_nas.tuner",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_import_back_up_breaks_the_contracts(tmp_path, case):
    relative, change, message = CASES[case]
    root = _copy_tree(tmp_path)
    change(root / relative)
    result = _lint(root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in " ".join(result.stdout.split()), result.stdout


# Names moved below their first home to break a circle (issue 31): (old module, new module, names).
MOVED = [
    ("keras_nas.tasks", "keras_nas.anomaly_scores", ["reconstruction_errors", "roc_auc"]),
    ("keras_nas.tflite.standardization", "keras_nas.tflite.normalization", ["applies", "layer_statistics"]),
    ("keras_nas.tflite.measurement", "keras_nas.tflite.backends",
     ["BackendFigures", "MeasurementBackend", "RuntimesBackend"]),
]


@pytest.mark.parametrize("old, new, names", MOVED, ids=[old for old, _, _ in MOVED])
def test_a_moved_name_is_still_importable_from_its_old_path(old, new, names):
    import importlib

    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), f"{old}.{name}"


def _contract_layers(contract_id: str) -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["id"] == contract_id]
    return [" ".join(layer.replace("keras_nas.", "").split()) for layer in contract["layers"]]


def _drawn_layers(title: str) -> list[str]:
    """The layers docs/architecture.md draws under `title` (descriptions after a wide gap left out)."""
    lines = (ROOT / "docs" / "architecture.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title) + 1
    layers: list[str] = []
    for line in lines[start:]:
        names = line.strip().split("   ")[0].strip()
        if not names or names == "```":
            break
        if names.startswith(("|", ":")):
            layers[-1] += " " + names
        else:
            layers.append(names)
    return layers


@pytest.mark.parametrize("title, contract_id", [('keras_nas/ (contract "layers")', "layers"),
                                               ('tflite/ (contract "tflite-layers")', "tflite-layers")])
def test_the_architecture_doc_draws_the_contracts_layers(title, contract_id):
    assert _drawn_layers(title) == _contract_layers(contract_id)
