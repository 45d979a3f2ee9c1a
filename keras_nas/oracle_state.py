"""A search's `oracle.json`, checked on resume and rebuilt from the trials' files when damaged.

`oracle.json` holds the strategy's state: which trials started and ended, which
architectures were tried, the strategy's settings. What matters of it for a
resume is also in the trials' own files (`trial_<id>/trial.json`: id,
architecture, status, score). So a damaged `oracle.json` (cut short, edited,
of the wrong types, naming trials that do not exist) does not cost the
finished trials: `recover_oracle_state` keeps it as `oracle.json.damaged`,
writes a state rebuilt from the trial files, and warns. Lost with it: the
order in which trials ended, and the strategy's internal counters (proposals
skipped as predicted over the limits and their time), which restart at zero.

Example:

```python
from keras_nas import oracle_state
oracle_state.recover_oracle_state("runs/digits", oracle.get_state(), hash_values)
```
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from keras_nas.run_record import (
    MARKER_FILE,
    ORACLE_FILE,
    TRIAL_FILE,
    SearchDirectoryError,
    atomic_write_json,
    read_json,
    read_trial_file,
    trial_dirs,
)

DAMAGED_SUFFIX = ".damaged"

# Keras Tuner's keys of an Oracle's state, and what each must be.
_ID_LISTS = ("start_order", "end_order", "retry_queue")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _str_dict(value, values_ok: Callable[[Any], bool]) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and values_ok(v) for k, v in value.items())


def _same_kind(value, like) -> bool:
    """Whether a strategy's saved setting has the JSON type of its current value."""
    if value is None or like is None:
        return True
    if isinstance(like, bool):
        return isinstance(value, bool)
    if _is_number(like):
        return _is_number(value)
    return isinstance(value, type(like))


def state_problem(state: Any, template: Mapping, trial_ids: set[str]) -> str | None:
    """What is wrong with a parsed `oracle.json`, or None.

    Args:
        state: The parsed file.
        template: `oracle.get_state()` of the oracle about to reload (its keys
            and their types are what `set_state` reads).
        trial_ids: The ids of the trials that have a readable `trial.json`.

    Returns:
        One line naming the first problem, or None if the state can be loaded.
    """
    if not isinstance(state, dict):
        return f"it holds a JSON {type(state).__name__}, not an object"
    checks = {
        "ongoing_trials": lambda v: _str_dict(v, lambda x: isinstance(x, str)),
        "hyperparameters": lambda v: isinstance(v, dict) and isinstance(v.get("space", []), list)
        and isinstance(v.get("values", {}), dict),
        "start_order": _str_list,
        "end_order": _str_list,
        "retry_queue": _str_list,
        "tried_so_far": _str_list,
        "run_times": lambda v: _str_dict(v, _is_number),
        "id_to_hash": lambda v: _str_dict(v, lambda x: x is None or isinstance(x, str)),
        "seed": _is_int,
        "seed_state": _is_int,
        "display": lambda v: isinstance(v, dict) and (v.get("search_start") is None or isinstance(
            v.get("search_start"), str)) and _str_dict(v.get("trial_start"), lambda x: isinstance(x, str))
        and isinstance(v.get("trial_number"), dict),
    }
    for key, ok in checks.items():
        if key not in state:
            return f"it has no {key!r}"
        if not ok(state[key]):
            return f"its {key!r} is not what Keras Tuner writes (found {str(state[key])[:80]!r})"
    for key, like in template.items():
        if key not in checks and key in state and not _same_kind(state[key], like):
            return f"its {key!r} is a {type(state[key]).__name__}, not a {type(like).__name__}"
    started = state["start_order"]
    bound = len(set(started) | trial_ids) + 1  # ids are given in order: 0, 1, 2, ...
    for trial_id in started:
        if not (trial_id.isascii() and trial_id.isdigit() and len(trial_id) < 10 and int(trial_id) < bound):
            return f"its start_order names trial {trial_id[:20]!r}, which this search cannot have made"
    known = set(started)
    ids = [*state["end_order"], *state["retry_queue"], *state["ongoing_trials"].values()]
    stray = next((i for i in ids if i not in known), None)
    if stray is not None:
        return f"it names trial {stray[:20]!r}, which is not in its start_order"
    try:
        import keras_tuner

        # A copy: from_config turns the conditions' dicts into objects in place.
        keras_tuner.HyperParameters.from_config(copy.deepcopy(state["hyperparameters"]))
    except Exception as e:  # noqa: BLE001  (Keras Tuner raises many types on bad content)
        return f"its hyperparameters cannot be read ({type(e).__name__}: {e})"
    return None


