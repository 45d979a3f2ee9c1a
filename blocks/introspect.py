"""Discover the hyperparameters a block (or hypermodel) declares, and their values."""

from __future__ import annotations

from collections.abc import Sequence as _Seq
from typing import Any

import keras
import keras_tuner

from .base import Block

_hp_types = keras_tuner.engine.hyperparameters


def declared_hyperparameters(space: Any, input_shape: _Seq[int] | None = None) -> keras_tuner.HyperParameters:
    """Builds `space` once with default values and returns the declared hyperparameters.

    Args:
        space: A `Block` (then `input_shape` is required), a
            `keras_tuner.HyperModel` (e.g. `NASHyperModel`, whose `build(hp)`
            adds the input, head and learning rate) or a callable `build(hp)`.
        input_shape: Shape of one input example, without the batch axis.

    Returns:
        A `keras_tuner.HyperParameters` holding the whole space (every
        hyperparameter, with its conditions) and the default values.

    Raises:
        ValueError: If `space` is a `Block` and `input_shape` is missing, or
            `space` is none of the accepted types.
    """
    hp = keras_tuner.HyperParameters()
    if isinstance(space, Block):
        if input_shape is None:
            raise ValueError(
                f"input_shape is required to declare the hyperparameters of block "
                f"{space.name!r} (its choices depend on the input rank and size), "
                f"e.g. input_shape=(8, 8, 1)."
            )
        space.build(hp, keras.Input(tuple(input_shape)))
    elif isinstance(space, keras_tuner.HyperModel):
        space.build(hp)
    elif callable(space):
        space(hp)
    else:
        raise ValueError(
            f"Expected a Block, a keras_tuner.HyperModel or a build(hp) callable, got "
            f"{type(space).__name__}."
        )
    return hp


def allowed_values(hp: Any) -> list | None:
    """The finite list of values a hyperparameter can take.

    Args:
        hp: A Keras Tuner hyperparameter (`Choice`, `Int`, `Boolean`, `Fixed`,
            `Float` with a `step`).

    Returns:
        The values, or `None` for a continuous `Float` (no `step`).
    """
    if isinstance(hp, _hp_types.Fixed):
        return [hp.value]
    if isinstance(hp, _hp_types.Boolean):
        return [False, True]
    if isinstance(hp, _hp_types.Choice):
        return list(hp.values)
    if isinstance(hp, _hp_types.Int):
        step = hp.step or 1
        if getattr(hp, "sampling", "linear") == "log" and hp.step:
            values, v = [], hp.min_value
            while v <= hp.max_value:
                values.append(v)
                v *= step
            return values
        return list(range(hp.min_value, hp.max_value + 1, step))
    if isinstance(hp, _hp_types.Float):
        if not hp.step:
            return None
        count = int(round((hp.max_value - hp.min_value) / hp.step)) + 1
        return [hp.min_value + i * hp.step for i in range(count)]
    raise ValueError(f"Unsupported hyperparameter type {type(hp).__name__} for {hp.name!r}.")


def describe_allowed(hp: Any) -> str:
    """A short human-readable description of the values `hp` allows."""
    values = allowed_values(hp)
    if values is None:
        return f"a float in [{hp.min_value}, {hp.max_value}]"
    return repr(values)
