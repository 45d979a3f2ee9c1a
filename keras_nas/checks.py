"""Checks of `NASModel`'s constructor arguments, so that a bad value fails where it was given.

Without them `latency_runs=0`, `seed="abc"` or a misspelt strategy argument are
accepted by `NASModel(...)` and fail minutes later inside the search.
"""

from __future__ import annotations

import inspect
import numbers

# Set by NASModel's own arguments; passing them in `strategy_kwargs` too is a conflict.
NASMODEL_ARGUMENTS = ("objective", "max_trials", "max_rejected_trials", "seed")


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
