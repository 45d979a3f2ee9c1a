"""The `search`, `export` and `report` subcommands of the `keras-nas` command line.

Each subcommand is a pair of functions: `add_<name>_parser(subparsers)`
registers its arguments (and `func=run_<name>`), `run_<name>(args) -> int`
runs it and returns the exit code (0 success, 2 bad input or a missing file,
with the reason on stderr). `add_parsers(subparsers)` registers all three.

```
keras-nas search --config examples/search_digits.yaml
keras-nas export runs/digits --out out --formats tflite-int8 c-array --data examples/search_digits.yaml
keras-nas report runs/digits
```

A search config (YAML or JSON) has these keys (only `data` is required):

```yaml
data: {builtin: digits}          # or {npz: data.npz, x: x_train, y: y_train, x_val: ..., y_val: ...}
                                 # or {npy_x: x.npy, npy_y: y.npy, npy_x_val: ..., npy_y_val: ...}
constraints: {flash_kb: 64, peak_ram_kb: 32, latency_ms: 5}
strategy: evolution              # a registered strategy: see `keras-nas search --help`
plugins: [my_strategies.py]      # code run before the search, only with --allow-plugins
max_trials: 20
epochs: 20                       # final training (and each candidate unless search_epochs)
search_epochs: 5
seed: 1
directory: runs
project_name: digits
export: {dir: out, formats: [tflite-int8, c-array]}
```

Data paths are relative to the config file; `directory` and `export.dir` to
the current directory. Other keys: `strategy_kwargs`, `max_rejected_trials`,
`batch_size`, `objective`, `space` ("default" or a preset of
`keras_nas.blocks.PRESETS`), `overwrite`, `latency_runs`, `labels`,
`max_search_seconds`, `finalists`, `refit`, `space_fit` (as `NASModel`'s); `data`
also takes `validation_split` and `max_samples` (use only the first N
training samples).

A strategy of your own: decorate its `NASOracle` subclass with
`@keras_nas.strategies.register("name")` in a module, and name that module in
`plugins:` (a `.py` path relative to the config, or an importable module name)
and pass `keras-nas search --allow-plugins`, or name it with `keras-nas search
--plugin`; then `strategy: name` works. Plugins are code execution: a config is
validated first, its `plugins:` run only with `--allow-plugins`, and only for
`keras-nas search` (`keras-nas export --data CONFIG` never runs them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_KEYS = {
    "data": "where the data comes from (required)",
    "constraints": "hard limits: flash_kb, peak_ram_kb, latency_ms",
    "strategy": "search strategy name",
    "plugins": "modules or .py files run first with `keras-nas search --allow-plugins` (they register strategies)",
    "strategy_kwargs": "extra arguments of the strategy",
    "max_trials": "trained candidates",
    "max_rejected_trials": "candidates that may be rejected for their cost",
    "epochs": "epochs of the final training",
    "search_epochs": "epochs per candidate",
    "batch_size": "batch size",
    "seed": "seed of the search",
    "task": "classification (default), regression or anomaly (data without y)",
    "objective": "val_accuracy or int8_val_accuracy (regression: val_mae or int8_val_mae)",
    "space": "search space preset",
    "directory": "folder of the searches",
    "project_name": "name of this search",
    "overwrite": "start afresh instead of resuming",
    "latency_runs": "timed inferences per latency measurement",
    "max_search_seconds": "time budget of the whole search and final training, in seconds",
    "finalists": "best candidates trained again before one wins (1: none)",
    "refit": "train the winner on training and validation data together (default true)",
    "space_fit": "fit the space to the limits before the search (default true)",
    "labels": "class names for the exported C header",
    "export": "{dir, formats} written after the search",
}
DATA_KINDS = {
    "builtin": ("builtin",),
    "npz": ("npz", "x", "y"),
    "npy": ("npy_x", "npy_y"),
}
DATA_KEYS = {
    "builtin", "npz", "x", "y", "x_val", "y_val", "npy_x", "npy_y", "npy_x_val", "npy_y_val",
    "validation_split", "max_samples",
}
EXPORT_KEYS = {"dir", "formats"}
# `space: default` (or none) lets NASModel pick the space for the input rank.
DEFAULT_SPACE = "default"


class ConfigError(ValueError):
    """A search config is missing, unreadable or has a wrong key or value."""


# -- config ------------------------------------------------------------------------------


def load_config(path, allow_plugins: bool = False, check_strategy: bool = True) -> dict:
    """Reads and checks a search config (`.yaml`/`.yml` with PyYAML, or `.json`).

    Relative data paths in it are taken relative to the config file.

    The config is validated before anything in it runs. Its `plugins:` are
    code: they are imported only with `allow_plugins=True` (`keras-nas search
    --allow-plugins`), after validation; otherwise they are never imported.

    Args:
        path: The config file.
        allow_plugins: Import the modules the config's `plugins:` names.
        check_strategy: Check that `strategy` is registered (after the plugins
            ran); `keras-nas export`, which reads only the data, does not.

    Returns:
        The config dict, with `_base` (the config's folder) added.

    Raises:
        ConfigError: Missing file, bad syntax, unknown keys or values (the
            message names the key and what is allowed).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist.")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                f"{path} is YAML but PyYAML is not installed: `pip install pyyaml`, or write "
                "the config as JSON."
            ) from None
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
    elif path.suffix.lower() == ".json":
        try:
            config = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
    else:
        raise ConfigError(f"Config {str(path)!r} must end in .yaml, .yml or .json.")
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a mapping of keys (data, constraints, ...), got {type(config).__name__}.")
    check_config(config, source=str(path), check_strategy=False)  # validated before any code runs
    if allow_plugins:
        import_plugins(config.get("plugins"), base=path.parent, source=str(path))
    if check_strategy:
        check_config(config, source=str(path))
    config["_base"] = str(path.parent)
    return config


