"""Multi-objective utilities: Pareto fronts, crowding, hypervolume and selection rules.

Objectives keep their own units (accuracy in [0, 1], latency in ms, memory in
KB); nothing here mixes them into one number. Each objective is a pair
`(name, direction)` with direction `"max"` or `"min"`. Pure numpy, no Keras.

Example:

```python
from keras_nas import pareto
front = pareto.pareto_front(model.trials(), (("val_accuracy", "max"), ("latency_ms", "min")))
best = pareto.select(front, {"maximize": "val_accuracy", "latency_ms": ("<=", 20)})
```
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

DIRECTIONS = ("max", "min")
DEFAULT_OBJECTIVES = (
    ("val_accuracy", "max"),
    ("latency_ms", "min"),
    ("peak_ram_kb", "min"),
    ("flash_kb", "min"),
)
OPERATORS = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}


def check_objectives(objectives: Sequence) -> list[tuple[str, str]]:
    """Validates objectives given as `(name, direction)` pairs (or `keras_tuner.Objective`s).

    Args:
        objectives: A sequence of `(name, "max"|"min")` pairs or objects with
            `name` and `direction` attributes.

    Returns:
        A list of `(name, direction)` tuples.

    Raises:
        ValueError: If the list is empty, a direction is not "max"/"min" or a
            name repeats.
    """
    result = []
    for objective in objectives:
        if hasattr(objective, "name") and hasattr(objective, "direction"):
            name, direction = objective.name, objective.direction
        else:
            try:
                name, direction = objective
            except (TypeError, ValueError):
                raise ValueError(
                    f"An objective must be a (name, direction) pair such as "
                    f"('latency_ms', 'min'); got {objective!r}."
                ) from None
        if direction not in DIRECTIONS:
            raise ValueError(
                f"Objective {name!r} has direction {direction!r}; use 'max' or 'min'."
            )
        result.append((str(name), direction))
    if not result:
        raise ValueError("At least one objective is needed, e.g. [('val_accuracy', 'max')].")
    names = [name for name, _ in result]
    if len(set(names)) != len(names):
        raise ValueError(f"Objectives repeat a metric name: {names}.")
    return result


def _as_minimization(points, directions: Sequence[str]) -> np.ndarray:
    """`points` as a float (n, m) array where smaller is better in every column."""
    array = np.asarray(points, dtype="float64")
    if array.ndim == 1:
        array = array.reshape(-1, len(directions)) if array.size else array.reshape(0, len(directions))
    if array.ndim != 2 or array.shape[1] != len(directions):
        raise ValueError(
            f"Expected points of shape (n, {len(directions)}) for {len(directions)} "
            f"directions, got shape {np.shape(points)}."
        )
    for direction in directions:
        if direction not in DIRECTIONS:
            raise ValueError(f"Unknown direction {direction!r}; use 'max' or 'min'.")
    if not np.all(np.isfinite(array)):
        raise ValueError("Points contain NaN or infinite values; drop those rows first.")
    signs = np.array([-1.0 if d == "max" else 1.0 for d in directions])
    return array * signs


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether minimization point `a` is no worse than `b` everywhere and better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_sort(points, directions: Sequence[str]) -> list[list[int]]:
    """Sorts points into Pareto fronts (Deb et al., NSGA-II, 2002).

    Args:
        points: An array-like of shape (n, m): one row per candidate, one column
            per objective.
        directions: "max" or "min" for each column.

    Returns:
        A list of fronts, each a sorted list of row indices; the first front is
        the non-dominated set. Identical points share a front.

    Example:

    >>> non_dominated_sort([[0.9, 5.0], [0.8, 2.0], [0.7, 6.0]], ["max", "min"])
    [[0, 1], [2]]
    """
    costs = _as_minimization(points, directions)
    n = len(costs)
    dominated_by = [[] for _ in range(n)]  # indices that i dominates
    counts = np.zeros(n, dtype=int)  # how many dominate i
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(costs[i], costs[j]):
                dominated_by[i].append(j)
                counts[j] += 1
            elif dominates(costs[j], costs[i]):
                dominated_by[j].append(i)
                counts[i] += 1
    fronts = []
    current = [i for i in range(n) if counts[i] == 0]
    while current:
        fronts.append(sorted(current))
        following = []
        for i in current:
            for j in dominated_by[i]:
                counts[j] -= 1
                if counts[j] == 0:
                    following.append(j)
        current = following
    return fronts


def crowding_distance(points) -> np.ndarray:
    """NSGA-II crowding distance of the points of one front.

    For each objective the points are sorted; the two extremes get infinity and
    the others the gap between their neighbours, divided by the objective's range.
    The distances of all objectives are summed. Directions do not matter.

    Args:
        points: An array-like of shape (n, m).

    Returns:
        A float array of length n; larger means less crowded.
    """
    array = np.asarray(points, dtype="float64")
    if array.ndim != 2:
        raise ValueError(f"Expected points of shape (n, m), got shape {array.shape}.")
    n, m = array.shape
    distance = np.zeros(n)
    if n <= 2:
        distance[:] = np.inf
        return distance
    for column in range(m):
        order = np.argsort(array[:, column], kind="stable")
        values = array[order, column]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span <= 0:
            continue
        distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def hypervolume(points, directions: Sequence[str], reference) -> float:
    """The exact hypervolume dominated by `points` and bounded by `reference`.

    The volume (in the product of the objectives' units) of the region that is
    dominated by at least one point and dominates the reference point. Points
    that do not strictly dominate the reference contribute nothing. Exact by
    recursive slicing; meant for small fronts (tens of points) with 1-4
    objectives.

    Args:
        points: An array-like of shape (n, m).
        directions: "max" or "min" for each objective.
        reference: The worst acceptable value of each objective (length m),
            e.g. accuracy 0 and the latency limit.

    Returns:
        The hypervolume, a float >= 0.

    Example:

    >>> hypervolume([[0.9, 2.0]], ["max", "min"], reference=[0.0, 10.0])  # 0.9 * 8
    7.2
    """
    costs = _as_minimization(points, directions)
    reference = np.asarray(reference, dtype="float64").reshape(-1)
    if len(reference) != len(directions):
        raise ValueError(
            f"`reference` needs one value per objective ({len(directions)}), got {len(reference)}."
        )
    ref = _as_minimization(reference.reshape(1, -1), directions)[0]
    if len(directions) > 6:
        raise ValueError(f"hypervolume is exact for up to 6 objectives, got {len(directions)}.")
    inside = costs[np.all(costs < ref, axis=1)] if len(costs) else costs
    if not len(inside):
        return 0.0
    fronts = non_dominated_sort(inside, ["min"] * len(ref))
    front = np.unique(inside[fronts[0]], axis=0)
    return float(_slice_volume(front, ref))


def _slice_volume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of minimization points below `ref` by slicing the last objective."""
    if points.shape[1] == 1:
        return float(ref[0] - points[:, 0].min())
    order = np.argsort(points[:, -1], kind="stable")
    points = points[order]
    volume = 0.0
    for i in range(len(points)):
        upper = points[i + 1, -1] if i + 1 < len(points) else ref[-1]
        height = upper - points[i, -1]
        if height > 0:
            volume += height * _slice_volume(points[: i + 1, :-1], ref[:-1])
    return volume


def metric_value(row: Mapping, name: str) -> float:
    """Reads metric `name` of a result row.

    A row is a flat dict of metrics, or a `NASModel.trials()` row whose
    `metrics` (and `cost`) dicts hold them.

    Raises:
        KeyError: If the row has no such metric; the message lists those it has.
    """
    if name in row and _is_number(row[name]):
        return float(row[name])
    for part in ("metrics", "cost"):
        sub = row.get(part)
        if isinstance(sub, Mapping) and name in sub and _is_number(sub[name]):
            return float(sub[name])
    raise KeyError(
        f"Unknown metric {name!r}. This row has: {sorted(available_metrics(row))}."
    )


def available_metrics(row: Mapping) -> set[str]:
    """The names of the numeric metrics of a row (flat, `metrics` and `cost` entries)."""
    names = {k for k, v in row.items() if _is_number(v)}
    for part in ("metrics", "cost"):
        sub = row.get(part)
        if isinstance(sub, Mapping):
            names |= {k for k, v in sub.items() if _is_number(v)}
    return names


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _feasible(rows: Sequence[Mapping]) -> list[Mapping]:
    """Rows that were trained: those without a status, or with status COMPLETED."""
    return [row for row in rows if row.get("status", "COMPLETED") == "COMPLETED"]


def objective_matrix(rows: Sequence[Mapping], objectives: Sequence) -> np.ndarray:
    """The (n, m) array of the objectives' values of `rows`.

    Raises:
        ValueError: If a row lacks an objective (naming the metrics it has).
    """
    names = [name for name, _ in check_objectives(objectives)]
    matrix = np.zeros((len(rows), len(names)))
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            try:
                matrix[i, j] = metric_value(row, name)
            except KeyError as e:
                raise ValueError(f"Row {i}: {e.args[0]}") from None
    return matrix


def pareto_front(
    rows: Sequence[Mapping], objectives: Sequence = DEFAULT_OBJECTIVES
) -> list[Mapping]:
    """The rows on the first Pareto front.

    Rows with a `status` other than "COMPLETED" (rejected for their hardware
    cost, failed) never belong to the front: constraints are hard.

    Args:
        rows: Result rows (flat metric dicts or `NASModel.trials()` rows).
        objectives: `(name, direction)` pairs; defaults to accuracy (max) and
            latency, peak RAM and flash (min).

    Returns:
        The non-dominated rows, in their original order.

    Raises:
        ValueError: If a trained row lacks one of the objectives.

    Example:

    ```python
    front = pareto_front(rows, (("val_accuracy", "max"), ("latency_ms", "min")))
    ```
    """
    objectives = check_objectives(objectives)
    rows = _feasible(rows)
    if not rows:
        return []
    matrix = objective_matrix(rows, objectives)
    first = non_dominated_sort(matrix, [d for _, d in objectives])[0]
    return [rows[i] for i in first]


def best_first(rows: Sequence[Mapping], objective: tuple[str, str]) -> list[Mapping]:
    """`rows` sorted best first on one `(name, direction)` objective (stable for ties).

    Example:

    >>> [r["mae"] for r in best_first([{"mae": 3.0}, {"mae": 1.0}], ("mae", "min"))]
    [1.0, 3.0]
    """
    name, direction = check_objectives([objective])[0]
    sign = -1.0 if direction == "max" else 1.0
    return sorted(rows, key=lambda row: sign * metric_value(row, name))


def select(rows: Sequence[Mapping], rule: Mapping | Callable[[Mapping], float]) -> Mapping:
    """Picks one row (e.g. a Pareto front member) by a rule.

    Args:
        rows: Result rows; rows whose `status` is not "COMPLETED" are ignored.
        rule: Either a dict with one `"maximize"` or `"minimize"` entry naming
            the metric to optimise and any number of hard limits
            `metric: (op, value)` with op one of `<=`, `<`, `>=`, `>`, `==`; or a
            callable `rule(row) -> float` whose highest value wins.

    Returns:
        The chosen row (ties go to the earlier row).

    Raises:
        ValueError: If the rule is malformed, names an unknown metric, or no row
            meets its limits (the message says how close the rows came).

    Example:

    ```python
    select(front, {"maximize": "val_accuracy", "latency_ms": ("<=", 20)})
    select(front, lambda row: row["val_accuracy"] - 0.01 * row["latency_ms"])
    ```
    """
    rows = _feasible(rows)
    if not rows:
        raise ValueError("There is no trained row to select from.")
    if callable(rule):
        scores = [float(rule(row)) for row in rows]
        return rows[int(np.argmax(scores))]
    if not isinstance(rule, Mapping):
        raise ValueError(
            "A selection rule is a dict such as {'maximize': 'val_accuracy', "
            "'latency_ms': ('<=', 20)} or a callable; got " + f"{type(rule).__name__}."
        )
    goals = [key for key in ("maximize", "minimize") if key in rule]
    if len(goals) != 1:
        raise ValueError(
            "A selection rule needs exactly one of 'maximize' or 'minimize' naming the "
            f"metric to optimise, got keys {sorted(rule)}."
        )
    goal_metric = rule[goals[0]]
    known = set.union(*(available_metrics(row) for row in rows))
    limits = {k: v for k, v in rule.items() if k not in ("maximize", "minimize")}
    for name in [goal_metric, *limits]:
        if name not in known:
            raise ValueError(f"Unknown metric {name!r} in the rule; the rows have: {sorted(known)}.")
    checks = []
    for name, limit in limits.items():
        if (
            not isinstance(limit, (tuple, list))
            or len(limit) != 2
            or limit[0] not in OPERATORS
            or not _is_number(limit[1])
        ):
            raise ValueError(
                f"The limit on {name!r} must be (op, number) with op in {list(OPERATORS)}, "
                f"e.g. ('<=', 20); got {limit!r}."
            )
        checks.append((name, limit[0], float(limit[1])))
    feasible = []
    for row in rows:
        try:
            ok = all(OPERATORS[op](metric_value(row, name), value) for name, op, value in checks)
        except KeyError:
            ok = False
        if ok:
            feasible.append(row)
    if not feasible:
        closest = []
        for name, op, value in checks:
            values = [metric_value(row, name) for row in rows if name in available_metrics(row)]
            best = min(values) if op in ("<=", "<") else max(values)
            closest.append(f"{name} {op} {value:g} (best available {best:g})")
        raise ValueError(f"No row meets the rule: {'; '.join(closest)}. Loosen the limits.")
    sign = 1.0 if goals[0] == "maximize" else -1.0
    scores = []
    for row in feasible:
        try:
            scores.append(sign * metric_value(row, goal_metric))
        except KeyError:
            scores.append(-math.inf)
    return feasible[int(np.argmax(scores))]
