"""Run `lint-imports` (import-linter) on the package as it installs, with the contracts of `pyproject.toml`.

`blocks/` and `tflite/` install as `keras_nas.blocks` and `keras_nas.tflite`
(`[tool.setuptools.package-dir]`). An editable install maps them with an
import hook, and import-linter (grimp) reads a package's modules from its one
folder, so run on the source tree it would see `keras_nas/` without them. This
script lays the package out as a wheel would (each package of
`[tool.setuptools] packages` in its folder of `package-dir`, `.py` files only)
in a temporary folder and runs `lint-imports` there, with the contracts of the
given tree's `pyproject.toml`. Every import counts: inside functions, under
`TYPE_CHECKING` and at a file's end.

Usage:

    python tools/lint_imports.py                 # this checkout
    python tools/lint_imports.py --root DIR      # another tree with a pyproject.toml
    python tools/lint_imports.py --contract ID   # arguments after the options go to lint-imports

Exit status: that of `lint-imports` (0 when every contract is kept).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def package_folders(root: Path) -> dict[str, Path]:
    """Each installed package of `root/pyproject.toml` and the folder its modules come from.

    Raises:
        ValueError: `pyproject.toml` lists no packages, or a package's folder is missing.
    """
    config = tomllib.loads((root / "pyproject.toml").read_text())
    setuptools = config.get("tool", {}).get("setuptools", {})
    packages = setuptools.get("packages")
    if not packages:
        raise ValueError(f"{root / 'pyproject.toml'} lists no [tool.setuptools] packages to lay out.")
    mapping = setuptools.get("package-dir", {})
    folders = {}
    for package in packages:
        # The nearest mapped ancestor decides, as setuptools does.
        parts = package.split(".")
        for n in range(len(parts), -1, -1):
            prefix = ".".join(parts[:n])
            if prefix in mapping or n == 0:
                base = mapping.get(prefix, "")
                folder = root / base / Path(*parts[n:])
                break
        if not (folder / "__init__.py").is_file():
            raise ValueError(
                f"Package {package!r} should be in {folder} (pyproject.toml's package-dir), "
                "but that folder has no __init__.py."
            )
        folders[package] = folder
    return folders


def lay_out(root: Path, target: Path) -> None:
    """Copy the `.py` files of every package of `root` to `target` as they install."""
    for package, folder in package_folders(root).items():
        destination = target / Path(*package.split("."))
        destination.mkdir(parents=True, exist_ok=True)
        for source in sorted(folder.glob("*.py")):
            shutil.copyfile(source, destination / source.name)


def lint_imports_executable() -> str:
    """The `lint-imports` of this Python's environment (else the one on PATH)."""
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.is_file() else shutil.which("lint-imports")
    if not found:
        raise FileNotFoundError(
            "lint-imports is not installed: `pip install -e '.[test]'` (or `make setup`) installs import-linter."
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the source tree (default: this checkout)")
    arguments, rest = parser.parse_known_args(argv)
    root = arguments.root.resolve()
    with tempfile.TemporaryDirectory(prefix="keras-nas-lint-imports-") as folder:
        try:
            lay_out(root, Path(folder))
            # lint-imports puts its working folder first on sys.path: there the laid-out package is found.
            command = [lint_imports_executable(), "--no-cache", *rest, str(root / "pyproject.toml")]
        except (OSError, ValueError) as e:
            print(f"lint_imports.py: {e}", file=sys.stderr)
            return 2
        return subprocess.run(command, cwd=folder, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
