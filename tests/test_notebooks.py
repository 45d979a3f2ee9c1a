"""Every notebook in notebooks/ runs end to end (tiny budgets: KERAS_NAS_FAST=1) without a cell error.

Copies are executed in a temporary folder with nbclient and a real ipykernel;
the committed notebooks are never written to.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 300


def test_the_three_notebooks_are_there():
    assert {"quickstart.ipynb", "tinyml_kws.ipynb", "mobile_pareto.ipynb"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_installs_from_its_project_and_says_how_colab_works(name, monkeypatch):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    # No link to a repository that does not exist; the Colab path is described as it is.
    assert "colab.research.google.com/github/" not in first.source
    assert "no public repository" in first.source and "KERAS_NAS_PROJECT" in first.source
    install = nb.cells[1]
    assert install.cell_type == "code" and "git+" not in install.source
    assert any('os.environ.get("KERAS_NAS_FAST"' in c.source for c in nb.cells[:3] if c.cell_type == "code")

    # Run from the notebooks folder of a project where keras-nas is not installed yet:
    # the cell installs the project folder.
    calls = []
    monkeypatch.chdir(NOTEBOOKS)
    monkeypatch.delenv("KERAS_NAS_PROJECT", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(args))
    exec(compile(install.source, name, "exec"), {})
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", str(NOTEBOOKS.parent)]]
    # Elsewhere (e.g. an uploaded notebook without its project) it says what to do.
    monkeypatch.setenv("KERAS_NAS_PROJECT", str(NOTEBOOKS))
    with pytest.raises(RuntimeError, match="set KERAS_NAS_PROJECT to the keras-nas project folder"):
        exec(compile(install.source, name, "exec"), {})


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_with_the_outputs_of_a_real_search(name):
    # Executed with the notebooks' real budgets by `make notebooks`: a reader on the web sees what
    # the tool is for (not chance accuracy from the tests' tiny budgets), as a terminal shows it.
    import re

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") is not None for c in code), "run `make notebooks`"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Search done:" in text
    assert "\x1b" not in text and "\r" not in text  # no colour codes, no lines rewritten in place
    (accuracy,) = re.findall(r"float test accuracy (\d\.\d+)", text)
    assert float(accuracy) > 0.5, f"{name} was committed with a test accuracy of {accuracy} (10 classes)"
    if "plot_pareto" in "".join(c.source for c in code):
        assert any("image/png" in o.get("data", {}) for o in outputs)
    assert (NOTEBOOKS / name).stat().st_size < 600 * 1024


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_end_to_end(name, tmp_path):
    shutil.copy(NOTEBOOKS / name, tmp_path / name)
    nb = nbformat.read(tmp_path / name, as_version=4)
    env = dict(os.environ, KERAS_NAS_FAST="1", MPLBACKEND="module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute(env=env)
    except CellExecutionError as e:
        pytest.fail(f"{name}: a cell failed:\n{str(e)[-3000:]}")
    finally:  # the executed copy, with outputs and timings, for inspection
        nbformat.write(nb, tmp_path / f"executed_{name}")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    # The searches really ran, the plots are inline, and files were written where the notebook ran.
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Search done:" in text and "Winner as int8" in text, text[-2000:]
    if "plot_pareto" in "".join(c.source for c in nb.cells):
        assert any("image/png" in o.get("data", {}) for o in outputs)
    assert list(tmp_path.glob("runs/*/report.md")), sorted(p.name for p in tmp_path.iterdir())
    assert json.loads((NOTEBOOKS / name).read_text())  # the committed notebook is untouched


def test_outputs_are_kept_as_a_terminal_shows_them():
    """The kernel sends every flush as its own output: lines rewritten in place (Keras' progress bar,
    the search's status line) must be joined before the carriage returns are applied."""
    sys.path.insert(0, str(NOTEBOOKS))
    try:
        from execute import _clean
    finally:
        sys.path.remove(str(NOTEBOOKS))
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("model.fit(...)")
    flushes = ["\rtrial 0001: measuring its int8 cost", "\rtrial 0001: epoch 1/2", "\rtrial 0001: epoch 2/2",
               "\r" + " " * 35 + "\r", "trial 0001  flash 5.0 KB  val_accuracy 0.9\n",
               "\x1b[1m 1/45\x1b[0m \x1b[32m━━\x1b[0m", "\r\x1b[1m45/45\x1b[0m ━━━━ - val_accuracy: 0.93\n"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in flushes]
    nb.cells.append(cell)
    _clean(nb)
    (output,) = nb.cells[0].outputs
    assert output.text == "trial 0001  flash 5.0 KB  val_accuracy 0.9\n45/45 ━━━━ - val_accuracy: 0.93\n"
