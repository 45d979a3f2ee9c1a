"""The search directory: what a search is (a marker checked on resume) and crash-safe JSON.

A search directory (`directory/project_name`) is Keras Tuner's: `oracle.json`, one
`tuner*.json` per tuner process and a `trial_<id>/` folder per trial (`trial.json`,
`cost.json`, weight checkpoints). Everything keras-nas and Keras Tuner read back
from it is JSON; weights are read only by `keras.Model.load_weights`. Nothing in
it is unpickled or executed.

This module adds:

- a marker, `keras_nas.json`, written when a search starts and checked when it
  resumes, so that a directory made by another project (other data shape,
  classes, search space or strategy) or by an incompatible keras-nas is refused
  with an error naming the difference, instead of mixing two searches;
- `atomic_write_json`: every file is written to a temporary name and renamed, so
  a search killed at any point (SIGKILL, power loss) leaves either the old or
  the new file, never half of one;
- `check_search_files`: before a resume, every JSON file is parsed and a corrupt
  one is named with the way to recover.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from typing import Any

# Bump when the layout or meaning of the files in a search directory changes.
FORMAT_VERSION = 1
MARKER_FILE = "keras_nas.json"

# What must match for a directory to be resumed; the rest of the marker is informative.
CHECKED_KEYS = (
    "format_version", "input_shape", "num_classes", "space", "hyperparameters", "strategy", "objective",
)

_FIX = "pass overwrite=True to start this search afresh, or use another project_name"


class SearchDirectoryError(ValueError):
    """A search directory cannot be resumed: it belongs to another search or is damaged."""


def atomic_write_json(path: str, obj: Any) -> None:
    """Writes `obj` as JSON so that `path` holds either its old or its new content.

    The text goes to a temporary file in the same folder, is flushed to disk and
    renamed over `path` (`os.replace` is atomic on POSIX and Windows).

    Args:
        path: The file to write.
        obj: A JSON-serializable object.

    Example:

    ```python
    atomic_write_json("runs/digits/trial_0001/cost.json", {"flash_kb": 20.1})
    ```
    """
    text = json.dumps(obj)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str, project_dir: str | None = None) -> Any:
    """Reads a JSON file of a search directory, naming the file and the fix if it is corrupt.

    Args:
        path: The file.
        project_dir: The search directory it belongs to (for the message).

    Returns:
        The parsed content.

    Raises:
        SearchDirectoryError: If the file is not valid UTF-8 JSON (e.g. cut short).
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SearchDirectoryError(_corrupt_message(path, project_dir, e)) from e


def check_search_files(project_dir: str) -> None:
    """Parses every JSON file a resume reads; names the first corrupt one.

    Checked: `oracle.json`, this process's tuner file (`<KERASTUNER_TUNER_ID or
    tuner0>.json`), the marker, and every `trial_*/trial.json` and `trial_*/cost.json`.

    Args:
        project_dir: The search directory (`directory/project_name`).

    Raises:
        SearchDirectoryError: If a file is corrupt, or `oracle.json` is missing
            although tuner files exist.
    """
    # What Keras Tuner reads back: oracle.json and this process's tuner file (and the marker).
    tuner_file = os.environ.get("KERASTUNER_TUNER_ID", "tuner0") + ".json"
    tops = [
        os.path.join(project_dir, name)
        for name in ("oracle.json", tuner_file, MARKER_FILE)
        if os.path.exists(os.path.join(project_dir, name))
    ]
    trials = sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json")))
    costs = sorted(glob.glob(os.path.join(project_dir, "trial_*", "cost.json")))
    for path in tops + trials + costs:
        read_json(path, project_dir)
    if os.path.exists(os.path.join(project_dir, tuner_file)) and not os.path.exists(
        os.path.join(project_dir, "oracle.json")
    ):
        raise SearchDirectoryError(
            f"The search directory {project_dir} has tuner files but no oracle.json, so the "
            f"search state is lost; {_FIX}."
        )


