"""Checks of `NASModel`'s constructor arguments, so that a bad value fails where it was given.

Without them `latency_runs=0`, `seed="abc"` or a misspelt strategy argument are
accepted by `NASModel(...)` and fail minutes later inside the search.
"""

from __future__ import annotations

import inspect
import numbers
import zlib
from typing import Any

import numpy as np

from keras_nas import tasks
from keras_nas.arguments import check_bool  # noqa: F401 (checked here too)

# Set by NASModel's own arguments; passing them in `strategy_kwargs` too is a conflict.
NASMODEL_ARGUMENTS = ("objective", "max_trials", "max_rejected_trials", "seed")
TASKS = tuple(tasks.TASKS)
# Classification's objectives (each task has its own: `keras_nas.tasks`): float
# validation accuracy, or the accuracy of the candidate's int8 conversion on the
# validation data (LiteRT), which picks what survives quantization at the price
# of one conversion per trained candidate.
OBJECTIVES = tuple(tasks.Classification.objectives)
DEFAULT_OBJECTIVE, DEFAULT_MAX_TRIALS = "val_accuracy", 20
# More classes than this make the head and the one-hot targets gigabytes (num_classes=10**6 grew to 24 GB).
MAX_CLASSES = 10_000


def checked_front_end(front_end, task: "tasks.Task"):
    """`NASModel`'s `front_end` as a `FrontEndSpace` (a fixed `FrontEnd` becomes a space of one), or None.

    Raises:
        ValueError: Not a `FrontEndSpace` or `FrontEnd`, or a task whose
            model cannot start from audio (anomaly: it reconstructs its input).
    """
    from keras_nas.front_end_space import FrontEndSpace
    from keras_nas.tflite.signal_front_end import FrontEnd

    if front_end is None:
        return None
    if isinstance(front_end, FrontEnd):
        front_end = FrontEndSpace.fixed(front_end)
    if not isinstance(front_end, FrontEndSpace):
        raise ValueError(
            "`front_end` must be a keras_nas.front_end_space.FrontEndSpace (searched) or a "
            f"keras_nas.tflite.signal_front_end.FrontEnd (fixed), got {type(front_end).__name__}.")
    if task.name == "anomaly":
        raise ValueError("`front_end` is for task='classification' or 'regression': an anomaly model "
                         "reconstructs its input, which a front-end has replaced by features.")
    return front_end


