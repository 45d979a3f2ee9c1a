"""Plots of a search: the Pareto front (accuracy vs a cost) and the objective over trials.

Both functions take result rows as `NASModel.trials()` returns them (or as
`keras_nas.report.load_search(project_dir)["trials"]` reads them from disk),
return a matplotlib `Figure` and save a PNG when given a `path`. In a notebook
the figure shows inline; without a display (CI, SSH) the Agg backend is used.

Example:

```python
from keras_nas import plots
plots.plot_pareto(model.trials(), x="latency_ms", winner=model.best_trial_.trial_id,
                  path="pareto.png")
plots.plot_history(model.trials(), path="history.png")
```
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

import matplotlib

# No display and not in a notebook kernel: draw off-screen (no Tk window, no error).
if (
    "MPLBACKEND" not in os.environ
    and not os.environ.get("DISPLAY")
    and not os.environ.get("WAYLAND_DISPLAY")
    and "ipykernel" not in sys.modules
    and sys.platform.startswith("linux")
):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from keras_nas.pareto import available_metrics, metric_value, pareto_front  # noqa: E402
from keras_nas.tasks import direction_of  # noqa: E402

# Axis labels with units, for the metrics a search records.
LABELS = {
    "val_accuracy": "validation accuracy",
    "int8_val_accuracy": "int8 validation accuracy (LiteRT)",
    "val_mae": "validation MAE (target units)",
    "int8_val_mae": "int8 validation MAE (LiteRT, target units)",
    "val_auc": "validation AUC (reconstruction error)",
    "int8_val_auc": "int8 validation AUC (LiteRT)",
    "val_loss": "validation loss",
    "int8_val_loss": "int8 validation reconstruction MSE (LiteRT)",
    "latency_ms": "latency on this host, int8 LiteRT (ms)",
    "flash_kb": "flash: int8 .tflite size (KB)",
    "peak_ram_kb": "peak RAM: TFLite Micro arena (KB)",
    "params": "parameters",
}
# Short names for titles.
NAMES = {
    "val_accuracy": "validation accuracy",
    "int8_val_accuracy": "int8 validation accuracy",
    "val_mae": "validation MAE",
    "int8_val_mae": "int8 validation MAE",
    "val_auc": "validation AUC",
    "int8_val_auc": "int8 validation AUC",
    "val_loss": "validation loss",
    "int8_val_loss": "int8 validation reconstruction MSE",
    "latency_ms": "latency",
    "flash_kb": "flash size",
    "peak_ram_kb": "peak RAM",
    "params": "parameters",
}
# Metrics where smaller is better; any other metric on the y axis is maximised.
COSTS = ("latency_ms", "flash_kb", "peak_ram_kb", "params", "val_loss", "loss")


def axis_label(name: str, rows: Sequence[Mapping] = ()) -> str:
    """The axis label of a metric; latency says where it comes from (host LiteRT or a target).

    Each cost records its `target` and `latency_source` (older searches only
    for a target other than "host"): "estimate" (an MCU cost model), "adb:<serial>"
    (a phone) or "litert-host" (this host, the fallback of a phone target).
    """
    if name != "latency_ms":
        return LABELS.get(name, name)
    costs = [row.get("cost") or {} for row in rows]
    found = {(c.get("target"), c.get("latency_source")) for c in costs if c.get("latency_source")}
    if len(found) != 1:
        return LABELS["latency_ms"] if not found else "latency (ms; sources differ between trials)"
    target, source = found.pop()
    if target == "host":
        return LABELS["latency_ms"]
    if source == "estimate":
        return f"latency on {target}: estimate from MAC counts, not measured (ms)"
    if str(source).startswith("qemu"):
        return f"latency on {target}: emulated board, instructions x calibrated CPI (ms)"
    if str(source).startswith("adb"):
        return f"latency on {target}: measured on the phone over adb (ms)"
    return f"latency on this host, int8 LiteRT (target {target} fell back to it) (ms)"


def _legend_outside(ax) -> None:
    """The legend right of the axes, where it hides no marker."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)


