"""How strategies see a Keras Tuner search space: categories and numeric vectors.

Only Keras Tuner's public API is used: hyperparameter classes and their public
attributes (`values`, `min_value`, `max_value`, `step`, `conditions`) and the
conditions' `is_active`.
"""

from __future__ import annotations

import numpy as np
import keras_tuner

from keras_nas.strategies.base import is_active

HP = keras_tuner.engine.hyperparameters

# An Int hyperparameter with more values than this is treated as continuous.
MAX_CATEGORIES = 256


def categories(hp) -> list | None:
    """The finite list of values a hyperparameter can take, or None if it is continuous.

    Args:
        hp: A Keras Tuner hyperparameter.

    Returns:
        `Choice`: its values; `Boolean`: `[False, True]`; `Fixed`: `[value]`;
        `Int` (linear sampling, at most `MAX_CATEGORIES` values): every value
        from `min_value` to `max_value` by `step`; otherwise (`Float`, huge or
        log-sampled `Int`) `None`.
    """
    if isinstance(hp, HP.Fixed):
        return [hp.value]
    if isinstance(hp, HP.Boolean):
        return [False, True]
    if isinstance(hp, HP.Choice):
        return list(hp.values)
    if isinstance(hp, HP.Int) and getattr(hp, "sampling", "linear") in (None, "linear"):
        step = hp.step or 1
        count = (hp.max_value - hp.min_value) // step + 1
        if count <= MAX_CATEGORIES:
            return list(range(hp.min_value, hp.max_value + 1, step))
    return None


def active_walk(space, values: dict):
    """Yields `(hp, active)` for each hyperparameter of `space` under `values`, in order.

    `values` may be filled while walking (the conditions of a hyperparameter are
    checked when it is reached), so that a sampler's choices decide which later
    hyperparameters are active.
    """
    for hp in space:
        yield hp, is_active(hp, values)


class SpaceEncoder:
    """Maps hyperparameter values to fixed-length numeric vectors.

    Choices are one-hot, booleans 0/1, integers and floats scaled to [0, 1]
    (log-scaled when their sampling is "log"); inactive hyperparameters are all
    zeros. Fixed hyperparameters take no column.

    Args:
        space: The list of hyperparameters (`oracle.search_space()`).
    """

    def __init__(self, space):
        self.space = list(space)
        self.columns = {}
        width = 0
        for hp in self.space:
            if isinstance(hp, HP.Fixed):
                continue
            n = len(hp.values) if isinstance(hp, HP.Choice) else 1
            self.columns[hp.name] = (width, n)
            width += n
        self.width = width

    def encode(self, values: dict) -> np.ndarray:
        """The vector of one set of values (only active, present ones are set)."""
        vector = np.zeros(self.width)
        for hp, active in active_walk(self.space, values):
            if not active or hp.name not in values or hp.name not in self.columns:
                continue
            start, n = self.columns[hp.name]
            value = values[hp.name]
            if isinstance(hp, HP.Choice):
                if value in hp.values:
                    vector[start + list(hp.values).index(value)] = 1.0
            elif isinstance(hp, HP.Boolean):
                vector[start] = float(bool(value))
            else:
                low, high = float(hp.min_value), float(hp.max_value)
                if getattr(hp, "sampling", None) == "log" and low > 0:
                    low, high, value = np.log(low), np.log(high), np.log(float(value))
                vector[start] = 0.0 if high == low else (float(value) - low) / (high - low)
        return vector

    def encode_all(self, rows: list[dict]) -> np.ndarray:
        """Stacks `encode` of several sets of values into an (n, width) array."""
        if not rows:
            return np.zeros((0, self.width))
        return np.stack([self.encode(values) for values in rows])
