"""The search directory: what a search is (a marker checked on resume), and its safety.

A search directory (`directory/project_name`) is Keras Tuner's, with keras-nas files
added; what each file holds, and how it is written (atomically) and read, is
`keras_nas.run_record`'s. Everything keras-nas and Keras Tuner read back from it is
JSON; weights are read only by `keras.Model.load_weights`. Nothing in it is
unpickled or executed.

This module adds:

- a marker, `keras_nas.json`, written when a search starts and checked when it
  resumes, so that a directory made by another project (other data shape,
  classes, search space or strategy) or by an incompatible keras-nas is refused
  with an error naming the difference, instead of mixing two searches;
- `check_search_files`: before a resume, every JSON file is parsed and a corrupt
  one is named with the way to recover; `restore_lost_trials` keeps the ids of
  trials whose files were deleted;
- `check_project_name` and `clear_for_overwrite`: a project name is one folder
  name, and `overwrite=True` empties only a folder that is empty or carries the
  marker, never another folder or a file;
- `SearchLock`: one process at a time runs `fit` on a search directory.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import shutil

try:
    import fcntl
except ImportError:  # not POSIX (Windows): SearchLock does not lock there
    fcntl = None

from keras_nas.run_record import (  # the directory's format; re-exported for older imports
    FORMAT_VERSION,
    LOCK_FILE,
    MARKER_FILE,
    ORACLE_FILE,
    COST_FILE,
    TRIAL_FILE,
    SearchDirectoryError,
    START_AFRESH as _FIX,
    atomic_save_model,  # noqa: F401
    atomic_write_json,
    read_json,
    read_trial_file,
    save_trial,
    trial_dir,
    trial_dirs,
    trial_id_of,
    tuner_file,
)

# What must match for a directory to be resumed; the rest of the marker is informative.
CHECKED_KEYS = (
    "format_version", "input_shape", "num_classes", "space", "hyperparameters", "strategy", "objective",
)


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
    own_tuner_file = tuner_file(os.environ.get("KERASTUNER_TUNER_ID", "tuner0"))
    tops = [
        os.path.join(project_dir, name)
        for name in (ORACLE_FILE, own_tuner_file, MARKER_FILE)
        if os.path.exists(os.path.join(project_dir, name))
    ]
    per_trial = [
        os.path.join(folder, name) for folder in trial_dirs(project_dir) for name in (TRIAL_FILE, COST_FILE)
    ]
    for path in tops + [p for p in per_trial if os.path.exists(p)]:
        if os.path.basename(path) == TRIAL_FILE:
            read_trial_file(path, project_dir, deep=True)  # JSON, and a trial Keras Tuner can read
        else:
            read_json(path, project_dir)
    if os.path.exists(os.path.join(project_dir, own_tuner_file)) and not os.path.exists(
        os.path.join(project_dir, ORACLE_FILE)
    ):
        raise SearchDirectoryError(
            f"The search directory {project_dir} has tuner files but no {ORACLE_FILE}, so the "
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


def write_search_marker(project_dir: str, info: dict, keep_existing: bool = False) -> None:
    """Writes the marker `keras_nas.json` describing the search in `project_dir`.

    Args:
        project_dir: The search directory (created if needed).
        info: What `search_info` returns.
        keep_existing: Leave a marker that is already there untouched.
    """
    os.makedirs(project_dir, exist_ok=True)
    path = os.path.join(project_dir, MARKER_FILE)
    if keep_existing and os.path.exists(path):
        return
    atomic_write_json(path, info)


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
        if glob.glob(os.path.join(project_dir, "*.json")) or trial_dirs(project_dir):
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


# -- where a search lives: names, overwrite, one process at a time ------------------------


def check_project_name(project_name) -> str:
    """Checks that `project_name` names one folder inside `directory`.

    Keras Tuner keeps a search in `directory/project_name` and deletes that
    path on `overwrite=True`: a name such as `".."`, `"../x"` or an absolute
    path would put (and delete) the search outside `directory`.

    Args:
        project_name: The project name given by the user.

    Returns:
        The name, unchanged.

    Raises:
        ValueError: If it is not a non-empty string naming a single folder
            (no `/` or `\\`, not `.` or `..`, not absolute, no NUL byte).

    Example:

    ```python
    check_project_name("digits")       # fine
    check_project_name("../digits")    # ValueError
    ```
    """
    if not isinstance(project_name, str) or not project_name.strip():
        raise ValueError(
            f"`project_name` must be a non-empty string naming one folder inside `directory`, "
            f"got {project_name!r}."
        )
    bad = (
        project_name in (".", "..")
        or os.path.isabs(project_name)
        or any(sep in project_name for sep in ("/", "\\", os.sep, "\0"))
    )
    if bad:
        raise ValueError(
            f"`project_name` must be a single folder name inside `directory` (no '/', '\\\\', "
            f"'..' or absolute path), got {project_name!r}. Put the parent folders in "
            "`directory` instead, e.g. directory='runs/digits', project_name='search1'."
        )
    return project_name


def check_project_dir(project_dir: str) -> None:
    """Refuses a project directory path that exists but is not a folder.

    Raises:
        SearchDirectoryError: If `project_dir` is a file (or another non-folder).
    """
    if os.path.lexists(project_dir) and not os.path.isdir(project_dir):
        raise SearchDirectoryError(
            f"The search directory {project_dir} exists and is not a folder (a file?); keras-nas "
            "neither uses nor deletes it. Use another project_name or directory."
        )


def clear_for_overwrite(project_dir: str) -> None:
    """Empties `project_dir` for a fresh search, if it is safe to do so.

    Only a folder that is empty (the lock file aside) or carries the keras-nas
    marker (`keras_nas.json`, written by every keras-nas search) is emptied; the
    lock file is kept, so that a process holding it keeps it.

    Args:
        project_dir: The search directory (`directory/project_name`).

    Raises:
        SearchDirectoryError: If `project_dir` is a file, or a folder that holds
            other things than a keras-nas search.
    """
    check_project_dir(project_dir)
    if not os.path.isdir(project_dir):
        return
    entries = [name for name in os.listdir(project_dir) if name != LOCK_FILE]
    if not entries:
        return
    if not os.path.isfile(os.path.join(project_dir, MARKER_FILE)):
        shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise SearchDirectoryError(
            f"overwrite=True would delete {project_dir}, but it is not a keras-nas search "
            f"directory (no {MARKER_FILE}; it holds: {shown}). Nothing was deleted. Use another "
            "project_name or directory, or delete the folder yourself if it is yours to delete."
        )
    for name in entries:
        path = os.path.join(project_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


class SearchLockedError(RuntimeError):
    """Another process is running a search in the same directory."""


class SearchLock:
    """An exclusive lock on a search directory for the time of `fit`.

    Two processes running `fit` on one directory would overwrite each other's
    trials. The lock is `fcntl.flock` on `project_dir/keras_nas.lock`: the
    operating system releases it when the process ends, however it ends, so a
    lock file left by a killed process never blocks a later search. (To share
    a search between processes, use the distributed mode: docs/distributed.md.)
    Without `fcntl` (not POSIX) nothing is locked.

    Args:
        project_dir: The search directory (created if missing).

    Raises:
        SearchLockedError: On `acquire`, if another process holds the lock.

    Example:

    ```python
    with SearchLock("runs/digits"):
        ...  # search
    ```
    """

    def __init__(self, project_dir: str):
        self.project_dir = project_dir
        self._file = None
        self._made_file = self._made_folder = False

    def acquire(self) -> "SearchLock":
        check_project_dir(self.project_dir)
        self._made_folder = not os.path.isdir(self.project_dir)
        os.makedirs(self.project_dir, exist_ok=True)
        if fcntl is None:
            return self
        path = os.path.join(self.project_dir, LOCK_FILE)
        self._made_file = not os.path.lexists(path)
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise SearchLockedError(
                    f"Another process (pid {holder}) is running a search in {self.project_dir}; two "
                    "searches in one directory would overwrite each other's trials. Wait for it to "
                    "finish, use another project_name, or share the search with the distributed "
                    "mode (docs/distributed.md)."
                ) from None
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            # A folder that did not become a search (e.g. one overwrite=True refused) keeps
            # nothing of the lock: its file, and the folder if the lock made it and it is empty.
            if self._made_file and not os.path.isfile(os.path.join(self.project_dir, MARKER_FILE)):
                os.remove(os.path.join(self.project_dir, LOCK_FILE))
                if self._made_folder and not os.listdir(self.project_dir):
                    os.rmdir(self.project_dir)
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> "SearchLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def prepare_project_dir(tuner_kwargs: dict) -> bool:
    """Checks a tuner's `directory`/`project_name` and does a safe `overwrite`.

    Keras Tuner deletes `directory/project_name` on `overwrite=True`, whatever
    it holds. This checks the name (`check_project_name`), refuses a file,
    empties the folder with `clear_for_overwrite` and sets `overwrite` to False
    in `tuner_kwargs`, so that Keras Tuner deletes nothing.

    Args:
        tuner_kwargs: The keyword arguments of a Keras Tuner tuner (changed in place).

    Returns:
        Whether the search directory is new (missing or empty).
    """
    if tuner_kwargs.get("project_name") is not None:
        check_project_name(tuner_kwargs["project_name"])
    project_dir = os.path.join(
        str(tuner_kwargs.get("directory") or "."), tuner_kwargs.get("project_name") or "untitled_project"
    )
    check_project_dir(project_dir)
    if tuner_kwargs.get("overwrite"):
        clear_for_overwrite(project_dir)
        tuner_kwargs["overwrite"] = False
    return not os.path.isdir(project_dir) or not [e for e in os.listdir(project_dir) if e != LOCK_FILE]


LOST_TRIAL_MESSAGE = (
    "Lost: this trial's trial.json was missing when the search resumed (deleted or never "
    "written); it is kept as failed so that its id is never given to another trial."
)


# How many more trials than it has files a search may have lost (deleted trial folders).
MAX_UNEXPLAINED_LOST = 10


def restore_lost_trials(project_dir: str) -> list[str]:
    """Writes a failed placeholder `trial.json` for every trial of the search that lost its own.

    Keras Tuner numbers a new trial by the count of trials it reloaded, and
    `oracle.json` names trials by id: a deleted `trial_<id>` folder would make
    the next trial reuse an existing id (overwriting a finished trial) or make
    the reload fail. The ids known to the search are those in `oracle.json`,
    the `trial_*` folders, and every id below the largest (ids are given in
    order); each one without a `trial.json` gets a placeholder whose status is
    FAILED and whose message says it was lost.

    Args:
        project_dir: The search directory.

    Returns:
        The ids of the trials restored as lost, in order.

    Raises:
        SearchDirectoryError: If the ids run far beyond the trials that have
            files (more lost trials than found ones, plus `MAX_UNEXPLAINED_LOST`):
            a stray `trial_3000` folder, not 2,997 lost trials.
    """
    import keras_tuner
    from keras_tuner.engine import trial as trial_module

    ids = set()
    oracle_path = os.path.join(project_dir, ORACLE_FILE)
    if os.path.exists(oracle_path):
        state = read_json(oracle_path, project_dir)
        if isinstance(state, dict):
            for key in ("start_order", "end_order", "retry_queue"):
                ids |= {str(i) for i in state.get(key) or []}
            ids |= {str(i) for i in (state.get("ongoing_trials") or {}).values()}
    ids |= {trial_id_of(folder) for folder in trial_dirs(project_dir)}
    numbered = [i for i in ids if i.isascii() and i.isdigit()]
    if numbered:
        width = max(len(i) for i in numbered)
        highest = max(numbered, key=int)
        with_files = sum(os.path.isfile(os.path.join(trial_dir(project_dir, i), TRIAL_FILE)) for i in ids)
        # Ids are given in order, so a gap is a lost trial; a gap larger than the search is
        # not: a folder added by hand or renamed (checked before anything is written).
        if int(highest) + 1 - with_files > with_files + MAX_UNEXPLAINED_LOST:
            raise SearchDirectoryError(
                f"The search directory {project_dir} has a corrupt trial folder "
                f"{os.path.basename(trial_dir(project_dir, highest))}: its id is far beyond the "
                f"{with_files} trials this search holds, so resuming would record "
                f"{int(highest) + 1 - with_files} trials as lost. It was added by hand or damaged. "
                f"To continue, delete that folder if it holds nothing of yours, or {_FIX}."
            )
        ids |= {f"{n:0{width}d}" for n in range(int(highest) + 1)}
    lost = sorted(i for i in ids if not os.path.isfile(os.path.join(trial_dir(project_dir, i), TRIAL_FILE)))
    for trial_id in lost:
        os.makedirs(trial_dir(project_dir, trial_id), exist_ok=True)
        trial = trial_module.Trial(
            keras_tuner.HyperParameters(), trial_id=trial_id, status=trial_module.TrialStatus.FAILED,
            message=LOST_TRIAL_MESSAGE,
        )
        save_trial(project_dir, trial)
        print(f"Trial {trial_id} of {project_dir} has no trial.json: recorded as lost (failed); its "
              "id is not reused.")
    return lost
