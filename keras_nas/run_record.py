"""The run record: the one module that knows what a search directory holds.

A search directory (`directory/project_name`) is Keras Tuner's, with keras-nas
files added. Every file name, every reader and every writer of them is here:

```
keras_nas.json          the marker: what search this is (checked on resume, keras_nas/search_dir.py)
keras_nas.lock          held by the process running `fit` (keras_nas.search_dir.SearchLock)
oracle.json             the strategy's state (Keras Tuner, plus NASOracle's counters)
tuner0.json, ...        one per tuner process (Keras Tuner)
latency_cache.json      latency measurements shared by the search's trials
trial_<id>/trial.json   the trial: architecture, status, metrics, message and its `outcome`
trial_<id>/cost.json    the hardware cost measured before training
trial_<id>/timing.json  seconds of the trial and of its measurement
winner.keras            the trained winner, and winner.json: what it is and how it was searched
search.json             the search's settings (strategy, budget, ...), the CLI config, the export folder
report.{json,md,html}   the report (keras_nas.report), with its PNG plots
supernet.weights.h5     weight-sharing searches: the supernet; darts.json: DARTS' learned choices
```

A trial's outcome is a field of its `trial.json` (`"outcome": {"status":
"rejected", "reason": "flash 80.1 KB > 64 KB"}`): `trained`, `rejected` (over a
constraint, never trained), `failed` (an error in training) or `running`. The
tuner records a rejection on the trial (`record_rejection`); the oracle writes
the outcome with the trial (`trial_state`) and strategies read it with
`outcome_of`. Directories written before the outcome was recorded are read by
`_legacy_rejection_reason`, the only code that looks into a trial's message.

Every file is written atomically (`atomic_write_json`, `atomic_save_model`):
a search killed at any point leaves the old or the new file, never half of one.

Example:

```python
from keras_nas import run_record
rows = run_record.read_trials("runs/digits")   # as NASModel.trials() returns them
run_record.summarize(rows)                     # {'trained': 20, 'rejected': 7, ...}
run_record.read_winner("runs/digits")["trial_id"]
```
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import glob
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from keras_nas.failure_text import REJECTION_MARKER, failure_reason

# Bump when the layout or meaning of the files in a search directory changes.
FORMAT_VERSION = 1

# -- file names ----------------------------------------------------------------------------

MARKER_FILE = "keras_nas.json"
LOCK_FILE = "keras_nas.lock"
ORACLE_FILE = "oracle.json"
LATENCY_CACHE_FILE = "latency_cache.json"
TRIAL_PREFIX = "trial_"
TRIAL_FILE, COST_FILE, TIMING_FILE = "trial.json", "cost.json", "timing.json"
WINNER_MODEL, WINNER_INFO = "winner.keras", "winner.json"
SEARCH_INFO = "search.json"
REPORT_FILES = {"json": "report.json", "md": "report.md", "html": "report.html"}
HISTORY_PLOT = "history.png"
SUPERNET_WEIGHTS, DARTS_FILE = "supernet.weights.h5", "darts.json"

# What winner.json records of winner.keras, to check the two are one pair.
WINNER_DIGEST = "model_sha256"
_RETRAIN = (
    "To continue, run the same fit again (without overwrite=True): the search resumes with its "
    "finished trials, then trains and saves the winner again"
)

START_AFRESH = "pass overwrite=True to start this search afresh, or use another project_name"


def tuner_file(tuner_id: str) -> str:
    """The name of a tuner process's state file (`tuner0.json`)."""
    return f"{tuner_id}.json"


def pareto_plot(axis: str) -> str:
    """The name of the report's plot of the objective against the cost `axis`."""
    return f"pareto_{axis}.png"


def trial_dir(project_dir, trial_id: str) -> str:
    """The folder of a trial (as Keras Tuner names it)."""
    return os.path.join(str(project_dir), f"{TRIAL_PREFIX}{trial_id}")


def trial_dirs(project_dir) -> list[str]:
    """Every `trial_*` folder of a search directory, sorted."""
    pattern = os.path.join(str(project_dir), TRIAL_PREFIX + "*")
    return sorted(path for path in glob.glob(pattern) if os.path.isdir(path))


