"""Every notebook in notebooks/ runs end to end (tiny budgets: KERAS_NAS_FAST=1) without a cell error.

Copies are executed in a temporary folder with nbclient and a real ipykernel;
the committed notebooks are never written to.
"""

import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 300
COLAB = "https://colab.research.google.com/github/"


def test_the_three_notebooks_are_there():
    assert {"quickstart.ipynb", "tinyml_kws.ipynb", "mobile_pareto.ipynb"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_opens_in_colab(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    badge = re.search(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)", first.source)
    assert badge and badge.group(1).endswith(f"/notebooks/{name}")
    install = nb.cells[1]
    assert install.cell_type == "code"
    assert '"google.colab" in sys.modules' in install.source and "git+" in install.source
    assert any('os.environ.get("KERAS_NAS_FAST"' in c.source for c in nb.cells[:3] if c.cell_type == "code")
    # Committed without outputs: the notebook is the source, CI produces the outputs.
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")


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