def rebuild_state(project_dir: str, template: Mapping, trials: Mapping[str, dict],
                  hash_values: Callable[[dict], str]) -> dict:
    """An oracle state rebuilt from the trials' files.

    Args:
        project_dir: The search directory (its marker gives the seed).
        template: `oracle.get_state()` of the oracle about to reload: the
            strategy's settings and the state's shape.
        trials: `{trial id: parsed trial.json}` of every readable trial.
        hash_values: The oracle's hash of a trial's hyperparameter values.

    Returns:
        A state `oracle.set_state` reads: every trial started, the ended ones
        ended (in id order), the running ones queued to run again.
    """
    import keras_tuner

    hps = keras_tuner.HyperParameters.from_config(template["hyperparameters"])
    order = sorted(trials, key=lambda i: (len(i), i))
    for trial_id in order:
        hps.merge(keras_tuner.HyperParameters.from_config(trials[trial_id]["hyperparameters"]))
    ended = [i for i in order if trials[i]["status"] in ("COMPLETED", "FAILED", "INVALID")]
    hashes = {i: hash_values(trials[i]["hyperparameters"].get("values", {})) for i in order}
    marker_path = os.path.join(project_dir, MARKER_FILE)
    marker = read_json(marker_path, project_dir) if os.path.isfile(marker_path) else {}
    seed = marker.get("seed") if isinstance(marker, dict) and _is_int(marker.get("seed")) else template["seed"]
    state = dict(template)
    state.update(
        ongoing_trials={},
        hyperparameters=hps.get_config(),
        start_order=order,
        end_order=ended,
        run_times={i: 1 for i in ended},
        retry_queue=[i for i in order if i not in ended],
        seed=seed,
        seed_state=seed + len(order),
        tried_so_far=sorted(set(hashes.values())),
        id_to_hash=hashes,
        display={"search_start": None, "trial_start": {}, "trial_number": {}},
    )
    return state


def recover_oracle_state(project_dir: str, template: Mapping, hash_values: Callable[[dict], str]) -> bool:
    """Checks `oracle.json` before a resume; rebuilds it from the trial files if it is damaged.

    A damaged file is renamed `oracle.json.damaged` (kept for inspection) and
    a `UserWarning` says so. A sound file lacking settings that older
    versions did not write gets them from `template`.

    Args:
        project_dir: The search directory.
        template: `oracle.get_state()` of the oracle about to reload.
        hash_values: The oracle's hash of a trial's hyperparameter values.

    Returns:
        Whether the state was rebuilt.

    Raises:
        SearchDirectoryError: If a `trial.json` is corrupt (naming it and how
            to continue): the state is rebuilt only from sound trial files.
    """
    path = os.path.join(project_dir, ORACLE_FILE)
    if not os.path.isfile(path):
        return False
    trials = {}
    for folder in trial_dirs(project_dir):
        trial_file = os.path.join(folder, TRIAL_FILE)
        if os.path.isfile(trial_file):
            state = read_trial_file(trial_file, project_dir, deep=True)
            trials[state["trial_id"]] = state
    try:
        state = read_json(path, project_dir)
        problem = state_problem(state, template, set(trials))
    except SearchDirectoryError as e:  # not JSON: cut short
        state, problem = None, f"not valid JSON: {e.__cause__ or e}"
    if problem is None:
        missing = {key: value for key, value in template.items() if key not in state}
        if missing:  # written by an older keras-nas: the strategy's current settings
            state.update(missing)
            atomic_write_json(path, state)
        return False
    damaged = path + DAMAGED_SUFFIX
    for n in range(2, 1000):
        if not os.path.lexists(damaged):
            break
        damaged = f"{path}{DAMAGED_SUFFIX}.{n}"
    os.replace(path, damaged)
    atomic_write_json(path, rebuild_state(project_dir, template, trials, hash_values))
    warnings.warn(
        f"{path} was damaged ({problem}); it is kept as {os.path.basename(damaged)}, and the search "
        f"state was rebuilt from the {len(trials)} trial files, so the resumed search keeps every "
        "finished trial. Lost: the order in which trials ended and the strategy's proposal counters.",
        UserWarning,
        stacklevel=2,
    )
    return True
