"""The export folder: what an export may replace, and how its files are put in place.

`keras_nas.export.export_model` writes into a folder the user names, which may
already hold the user's own files. The rules:

- a marker, `keras_nas_export.json`, lists every file (or folder) an export
  wrote with a digest of its content; a later export replaces only those, and
  only while their content is still what was written;
- any other file or folder of the same name, and any symbolic link, is refused
  before anything is computed or written, with the names and how to proceed;
- a search directory (its `keras_nas.json` marker) is refused: its `report.json`
  is the search's;
- the outputs are written into a hidden staging folder inside the export
  folder and renamed into place (`os.replace`, atomic), the marker last: a
  failed or killed export leaves each file whole, old or new, and nothing is
  written through a link.

Example:

```python
with ExportFolder("out", ["model_int8.tflite", "report.json"]) as folder:
    (folder.staging / "model_int8.tflite").write_bytes(content)
    ...
    folder.commit()
```
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from keras_nas.run_record import MARKER_FILE, ORACLE_FILE, atomic_write_json

EXPORT_MARKER = "keras_nas_export.json"
EXPORT_FORMAT_VERSION = 1
_STAGING_PREFIX = ".keras_nas_export-"
_FIX = (
    "Export to another folder (a new or empty one), or remove these files yourself if you no "
    "longer need them"
)


class ExportFolderError(ValueError):
    """An export would replace files it did not write, write through a link, or into a search."""


def digest(path: str | os.PathLike) -> str | None:
    """A SHA-256 of a file's content, or of a folder's files (relative names and contents).

    Returns:
        The hex digest, or None for a symbolic link, or a folder holding one,
        or anything that is neither a file nor a folder.
    """
    path = Path(path)
    if path.is_symlink():
        return None
    h = hashlib.sha256()
    if path.is_file():
        _hash_file(h, path)
        return h.hexdigest()
    if not path.is_dir():
        return None
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            entry = Path(root) / name
            if entry.is_symlink():
                return None
            h.update(entry.relative_to(path).as_posix().encode() + b"\0")
            if entry.is_file():
                _hash_file(h, entry)
    return h.hexdigest()


def _hash_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


def read_marker(folder: str | os.PathLike) -> dict[str, list[str]]:
    """The files an earlier export wrote into `folder`: name -> digests of content it may have.

    A marker that cannot be read vouches for nothing (its files are refused).
    Returns `{}` without a marker.
    """
    import json

    path = Path(folder) / EXPORT_MARKER
    if path.is_symlink() or not path.is_file():
        return {}
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    files = marker.get("files") if isinstance(marker, dict) else None
    if not isinstance(files, dict):
        return {}
    return {
        name: [d for d in digests if isinstance(d, str)]
        for name, digests in files.items()
        if isinstance(name, str) and isinstance(digests, list)
    }


def check_export_folder(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, list[str]]:
    """Checks that an export may write `names` into `folder`.

    Args:
        folder: The export folder (it need not exist).
        names: The files and folders the export will write there.

    Returns:
        The marker's entries (files of earlier exports, by name).

    Raises:
        ExportFolderError: If `folder` is a file or a search directory, or a
            name exists there as a symbolic link or as something an earlier
            export did not write (not in the marker, or changed since); the
            message lists every such name and how to proceed.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ExportFolderError(f"The export folder {str(folder)!r} exists and is not a folder. {_FIX}.")
    if not folder.is_dir():
        return {}
    if (folder / MARKER_FILE).exists() or (folder / ORACLE_FILE).exists():
        raise ExportFolderError(
            f"{str(folder)!r} is a search directory: an export there would replace the search's own "
            "files (its report.json). Nothing was written. Export to another folder, e.g. "
            f"{str(folder / 'export')!r}."
        )
    marker = read_marker(folder)
    refused = []
    for name in [*names, EXPORT_MARKER]:
        path = folder / name
        if path.is_symlink():
            refused.append(f"{name} (a symbolic link)")
        elif not path.exists() or name == EXPORT_MARKER:
            continue
        elif name not in marker:
            refused.append(name)
        elif digest(path) not in marker[name]:
            refused.append(f"{name} (changed since keras-nas exported it)")
    if refused:
        raise ExportFolderError(
            f"The export folder {str(folder)!r} already holds {', '.join(refused)}, which keras-nas "
            f"did not write in an earlier export (no entry in its {EXPORT_MARKER}); an export never "
            f"replaces them or writes through a link. Nothing was written. {_FIX}."
        )
    return marker


class ExportFolder:
    """Writes an export's outputs into `folder`, each one whole, never over a user's file.

    On entering, `folder` is created and checked (`check_export_folder`) and a
    staging folder is made inside it; the export writes its outputs into
    `staging`. `commit` checks again, renames each output into place (an
    earlier export's folder of the same name is moved aside and deleted) and
    writes the marker last. On leaving, the staging folder is deleted, so a
    failed export leaves the folder as it was.

    Args:
        folder: The export folder.
        names: The files and folders the export writes (as named in `folder`).
    """

    def __init__(self, folder: str | os.PathLike, names: Iterable[str]):
        self.folder = Path(folder)
        self.names = list(dict.fromkeys(names))
        self.staging: Path | None = None

    def __enter__(self) -> "ExportFolder":
        check_export_folder(self.folder, self.names)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.folder))
        return self

    def __exit__(self, *exc) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)  # made by this process: ours
            self.staging = None

    def final_path(self, path: str | os.PathLike) -> Path:
        """Where a file written into the staging folder ends up."""
        return self.folder / Path(path).relative_to(self.staging)

    def commit(self) -> None:
        """Renames the staged outputs into the export folder; the marker is written last.

        Raises:
            ExportFolderError: If a user's file appeared meanwhile (nothing is replaced).
        """
        marker = check_export_folder(self.folder, self.names)
        written = {name: [digest(self.staging / name)] for name in self.names if (self.staging / name).exists()}
        # While the files move, the marker accepts the old or the new content of each name:
        # a kill half-way leaves a folder that the next export may still replace.
        moving = {name: marker.get(name, []) + digests for name, digests in written.items()}
        atomic_write_json(str(self.folder / EXPORT_MARKER), _marker({**marker, **moving}), indent=1)
        for name in written:
            target, staged = self.folder / name, self.staging / name
            if target.exists() and (target.is_dir() or staged.is_dir()):
                # An earlier export's output (checked above), which a rename cannot replace:
                # moved aside into the staging folder, deleted with it.
                os.replace(target, self.staging / f".old-{name}")
            os.replace(staged, target)
        kept = {name: digests for name, digests in marker.items()
                if name not in written and (self.folder / name).exists()}
        atomic_write_json(str(self.folder / EXPORT_MARKER), _marker({**kept, **written}), indent=1)


def _marker(files: dict[str, str]) -> dict:
    return {"format_version": EXPORT_FORMAT_VERSION, "written_by": "keras-nas export", "files": files}
