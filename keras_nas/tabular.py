"""Runs search strategies against a tabular NAS benchmark: no training, simulated time.

A tabular benchmark records, for every architecture of a space, the metrics a
full training gave (NAS-Bench-201 publishes one for its 15625 cells). Looking
architectures up instead of training them compares strategies in seconds, on
exactly the numbers published papers use.

A table is a CSV file (optionally gzipped; lines starting with `#` are
comments) or a JSON-lines file with:

- `arch`: a NAS-Bench-201 string such as
  `|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|`,
  or a JSON object of hyperparameter values (`{"width": 16, "kernel": 3}`);
- numeric metric columns: at least the objective (`val_accuracy`), usually
  `test_accuracy` and `train_seconds` (the simulated cost of training), and
  any cost such as `latency_ms`, `flash_kb`, `peak_ram_kb`.

Example:

```python
from keras_nas import tabular
table = tabular.TabularBenchmark.from_file("nb201_cifar10.csv")
result = tabular.run("evolution", table, max_trials=100, seed=1, directory="runs")
result.trajectory[-1]["best_test"], result.trajectory[-1]["elapsed_seconds"]
```
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner
from keras_tuner.errors import FatalError
from keras_tuner.src import config as keras_tuner_config

from keras_nas import fidelity, pareto, run_record, search_dir
from keras_nas.blocks.nb201 import declare_nb201, from_nb201_string, to_nb201_string
from keras_nas.errors import CandidateRejected
from keras_nas.strategies import NASOracle, get_strategy
from keras_nas.strategies.base import architecture_values, values_key

NB201 = "nb201"
VALUES = "values"


class TableError(FatalError, ValueError):
    """A table file is malformed, or a lookup asked for something the table lacks.

    A `keras_tuner.errors.FatalError`: raised in a trial, it stops the search
    at once instead of counting as a failed trial.
    """


@dataclasses.dataclass
class TabularBenchmark:
    """A table `architecture -> metrics` and the search space it covers.

    Build it with `from_file` (or `from_rows`). NB201 tables declare the six
    NAS-Bench-201 edges (`keras_nas.blocks.nb201.declare_nb201`); tables of
    JSON-object architectures declare one `hp.Choice` per key, over the values
    the table holds.

    Args:
        rows: One dict per architecture: `"arch"` (its string form), `"values"`
            (its hyperparameter values) and the metrics (floats).
        kind: "nb201" or "values".
        metrics: The metric column names.
        space_name: Name scope of the NB201 hyperparameters.
        source: Where the table came from (for messages).
    """

    rows: list[dict]
    kind: str
    metrics: list[str]
    space_name: str = NB201
    source: str = "<rows>"

    def __post_init__(self):
        self._index = {}
        for row in self.rows:
            key = values_key(row["values"])
            if key in self._index:
                raise TableError(f"{self.source}: architecture {row['arch']} appears twice.")
            self._index[key] = row
        if self.kind == VALUES:
            self._choices = _choices_of(self.rows, self.source)

    # -- reading ------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike, space_name: str = NB201) -> TabularBenchmark:
        """Reads a table from a CSV (`.csv`, `.csv.gz`) or JSON-lines (`.jsonl`, `.json`, `.gz`) file.

        Args:
            path: The file.
            space_name: Name scope of the NB201 hyperparameters (NB201 tables only).

        Returns:
            The `TabularBenchmark`.

        Raises:
            FileNotFoundError: If the file does not exist.
            TableError: If the file is not a UTF-8 text (or gzip) file, or is malformed: no `arch` column, a metric that
                is not a number, an architecture string that does not parse, rows
                of different metrics.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No table file at {path!r}.")
        if not os.path.isfile(path):
            raise TableError(f"{path}: not a regular file; pass a .csv, .tsv or .jsonl table file.")
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError as e:
            raise TableError(
                f"{path}: not a UTF-8 text table (byte {e.start} is {e.object[e.start:e.start + 1]!r}); "
                "a table is a .csv, .tsv or .jsonl text file (optionally gzip-compressed as .gz)."
            ) from None
        except (gzip.BadGzipFile, EOFError) as e:
            raise TableError(f"{path}: not a valid gzip file ({e}); write it with gzip, or drop the .gz.") from None
        stem = path[:-3] if path.endswith(".gz") else path
        if stem.endswith((".jsonl", ".json", ".ndjson")):
            records = _read_json_lines(text, path)
        elif stem.endswith((".csv", ".tsv")):
            records = _read_csv(text, path, delimiter="\t" if stem.endswith(".tsv") else ",")
        else:
            raise TableError(
                f"{path}: unknown table format; use a .csv, .tsv or .jsonl file (optionally .gz)."
            )
        return cls.from_rows(records, space_name=space_name, source=path)

    @classmethod
    def from_rows(
        cls, records: Sequence[Mapping], space_name: str = NB201, source: str = "<rows>"
    ) -> TabularBenchmark:
        """Builds a table from dicts with an `arch` entry and numeric metrics (see `from_file`)."""
        if not records:
            raise TableError(f"{source}: the table has no rows.")
        rows, kinds, metric_names = [], set(), None
        for number, record in enumerate(records, start=1):
            if "arch" not in record:
                raise TableError(
                    f"{source}: row {number} has no 'arch' column (columns: {sorted(record)}). "
                    "Name the architecture column 'arch'."
                )
            arch = record["arch"]
            kind, values, arch_text = _parse_arch(arch, space_name, f"{source}: row {number}")
            kinds.add(kind)
            metrics = {}
            for name, value in record.items():
                if name == "arch":
                    continue
                metrics[name] = _number(value, f"{source}: row {number}, column {name!r}")
            if metric_names is None:
                metric_names = list(metrics)
            elif set(metrics) != set(metric_names):
                raise TableError(
                    f"{source}: row {number} has metrics {sorted(metrics)} but row 1 has "
                    f"{sorted(metric_names)}; every row needs the same columns."
                )
            rows.append({"arch": arch_text, "values": values, **metrics})
        if len(kinds) > 1:
            raise TableError(
                f"{source}: mixes NAS-Bench-201 strings and JSON objects in 'arch'; use one form."
            )
        if not metric_names:
            raise TableError(f"{source}: the table has no metric columns besides 'arch'.")
        return cls(rows=rows, kind=kinds.pop(), metrics=metric_names, space_name=space_name, source=source)

    # -- using ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.rows)

    def declare(self, hp: keras_tuner.HyperParameters) -> None:
        """Declares the table's search space on `hp` (a Keras Tuner hypermodel function)."""
        if self.kind == NB201:
            declare_nb201(hp, self.space_name)
        else:
            for name, values in self._choices.items():
                if set(values) == {False, True} and all(isinstance(v, bool) for v in values):
                    hp.Boolean(name)
                else:
                    hp.Choice(name, values)

    def lookup(self, values: Mapping[str, Any]) -> dict:
        """The row of an architecture given by its hyperparameter values.

        Raises:
            TableError: If the architecture is not in the table.
        """
        values = architecture_values(dict(values))
        row = self._index.get(values_key(values))
        if row is None:
            arch = self.arch_string(values)
            raise TableError(
                f"Architecture {arch} is not in the table {self.source} ({len(self)} rows). "
                "A tabular run needs every architecture of the searched space in the table."
            )
        return row

    def arch_string(self, values: Mapping[str, Any]) -> str:
        """The table's string form of an architecture."""
        if self.kind == NB201:
            try:
                return to_nb201_string(dict(values), self.space_name)
            except ValueError:
                pass
        return json.dumps(dict(values), sort_keys=True)

    def check_metric(self, name: str, what: str) -> None:
        """Raises `TableError` naming the columns if `name` is not a metric of the table."""
        if name not in self.metrics:
            raise TableError(
                f"The {what} {name!r} is not a column of {self.source}; its metric columns are "
                f"{self.metrics}."
            )

    def worst(self, objectives: Sequence) -> list[float]:
        """The worst value of each objective over the whole table (a hypervolume reference)."""
        result = []
        for name, direction in pareto.check_objectives(objectives):
            self.check_metric(name, "objective")
            column = [row[name] for row in self.rows]
            result.append(min(column) if direction == "max" else max(column))
        return result