def check_config(config: dict, source: str = "the config", need_data: bool = True,
                 check_strategy: bool = True) -> None:
    """Checks the keys and value types of a search config.

    `check_strategy=False` leaves out the check that `strategy` is registered
    (a plugin not imported yet may register it).

    Raises:
        ConfigError: Naming the bad key and what is allowed.
    """
    unknown = sorted(set(config) - set(CONFIG_KEYS) - {"_base"})
    if unknown:
        allowed = ", ".join(sorted(CONFIG_KEYS))
        raise ConfigError(f"Unknown key(s) {unknown} in {source}. Allowed keys: {allowed}.")
    if need_data and "data" not in config:
        from keras_nas.datasets import DATASETS

        raise ConfigError(
            f"{source} has no `data`. Give e.g. `data: {{builtin: digits}}` (built-in: {', '.join(sorted(DATASETS))}), "
            "`data: {npz: file.npz, x: KEY, y: KEY}` or `data: {npy_x: x.npy, npy_y: y.npy}`."
        )
    if "data" in config:
        check_data(config["data"], source, config.get("task", "classification"))
    for key in ("max_trials", "epochs", "search_epochs", "batch_size", "latency_runs", "finalists"):
        _check_int(config, key, source, minimum=1)
    for key in ("seed", "max_rejected_trials"):
        _check_int(config, key, source, minimum=0)
    for key in ("overwrite", "refit", "space_fit"):
        if key in config and not isinstance(config[key], bool):
            raise ConfigError(
                f"`{key}` in {source} must be true or false (a YAML boolean, unquoted), got "
                f"{config[key]!r}. A quoted value such as \"no\" is a string, not false."
            )
    budget = config.get("max_search_seconds")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0):
        raise ConfigError(f"`max_search_seconds` in {source} must be a positive number of seconds, got {budget!r}.")
    for key in ("directory", "project_name", "objective"):
        value = config.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"`{key}` in {source} must be a non-empty string, got {value!r}.")
    if config.get("project_name") is not None:
        from keras_nas.search_dir import check_project_name

        try:
            check_project_name(config["project_name"])
        except ValueError as e:
            raise ConfigError(f"{e.args[0][:-1]} (in {source}).") from None
    if config.get("strategy_kwargs") is not None and not isinstance(config["strategy_kwargs"], dict):
        raise ConfigError(
            f"`strategy_kwargs` in {source} must be a mapping such as {{population_size: 12}}, got "
            f"{config['strategy_kwargs']!r}."
        )
    if config.get("labels") is not None:
        from keras_nas.arguments import check_labels

        try:
            check_labels(config["labels"])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"`labels` in {source}: {e}") from None
    constraints = config.get("constraints")
    if constraints is not None:
        from keras_nas.constraints import Constraints

        if not isinstance(constraints, dict):
            raise ConfigError(f"`constraints` in {source} must be a mapping such as {{flash_kb: 64}}, got {constraints!r}.")
        try:
            Constraints.from_dict(constraints)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"`constraints` in {source}: {e}") from None
    _check_plugins(config.get("plugins"), source)
    strategy = config.get("strategy")
    if strategy is not None and check_strategy:
        from keras_nas import strategies

        if strategy not in strategies.names():
            raise ConfigError(
                f"`strategy` in {source} is {strategy!r}; allowed: {sorted(strategies.names())}. A "
                "strategy of your own is known once its module is imported: pass --plugin, or name "
                "it in `plugins:` and pass --allow-plugins (both run that code)."
            )
    space = config.get("space")
    if space is not None and space not in space_names():
        raise ConfigError(f"`space` in {source} is {space!r}; allowed: {space_names()}.")
    export = config.get("export")
    if export is not None:
        if not isinstance(export, dict) or "dir" not in export or set(export) - EXPORT_KEYS:
            raise ConfigError(
                f"`export` in {source} must be a mapping with `dir` and optional `formats`, "
                f"e.g. {{dir: out, formats: [tflite-int8, c-array]}}; got {export!r}."
            )
        _check_formats(export.get("formats", ["tflite-int8", "c-array"]), f"`export.formats` in {source}")