def search_info(hypermodel, oracle) -> dict:
    """Describes a search for its marker: data shape, classes, space, strategy and objective.

    The space is identified by its block's class and name and by a fingerprint
    of the hyperparameters a default build of the hypermodel declares (names,
    choices, conditions).

    Args:
        hypermodel: A `keras_nas.NASHyperModel` (anything with `input_shape`,
            `num_classes`, `space` and `build(hp)`).
        oracle: The strategy, a `keras_tuner.Oracle`.

    Returns:
        A JSON-serializable dict.

    Example:

    ```python
    info = search_info(hypermodel, oracle)
    check_search_marker("runs/digits", info)
    ```
    """
    import keras
    import keras_tuner

    from keras_nas import __version__

    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    keras.backend.clear_session()
    configs = sorted((json.dumps(p.get_config(), sort_keys=True, default=str) for p in hp.space))
    space = getattr(hypermodel, "space", None)
    return {
        "format_version": FORMAT_VERSION,
        "keras_nas_version": __version__,
        "input_shape": list(getattr(hypermodel, "input_shape", ()) or ()),
        "num_classes": getattr(hypermodel, "num_classes", None),
        "space": f"{type(space).__name__}({getattr(space, 'name', '')})",
        "hyperparameters": hashlib.sha256("\n".join(configs).encode()).hexdigest()[:16],
        "hyperparameter_names": sorted(p.name for p in hp.space),
        "strategy": type(oracle).__name__,
        "objective": getattr(getattr(oracle, "objective", None), "name", None),
        "seed": getattr(oracle, "seed", None),
    }


def write_search_marker(project_dir: str, info: dict) -> None:
    """Writes the marker `keras_nas.json` describing the search in `project_dir`.

    Args:
        project_dir: The search directory (created if needed).
        info: What `search_info` returns.
    """
    os.makedirs(project_dir, exist_ok=True)
    atomic_write_json(os.path.join(project_dir, MARKER_FILE), info)


def check_search_marker(project_dir: str, info: dict) -> None:
    """Checks that `project_dir` can be resumed by the search described by `info`.

    A missing or empty directory is fine (a new search). A directory with
    Keras Tuner files but no marker, with a marker of another format version,
    or with another data shape, class count, space or strategy is refused.

    Args:
        project_dir: The search directory (`directory/project_name`).
        info: What `search_info` returns for the search about to run.

    Raises:
        SearchDirectoryError: Naming every mismatch and how to fix it.

    Example:

    ```python
    check_search_marker("runs/digits", search_info(hypermodel, oracle))
    ```
    """
    marker = os.path.join(project_dir, MARKER_FILE)
    if not os.path.exists(marker):
        if glob.glob(os.path.join(project_dir, "*.json")) or glob.glob(os.path.join(project_dir, "trial_*")):
            raise SearchDirectoryError(
                f"The search directory {project_dir} holds a search without a keras-nas marker "
                f"({MARKER_FILE}): it was made by plain Keras Tuner or another tool, and resuming "
                f"it would mix two searches; {_FIX}."
            )
        return
    found = read_json(marker, project_dir)
    if not isinstance(found, dict):
        raise SearchDirectoryError(f"{marker} is not a keras-nas marker (not a JSON object); {_FIX}.")
    if found.get("format_version") != info.get("format_version"):
        raise SearchDirectoryError(
            f"The search directory {project_dir} was written by keras-nas "
            f"{found.get('keras_nas_version', '?')} in format version {found.get('format_version')!r}; "
            f"this keras-nas {info.get('keras_nas_version', '?')} reads format version "
            f"{info.get('format_version')!r} only; {_FIX}."
        )
    mismatches = [
        f"{key}: the directory has {found.get(key)!r}, this search has {info.get(key)!r}"
        for key in CHECKED_KEYS
        if found.get(key) != info.get(key)
    ]
    if "hyperparameters" in [m.split(":")[0] for m in mismatches]:
        old, new = set(found.get("hyperparameter_names", [])), set(info.get("hyperparameter_names", []))
        if old != new:
            mismatches.append(
                f"hyperparameters only in the directory: {sorted(old - new)}; only in this "
                f"search: {sorted(new - old)}"
            )
    if mismatches:
        raise SearchDirectoryError(
            f"The search directory {project_dir} belongs to another search ("
            + "; ".join(mismatches)
            + f"). Resuming it would mix two searches; {_FIX}."
        )


def _corrupt_message(path: str, project_dir: str | None, error: Exception) -> str:
    where = os.path.relpath(path, project_dir) if project_dir else path
    folder = os.path.dirname(path)
    if project_dir and os.path.basename(folder).startswith("trial_"):
        fix = f"delete the folder {folder} to run that trial again, or {_FIX}"
    else:
        fix = _FIX
    return (
        f"The search directory {project_dir or os.path.dirname(path)} has a corrupt file {where} "
        f"({type(error).__name__}: {error}); it was probably cut short by a crash or a full disk. "
        f"To continue, {fix}."
    )