def trial_id_of(folder: str) -> str:
    """The trial id of a `trial_<id>` folder."""
    return os.path.basename(folder)[len(TRIAL_PREFIX):]


# -- writing and reading files safely --------------------------------------------------------


class SearchDirectoryError(ValueError):
    """A search directory cannot be resumed: it belongs to another search or is damaged."""


def atomic_write_json(path: str, obj: Any, indent: int | None = None) -> None:
    """Writes `obj` as JSON so that `path` holds either its old or its new content.

    The text goes to a temporary file in the same folder, is flushed to disk and
    renamed over `path` (`os.replace` is atomic on POSIX and Windows).

    Args:
        path: The file to write.
        obj: A JSON-serializable object.
        indent: As for `json.dumps` (None: one line).

    Example:

    ```python
    atomic_write_json("runs/digits/trial_0001/cost.json", {"flash_kb": 20.1})
    ```
    """
    text = json.dumps(obj, indent=indent)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_save_model(model, path: str) -> None:
    """Saves a Keras model to `path` (`.keras`) so that `path` is either the old or the new file.

    The model is saved to a temporary `.keras` file in the same folder, then
    renamed over `path`; if saving fails, the temporary file is removed.

    Args:
        model: A `keras.Model`.
        path: The destination, ending in `.keras`.
    """
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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
        raise SearchDirectoryError(_corrupt_message(str(path), project_dir, e)) from e


class DamagedFileError(ValueError):
    """A file of a search directory parses as JSON but does not hold what keras-nas writes there."""


_TRIAL_STATUSES = ("RUNNING", "IDLE", "INVALID", "STOPPED", "COMPLETED", "FAILED")


def trial_problem(state: Any, folder: str, deep: bool = False) -> str | None:
    """What is wrong with the parsed `trial.json` of the trial folder `folder`, or None.

    Checks what Keras Tuner reads back: a JSON object whose `trial_id` is the
    folder's, with `hyperparameters`, `metrics`, a known `status`, and a
    `score` that is a finite number or null (an `Infinity` or `NaN` score
    would win or break the ranking). With `deep` (a resume, which loads Keras
    Tuner anyway), also that Keras Tuner's `Trial.from_state` reads it; the
    report and the CLI read the JSON alone, without TensorFlow's start-up.
    """
    if not isinstance(state, dict):
        return f"it holds a JSON {type(state).__name__}, not a trial (a JSON object)"
    missing = [k for k in ("trial_id", "hyperparameters", "metrics", "status") if k not in state]
    if missing:
        return f"it has no {', '.join(missing)}"
    if state["trial_id"] != trial_id_of(folder):
        return f"its trial_id {state['trial_id']!r} is not its folder's ({trial_id_of(folder)!r})"
    hps, metrics = state["hyperparameters"], state["metrics"]
    if not (isinstance(hps, dict) and isinstance(hps.get("space", []), list)
            and isinstance(hps.get("values", {}), dict)):
        return "its hyperparameters are not {'space': [...], 'values': {...}}"
    if not (isinstance(metrics, dict) and isinstance(metrics.get("metrics", {}), dict)):
        return "its metrics are not {'metrics': {...}}"
    if state["status"] not in _TRIAL_STATUSES:
        return f"its status {state['status']!r} is none of {list(_TRIAL_STATUSES)}"
    score = state.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                              or not np.isfinite(score)):
        return f"its score {score!r} is not a finite number"
    if not deep:
        return None
    from keras_tuner.engine import trial as trial_module

    try:  # anything else Keras Tuner would trip on (a copy: it turns parts of it into objects)
        trial_module.Trial.from_state(copy.deepcopy(state))
    except Exception as e:  # noqa: BLE001  (Keras Tuner raises many types on bad content)
        return f"Keras Tuner cannot read it ({type(e).__name__}: {e})"
    return None


def read_trial_file(path: str, project_dir=None, deep: bool = False) -> dict:
    """Reads and checks a `trial_<id>/trial.json` (see `trial_problem`; `deep`: as Keras Tuner reads it).

    Raises:
        SearchDirectoryError: If it is not JSON or not a trial, naming the file
            and how to continue.
    """
    state = read_json(path, project_dir)
    problem = trial_problem(state, os.path.dirname(str(path)), deep)
    if problem:
        raise SearchDirectoryError(_corrupt_message(str(path), project_dir, DamagedFileError(problem)))
    return state