def _check_int(mapping: dict, key: str, source: str, minimum: int, prefix: str = "") -> None:
    """Raises `ConfigError` unless `mapping[key]` is missing or an integer >= `minimum`."""
    value = mapping.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"`{prefix}{key}` in {source} must be {what}, got {value!r}.")


def _check_formats(formats, where: str) -> list[str]:
    from keras_nas.export import FORMATS

    formats = [formats] if isinstance(formats, str) else list(formats or [])
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"{where}: unknown format(s) {unknown or formats}; allowed: {sorted(FORMATS)}.")
    return formats


def check_data(data, source: str = "the config", task: str = "classification") -> str:
    """Checks a `data` section for `task`; returns its kind ("builtin", "npz" or "npy").

    An anomaly search trains on normal inputs only: its data has no `y`, and
    its validation inputs may come with labels (`y_val`: 0 normal, 1 anomaly)
    or without.
    """
    from keras_nas.datasets import DATASETS

    if not isinstance(data, dict):
        raise ConfigError(f"`data` in {source} must be a mapping, e.g. {{builtin: digits}}; got {data!r}.")
    unknown = sorted(set(data) - DATA_KEYS)
    if unknown:
        raise ConfigError(f"Unknown key(s) {unknown} in `data` of {source}. Allowed: {sorted(DATA_KEYS)}.")
    kinds = [kind for kind, keys in DATA_KINDS.items() if keys[0] in data]
    if len(kinds) != 1:
        raise ConfigError(
            f"`data` in {source} needs exactly one source: `builtin` ({sorted(DATASETS)}), `npz` "
            f"(with `x` and `y` keys) or `npy_x`/`npy_y`; got keys {sorted(data)}."
        )
    kind = kinds[0]
    anomaly = task == "anomaly"
    if anomaly and (kind == "builtin" or "y" in data or "npy_y" in data):
        raise ConfigError(
            f"`data` in {source}: task anomaly trains on normal inputs only, without labels. Give "
            "`npz` with `x` (and `x_val`, optionally `y_val`: 0 normal, 1 anomaly) or `npy_x` "
            "(and `npy_x_val`, `npy_y_val`); built-in data sets are labelled classification sets."
        )
    required = [key for key in DATA_KINDS[kind] if not (anomaly and key in ("y", "npy_y"))]
    missing = [key for key in required if key not in data]
    if missing:
        raise ConfigError(f"`data` in {source} uses {kind} but lacks {missing}.")
    if kind == "builtin" and data["builtin"] not in DATASETS:
        raise ConfigError(f"`data.builtin` in {source} is {data['builtin']!r}; allowed: {sorted(DATASETS)}.")
    for key in sorted(DATA_KEYS - {"validation_split", "max_samples"}):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            raise ConfigError(f"`data.{key}` in {source} must be a file name or array key (a string), got {data[key]!r}.")
    _check_int(data, "max_samples", source, minimum=1, prefix="data.")
    split = data.get("validation_split")
    if split is not None and (
        isinstance(split, bool) or not isinstance(split, (int, float)) or not 0.0 <= split < 1.0
    ):
        raise ConfigError(
            f"`data.validation_split` in {source} must be a number in [0, 1), e.g. 0.2, got {split!r}."
        )
    return kind


