"""Helpers turning a block argument into a value: fixed, searched, or default.

Every block argument follows one rule:

- `None`: search it over the block's default space,
- a list or tuple of several values: search it over these values,
- anything else (or a one-element list): a fixed value, no hyperparameter.
"""

from __future__ import annotations

from collections.abc import Sequence as _Seq
from typing import Any

import keras_tuner


def is_searched(value: Any) -> bool:
    """Returns whether a block argument asks for a search.

    Args:
        value: The block argument.

    Returns:
        `True` for `None` and for lists/tuples of more than one value.
    """
    return value is None or (isinstance(value, (list, tuple)) and len(value) > 1)


def fixed_value(value: Any) -> Any:
    """The value of a block argument that is not searched: itself, or the one item of a list."""
    if isinstance(value, (list, tuple)):
        return value[0]
    return value


def choice(
    hp: keras_tuner.HyperParameters,
    name: str,
    value: Any,
    default_values: _Seq,
    default: Any = None,
) -> Any:
    """Resolves a block argument to a value through `hp.Choice` if searched.

    Args:
        hp: The hyperparameters container.
        name: Hyperparameter name (scoped by the current `hp.name_scope`).
        value: The block argument (`None`, a list of values, or a fixed value).
        default_values: The values searched when `value` is `None`.
        default: Optional default value of the `Choice`.

    Returns:
        The value, or `None` under an inactive conditional scope.
    """
    if not is_searched(value):
        return fixed_value(value)
    values = list(default_values if value is None else value)
    if default is not None and default not in values:
        default = None
    return hp.Choice(name, values, default=default)


def integer(
    hp: keras_tuner.HyperParameters,
    name: str,
    value: Any,
    min_value: int,
    max_value: int,
) -> Any:
    """Resolves a block argument to a value through `hp.Int` if `None`.

    A list of values is searched with `hp.Choice` instead.

    Args:
        hp: The hyperparameters container.
        name: Hyperparameter name.
        value: The block argument.
        min_value: Lower bound (inclusive) of the default range.
        max_value: Upper bound (inclusive) of the default range.

    Returns:
        The value, or `None` under an inactive conditional scope.
    """
    if value is None:
        if min_value == max_value:
            return min_value
        return hp.Int(name, min_value, max_value)
    if is_searched(value):
        return hp.Choice(name, [int(v) for v in value])
    return int(fixed_value(value))


def boolean(
    hp: keras_tuner.HyperParameters,
    name: str,
    value: Any,
    default: bool = False,
) -> Any:
    """Resolves a block argument to a value through `hp.Boolean` if `None`.

    Args:
        hp: The hyperparameters container.
        name: Hyperparameter name.
        value: The block argument (`None` or a bool).
        default: Default of the `Boolean`.

    Returns:
        The value, or `None` under an inactive conditional scope.
    """
    if value is None or (isinstance(value, (list, tuple)) and len(value) > 1):
        return hp.Boolean(name, default=default)
    return bool(fixed_value(value))


def any_none(*values: Any) -> bool:
    """Returns whether a resolved value is `None` (inactive scope)."""
    return any(v is None for v in values)