def _read_if_present(path: str, project_dir=None, default=None) -> Any:
    return read_json(path, project_dir) if os.path.exists(path) else default


def _corrupt_message(path: str, project_dir: str | None, error: Exception) -> str:
    project_dir = str(project_dir) if project_dir else None
    where = os.path.relpath(path, project_dir) if project_dir else path
    folder = os.path.dirname(path)
    if project_dir and os.path.basename(folder).startswith(TRIAL_PREFIX):
        fix = (
            f"delete the folder {folder} (the resumed search records that trial as lost, "
            f"counts it as failed and goes on with new trial ids), or {START_AFRESH}"
        )
    else:
        fix = START_AFRESH
    if isinstance(error, DamagedFileError):
        what = f"({error}); it was edited by hand or damaged"
    else:
        what = f"({type(error).__name__}: {error}); it was probably cut short by a crash or a full disk"
    return (
        f"The search directory {project_dir or os.path.dirname(path)} has a corrupt file {where} "
        f"{what}. To continue, {fix}."
    )


def search_path(project_dir) -> Path:
    """The project directory as a `Path`, after checking it holds a search.

    Raises:
        FileNotFoundError: If the directory or its `oracle.json` is missing.
    """
    path = Path(project_dir)
    if not path.is_dir():
        raise FileNotFoundError(
            f"No search directory at {str(path)!r}. Give the project directory of a search, "
            "i.e. `directory/project_name` as passed to NASModel (e.g. runs/digits)."
        )
    if not (path / ORACLE_FILE).exists():
        found = sorted(p.name for p in path.iterdir() if (p / ORACLE_FILE).exists())
        hint = f" It contains the searches {found}: pass one of them." if found else ""
        raise FileNotFoundError(
            f"{str(path)!r} is not a search directory: it has no {ORACLE_FILE}.{hint}"
        )
    return path


def read_oracle_state(project_dir) -> dict:
    """The strategy's saved state (`oracle.json`) of a search directory."""
    root = search_path(project_dir)
    return read_json(str(root / ORACLE_FILE), str(root))


# -- the outcome of a trial ------------------------------------------------------------------

