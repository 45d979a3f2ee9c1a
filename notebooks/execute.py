"""Runs the notebooks of this folder and saves them with their outputs.

`make notebooks` runs it (`python notebooks/execute.py [--fast] [name.ipynb ...]`).
Each notebook runs in a temporary folder, so the files it writes (runs/, out/)
stay out of the project, with the notebooks' real budgets on the built-in data
(`KERAS_NAS_FAST=0`; `--fast`: the tests' tiny budgets); the outputs are kept
in the notebook, so that a reader on the web sees what a real search gives.
TensorFlow's C++ log lines are dropped from the outputs, lines rewritten in
place (progress bars, the search's status line) are kept as a terminal shows
them, without colour codes, and no execution timings are recorded, to keep the
files small and their diffs readable.
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
CELL_TIMEOUT = 3600  # a real search in one cell
# TensorFlow's start-up and converter log lines ("I0000 00:00:... port.cc:153] ...", the CPU
# instructions note, the from_concrete_functions deprecation note of every conversion).
NOISE = re.compile(
    r"^([IWE]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|To enable the following "
    r"instructions|WARNING:absl:Please consider providing the trackable_obj)"
)


# Colour and cursor codes of terminal output (Keras' progress bar).
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def as_displayed(text: str) -> str:
    """`text` as a terminal shows it: colour codes dropped, each line's carriage returns applied."""
    lines = []
    for line in ESCAPES.sub("", text).split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part):]
        lines.append(shown.rstrip())
    # Lines that only held a status line, erased since, are not kept.
    return "\n".join(line for i, line in enumerate(lines) if line or i == len(lines) - 1)


def _merged_streams(outputs: list) -> list:
    """Consecutive stream outputs of the same stream joined into one (the kernel sends each flush
    apart, so a line rewritten in place spans several outputs)."""
    merged = []
    for output in outputs:
        if (output.output_type == "stream" and merged and merged[-1].output_type == "stream"
                and merged[-1].name == output.name):
            merged[-1].text += output.text
        else:
            merged.append(output)
    return merged


def _clean(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in _merged_streams(cell.outputs):
            if output.output_type == "stream":
                output.text = as_displayed(output.text)
            if output.output_type == "stream" and output.name == "stderr":
                lines = [line for line in output.text.splitlines(keepends=True) if not NOISE.match(line)]
                if not "".join(lines).strip():
                    continue
                output.text = "".join(lines)
            kept.append(output)
        cell.outputs = kept


def execute(path: Path, fast: bool = False) -> None:
    """Runs the notebook at `path` (in a temporary folder) and writes it back with its outputs."""
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, KERAS_NAS_FAST="1" if fast else "0", KERAS_NAS_PROJECT=str(HERE.parent),
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


def main(args: list[str]) -> int:
    fast = "--fast" in args
    names = [a for a in args if a != "--fast"]
    paths = [HERE / name for name in names] if names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        execute(path, fast)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
