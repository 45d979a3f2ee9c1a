"""Runs the notebooks of this folder with tiny budgets and saves them with their outputs.

`make notebooks` runs it (`python notebooks/execute.py [name.ipynb ...]`). Each
notebook runs in a temporary folder with `KERAS_NAS_FAST=1`, so the files it
writes (runs/, out/) stay out of the project; the outputs are kept in the
notebook, so that a reader on the web sees results and plots. TensorFlow's C++
log lines are dropped from the outputs, and no execution timings are recorded,
to keep the files small and their diffs readable.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 600
# TensorFlow's start-up and converter log lines ("I0000 00:00:... port.cc:153] ...", the CPU
# instructions note, the from_concrete_functions deprecation note of every conversion).
NOISE = re.compile(
    r"^([IWE]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|To enable the following "
    r"instructions|WARNING:absl:Please consider providing the trackable_obj)"
)


def _clean(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                lines = [line for line in output.text.splitlines(keepends=True) if not NOISE.match(line)]
                if not "".join(lines).strip():
                    continue
                output.text = "".join(lines)
            kept.append(output)
        cell.outputs = kept


def execute(path: Path) -> None:
    """Runs the notebook at `path` (in a temporary folder) and writes it back with its outputs."""
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, KERAS_NAS_FAST="1", KERAS_NAS_PROJECT=str(HERE.parent),
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    with tempfile.TemporaryDirectory(prefix="keras_nas_notebook_") as folder:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": folder}})
        client.execute(env=env)
    _clean(nb)
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    os.replace(tmp, path)
    print(f"{path.name}: {len(text) / 1024:.0f} KB with outputs")


def main(names: list[str]) -> int:
    paths = [HERE / name for name in names] if names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        execute(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
