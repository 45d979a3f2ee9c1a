"""The search report: space, strategy, budget, every trial, the Pareto front and the winner.

`write_report` writes `report.json`, `report.md` and `report.html` (with PNG
plots next to them, embedded in the HTML page) into a search's project directory. It works from a live
`NASModel` after `fit` or from the project directory on disk alone: it reads
only the JSON files of the search (through `keras_nas.run_record`), never a pickle.

Example:

```python
from keras_nas.report import write_report
report = write_report(model)                 # after model.fit(...)
report = write_report("runs/digits")         # or later, from the directory
print(report["files"]["md"])
```
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from keras_nas import pareto, run_record, tasks
from keras_nas.export import EXPORT_REPORT
from keras_nas.run_record import (  # the directory's readers, under their earlier names here
    read_trials,
    save_search_info,
    search_path as check_project_dir,
    summarize,
)

PLOT_AXES = ("latency_ms", "flash_kb", "peak_ram_kb")
COST_OBJECTIVES = tuple((name, "min") for name in PLOT_AXES)


# -- reading a project directory ---------------------------------------------------------


def read_space(project_dir) -> list[dict]:
    """The hyperparameters of the search space, from `oracle.json`.

    Returns:
        One dict per hyperparameter: `name`, `type` (Choice, Int, Float,
        Boolean, Fixed), `values` (choices; or min/max/step for ranges),
        `conditions` (the parent choices it depends on) and `size` (number of
        values, None for continuous ranges).
    """
    state = run_record.read_oracle_state(project_dir)
    return [_describe_hp(entry) for entry in state.get("hyperparameters", {}).get("space", [])]


def _describe_hp(entry: Mapping) -> dict:
    kind = entry.get("class_name")
    config = entry.get("config", {})
    described = {"name": config.get("name"), "type": kind}
    if kind == "Choice":
        described["values"] = list(config.get("values", []))
    elif kind == "Boolean":
        described["values"] = [True, False]
    elif kind == "Fixed":
        described["values"] = [config.get("value")]
    elif kind in ("Int", "Float"):
        low, high, step = config.get("min_value"), config.get("max_value"), config.get("step")
        described.update(min=low, max=high, step=step, sampling=config.get("sampling"))
        if kind == "Int" and step:
            described["values"] = list(range(int(low), int(high) + 1, int(step)))
    described["size"] = len(described["values"]) if "values" in described else None
    described["conditions"] = [
        f"{c['config']['name']} in {c['config']['values']}"
        for c in config.get("conditions", [])
        if c.get("class_name") == "Parent"
    ]
    return described


def load_search(project_dir) -> dict:
    """Everything the report needs, read from a search directory alone.

    Args:
        project_dir: The search's project directory (`directory/project_name`).

    Returns:
        A dict with `project_dir`, `search` (strategy, seed, budget,
        constraints, objective: `keras_nas.run_record.read_settings`), `space`,
        `trials`, `summary` and `winner` (`winner.json` or None).

    Raises:
        FileNotFoundError: If `project_dir` is not a search directory.
    """
    root = check_project_dir(project_dir)
    rows = read_trials(root)
    return {
        "project_dir": str(root),
        "search": run_record.read_settings(root),
        "space": read_space(root),
        "trials": rows,
        "summary": run_record.read_summary(root, rows),
        "winner": run_record.read_winner(root),
    }


# -- building the report -----------------------------------------------------------------


def build_report(search: dict, export_report: dict | None = None) -> dict:
    """The report dict from `load_search` output (and an export report)."""
    rows = search["trials"]
    objective = search["search"].get("objective") or "val_accuracy"
    trained = [
        r for r in rows
        if r["status"] == "COMPLETED" and objective in pareto.available_metrics(r)
        and all(name in pareto.available_metrics(r) for name, _ in COST_OBJECTIVES)
    ]
    direction = search["search"].get("objective_direction") or tasks.direction_of(objective)
    objectives = [(objective, direction), *COST_OBJECTIVES]
    front = pareto.pareto_front(trained, objectives) if trained else []
    front = pareto.best_first(front, objectives[0])
    winner = search["winner"]
    winner_row = None
    if winner is not None:
        winner_row = next((r for r in rows if r["trial_id"] == winner.get("trial_id")), None)
    return {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "project_dir": search["project_dir"],
        "search": search["search"],
        "space": search["space"],
        # Counted when the search ran (conditional scopes respected: keras_nas.blocks.space_size).
        "space_size": search["search"].get("space_size"),
        "summary": search["summary"],
        "trials": rows,
        "pareto_front": {
            "objectives": [list(o) for o in objectives],
            "trial_ids": [r["trial_id"] for r in front],
        },
        "winner": None if winner is None else dict(winner, row=winner_row),
        "export": export_report,
    }


def _read_export(export_dir) -> dict | None:
    if export_dir is None:
        return None
    path = Path(export_dir) / EXPORT_REPORT
    if not path.exists():
        raise FileNotFoundError(
            f"No export report at {str(path)!r}: run `model.export(dir)` or `keras-nas export` first, "
            "or leave export_dir out."
        )
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); export the model again.") from e
    report["dir"] = str(export_dir)
    return report


def write_report(model_or_project_dir, path=None, export_dir=None, plots: bool = True) -> dict:
    """Writes `report.json`, `report.md` and `report.html` (and PNG plots) for a search.

    Args:
        model_or_project_dir: A fitted `NASModel`, or a search's project
            directory (`directory/project_name`) on disk.
        path: Folder for the report files; default: the project directory.
        export_dir: The folder `export` wrote (it holds `report.json`); default:
            the one recorded in `search.json` by the CLI or an earlier report,
            if any.
        plots: Also draw `pareto_<cost>.png` (accuracy vs latency, flash and
            RAM, winner marked) and `history.png` (objective over trials).

    Returns:
        The report dict (as in `report.json`), with `files` naming what was written.

    Raises:
        FileNotFoundError: If the directory is not a search directory, or
            `export_dir` has no `report.json`.
        keras_nas.NotFittedError: If a `NASModel` has not been fitted.

    Example:

    ```python
    report = write_report("runs/digits")
    report["summary"]  # {'trained': 20, 'rejected': 7, 'failed': 0, ...}
    ```
    """
    if isinstance(model_or_project_dir, (str, os.PathLike)):
        project_dir = check_project_dir(model_or_project_dir)
    else:
        model = model_or_project_dir
        if getattr(model, "tuner", None) is None:
            from keras_nas.errors import NotFittedError

            raise NotFittedError("This NASModel has not searched yet: call `fit` before `write_report`.")
        project_dir = check_project_dir(model.tuner.project_dir)
        save_search_info(project_dir, model.search_settings())
    if export_dir is not None:
        save_search_info(project_dir, {"export_dir": str(Path(export_dir).resolve())})
    search = load_search(project_dir)
    recorded_export = search["search"].get("export_dir")
    if export_dir is None and recorded_export and (Path(recorded_export) / EXPORT_REPORT).exists():
        export_dir = recorded_export
    report = build_report(search, _read_export(export_dir))
    out = Path(path) if path is not None else project_dir
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = _write_plots(report, out) if plots else {}
    files = run_record.REPORT_FILES
    report["files"] = {kind: str(out / name) for kind, name in files.items()}
    (out / files["json"]).write_text(json.dumps(report, indent=1, default=str))
    (out / files["md"]).write_text(format_markdown(report))
    (out / files["html"]).write_text(format_html(report, images=out))
    return report


def _write_plots(report: dict, out: Path) -> dict:
    from keras_nas import plots
    import matplotlib.pyplot as plt

    rows = report["trials"]
    if not any(r["status"] == "COMPLETED" for r in rows):
        return {}
    objective = report["search"].get("objective") or "val_accuracy"
    winner = (report["winner"] or {}).get("trial_id")
    written = {}
    for axis in PLOT_AXES:
        if not any(axis in pareto.available_metrics(r) for r in rows):
            continue
        name = run_record.pareto_plot(axis)
        fig = plots.plot_pareto(rows, x=axis, y=objective, winner=winner, path=out / name,
                                limits=report["search"].get("constraints") or None)
        plt.close(fig)
        written[f"pareto_{axis}"] = name
    fig = plots.plot_history(rows, path=out / run_record.HISTORY_PLOT, objective=objective)
    plt.close(fig)
    written["history"] = run_record.HISTORY_PLOT
    return written


# -- formatting --------------------------------------------------------------------------


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def short_architecture(hyperparameters: Mapping) -> str:
    """A one-line architecture: `name=value` pairs, the block prefix dropped where unambiguous."""
    parts = []
    for name, value in hyperparameters.items():
        short = name.split("/", 1)[1] if "/" in name else name
        parts.append(f"{short}={value}")
    return ", ".join(parts)


def _trial_table(report: dict) -> tuple[list[str], list[list[str]]]:
    objective = report["search"].get("objective") or "val_accuracy"
    front = set(report["pareto_front"]["trial_ids"])
    winner = (report["winner"] or {}).get("trial_id")
    header = ["trial", "status", objective, "flash KB", "RAM KB", "latency ms", "params",
              "seconds", "note"]
    table = []
    for row in report["trials"]:
        cost = row["cost"] or {}
        notes = []
        if row["trial_id"] == winner:
            notes.append("winner")
        if row["trial_id"] in front:
            notes.append("front")
        if row["message"]:
            notes.append(row["message"])
        table.append([
            row["trial_id"],
            row["status"],
            _fmt(row["metrics"].get(objective)),
            _fmt(cost.get("flash_kb"), 1),
            _fmt(cost.get("peak_ram_kb"), 1),
            _fmt(cost.get("latency_ms"), 3),
            _fmt(cost.get("params")),
            _fmt(row.get("seconds"), 1),
            "; ".join(notes),
        ])
    return header, table


def _overview(report: dict) -> list[tuple[str, str]]:
    s, summary = report["search"], report["summary"]
    constraints = s.get("constraints")
    limits = ", ".join(f"{k} <= {v:g}" for k, v in constraints.items()) if constraints else (
        "none" if constraints == {} else "not recorded"
    )
    return [
        ("strategy", f"{s.get('strategy', 'not recorded')} (seed {s.get('seed')})"),
        ("objective", str(s.get("objective"))),
        ("budget", f"max_trials {_fmt(s.get('max_trials'))} trained, max_rejected_trials "
                   f"{_fmt(s.get('max_rejected_trials'))}; search epochs "
                   f"{_fmt(s.get('search_epochs') or s.get('epochs'))}, final epochs {_fmt(s.get('epochs'))}"),
        ("constraints", limits),
        ("space", f"{s.get('space') or 'default'}: {len(report['space'])} hyperparameters, "
                  + (f"{report['space_size']:,} architectures" if type(report["space_size"]) is int
                     else "size not recorded")),
        ("trials", f"{summary['trained']} trained, {summary['rejected']} rejected for their cost, "
                   f"{summary['failed']} failed" + (f", {summary['running']} running" if summary["running"] else "")),
        ("time", f"{summary['search_seconds']:.0f} s of trials, {100 * summary['measure_share']:.1f} % "
                 "measuring hardware cost"),
    ] + ([("limit use", run_record.limit_use_text(summary))] if summary.get("limit_use") else [])



def _space_fit_table(report: dict) -> tuple[str, list[str], list[list[str]]] | None:
    """The sub-spaces sampled for the limits before the search (`keras_nas.space_fit`), or None."""
    fit = report["summary"].get("space_fit")
    if not fit:
        return None
    intro = (f"Chosen before the search: {fit['chosen'] or 'none (too few sampled models fit)'}; "
             f"{fit['seconds']:.0f} s ({100 * fit['share']:.1f} % of the search), "
             f"{fit['calibrated']} points measured to calibrate the prediction, none trained.")
    rows = [[row["subspace"] + (" (chosen)" if row["chosen"] else ""), f"{100 * row['feasible_share']:.0f} %",
             "-" if row["median_macs"] is None else f"{row['median_macs']:,}"] for row in fit["table"]]
    return intro, ["sub-space", "predicted to fit", "median MACs of those"], rows


def _winner_lines(report: dict) -> list[str]:
    winner = report["winner"]
    if winner is None:
        return ["No winner recorded (the search has not finished `fit`)."]
    cost = winner.get("cost") or {}
    lines = [
        f"Trial {winner['trial_id']}: {winner.get('objective')} {_fmt(winner.get('score'))} in the search; "
        f"trained for {winner.get('epochs')} epochs.",
        f"As int8 after training: flash {_fmt(cost.get('flash_kb'), 1)} KB, TFLite Micro arena "
        f"{_fmt(cost.get('peak_ram_kb'), 1)} KB, host latency {_fmt(cost.get('latency_ms'), 3)} ms.",
        f"Architecture: {short_architecture(winner.get('hyperparameters', {}))}",
    ]
    if winner.get("trained_on"):
        lines[0] = lines[0][:-1] + f" on {winner['trained_on']}."
    finalists = winner.get("finalists") or {}
    if isinstance(finalists.get("trials"), dict):
        scores = "; ".join(
            f"trial {tid} {_fmt(row.get('mean'))} ± {_fmt(row.get('spread'))}"
            for tid, row in finalists["trials"].items() if isinstance(row, dict)
        )
        lines.append(f"Finalists ({finalists.get('method')}, mean ± spread): {scores}; within noise of the "
                     f"best: {', '.join(map(str, finalists.get('tied_with_best') or []))} (the smallest wins).")
    if finalists.get("budget"):
        lines.append(f"Finalists' round cut for time: {finalists['budget']}.")
    return lines


def _export_lines(report: dict) -> list[tuple[str, str]]:
    export = report["export"]
    if not export:
        return []
    metric = export.get("metric", "accuracy")
    scores = export.get("scores", export.get("accuracy", {}))
    rows = [(f"{metric} {fmt}", _fmt(value)) for fmt, value in scores.items()]
    cost = export.get("int8_cost")
    if cost:
        rows.append(("int8 cost", f"flash {cost['flash_kb']:.1f} KB, arena {cost['peak_ram_kb']:.1f} KB, "
                                  f"latency {cost['latency_ms']:.3f} ms"))
    for fmt, files in export.get("files", {}).items():
        rows.append((f"file {fmt}", ", ".join(files) if isinstance(files, list) else str(files)))
    return rows


def markdown_text(text) -> str:
    """`text` as plain Markdown text: one line, every Markdown and HTML character escaped."""
    text = " ".join(str(text).splitlines())
    return "".join(f"\\{c}" if c in "\\`*_{}[]()#+-.!|<>~&" else c for c in text)


def markdown_code(text) -> str:
    """`text` as one Markdown code span, whatever backticks it holds."""
    text = " ".join(str(text).splitlines())
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest else f"`{text}`"


def format_markdown(report: dict) -> str:
    """The report as a Markdown document."""
    lines = [f"# keras-nas search report: {markdown_text(Path(report['project_dir']).name)}", "",
             f"Project directory {markdown_code(report['project_dir'])}, generated {report['generated_at']}.", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in _overview(report)] + [""]
    lines += ["## Winner", ""] + _winner_lines(report) + [""]
    export = _export_lines(report)
    if export:
        lines += ["## Export", "", f"Folder `{report['export'].get('dir')}`.", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in export] + [""]
    for name in report.get("plots", {}).values():
        lines.append(f"![{name}]({name})")
    lines += ["", "## Pareto front", "",
              "Objectives: " + ", ".join(f"{n} ({d})" for n, d in report["pareto_front"]["objectives"])
              + f"; members: {', '.join(report['pareto_front']['trial_ids']) or 'none'}.", ""]
    fitted = _space_fit_table(report)
    if fitted:
        intro, header, table = fitted
        lines += ["## Space fitted to the limits", "", intro, "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in table] + [""]
    header, table = _trial_table(report)
    lines += ["## Trials", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in table]
    lines += ["", "## Architectures", ""]
    for row in report["trials"]:
        lines.append(f"- **{row['trial_id']}** ({row['status']}): {short_architecture(row['hyperparameters'])}")
    lines += ["", "## Search space", "", "| hyperparameter | type | values | condition |", "|---|---|---|---|"]
    for hp in report["space"]:
        values = hp.get("values", f"{hp.get('min')}..{hp.get('max')}")
        lines.append(f"| {hp['name']} | {hp['type']} | {values} | {'; '.join(hp['conditions']) or '-'} |")
    return "\n".join(lines) + "\n"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image_source(name: str, images) -> str:
    path = Path(images) / name if images is not None else None
    if path is None or not path.is_file():
        return html.escape(name)
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def format_html(report: dict, images: str | os.PathLike | None = None) -> str:
    """The report as a standalone HTML page.

    Args:
        report: What `build_report` returns, with `plots`.
        images: The folder holding the plots' PNG files: they are embedded in
            the page (base64 `data:` URLs), so it survives being moved or
            mailed. `None` links to the file names instead.
    """
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>keras-nas report: {e(Path(report['project_dir']).name)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:90%;text-align:left}img{max-width:48%}</style></head><body>",
        f"<h1>keras-nas search report: {e(Path(report['project_dir']).name)}</h1>",
        f"<p>Project directory <code>{e(report['project_dir'])}</code>, generated {e(report['generated_at'])}.</p>",
        _html_table(["", ""], [list(kv) for kv in _overview(report)]),
        "<h2>Winner</h2>",
        "".join(f"<p>{e(line)}</p>" for line in _winner_lines(report)),
    ]
    export = _export_lines(report)
    if export:
        parts += ["<h2>Export</h2>", f"<p>Folder <code>{e(str(report['export'].get('dir')))}</code>.</p>",
                  _html_table(["", ""], [list(kv) for kv in export])]
    parts += [f"<img src='{_image_source(name, images)}' alt='{e(name)}'>"
              for name in report.get("plots", {}).values()]
    fitted = _space_fit_table(report)
    if fitted:
        parts += ["<h2>Space fitted to the limits</h2>", f"<p>{e(fitted[0])}</p>", _html_table(*fitted[1:])]
    parts += ["<h2>Pareto front</h2>",
              f"<p>Members: {e(', '.join(report['pareto_front']['trial_ids']) or 'none')}.</p>",
              "<h2>Trials</h2>", _html_table(*_trial_table(report)), "<h2>Architectures</h2><ul>"]
    parts += [f"<li><b>{e(r['trial_id'])}</b> ({e(str(r['status']))}): "
              f"{e(short_architecture(r['hyperparameters']))}</li>" for r in report["trials"]]
    parts += ["</ul><h2>Search space</h2>", _html_table(
        ["hyperparameter", "type", "values", "condition"],
        [[hp["name"], hp["type"], str(hp.get("values", f"{hp.get('min')}..{hp.get('max')}")),
          "; ".join(hp["conditions"]) or "-"] for hp in report["space"]],
    ), "</body></html>"]
    return "\n".join(parts) + "\n"


__all__ = [
    "write_report",
    "load_search",
    "read_trials",
    "read_space",
    "summarize",
    "save_search_info",
    "build_report",
    "format_markdown",
    "format_html",
    "check_project_dir",
]