def _load_array(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise ConfigError(f"The {what} file {str(path)!r} does not exist.")
    return np.load(path, allow_pickle=False)


def load_data(data: dict, base=".", task: str = "classification") -> dict:
    """Loads the arrays a `data` section names.

    Args:
        data: The config's `data` mapping.
        base: Folder relative paths start from (the config's folder).
        task: The search's task (`"anomaly"`: no `y`, `y_val` optional).

    Returns:
        A dict with `x`, `y` and, when the source has them, `x_val`, `y_val`
        (builtin sets also have `x_test`, `y_test`) and `validation_split`.

    Raises:
        ConfigError: A file or an array key is missing.
    """
    kind = check_data(data, task=task)
    base = Path(base)
    arrays: dict[str, Any] = {}
    if kind == "builtin":
        from keras_nas.datasets import DATASETS

        (x, y), (x_val, y_val), (x_test, y_test) = DATASETS[data["builtin"]]()
        arrays = dict(x=x, y=y, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test)
    elif kind == "npz":
        path = base / data["npz"]
        if not path.is_file():
            raise ConfigError(f"The npz file {str(path)!r} (data.npz) does not exist.")
        with np.load(path, allow_pickle=False) as archive:
            for name in ("x", "y", "x_val", "y_val"):
                if name not in data:
                    continue
                if data[name] not in archive.files:
                    raise ConfigError(
                        f"`data.{name}` is {data[name]!r} but {path} holds the arrays {archive.files}."
                    )
                arrays[name] = archive[data[name]]
    else:
        for name in ("x", "y", "x_val", "y_val"):
            key = f"npy_{name}"
            if key in data:
                arrays[name] = _load_array(base / data[key], f"data.{key}")
    if ("x_val" in arrays) != ("y_val" in arrays) and not (task == "anomaly" and "x_val" in arrays):
        raise ConfigError("`data` gives validation inputs without labels or the other way round: give both.")
    limit = data.get("max_samples")
    if limit is not None:
        for name in ("x", "y"):
            if name in arrays:
                arrays[name] = arrays[name][: int(limit)]
    arrays["validation_split"] = float(data.get("validation_split", 0.0))
    return arrays


def space_names() -> list[str]:
    """The values `space:` accepts: "default" and the presets of `keras_nas.blocks.PRESETS`."""
    from keras_nas.blocks import PRESETS

    return [DEFAULT_SPACE, *PRESETS]


def _check_plugins(plugins, source: str) -> list[str]:
    """The `plugins` value as a list of strings; `ConfigError` unless it is one or a string."""
    if plugins is None:
        return []
    plugins = [plugins] if isinstance(plugins, str) else plugins
    if not isinstance(plugins, list) or not all(isinstance(x, str) and x.strip() for x in plugins):
        raise ConfigError(
            f"`plugins` in {source} must be a list of module names or .py files, e.g. "
            f"[my_strategies.py]; got {plugins!r}."
        )
    return plugins


def import_plugins(plugins, base=".", source: str = "the command line") -> None:
    """Imports the plugin modules (they register strategies) named in a config or by `--plugin`.

    Args:
        plugins: `None`, a module name or `.py` path, or a list of them.
        base: The folder relative `.py` paths start from.
        source: Where they were named, for messages.

    Raises:
        ConfigError: For a bad value, a missing file or module, or a plugin
            whose import fails (with the plugin's own error).
    """
    from keras_nas.plugins import PluginNotFoundError, import_plugin

    for plugin in _check_plugins(plugins, source):
        try:
            import_plugin(plugin, base)
        except PluginNotFoundError as e:
            raise ConfigError(f"{e} (in {source})") from None
        except Exception as e:  # the plugin's own code failed
            raise ConfigError(
                f"Importing plugin {plugin!r} (in {source}) failed: {type(e).__name__}: {e}"
            ) from e


def _make_space(name: str | None):
    if name in (None, DEFAULT_SPACE):
        return None
    from keras_nas import blocks

    return blocks.get_space(name)


def _error(command: str, message: str) -> int:
    print(f"keras-nas {command}: error: {message}", file=sys.stderr)
    return 2


# -- search ------------------------------------------------------------------------------

# The built-in strategies (`keras_nas.strategies.names()`) and the `space:` values
# (`space_names()`) as `keras-nas search --help` lists them. Reading the registries
# imports TensorFlow and Keras (seconds, and absl start-up lines), which a help must not
# wait for; tests/test_cli_startup.py checks that these equal the registries.
HELP_STRATEGIES = ("random", "evolution", "reinforce", "bayesian", "hyperband", "pareto", "oneshot", "darts")
HELP_SPACES = (
    DEFAULT_SPACE, "autoencoder", "conv", "conv_autoencoder", "kws", "micro", "mlp", "mlperf-ad",
    "mlperf-ic", "mlperf-kws", "mlperf-vww", "mobile", "nb201", "oneshot",
)
def strategies_epilog() -> str:
    """The strategies and spaces `keras-nas search --help` lists.

    The built-in names without importing the registry; when it is already loaded
    (a plugin registered a strategy in this process), every registered name.
    """
    registry = sys.modules.get("keras_nas.strategies.registry")
    names = registry.names() if registry is not None else HELP_STRATEGIES
    return (f"Strategies (`strategy:` or --strategy): {', '.join(names)}, and any a --plugin "
            f"or the config's `plugins:` registers. Spaces (`space:`): {', '.join(HELP_SPACES)}.")


def add_search_parser(subparsers) -> argparse.ArgumentParser:
    """Registers `keras-nas search`."""
    p = subparsers.add_parser(
        "search",
        help="search an architecture from a YAML/JSON config, export the winner, write the report",
        description=(
            "Run NASModel.fit as a config describes (data, constraints, strategy, budget), "
            "export the winner if the config has `export`, and write the search report "
            "(report.md/.html/.json and plots) into the project directory. Options given on "
            "the command line override the config."
        ),
        epilog=strategies_epilog(),
    )
    p.add_argument("--config", required=True, help="search config, .yaml/.yml or .json")
    p.add_argument("--plugin", action="append", metavar="MODULE_OR_FILE.py",
                   help="import (run) this module or .py file first (it registers strategies); repeatable")
    p.add_argument("--allow-plugins", action="store_true",
                   help="import (run) the modules the config's `plugins:` names; without it they are not run")
    p.add_argument("--strategy", help="override strategy (see the list below)")
    p.add_argument("--max-trials", type=int, help="override max_trials")
    p.add_argument("--epochs", type=int, help="override epochs")
    p.add_argument("--directory", help="override directory")
    p.add_argument("--project-name", help="override project_name")
    p.add_argument("--overwrite", action="store_true", help="start the search afresh instead of resuming")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=run_search)
    return p