def _read_csv(text: str, path: str, delimiter: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise TableError(f"{path}: the file has no header line.")
    reader = csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    records = []
    for number, record in enumerate(reader, start=1):
        if None in record or any(v is None for v in record.values()):
            raise TableError(
                f"{path}: data row {number} has a different number of fields than the header "
                f"{reader.fieldnames}."
            )
        records.append(record)
    if reader.fieldnames is None or "arch" not in reader.fieldnames:
        raise TableError(
            f"{path}: no 'arch' column in the header {reader.fieldnames}. The first non-comment "
            "line must name the columns, one of them 'arch'."
        )
    return records


def _read_json_lines(text: str, path: str) -> list[dict]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise TableError(f"{path}: line {number} is not valid JSON ({e.msg}).") from None
        if not isinstance(record, dict):
            raise TableError(f"{path}: line {number} is not a JSON object.")
        records.append(record)
    return records


def _parse_arch(arch: Any, space_name: str, where: str) -> tuple[str, dict, str]:
    """(kind, hyperparameter values, canonical string) of an `arch` cell."""
    if isinstance(arch, str) and arch.strip().startswith("{"):
        try:
            arch = json.loads(arch)
        except json.JSONDecodeError as e:
            raise TableError(f"{where}: 'arch' is not valid JSON ({e.msg}).") from None
    if isinstance(arch, Mapping):
        values = dict(arch)
        for name, value in values.items():
            if not isinstance(value, (str, int, float, bool)):
                raise TableError(
                    f"{where}: hyperparameter {name!r} is {value!r}; values must be numbers, "
                    "strings or booleans."
                )
        return VALUES, values, json.dumps(values, sort_keys=True)
    if isinstance(arch, str) and arch.strip().startswith("|"):
        try:
            values = from_nb201_string(arch.strip(), space_name)
        except ValueError as e:
            raise TableError(f"{where}: {e}") from None
        return NB201, values, to_nb201_string(values, space_name)
    raise TableError(
        f"{where}: 'arch' is {arch!r}; expected a NAS-Bench-201 string "
        "('|nor_conv_3x3~0|+|...|') or a JSON object of hyperparameter values."
    )


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TableError(f"{where} is {value!r}, not a number.") from None
    if not math.isfinite(number):
        raise TableError(f"{where} is {value!r}; metrics must be finite numbers.")
    return number


def _choices_of(rows: list[dict], source: str) -> dict[str, list]:
    """One sorted list of values per hyperparameter of a values table."""
    names = list(rows[0]["values"])
    choices = {}
    for name in names:
        seen = []
        for row in rows:
            if set(row["values"]) != set(names):
                raise TableError(
                    f"{source}: architecture {row['arch']} has hyperparameters "
                    f"{sorted(row['values'])} but the first has {sorted(names)}; every 'arch' "
                    "object needs the same keys."
                )
            if row["values"][name] not in seen:
                seen.append(row["values"][name])
        kinds = {type(v) for v in seen}
        if len(kinds) > 1 and not kinds <= {int, float}:
            raise TableError(f"{source}: hyperparameter {name!r} mixes types {sorted(k.__name__ for k in kinds)}.")
        choices[name] = sorted(seen)
    return choices


# -- running a strategy ---------------------------------------------------------------------


class TabularTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """A Keras Tuner `BaseTuner` whose trials look the architecture up in a table.

    Args:
        table: The `TabularBenchmark`.
        constraints: Optional hard limits `{metric: max_value}` on table columns;
            an architecture over a limit is rejected (`CandidateRejected`), like
            `NASTuner` does before training.
        hidden: Metrics not reported to the strategy (e.g. the test accuracy).
        **kwargs: `oracle`, `directory`, `project_name`, `overwrite`, ...
    """

    def __init__(self, table: TabularBenchmark, constraints: Mapping | None = None, hidden=(), **kwargs):
        # Only a tabular search's own folder (or an empty one) is written into or emptied.
        check_tabular_folder(os.path.join(str(kwargs.get("directory") or "."),
                                          kwargs.get("project_name") or "untitled_project"))
        fresh = search_dir.prepare_project_dir(kwargs)
        super().__init__(hypermodel=table.declare, **kwargs)
        if fresh:
            search_dir.write_search_marker(
                self.project_dir, {"format_version": search_dir.FORMAT_VERSION, "table": table.kind}
            )
        self.table = table
        self.constraints = dict(constraints or {})
        for name in self.constraints:
            table.check_metric(name, "constraint")
        self.hidden = set(hidden)

    def run_trial(self, trial, *args, **kwargs):
        row = self.table.lookup(trial.hyperparameters.values)
        broken = [
            f"{name} {row[name]:g} > {limit:g}"
            for name, limit in self.constraints.items()
            if row[name] > limit
        ]
        if broken:
            run_record.record_rejection(trial, broken)
            raise CandidateRejected(broken)
        return {name: row[name] for name in self.table.metrics if name not in self.hidden}


@dataclasses.dataclass
class TabularRun:
    """The result of `run`.

    Attributes:
        trajectory: One dict per trial in order: `trial_id`, `arch`, `status`
            ("COMPLETED", "REJECTED", "FAILED" or "LOST": its trial.json was
            deleted, the architecture is unknown), `trained` (trials trained so
            far), `val` (objective, None unless completed), `best_val`,
            `best_test` (test metric of the best-so-far architecture, None if
            the table has none), `best_arch`, `elapsed_seconds` (simulated).
        pareto_front: With several objectives, the completed architectures on
            the first front (dicts of `arch` and the objectives), else `[]`.
        hypervolume: Of that front w.r.t. `reference`, or None.
        reference: The worst value of each objective over the whole table.
        objectives: The `(name, direction)` pairs used for the front.
    """

    trajectory: list[dict]
    pareto_front: list[dict]
    hypervolume: float | None
    reference: list[float] | None
    objectives: list[tuple[str, str]]

    def best_test_at(self, trained: int) -> float | None:
        """The test metric of the best architecture after `trained` trained trials."""
        value = None
        for step in self.trajectory:
            if step["trained"] > trained:
                break
            value = step["best_test"]
        return value

    def best_test_at_time(self, seconds: float) -> float | None:
        """The test metric of the best architecture found within `seconds` of simulated time."""
        value = None
        for step in self.trajectory:
            if step["elapsed_seconds"] > seconds:
                break
            value = step["best_test"]
        return value

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def run(
    strategy: str | NASOracle,
    table: TabularBenchmark | str | os.PathLike,
    max_trials: int = 50,
    seed: int = 0,
    directory: str | os.PathLike | None = None,
    objective: str = "val_accuracy",
    test_metric: str | None = "test_accuracy",
    time_metric: str | None = "train_seconds",
    objectives: Sequence | None = None,
    constraints: Mapping | None = None,
    strategy_kwargs: Mapping | None = None,
    project_name: str | None = None,
    overwrite: bool = False,
) -> TabularRun:
    """Drives a strategy through Keras Tuner's search loop on a table.

    Each trial looks its architecture up instead of training; the simulated
    clock advances by the row's `time_metric` (for a Hyperband trial, by the
    share of the full budget it trains: `(epochs - initial_epoch) / max_epochs
    * data_fraction`; the table's accuracy is the one of full training at every
    rung). Rejected architectures (over `constraints`) take no time.

    Args:
        strategy: A strategy name ("random", "evolution", ...) or a `NASOracle`
            (then `max_trials`, `seed` and `strategy_kwargs` are its own).
        table: A `TabularBenchmark` or the path of a table file.
        max_trials: Trials to train (look up).
        seed: Seed of the strategy.
        directory: Where Keras Tuner writes its trial files; a temporary
            folder (deleted afterwards) if None.
        objective: The column the strategy maximizes.
        test_metric: The column reported for the best-so-far architecture
            (never shown to the strategy); None if the table has none.
        time_metric: The column of simulated training seconds; None counts 1 s
            per trial.
        objectives: `(column, direction)` pairs for the final Pareto front and
            its hypervolume (needs at least two), e.g.
            `[("val_accuracy", "max"), ("latency_ms", "min")]`.
        constraints: Hard limits `{column: max_value}`.
        strategy_kwargs: More arguments of the strategy when given by name.
        project_name: Keras Tuner project name; defaults to `"{strategy}_{seed}"`.
        overwrite: Start afresh, emptying `directory/project_name` if it holds a
            tabular search (never a NASModel search or another folder). By
            default an existing tabular search there is resumed, never deleted.
            One process at a time runs a search in a folder (a lock).

    Returns:
        A `TabularRun`.

    Raises:
        TableError: If a named column is not in the table, or the strategy
            proposes an architecture that is not in it.
        SearchDirectoryError: If `directory/project_name` holds something
            else than a tabular search (`check_tabular_folder`).
        SearchLockedError: If another process runs a search there.
    """
    if not isinstance(table, TabularBenchmark):
        table = TabularBenchmark.from_file(table)
    table.check_metric(objective, "objective")
    for name, what in ((test_metric, "test metric"), (time_metric, "time metric")):
        if name is not None:
            table.check_metric(name, what)
    objectives = pareto.check_objectives(objectives) if objectives else []
    for name, _ in objectives:
        table.check_metric(name, "objective")
    if project_name is not None:
        search_dir.check_project_name(project_name)
    if isinstance(strategy, NASOracle):
        oracle, name = strategy, type(strategy).__name__
    else:
        kwargs = dict(strategy_kwargs or {})
        if strategy == "pareto" and objectives and "objectives" not in kwargs:
            kwargs["objectives"] = objectives
        oracle = get_strategy(
            strategy,
            objective=keras_tuner.Objective(objective, "max"),
            max_trials=max_trials,
            seed=seed,
            **kwargs,
        )
        name = strategy
    if directory is None:
        # Throwaway trial files: on tmpfs when there is one (the oracle fsyncs each file).
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        with tempfile.TemporaryDirectory(prefix="keras_nas_tabular_", dir=base) as tmp:
            return _run(oracle, table, tmp, project_name or f"{name}_{seed}", overwrite, objective,
                        test_metric, time_metric, objectives, constraints)
    return _run(oracle, table, os.fspath(directory), project_name or f"{name}_{seed}", overwrite,
                objective, test_metric, time_metric, objectives, constraints)


def check_tabular_folder(project_dir: str) -> None:
    """Refuses a project folder that is not a tabular search's own (or missing, or empty).

    A tabular search's marker (`keras_nas.json`) names its `table`; a folder
    holding a `NASModel` search (a marker without `table`) or anything else is
    neither written into nor emptied, with or without `overwrite=True`.

    Raises:
        SearchDirectoryError: Naming the folder, what it holds and what to do.
    """
    search_dir.check_project_dir(project_dir)
    if not os.path.isdir(project_dir):
        return
    entries = sorted(e for e in os.listdir(project_dir) if e != search_dir.LOCK_FILE)
    marker = os.path.join(project_dir, search_dir.MARKER_FILE)
    if os.path.isfile(marker):
        found = search_dir.read_json(marker, project_dir)
        if isinstance(found, dict) and "table" in found:
            return
        what = "a NASModel search (its marker names no table)"
    elif not entries:
        return
    else:
        what = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    raise search_dir.SearchDirectoryError(
        f"{project_dir} is not a tabular search's folder: it holds {what}. tabular.run writes into, "
        "resumes and (with overwrite=True) empties only its own folders; nothing was written or "
        "deleted. Use another project_name or directory."
    )


def _run(oracle, table, directory, project_name, overwrite, objective, test_metric, time_metric,
         objectives, constraints) -> TabularRun:
    project_dir = os.path.join(directory, project_name)
    check_tabular_folder(project_dir)  # before the lock, which would add its file to the folder
    with search_dir.SearchLock(project_dir):
        return _search(oracle, table, directory, project_name, overwrite, objective, test_metric,
                       time_metric, objectives, constraints)


def _search(oracle, table, directory, project_name, overwrite, objective, test_metric, time_metric,
            objectives, constraints) -> TabularRun:
    tuner = TabularTuner(
        table,
        constraints=constraints,
        hidden=[test_metric] if test_metric else [],
        oracle=oracle,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
    )
    tuner.oracle.verbose = 0
    # Keras Tuner prints the traceback of every failed trial while DEBUG is on;
    # rejections are expected here (their reason stays in the trajectory).
    previous = keras_tuner_config.DEBUG
    keras_tuner_config.DEBUG = False
    try:
        tuner.search(verbose=0)
    finally:
        keras_tuner_config.DEBUG = previous
    return summarize(tuner.oracle, table, objective, test_metric, time_metric, objectives)


def summarize(oracle, table: TabularBenchmark, objective: str = "val_accuracy",
              test_metric: str | None = "test_accuracy", time_metric: str | None = "train_seconds",
              objectives: Sequence = ()) -> TabularRun:
    """Builds the `TabularRun` of a finished search over `table` (see `run`)."""
    trajectory, elapsed, trained = [], 0.0, 0
    best_val = best_test = best_arch = None
    completed_rows = []
    max_epochs = getattr(oracle, "max_epochs", None)
    for trial_id in oracle.start_order:
        trial = oracle.trials[trial_id]
        if trial.message == search_dir.LOST_TRIAL_MESSAGE:  # its architecture is unknown
            trajectory.append({
                "trial_id": trial_id, "arch": None, "status": "LOST", "trained": trained, "val": None,
                "best_val": best_val, "best_test": best_test, "best_arch": best_arch,
                "elapsed_seconds": elapsed,
            })
            continue
        values = trial.hyperparameters.values
        row = table.lookup(values)
        rejected = run_record.outcome_of(trial).rejected
        status = "REJECTED" if rejected else trial.status
        val = None
        if not rejected:
            trained += 1
            seconds = row[time_metric] if time_metric else 1.0
            if max_epochs and fidelity.EPOCHS in values:
                share = (values[fidelity.EPOCHS] - values.get(fidelity.INITIAL_EPOCH, 0)) / max_epochs
                seconds *= share * values.get(fidelity.DATA_FRACTION, 1.0)
            elapsed += seconds
        if trial.status == "COMPLETED" and trial.score is not None:
            val = float(trial.metrics.get_last_value(objective))
            completed_rows.append({"arch": row["arch"], **{m: row[m] for m in table.metrics}})
            if best_val is None or val > best_val:
                best_val, best_arch = val, row["arch"]
                best_test = row[test_metric] if test_metric else None
        trajectory.append({
            "trial_id": trial_id,
            "arch": row["arch"],
            "status": status,
            "trained": trained,
            "val": val,
            "best_val": best_val,
            "best_test": best_test,
            "best_arch": best_arch,
            "elapsed_seconds": elapsed,
        })
    front, volume, reference = [], None, None
    objectives = pareto.check_objectives(objectives) if objectives else []
    if len(objectives) >= 2:
        reference = table.worst(objectives)
        unique = {row["arch"]: row for row in completed_rows}
        front = [
            {"arch": row["arch"], **{name: row[name] for name, _ in objectives}}
            for row in pareto.pareto_front(list(unique.values()), objectives)
        ]
        points = [[row[name] for name, _ in objectives] for row in front]
        volume = pareto.hypervolume(points, [d for _, d in objectives], reference) if points else 0.0
    return TabularRun(trajectory, front, volume, reference, objectives)