def _value(row: Mapping, name: str) -> float | None:
    try:
        return metric_value(row, name)
    except KeyError:
        return None


def _row_id(winner) -> str | None:
    if winner is None:
        return None
    if isinstance(winner, Mapping):
        return winner.get("trial_id")
    if hasattr(winner, "trial_id"):
        return winner.trial_id
    return str(winner)


def _check_metric(rows: Sequence[Mapping], name: str, argument: str) -> None:
    known = set().union(*(available_metrics(row) for row in rows)) if rows else set()
    if rows and name not in known:
        raise ValueError(
            f"`{argument}={name!r}` is not a metric of these trials; they have: {sorted(known)}."
        )


def plot_pareto(
    rows: Sequence[Mapping],
    x: str = "latency_ms",
    y: str = "val_accuracy",
    winner=None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    limits: Mapping[str, float] | None = None,
):
    """Accuracy against a hardware cost for every candidate, with the Pareto front.

    Trained candidates are dots; the front (best `y` for its `x`: no other
    trained candidate has a higher `y` at a lower or equal `x`) is a step line;
    candidates rejected for their cost, never trained, are crosses on the
    bottom of the plot at their measured cost; the winner is a star.

    Args:
        rows: `NASModel.trials()` rows (trial_id, status, metrics, cost).
        x: The cost on the horizontal axis: "latency_ms", "flash_kb",
            "peak_ram_kb" or "params" (smaller is better).
        y: The metric on the vertical axis, e.g. "val_accuracy" (better
            larger) or "val_mae" (better smaller: `keras_nas.tasks.direction_of`).
        winner: The winner's trial id, its row, or a `keras_tuner` trial;
            `None` marks nothing.
        path: Save the figure as a PNG there.
        title: The figure title (default e.g. "Pareto front: validation accuracy vs latency").
        limits: The search's constraints (`{"flash_kb": 64, ...}`); the one on
            the `x` metric is drawn as a dashed vertical line.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: If `x` or `y` is not a metric of the trials, or there are no rows.

    Example:

    ```python
    fig = plot_pareto(model.trials(), x="flash_kb", winner=model.best_trial_.trial_id)
    ```
    """
    rows = list(rows)
    if not rows:
        raise ValueError("There are no trials to plot: run a search first.")
    _check_metric(rows, x, "x")
    _check_metric(rows, y, "y")
    trained = [
        row for row in rows
        if row.get("status", "COMPLETED") == "COMPLETED"
        and _value(row, x) is not None and _value(row, y) is not None
    ]
    rejected = [
        row for row in rows
        if row.get("status") == "REJECTED" and _value(row, x) is not None
    ]
    fig, ax = plt.subplots(figsize=(8.0, 4.4))
    if trained:
        ax.scatter(
            [_value(r, x) for r in trained], [_value(r, y) for r in trained],
            s=28, color="tab:blue", alpha=0.75, label=f"trained ({len(trained)})", zorder=3,
        )
        sign = 1.0 if direction_of(y) == "max" else -1.0
        front = pareto_front(trained, [(y, direction_of(y)), (x, "min")])
        front = sorted(front, key=lambda r: (_value(r, x), -sign * _value(r, y)))
        fx, fy = [_value(r, x) for r in front], [_value(r, y) for r in front]
        ax.step(fx, fy, where="post", color="tab:orange", linewidth=1.6,
                label=f"Pareto front ({len(front)})", zorder=2)
        ax.scatter(fx, fy, s=46, facecolors="none", edgecolors="tab:orange", zorder=4)
    low = min((_value(r, y) for r in trained), default=0.0)
    if rejected:
        bottom = low - 0.05 * max(abs(low), 1e-3) if trained else 0.0
        ax.scatter(
            [_value(r, x) for r in rejected], [bottom] * len(rejected), marker="x",
            color="tab:red", s=30, label=f"rejected for its cost ({len(rejected)})", zorder=3,
        )
    winner_id = _row_id(winner)
    chosen = [r for r in trained if r.get("trial_id") == winner_id]
    if chosen:
        ax.scatter(
            [_value(chosen[0], x)], [_value(chosen[0], y)], marker="*", s=260,
            color="gold", edgecolors="black", linewidths=0.8, zorder=5,
            label=f"winner (trial {winner_id})",
        )
    limit = (limits or {}).get(x)
    if limit is not None:
        ax.axvline(limit, color="tab:red", linestyle="--", linewidth=1.2, label=f"limit {x} <= {limit:g}")
    ax.set_xlabel(axis_label(x, rows))
    ax.set_ylabel(axis_label(y, rows))
    ax.set_title(title or f"Pareto front: {NAMES.get(y, y)} vs {NAMES.get(x, x)}")
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def plot_history(
    rows: Sequence[Mapping],
    path: str | os.PathLike | None = None,
    objective: str | None = None,
    title: str | None = None,
):
    """The objective of every trained trial in trial order, and the best so far.

    Rejected and failed trials are marked on the bottom axis, so the plot shows
    what the search spent its candidates on.

    Args:
        rows: `NASModel.trials()` rows.
        path: Save the figure as a PNG there.
        objective: The metric to plot; default "val_accuracy", or the rows'
            `score` when they lack it.
        title: The figure title.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: If there are no rows, or `objective` is not a metric of the trials.

    Example:

    ```python
    plot_history(model.trials(), path="history.png")
    ```
    """
    rows = sorted(rows, key=lambda r: str(r.get("trial_id")))
    if not rows:
        raise ValueError("There are no trials to plot: run a search first.")
    if objective is not None:
        _check_metric(rows, objective, "objective")

    def score(row):
        if row.get("status", "COMPLETED") != "COMPLETED":
            return None
        if objective is not None:
            return _value(row, objective)
        value = _value(row, "val_accuracy")
        return value if value is not None else row.get("score")

    label = objective or "val_accuracy"
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    steps, values, best, best_steps = [], [], [], []
    running = None
    minimize = label in COSTS or direction_of(label) == "min"
    for step, row in _numbered(rows):
        value = score(row)
        if value is None:
            continue
        steps.append(step)
        values.append(value)
        if running is None or (value < running if minimize else value > running):
            running = value
        best.append(running)
        best_steps.append(step)
    if steps:
        ax.plot(steps, values, "o", color="tab:blue", alpha=0.7, label="trained candidate")
        ax.step(best_steps, best, where="post", color="tab:green", linewidth=1.8, label="best so far")
    others = [(step, row) for step, row in _numbered(rows) if score(row) is None]
    if others:
        bottom = (min(values) if values else 0.0) - 0.03
        for status, marker, color in (("REJECTED", "x", "tab:red"), ("FAILED", "v", "black")):
            chosen = [step for step, row in others if row.get("status") == status]
            if chosen:
                ax.scatter(chosen, [bottom] * len(chosen), marker=marker, color=color,
                           label=f"{status.lower()} ({len(chosen)})")
    ax.set_xlabel("trial id (the order the search created them)")
    ax.set_ylabel(axis_label(label, rows))
    name = NAMES.get(label, label)
    ax.set_title(title or f"{name[:1].upper() + name[1:]} over the search")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def _numbered(rows: Sequence[Mapping]):
    """`(x, row)` pairs: the trial id as a number where it is one, else the position."""
    for step, row in enumerate(rows):
        trial_id = str(row.get("trial_id", ""))
        yield (int(trial_id) if trial_id.isdigit() else step), row


__all__ = ["plot_pareto", "plot_history", "axis_label", "LABELS"]