def run_search(args: argparse.Namespace) -> int:
    """Runs `keras-nas search`: fit as the config says, export, write the report.

    Args:
        args: Parsed arguments of `add_search_parser` (`config`, `plugin`
            (modules to import first), and the optional overrides `strategy`,
            `max_trials`, `epochs`, `directory`, `project_name`, `overwrite`,
            `quiet`).

    Returns:
        0 on success, 2 for a bad config, data or constraints (the reason is
        printed on stderr), 1 if no candidate could be trained.

    Example:

    >>> run_search(parser.parse_args(["search", "--config", "search.yaml"]))  # doctest: +SKIP
    0
    """
    try:
        import_plugins(getattr(args, "plugin", None), source="--plugin")
        config = load_config(args.config, allow_plugins=getattr(args, "allow_plugins", False))
        for key in ("strategy", "max_trials", "epochs", "directory", "project_name"):
            if getattr(args, key, None) is not None:
                config[key] = getattr(args, key)
        if getattr(args, "overwrite", False):
            config["overwrite"] = True
        check_config(config, source=args.config)
        data = load_data(config["data"], config["_base"], config.get("task", "classification"))
    except ConfigError as e:
        return _error("search", str(e))
    return _search(config, data, verbose=0 if getattr(args, "quiet", False) else 1)


