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
) -> None:
    """Checks the `NASModel` arguments that would otherwise fail only during `fit`.

    Args:
        search_epochs: `None` or an integer >= 1.
        latency_runs: An integer >= 1.
        seed: `None` or an integer >= 0.
        proxy_pool_size: An integer >= 1.
        strategy: The strategy name (or an oracle instance, whose arguments are its own).
        strategy_kwargs: `None` or a dict of the strategy's arguments.
        space: The search space (for the weight-sharing strategies' plan).

    Raises:
        ValueError: Naming the argument, the value and what is allowed.
    """
    check_positive_int(search_epochs, "search_epochs", allow_none=True)
    check_positive_int(latency_runs, "latency_runs")
    check_positive_int(proxy_pool_size, "proxy_pool_size")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"`seed` must be None or an integer >= 0, got {seed!r}.")
    if strategy_kwargs is None:
        return
    if not isinstance(strategy_kwargs, dict):
        raise ValueError(f"`strategy_kwargs` must be a dict, got {type(strategy_kwargs).__name__}.")
    if not isinstance(strategy, str):
        return
    taken = sorted(set(strategy_kwargs) & set(NASMODEL_ARGUMENTS))
    if taken:
        raise ValueError(
            f"strategy_kwargs sets {taken}, which NASModel sets from its own arguments: pass "
            f"them to NASModel(...) directly, e.g. NASModel({taken[0]}=...)."
        )
    from keras_nas.strategies import STRATEGIES
    from keras_nas.weight_sharing.plan import WEIGHT_SHARING_STRATEGIES, plan

    kwargs, extra = dict(strategy_kwargs), ()
    if strategy in WEIGHT_SHARING_STRATEGIES:
        the_plan = plan(strategy, space, kwargs)
        oracle_class, kwargs = the_plan.oracle_class, dict(the_plan.oracle_kwargs)
        extra = tuple(the_plan.tuner_kwargs)
    else:
        oracle_class = STRATEGIES[strategy]
    accepted = accepted_arguments(oracle_class)
    unknown = sorted(set(kwargs) - accepted - set(extra))
    if unknown:
        raise ValueError(
            f"Unknown strategy_kwargs {unknown} for strategy={strategy!r} "
            f"({oracle_class.__name__}). It accepts: {sorted(accepted - set(NASMODEL_ARGUMENTS))}."
        )


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