def checked_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """`NASModel`'s constructor arguments, checked, with their defaults resolved.

    An oracle instance's own `max_trials`, `seed`, `objective` and
    `max_rejected_trials` replace those not given (`check_oracle_instance`);
    a seed not given is drawn (from the project name in a distributed search,
    whose processes must draw the same trials).

    Args:
        arguments: The arguments as given, by name.

    Returns:
        The arguments to keep, by name (`space` as a `Block`, the target as a
        `Target`, the constraints with the target's limits where none was given).

    Raises:
        ValueError: Naming the argument, the value and what is allowed.
    """
    from keras_nas import blocks, distributed, search_dir, tflite
    from keras_nas.constraints import Constraints
    from keras_nas.strategies import NASOracle

    a = dict(arguments)
    if a["metrics"] is not None and not isinstance(a["metrics"], (list, tuple)):
        raise ValueError(f"`metrics` must be a list of Keras metrics, got {type(a['metrics']).__name__}.")
    task = tasks.get(a["task"]).with_metrics(a["metrics"])
    # The task object is kept as `_task`; `task` stays its name (settings, reports).
    a["task"], a["_task"] = task.name, task
    a["_objective_given"] = a["objective"] is not None
    if a["objective"] is not None:  # a name, or a keras_tuner.Objective: the search runs on its name
        a["objective"] = task.check_objective(a["objective"])
    check_bool(a["overwrite"], "overwrite")
    check_bool(a["refit"], "refit")
    check_bool(a["space_fit"], "space_fit")
    a["front_end"] = checked_front_end(a["front_end"], task)
    check_positive_int(a["max_trials"], "max_trials", allow_none=True)
    if isinstance(a["strategy"], NASOracle):
        # An oracle instance was made with its own budget, seed and objective: they are used.
        initial = a["initial_architectures"]
        a.update(check_oracle_instance(a["strategy"], dict(
            {key: a[key] for key in (*NASMODEL_ARGUMENTS, "strategy_kwargs", "max_search_seconds")},
            initial_architectures=initial if isinstance(initial, list) else None,
        )))
    a["max_trials"] = DEFAULT_MAX_TRIALS if a["max_trials"] is None else a["max_trials"]
    a["objective"] = task.check_objective(a["objective"] or task.default_objective)
    num_classes = a["num_classes"]
    if num_classes is not None and task.name != "classification":
        raise ValueError(
            f"`num_classes` is for task='classification'; task={task.name!r} reads its outputs "
            "from the data: leave num_classes=None."
        )
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
    if num_classes is not None and num_classes > MAX_CLASSES:
        raise ValueError(
            f"`num_classes` must be at most {MAX_CLASSES:,} (a classifier small enough for a "
            f"microcontroller), got {num_classes:,}: its head and one-hot targets would take "
            "gigabytes. If your labels are ids, not class indices, map them to 0..n-1 first "
            "(`ids, y = np.unique(y, return_inverse=True)`)."
        )
    search_dir.check_project_name(a["project_name"])
    a["input_shape"] = tuple(a["input_shape"]) if a["input_shape"] is not None else None
    a["target"] = tflite.get_target(a["target"])
    a["constraints"] = Constraints.from_dict(a["constraints"]).with_limits_of(a["target"])
    a["space"] = blocks.get_space(a["space"]) if a["space"] is not None else None
    check_model_arguments(a["search_epochs"], a["latency_runs"], a["seed"], a["proxy_pool_size"],
                          a["strategy"], a["strategy_kwargs"], a["space"], a["objective"], task)
    if a["seed"] is None:
        distributed_search = distributed.is_chief() or distributed.is_worker()
        a["seed"] = (zlib.crc32(a["project_name"].encode()) % 100_000 if distributed_search
                     else int(np.random.SeedSequence().entropy % 100_000))
    a["strategy_kwargs"] = dict(a["strategy_kwargs"] or {})
    if not (a["initial_architectures"] in ("auto", None) or isinstance(a["initial_architectures"], list)):
        raise ValueError(
            "`initial_architectures` must be 'auto', None or a list of hyperparameter-value "
            f"dicts, got {a['initial_architectures']!r}."
        )
    if a["proxy"] is not None:
        from keras_nas import proxies

        if task.name != "classification":
            raise ValueError(
                f"The zero-cost proxies score classifiers (they need class labels); task={task.name!r} "
                "searches without them: leave proxy=None."
            )

        proxies.check_proxy(a["proxy"])
    check_positive_int(a["finalists"], "finalists")
    budget = a["max_search_seconds"]
    if budget is not None and not (isinstance(budget, (int, float)) and budget > 0):
        raise ValueError(f"`max_search_seconds` must be a positive number of seconds, got {budget!r}.")
    return a