def _search(config: dict, data: dict, verbose: int) -> int:
    from keras_nas import NASModel

    kwargs = {key: config[key] for key in (
        "constraints", "strategy", "strategy_kwargs", "max_trials", "max_rejected_trials",
        "search_epochs", "seed", "task", "objective", "latency_runs", "overwrite",
        "max_search_seconds", "finalists", "refit", "space_fit",
    ) if config.get(key) is not None}
    try:
        model = NASModel(
            directory=config.get("directory", "runs"),
            project_name=config.get("project_name", "search"),
            space=_make_space(config.get("space")),
            **kwargs,
        )
    except (ValueError, TypeError) as e:
        return _error("search", f"bad config value: {e}")
    try:
        return _fit_export_report(model, config, data, verbose)
    except OSError as e:  # a read-only or full disk, a missing folder
        return _error("search", f"cannot write the search or its outputs: {e}. Choose a writable "
                                "`directory` (and `export.dir`).")


def check_label_count(config: dict, data: dict) -> None:
    """Refuses, before the search, class names that are not one per class of the data (ValueError)."""
    from keras_nas import tasks
    from keras_nas.arguments import check_labels

    task = tasks.get(config.get("task", "classification"))
    if config.get("labels") is None or task.name != "classification" or data.get("y") is None:
        return
    y = np.asarray(data["y"])
    y_val = y if data.get("y_val") is None else np.asarray(data["y_val"])
    targets = task.read_targets(y, y_val, config.get("num_classes"), np.asarray(data["x"]))
    check_labels(config["labels"], targets.num_outputs)


