"""Local pooling block (max or average, searched), 1D or 2D."""

from __future__ import annotations

import keras
import keras_tuner

from . import hp_utils, ops
from .base import Block
from .conv import IntArg, StrArg

POOL_TYPES = ["max", "avg"]
POOL_SIZES = [2, 3]


class Pooling(Block):
    """Local max or average pooling (downsampling between stages).

    `MaxPooling1D/2D` or `AveragePooling1D/2D` with `padding="same"`; the
    stride defaults to the pool size and is guarded like conv strides (no
    striding of a dimension of size 1).

    Default space: pool_type `["max", "avg"]`, pool_size `[2, 3]`.

    Args:
        pool_type: `"max"` or `"avg"`. `None` searches both, a list searches
            these values.
        pool_size: Pool window (same rules).
        strides: Stride; `None` uses the pool size (not searched).
        name: Block name.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    y = Pooling(pool_size=2, name="pool").build(hp, keras.Input((40, 8)))
    y.shape  # (None, 20, 8)
    ```
    """

    def __init__(
        self,
        pool_type: StrArg = None,
        pool_size: IntArg = None,
        strides: int | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        types = pool_type if isinstance(pool_type, (list, tuple)) else [pool_type]
        for t in types:
            if t is not None and t not in POOL_TYPES:
                raise ValueError(f"Unsupported pool_type {t!r}; expected one of {POOL_TYPES}.")
        self.pool_type = pool_type
        self.pool_size = pool_size
        self.strides = strides

    def build(self, hp: keras_tuner.HyperParameters, inputs):
        """Builds the pooling layer on `inputs`.

        Args:
            hp: The hyperparameters.
            inputs: Rank-3 or rank-4 Keras tensor.

        Returns:
            The output tensor.
        """
        ops.spatial_rank(inputs)
        pool_type = hp_utils.choice(hp, "pool_type", self.pool_type, POOL_TYPES)
        pool_size = hp_utils.choice(hp, "pool_size", self.pool_size, POOL_SIZES)
        if hp_utils.any_none(pool_type, pool_size):
            return inputs
        return local_pool(inputs, pool_type, pool_size, self.strides, name=f"{self.name}_pool")


def local_pool(inputs, pool_type: str, pool_size: int, strides: int | None = None, *, name: str):
    """Applies a max or average pooling layer with fixed values (see `Pooling`).

    Args:
        inputs: Rank-3 or rank-4 Keras tensor.
        pool_type: `"max"` or `"avg"`.
        pool_size: Pool window.
        strides: Stride; `None` uses the pool size. Guarded like conv strides.
        name: Layer name.

    Returns:
        The output tensor.
    """
    rank = ops.spatial_rank(inputs)
    strides = ops.effective_strides(inputs, strides or pool_size)
    if rank == 1:
        layer = keras.layers.MaxPooling1D if pool_type == "max" else keras.layers.AveragePooling1D
    else:
        layer = keras.layers.MaxPooling2D if pool_type == "max" else keras.layers.AveragePooling2D
    return layer(pool_size, strides=strides, padding="same", name=name)(inputs)
