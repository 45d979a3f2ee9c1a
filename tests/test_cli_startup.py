"""`keras-nas ... --help` is quick and quiet: no TensorFlow, Keras or absl start-up on help paths."""

import json
import subprocess
import sys
import time

import pytest

from keras_nas import commands

# Every help of the command line; none of them needs TensorFlow.
HELPS = [[], ["search"], ["export"], ["report"], ["profile"]]

# Run in a fresh interpreter: prints a help, then which heavy modules the help imported.
PROBE = """
import sys
from keras_nas import cli
try:
    cli.main(sys.argv[1:] + ["--help"])
except SystemExit:
    pass
print("IMPORTED", sorted(m for m in ("tensorflow", "keras", "keras_tuner", "absl") if m in sys.modules))
"""


@pytest.mark.parametrize("argv", HELPS, ids=lambda a: " ".join(a) or "keras-nas")
def test_help_imports_no_tensorflow(argv):
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage: keras-nas" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "IMPORTED []"
    assert out.stderr == ""


def test_search_help_is_fast_and_quiet():
    """The console script itself (what a new user types), timed: well under a second on an
    idle machine; the bound leaves room for a loaded CI machine."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "keras_nas.cli", "search", "--help"],
                         capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", f"start-up noise on stderr: {out.stderr!r}"
    assert "--config" in out.stdout
    assert elapsed < 3.0, f"`keras-nas search --help` took {elapsed:.1f} s"


def test_search_help_lists_the_registered_strategies_and_spaces():
    """The help's lists (kept free of TensorFlow) are the registries' built-in names."""
    registered = subprocess.run(
        [sys.executable, "-c", "import json; from keras_nas import strategies, commands; "
                               "print(json.dumps([strategies.names(), commands.space_names()]))"],
        capture_output=True, text=True, timeout=300)
    names, spaces = json.loads(registered.stdout.strip().splitlines()[-1])
    assert list(commands.HELP_STRATEGIES) == names
    assert list(commands.HELP_SPACES) == spaces
    out = subprocess.run([sys.executable, "-m", "keras_nas.cli", "search", "--help"],
                         capture_output=True, text=True, timeout=120)
    text = " ".join(out.stdout.split()).replace("- ", "-")  # argparse wraps lines at hyphens
    assert ", ".join(names) in text and ", ".join(spaces) in text


def test_report_reads_a_search_without_tensorflow(tmp_path):
    """`keras-nas report` reads JSON files only: it needs no TensorFlow, nor its start-up time."""
    import shutil
    from pathlib import Path

    search = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "data" / "old_search" / "old", search)
    probe = PROBE.replace('sys.argv[1:] + ["--help"]', "sys.argv[1:]")
    out = subprocess.run([sys.executable, "-c", probe, "report", str(search), "--no-plots", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"trained"' in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "IMPORTED []"