def _fit_export_report(model, config: dict, data: dict, verbose: int) -> int:
    from keras_nas.report import write_report
    from keras_nas.run_record import save_search_info
    from keras_nas.search_dir import SearchLockedError

    # Anomaly: no `y`, and validation inputs with or without labels.
    validation = data.get("x_val") if data.get("y_val") is None else (data["x_val"], data["y_val"])
    try:
        check_label_count(config, data)
        model.fit(
            data["x"], data.get("y"),
            validation_data=validation,
            validation_split=0.0 if validation is not None else data["validation_split"],
            epochs=config.get("epochs", 10),
            batch_size=config.get("batch_size", 32),
            verbose=verbose,
        )
    except (ValueError, SearchLockedError) as e:  # bad data, infeasible constraints, busy directory
        return _error("search", str(e))
    except RuntimeError as e:  # no candidate could be trained
        print(f"keras-nas search: failed: {e}", file=sys.stderr)
        return 1
    project = model.tuner.project_dir
    save_search_info(project, {"config": {k: v for k, v in config.items() if k != "_base"},
                               "config_dir": str(Path(config["_base"]).resolve())})
    export_dir = None
    if config.get("export"):
        export_dir = config["export"]["dir"]
        model.export(export_dir, formats=config["export"].get("formats", ["tflite-int8", "c-array"]),
                     labels=config.get("labels"), verbose=bool(verbose))
    report = write_report(model, export_dir=export_dir)
    summary = report["summary"]
    winner = report["winner"] or {}
    print(
        f"Search {project}: {summary['trained']} trained, {summary['rejected']} rejected, "
        f"{summary['failed']} failed; winner trial {winner.get('trial_id')} "
        f"({winner.get('objective')} {winner.get('score', 0):.4f}). Report: {report['files']['md']}"
    )
    return 0


# -- export ------------------------------------------------------------------------------


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """Registers `keras-nas export`."""
    from keras_nas.export import FORMATS

    p = subparsers.add_parser(
        "export",
        help="export the winner of a saved search (.tflite, C array, ...)",
        description=(
            "Load the trained winner (winner.keras) of a search directory and write it in the "
            "given formats, with float vs int8 accuracy on the validation data of --data. "
            f"Formats: {', '.join(sorted(FORMATS))}."
        ),
    )
    p.add_argument("project_dir", help="the search's project directory (directory/project_name)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--formats", nargs="+", default=["tflite-int8", "c-array"],
                   help="formats to write (default: tflite-int8 c-array)")
    p.add_argument("--data", help="config (YAML/JSON) whose `data` gives calibration and validation data; "
                                  "needed for int8 formats; default: the config a CLI search recorded")
    p.add_argument("--labels", nargs="+", help="class names for the C header")
    p.add_argument("--quiet", action="store_true", help="do not print the export report")
    p.set_defaults(func=run_export)
    return p


def run_export(args: argparse.Namespace) -> int:
    """Runs `keras-nas export`: the winner of a search directory in deployable formats.

    Loads `winner.keras` with `keras.models.load_model(..., safe_mode=True)`
    and writes it with `keras_nas.export.export_model`; calibration and
    validation data come from `--data` (a config with a `data` section), or
    from the config a `keras-nas search` recorded in the directory.

    Args:
        args: Parsed arguments of `add_export_parser` (`project_dir`, `out`,
            `formats`, `data`, `labels`, `quiet`).

    Returns:
        0 on success, 2 for a missing directory, winner or data, or a bad format.
    """
    from keras_nas import run_record

    try:
        project = run_record.search_path(args.project_dir)
        if not run_record.has_winner(project):
            raise FileNotFoundError(
                f"{str(project)!r} has no trained winner ({run_record.WINNER_MODEL}, "
                f"{run_record.WINNER_INFO}): the search did not finish `fit`. Run it to the end first."
            )
        formats = _check_formats(args.formats, "--formats")
        data = _export_data(args, run_record.read_search_info(project))
    except (FileNotFoundError, ConfigError) as e:
        return _error("export", str(e))
    needs_calibration = {"tflite-int8", "c-array", "tflite-int16x8", "tflite-int8-qat"} & set(formats)
    if needs_calibration and data is None:
        return _error(
            "export",
            f"formats {sorted(needs_calibration)} need calibration data: pass --data CONFIG "
            "(a YAML/JSON file with a `data` section, e.g. the search config).",
        )
    from keras_nas.export import export_model

    try:
        model = run_record.load_winner_model(project)
    except ValueError as e:  # damaged, mismatched or refused winner.keras
        return _error("export", str(e))
    data = data or {}
    # Accuracy is reported on validation data only (never on the training data).
    x_val, y_val = data.get("x_val"), data.get("y_val")
    try:
        # search.json rewritten as it is: a search folder that cannot be written refuses
        # before any output is written (the export is recorded there after).
        run_record.save_search_info(project, {})
        report = export_model(
            model, args.out, formats,
            representative_data=None if data.get("x") is None else data["x"][:200],
            x_val=x_val, y_val=y_val, labels=args.labels, verbose=not args.quiet,
            x_train=data.get("x"), y_train=data.get("y"),
            task=run_record.read_settings(project).get("task", "classification"),
            validation_in_training=run_record.read_winner(project).get("trained_on") == "train+validation",
        )
        run_record.save_search_info(project, {"export_dir": str(Path(args.out).resolve())})
    except ValueError as e:
        return _error("export", str(e))
    except OSError as e:  # a read-only or full disk
        return _error("export", f"cannot write: {e}. Choose a writable --out folder (the search "
                                "directory must be writable too: the export is recorded there).")
    print(f"Exported trial {run_record.read_winner(project)['trial_id']} to {args.out}: "
          f"{', '.join(report['files'])}")
    return 0