def check_positive_int(value, name: str, allow_none: bool = False) -> None:
    """Raises `ValueError` unless `value` is an integer >= 1 (a bool is not an integer here).

    Args:
        value: The value given.
        name: The argument's name, for the message.
        allow_none: Whether `None` is accepted.
    """
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def check_model_arguments(
    search_epochs,
    latency_runs,
    seed,
    proxy_pool_size,
    strategy,
    strategy_kwargs,
    space=None,
    objective: str = "val_accuracy",
    task: "tasks.Task | str" = "classification",
) -> None:
    """Checks the `NASModel` arguments that would otherwise fail only during `fit`.

    Args:
        search_epochs: `None` or an integer >= 1.
        latency_runs: An integer >= 1.
        seed: `None` or an integer >= 0.
        proxy_pool_size: An integer >= 1.
        strategy: The strategy: a registered name, a `NASOracle` subclass, or
            an oracle instance (whose arguments are its own, see `check_oracle_instance`).
        strategy_kwargs: `None` or a dict of the strategy's arguments.
        space: The search space (the strategy's plan may require a kind of space).
        objective: The search objective (a strategy's plan may refuse one).
        task: The task; strategies that train a classifier supernet refuse the others.

    Raises:
        ValueError: Naming the argument, the value and what is allowed.
    """
    check_positive_int(search_epochs, "search_epochs", allow_none=True)
    check_positive_int(latency_runs, "latency_runs")
    check_positive_int(proxy_pool_size, "proxy_pool_size")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"`seed` must be None or an integer >= 0, got {seed!r}.")
    if strategy_kwargs is not None and not isinstance(strategy_kwargs, dict):
        raise ValueError(f"`strategy_kwargs` must be a dict, got {type(strategy_kwargs).__name__}.")
    from keras_nas.strategies import NASOracle, lookup

    if isinstance(strategy, NASOracle):
        return
    strategy_kwargs = strategy_kwargs or {}
    taken = sorted(set(strategy_kwargs) & set(NASMODEL_ARGUMENTS))
    if taken:
        raise ValueError(
            f"strategy_kwargs sets {taken}, which NASModel sets from its own arguments: pass "
            f"them to NASModel(...) directly, e.g. NASModel({taken[0]}=...)."
        )
    registered = lookup(strategy)
    plan = registered.plan(space, strategy_kwargs, objective)
    task = tasks.get(task)
    if task.name != "classification" and plan.head(2) is not None:
        raise ValueError(
            f"strategy={registered.name!r} trains a classifier supernet with its own head; "
            f"task={task.name!r} needs its own head: pick a strategy that trains candidates one "
            "by one (e.g. 'evolution', 'random', 'bayesian')."
        )
    accepted = accepted_arguments(plan.oracle_class)
    unknown = sorted(set(plan.oracle_kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"Unknown strategy_kwargs {unknown} for strategy={registered.name!r} "
            f"({plan.oracle_class.__name__}). It accepts: {sorted(accepted - set(NASMODEL_ARGUMENTS))}."
        )


def check_oracle_instance(oracle, given: dict) -> dict:
    """Reconciles `NASModel`'s arguments with an oracle instance passed as its strategy.

    The instance was made with its own `max_trials`, `seed`, `objective` and
    `max_rejected_trials`: `NASModel` uses those (and records them), so an
    argument given to `NASModel` too must agree with the instance. Arguments
    NASModel could only hand to the oracle when it makes it are refused.

    Args:
        oracle: The `NASOracle` instance.
        given: `NASModel`'s arguments as the user gave them (`None`: not
            given): `max_trials`, `seed`, `objective`, `max_rejected_trials`,
            `strategy_kwargs`, `max_search_seconds`, `initial_architectures`.

    Returns:
        `max_trials`, `seed`, `objective` and `max_rejected_trials` as the
        oracle holds them.

    Raises:
        ValueError: Naming the conflicting argument and how to resolve it.
    """
    name = type(oracle).__name__
    own = {
        "max_trials": oracle.trial_budget,
        "seed": oracle.seed,
        "objective": getattr(oracle.objective, "name", None),
        "max_rejected_trials": oracle.max_rejected_trials,
    }
    for key, value in own.items():
        if given.get(key) is not None and given[key] != value:
            raise ValueError(
                f"NASModel({key}={given[key]!r}) conflicts with the strategy instance, a {name} made "
                f"with {key}={value!r}. Drop {key} from NASModel(...) (the instance's is used), "
                f"make the instance with {key}={given[key]!r}, or pass the class, "
                f"NASModel(strategy={name}, {key}=...), and NASModel makes the oracle."
            )
    refused = {
        "strategy_kwargs": "make the instance with those arguments",
        "max_search_seconds": "make the instance with max_search_seconds=...",
        "initial_architectures": "make the instance with initial_architectures=[...]",
    }
    for key, fix in refused.items():
        if given.get(key):
            raise ValueError(
                f"NASModel({key}=...) is handed to the oracle when NASModel makes it, but the strategy "
                f"is an instance already made ({name}): {fix}, or pass the class, "
                f"NASModel(strategy={name}, {key}=...)."
            )
    return own


def accepted_arguments(cls) -> set[str]:
    """The keyword arguments `cls(...)` accepts: its `__init__`'s and, through `**kwargs`, its bases'."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {
            p.name for p in params
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def check_fit_keywords(fit_kwargs: dict[str, Any], owner: type) -> None:
    """Raises `TypeError`, as `keras.Model.fit` does, for a keyword `keras.Model.fit` does not take.

    `NASModel.fit` passes its extra keywords to every candidate's `fit`: a
    misspelt one would otherwise fail every trial, minutes later, and end the
    search with "no trained candidate".

    Args:
        fit_kwargs: The extra keywords given to `owner.fit`.
        owner: The class whose `fit` received them (named in the message; a
            keyword of its constructor is pointed there).

    Raises:
        TypeError: Naming the first unexpected keyword and what is accepted.
    """
    import keras

    parameters = inspect.signature(keras.Model.fit).parameters.values()
    accepted = [p.name for p in parameters if p.name != "self" and p.kind != p.VAR_KEYWORD]
    for key in fit_kwargs:
        if key in accepted:
            continue
        hint = (
            f" `{key}` is an argument of {owner.__name__}(...): pass it there."
            if key in accepted_arguments(owner) else ""
        )
        raise TypeError(
            f"{owner.__name__}.fit() got an unexpected keyword argument {key!r}.{hint} fit() takes "
            f"the arguments of keras.Model.fit: {', '.join(accepted)}."
        )