TRAINED, REJECTED, FAILED, RUNNING = "trained", "rejected", "failed", "running"
OUTCOMES = (TRAINED, REJECTED, FAILED, RUNNING)
# A trial row's `status`: Keras Tuner's (COMPLETED, FAILED, ...), or this for a rejection.
REJECTED_STATUS = "REJECTED"
# The key of the outcome in trial.json, and the attribute that carries it on a live trial.
OUTCOME_KEY = "outcome"
_OUTCOME_ATTRIBUTE = "keras_nas_outcome"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a trial ended.

    Attributes:
        status: "trained" (completed training), "rejected" (broke a hardware
            constraint and was never trained), "failed" (an error, e.g. a
            diverged training) or "running" (not ended yet).
        reason: Why it was rejected or failed, in one line; None otherwise.
    """

    status: str
    reason: str | None = None

    def __post_init__(self):
        if self.status not in OUTCOMES:
            raise ValueError(f"Unknown trial outcome {self.status!r}; outcomes are {list(OUTCOMES)}.")

    @property
    def rejected(self) -> bool:
        return self.status == REJECTED

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping) -> Outcome:
        return cls(status=data["status"], reason=data.get("reason"))


def record_rejection(trial, reasons: Iterable[str]) -> None:
    """Records on a live Keras Tuner trial that it broke the constraints `reasons` (the tuner calls this)."""
    record_outcome(trial, Outcome(REJECTED, "; ".join(reasons)))


def recorded_outcome(trial) -> Outcome | None:
    """The outcome recorded on a live trial, or None."""
    return getattr(trial, _OUTCOME_ATTRIBUTE, None)


def keep_recorded_outcome(source, target) -> None:
    """Copies the outcome recorded on `source` to `target` (the oracle's copy of an ended trial)."""
    if source is not target:
        record_outcome(target, recorded_outcome(source))


def record_outcome(trial, outcome: Outcome | None) -> None:
    """Records (or, with None, forgets) the outcome of a live Keras Tuner trial."""
    setattr(trial, _OUTCOME_ATTRIBUTE, outcome)


def outcome_of(trial) -> Outcome:
    """The outcome of a live Keras Tuner trial (an oracle's or a tuner's).

    Example:

    ```python
    rejected = sum(outcome_of(t).rejected for t in oracle.trials.values())
    ```
    """
    return _outcome(trial.status, trial.message, recorded_outcome(trial))


def _outcome(status: str, message: str | None, recorded: Outcome | None) -> Outcome:
    if status == "RUNNING":
        return Outcome(RUNNING)
    if recorded is not None:
        return recorded
    if status == "COMPLETED":
        return Outcome(TRAINED)
    if status in ("FAILED", "INVALID"):
        legacy = _legacy_rejection_reason(message)
        if legacy is not None:
            return Outcome(REJECTED, legacy)
        return Outcome(FAILED, failure_reason(message))
    return Outcome(RUNNING)


def _legacy_rejection_reason(message: str | None) -> str | None:
    """The reason of a rejection written before outcomes were recorded, or None.

    Trials of older directories (and of an older keras-nas on a worker) say
    that they were rejected only by `REJECTION_MARKER` in their failure message.
    """
    if not message or REJECTION_MARKER not in message:
        return None
    last = message.strip().splitlines()[-1]
    return last.split(REJECTION_MARKER, 1)[1].strip() if REJECTION_MARKER in last else last


def trial_state(trial) -> dict:
    """What `trial.json` holds for a live trial: Keras Tuner's state and, once ended, the outcome."""
    state = trial.get_state()
    outcome = outcome_of(trial)
    if outcome.status != RUNNING:
        state[OUTCOME_KEY] = outcome.to_dict()
    return state


def save_trial(project_dir, trial) -> None:
    """Writes a live trial's `trial.json` (with its outcome)."""
    folder = trial_dir(project_dir, trial.trial_id)
    os.makedirs(folder, exist_ok=True)
    atomic_write_json(os.path.join(folder, TRIAL_FILE), trial_state(trial))


def restore_outcomes(trials: Mapping, project_dir) -> None:
    """Puts the outcomes recorded in the trials' `trial.json` back on reloaded live trials."""
    for trial_id, trial in trials.items():
        state = _read_if_present(os.path.join(trial_dir(project_dir, trial_id), TRIAL_FILE), project_dir, {})
        recorded = state.get(OUTCOME_KEY) if isinstance(state, dict) else None
        record_outcome(trial, Outcome.from_dict(recorded) if recorded else None)


# -- per-trial files: cost and timing --------------------------------------------------------


def cost_path(project_dir, trial_id: str) -> str:
    """Where a trial's measured hardware cost is kept."""
    return os.path.join(trial_dir(project_dir, trial_id), COST_FILE)


def read_cost(project_dir, trial_id: str) -> dict | None:
    """The cost measured for a trial, or None if it was never measured."""
    return _read_if_present(cost_path(project_dir, trial_id), project_dir)


def read_timing(project_dir, trial_id: str) -> dict:
    """`{"trial_seconds": ..., "measure_seconds": ...}` of a trial, or `{}`."""
    return _read_if_present(os.path.join(trial_dir(project_dir, trial_id), TIMING_FILE), project_dir, {})


def write_timing(project_dir, trial_id: str, trial_seconds: float, cost: dict | None) -> None:
    """Records how long a trial took, and its measurement (from its cost)."""
    timing = {"trial_seconds": trial_seconds}
    if cost is not None and "measure_seconds" in cost:
        timing["measure_seconds"] = cost["measure_seconds"]
    folder = trial_dir(project_dir, trial_id)
    os.makedirs(folder, exist_ok=True)
    atomic_write_json(os.path.join(folder, TIMING_FILE), timing)


# -- trial rows ------------------------------------------------------------------------------


def trial_row(
    project_dir,
    trial_id: str,
    status: str,
    outcome: Outcome,
    score: float | None,
    metrics: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
) -> dict:
    """One trial as `NASModel.trials()` and `read_trials` give it.

    Returns:
        A dict: `trial_id`, `status` (Keras Tuner's: COMPLETED, FAILED, RUNNING,
        ...; REJECTED for a rejection), `outcome` (see `Outcome`), `score`,
        `metrics` (last values), `cost` (`cost.json`, or None), `hyperparameters`,
        `message` (the reason of a rejection or failure), `seconds` and
        `measure_seconds` (or None).
    """
    timing = read_timing(project_dir, trial_id)
    return {
        "trial_id": trial_id,
        "status": REJECTED_STATUS if outcome.rejected else status,
        "outcome": outcome.status,
        "score": score,
        "metrics": {name: value for name, value in metrics.items() if value is not None},
        "cost": read_cost(project_dir, trial_id),
        "hyperparameters": dict(hyperparameters),
        "message": outcome.reason,
        "seconds": timing.get("trial_seconds"),
        "measure_seconds": timing.get("measure_seconds"),
    }


def rows_of_trials(trials: Iterable, project_dir) -> list[dict]:
    """`trial_row`s of live Keras Tuner trials, sorted by trial id."""
    rows = [
        trial_row(
            project_dir,
            trial.trial_id,
            trial.status,
            outcome_of(trial),
            trial.score,
            {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics},
            trial.hyperparameters.values,
        )
        for trial in trials
    ]
    return sorted(rows, key=lambda row: row["trial_id"])


def read_trials(project_dir) -> list[dict]:
    """Every trial of a search directory as a `NASModel.trials()` row (see `trial_row`).

    Args:
        project_dir: The search's project directory.

    Returns:
        Rows sorted by trial id.

    Raises:
        FileNotFoundError: If `project_dir` is not a search directory.
    """
    root = search_path(project_dir)
    rows = []
    for folder in trial_dirs(root):
        path = os.path.join(folder, TRIAL_FILE)
        if not os.path.exists(path):
            continue
        state = read_trial_file(path, str(root))
        recorded = state.get(OUTCOME_KEY)
        status = state.get("status")
        rows.append(
            trial_row(
                root,
                state.get("trial_id", trial_id_of(folder)),
                status,
                _outcome(status, state.get("message"), Outcome.from_dict(recorded) if recorded else None),
                state.get("score"),
                {
                    name: _last_value(metric)
                    for name, metric in (state.get("metrics") or {}).get("metrics", {}).items()
                },
                (state.get("hyperparameters") or {}).get("values", {}),
            )
        )
    return sorted(rows, key=lambda row: row["trial_id"])


def _last_value(metric: Mapping) -> float | None:
    observations = metric.get("observations") or []
    if not observations:
        return None
    value = observations[-1].get("value")
    if isinstance(value, list):
        value = value[-1] if value else None
    return value


# -- the summary -------------------------------------------------------------------------------


# A trained candidate "near the limits" uses more than this share of its binding limit.
NEAR_LIMIT_SHARE = 0.75


def summarize(rows: list[dict], skipped: int = 0, prediction_seconds: float = 0.0,
              grown: int = 0, limits: Mapping[str, float] | None = None,
              space_fit: dict | None = None) -> dict:
    """Trials by outcome, search time and the share spent measuring hardware cost.

    Args:
        rows: `trial_row`s of the search.
        skipped: Proposals predicted over the flash/RAM limits, never converted.
        grown: Proposals widened towards the limits before they were tried
            (`keras_nas.strategies.proposals.GROW_BELOW`).
        prediction_seconds: Time spent building proposals to predict their cost.
        limits: The search's active constraints (`Constraints.active()`), to
            report how much of them the trained candidates use.
        space_fit: `keras_nas.space_fit.SpaceFit.summary()` (or its
            `to_dict()`, as `oracle.json` keeps it) of the search, if its space
            was fitted to the limits.

    Returns:
        A dict with `trials`, `trained`, `rejected`, `failed` (in training),
        `running`, `skipped`, `grown`, `search_seconds` (time in trials),
        `measure_seconds`, `measure_share` (measurement time / trial time),
        `prediction_seconds`, `rejection_share` (time of rejected candidates
        and of prediction / trial and prediction time) and, when the cost was
        predicted, the predictor's median and largest relative error on flash
        and arena (`predicted_flash_kb_median_error`, ...). With `limits`:
        `limit_use`, per limit, the trained candidates' cost as a share of it
        (`median`, `quartiles`, `max`), and `near_limit_share`, the share of
        trained candidates whose binding limit (the one they use most of)
        is used above 75 %: whether the search explored the region where
        the largest models that fit sit. With `space_fit`: `space_fit`, the
        sub-space table, the chosen one and its `share` of the search time.
    """
    counts = collections.Counter(row["outcome"] for row in rows)
    total = sum(row["seconds"] or 0.0 for row in rows)
    measured = sum(row["measure_seconds"] or 0.0 for row in rows)
    rejected_seconds = sum(row["seconds"] or 0.0 for row in rows if row["outcome"] == REJECTED)
    errors = {"flash_kb": [], "peak_ram_kb": []}
    for row in rows:
        cost = row["cost"]
        if cost is not None and "predicted" in cost:
            for key, values in errors.items():
                values.append(abs(cost["predicted"][key] - cost[key]) / max(cost[key], 1e-9))
    # Every proposal is built once to predict its cost: counted as time spent on
    # rejections, with the rejected candidates' conversions.
    summary = {
        "trials": len(rows),
        "trained": counts[TRAINED],
        "rejected": counts[REJECTED],
        "failed": counts[FAILED],
        "running": counts[RUNNING],
        "skipped": int(skipped),
        "grown": int(grown),
        "search_seconds": total,
        "measure_seconds": measured,
        "measure_share": measured / total if total else 0.0,
        "prediction_seconds": float(prediction_seconds),
        "rejection_share": (
            (rejected_seconds + prediction_seconds) / (total + prediction_seconds) if total else 0.0
        ),
    }
    for key, values in errors.items():
        if values:
            summary[f"predicted_{key}_median_error"] = float(np.median(values))
            summary[f"predicted_{key}_max_error"] = float(np.max(values))
    if limits:
        summary.update(limit_use(rows, limits))
    if space_fit is not None:
        spent = float(space_fit["seconds"])
        summary["space_fit"] = {key: space_fit.get(key) for key in ("chosen", "seconds", "calibrated", "table")}
        summary["space_fit"]["share"] = spent / (spent + total + prediction_seconds)
    return summary


def limit_use(rows: list[dict], limits: Mapping[str, float]) -> dict:
    """How much of each limit the trained candidates use (see `summarize`)."""
    trained = [row["cost"] for row in rows if row["outcome"] == TRAINED and row["cost"]]
    shares = {
        key: [cost[key] / limit for cost in trained if cost.get(key) is not None]
        for key, limit in limits.items() if limit
    }
    use = {
        key: {"median": float(np.median(values)),
              "quartiles": [float(q) for q in np.percentile(values, [25, 75])],
              "max": float(np.max(values))}
        for key, values in shares.items() if values
    }
    binding = [max((cost[key] / limit for key, limit in limits.items()
                    if limit and cost.get(key) is not None), default=None) for cost in trained]
    binding = [share for share in binding if share is not None]
    return {
        "limit_use": use,
        "near_limit_share": float(np.mean([share > NEAR_LIMIT_SHARE for share in binding])) if binding else None,
    }


def limit_use_text(summary: dict) -> str:
    """How much of the limits the trained candidates used, in a line (see `limit_use`)."""
    parts = [f"{key} median {100 * use['median']:.0f} % (quartiles {100 * use['quartiles'][0]:.0f}-"
             f"{100 * use['quartiles'][1]:.0f} %)" for key, use in summary["limit_use"].items()]
    near = summary.get("near_limit_share")
    if near is not None:
        parts.append(f"{100 * near:.0f} % of trained candidates over 75 % of their binding limit")
    return "; ".join(parts)

def read_summary(project_dir, rows: list[dict] | None = None) -> dict:
    """`summarize` of a search directory, with the strategy's counters from `oracle.json`."""
    state = read_oracle_state(project_dir)
    limits = read_settings(project_dir).get("constraints")
    return summarize(
        read_trials(project_dir) if rows is None else rows,
        skipped=state.get("skipped_proposals", 0),
        grown=state.get("grown_proposals", 0),
        prediction_seconds=state.get("prediction_seconds", 0.0),
        limits=limits if isinstance(limits, dict) else None,
        space_fit=state.get("space_fit"),
    )


# -- the search's settings ----------------------------------------------------------------------

# What the marker tells about the settings when nothing else does.
_MARKER_SETTINGS = ("strategy", "space", "objective", "seed", "input_shape", "num_classes")


def read_search_info(project_dir) -> dict:
    """`search.json` of a search directory (settings, CLI config, export folder), or `{}`."""
    return _read_if_present(os.path.join(str(project_dir), SEARCH_INFO), str(project_dir), {})


def save_search_info(project_dir, info: Mapping) -> None:
    """Writes (or updates) `search.json` in a project directory; None values are left out."""
    current = read_search_info(project_dir)
    current.update({k: v for k, v in info.items() if v is not None})
    atomic_write_json(os.path.join(str(project_dir), SEARCH_INFO), jsonable(current), indent=1)


def read_settings(project_dir) -> dict:
    """The search's settings from the directory alone.

    From `search.json` when the search was run by the CLI or reported with
    `write_report(model)`, else what the marker, `oracle.json` and
    `winner.json` hold, in that order; `objective` defaults to "val_accuracy".
    """
    root = search_path(project_dir)
    marker = _read_if_present(str(root / MARKER_FILE), str(root), {})
    marker = marker if isinstance(marker, dict) else {}
    winner = read_winner(root) or {}
    sources = (
        read_search_info(root),
        {key: marker.get(key) for key in _MARKER_SETTINGS},
        {"seed": read_oracle_state(root).get("seed")},
        {"objective": winner.get("objective"), "epochs": winner.get("epochs")},
        winner.get("search") or {},
        {"objective": "val_accuracy"},
    )
    settings = {}
    for source in sources:  # the first source that knows a value wins
        for key, value in source.items():
            if value is not None:
                settings.setdefault(key, value)
    return settings


# -- the winner --------------------------------------------------------------------------------


def winner_model_path(project_dir) -> Path:
    """Where the trained winner (`winner.keras`) of a search is kept."""
    return Path(project_dir) / WINNER_MODEL


def save_winner(
    project_dir,
    model,
    trial,
    *,
    objective: str,
    epochs: int,
    cost: Mapping,
    finalist_scores: Mapping,
    search: Mapping,
    finalists: Mapping | None = None,
    trained_on: str = "train",
) -> None:
    """Writes `winner.keras` and `winner.json` of a search's trained winner into its project directory.

    The two are one unit: `winner.json` is written last and holds the SHA-256
    of `winner.keras` (`model_sha256`), which `load_winner_model` checks. Each
    file is whole or absent, and `winner.json` is checked to be JSON before
    anything is written: a kill during the save leaves the previous winner,
    or (killed between the two files) a pair that `load_winner_model` refuses
    with a clear error, never a mismatched pair taken as a winner.

    Args:
        project_dir: The search's project directory.
        model: The trained winner, a `keras.Model`.
        trial: The winning Keras Tuner trial.
        objective: The search objective (`trial.score` is of it).
        epochs: Epochs of the final training.
        cost: The trained winner's measured cost (`Cost.to_dict()`).
        finalist_scores: Each finalist's mean score.
        finalists: How the finalists were judged: method, each one's scores,
            mean and spread, the ones tied with the best
            (`keras_nas.finalists.FinalistScores.to_dict()`).
        search: The search's settings (`NASModel.search_settings()`).
        trained_on: The data of the final training: "train", or
            "train+validation" (the validation score then is not held out).
    """
    project = str(project_dir)
    info = {
        "trial_id": trial.trial_id,
        "objective": objective,
        "score": trial.score,
        "epochs": epochs,
        "trained_on": trained_on,
        "cost": dict(cost),
        "finalist_scores": dict(finalist_scores),
        "finalists": dict(finalists or {}),
        "hyperparameters": dict(trial.hyperparameters.values),
        "search": dict(search),
    }
    json.dumps(info)  # a value JSON cannot hold fails here, before the model is replaced
    path = winner_model_path(project)
    atomic_save_model(model, str(path))
    info[WINNER_DIGEST] = file_sha256(path)
    atomic_write_json(os.path.join(project, WINNER_INFO), info, indent=1)


def file_sha256(path) -> str:
    """The SHA-256 of a file's content, in hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_winner_model(project_dir):
    """The trained winner of a search directory, a `keras.Model` (loaded with `safe_mode=True`).

    Raises:
        FileNotFoundError: If the search has no `winner.keras`.
        SearchDirectoryError: If `winner.keras` is not the file `winner.json`
            describes (a save cut short between the two), or cannot be loaded
            (truncated, or holding layers `safe_mode` refuses); the message
            says how to continue.
    """
    import keras

    from keras_nas import blocks  # noqa: F401  (registers the custom layers the winner may use)
    from keras_nas import task_training  # noqa: F401  (registers the regression loss it may be compiled with)

    path = winner_model_path(project_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{str(project_dir)!r} has no trained winner ({WINNER_MODEL}).")
    info = read_winner(project_dir)
    expected = info.get(WINNER_DIGEST) if isinstance(info, dict) else None
    if expected is not None and file_sha256(path) != expected:
        raise SearchDirectoryError(
            f"{path} is not the model {WINNER_INFO} describes (its SHA-256 differs): the save of the "
            f"winner was cut short between the two files, or one was replaced. {_RETRAIN}"
        )
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as e:  # a damaged or foreign file: Keras raises many types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SearchDirectoryError(
            f"{path} cannot be loaded as the search's winner ({type(e).__name__}: {reason[:300]}); it "
            f"is damaged, or holds layers keras-nas never writes (loaded with safe_mode=True). {_RETRAIN}"
        ) from e


def read_winner(project_dir) -> dict | None:
    """`winner.json` of a search directory (trial id, score, cost, architecture, settings), or None.

    Raises:
        SearchDirectoryError: If it is not JSON, or not what keras-nas writes
            (a trial id that is not a string, a score that is not a finite
            number, ...), naming the file and how to continue.
    """
    path = os.path.join(str(project_dir), WINNER_INFO)
    info = _read_if_present(path, str(project_dir))
    problem = None if info is None else _winner_problem(info)
    if problem:
        raise SearchDirectoryError(
            f"The search directory {project_dir} has a corrupt file {WINNER_INFO} ({problem}); it was "
            f"edited by hand or damaged. {_RETRAIN}."
        )
    return info


def _winner_problem(info: Any) -> str | None:
    if not isinstance(info, dict):
        return f"it holds a JSON {type(info).__name__}, not an object"
    checks = {
        "trial_id": lambda v: isinstance(v, str),
        "score": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                         and bool(np.isfinite(v))),
        "objective": lambda v: v is None or isinstance(v, str),
        WINNER_DIGEST: lambda v: v is None or isinstance(v, str),
        "trained_on": lambda v: v is None or isinstance(v, str),
        "cost": lambda v: v is None or isinstance(v, dict),
        "hyperparameters": lambda v: v is None or isinstance(v, dict),
        "search": lambda v: v is None or isinstance(v, dict),
    }
    if "trial_id" not in info:
        return "it has no trial_id"
    for key, ok in checks.items():
        if not ok(info.get(key)):
            return f"its {key} is {str(info.get(key))[:60]!r}, not what keras-nas writes"
    return None


def has_winner(project_dir) -> bool:
    """Whether a search directory holds a trained winner (`winner.keras` and `winner.json`)."""
    return winner_model_path(project_dir).is_file() and (Path(project_dir) / WINNER_INFO).is_file()


def jsonable(values: Mapping) -> dict:
    """`values` with anything JSON cannot hold replaced by its repr."""
    return {k: v if _is_plain(v) else repr(v) for k, v in values.items()}


def _is_plain(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


__all__ = [
    "FORMAT_VERSION",
    "Outcome",
    "DamagedFileError",
    "SearchDirectoryError",
    "atomic_save_model",
    "atomic_write_json",
    "has_winner",
    "jsonable",
    "load_winner_model",
    "outcome_of",
    "read_cost",
    "read_json",
    "read_search_info",
    "read_settings",
    "limit_use",
    "limit_use_text",
    "read_summary",
    "read_trial_file",
    "read_trials",
    "read_winner",
    "record_outcome",
    "record_rejection",
    "rows_of_trials",
    "save_search_info",
    "save_trial",
    "save_winner",
    "search_path",
    "summarize",
    "trial_problem",
    "trial_row",
]