def _export_data(args, recorded: dict) -> dict | None:
    """The data of `--data`, or of the config a CLI search recorded (`recorded`: its `search.json`)."""
    if args.data:
        config = load_config(args.data, check_strategy=False)  # only its data is read
        if "data" not in config:
            raise ConfigError(f"{args.data} has no `data` section.")
        return load_data(config["data"], config["_base"], config.get("task", "classification"))
    if "config" in recorded and "data" in recorded["config"]:
        return load_data(recorded["config"]["data"], recorded.get("config_dir", "."),
                         recorded["config"].get("task", "classification"))
    return None


# -- report ------------------------------------------------------------------------------


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """Registers `keras-nas report`."""
    p = subparsers.add_parser(
        "report",
        help="write the report of a search directory (Markdown, HTML, JSON, plots)",
        description=(
            "Read a search's project directory (JSON files only) and write report.md, "
            "report.html, report.json and PNG plots (Pareto fronts, objective over trials) "
            "into it (or --out), then print the Markdown."
        ),
    )
    p.add_argument("project_dir", help="the search's project directory (directory/project_name)")
    p.add_argument("--out", help="folder for the report (default: the project directory)")
    p.add_argument("--export-dir", help="folder an export wrote, to include its report")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    """Runs `keras-nas report`: writes the report of a search directory and prints it.

    Args:
        args: Parsed arguments of `add_report_parser` (`project_dir`, `out`,
            `export_dir`, `json`, `no_plots`).

    Returns:
        0 on success, 2 if the directory is not a search directory.
    """
    from keras_nas.report import format_markdown, write_report

    try:
        report = write_report(args.project_dir, path=args.out, export_dir=args.export_dir,
                              plots=not args.no_plots)
    except (FileNotFoundError, ValueError) as e:
        return _error("report", str(e))
    except OSError as e:  # a read-only or full disk
        return _error("report", f"cannot write the report: {e}. Pass a writable folder with --out.")
    print(json.dumps(report, indent=1, default=str) if args.json else format_markdown(report))
    return 0


def add_parsers(subparsers) -> None:
    """Registers `search`, `export` and `report` on an argparse subparsers object."""
    add_search_parser(subparsers)
    add_export_parser(subparsers)
    add_report_parser(subparsers)


__all__ = [
    "add_parsers",
    "add_search_parser",
    "add_export_parser",
    "add_report_parser",
    "run_search",
    "run_export",
    "run_report",
    "load_config",
    "check_config",
    "load_data",
    "import_plugins",
    "space_names",
    "ConfigError",
]
