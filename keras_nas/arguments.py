"""Type checks of single arguments, shared by the facade and the modules below it."""

from __future__ import annotations

import numpy as np


def check_bool(value, name: str) -> None:
    """Raises `TypeError` unless `value` is True or False.

    A string such as "no" or "false" is truthy: taken as a flag it would mean
    True (for `overwrite`, emptying a finished search).

    Args:
        value: The value given.
        name: The argument's name, for the message.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False (a Python bool), got {value!r}. Pass "
                        f"{name}=True or {name}=False.")
